"""How the parts of a package find one another: each part's relationships live in its rels part
(xl/workbook.xml -> xl/_rels/workbook.xml.rels; the package's own, of part "", in _rels/.rels). Part names
and rIds are read from the rels, never assumed: xlsxwriter, LibreOffice and Excel name them differently.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import unquote
from xml.sax.saxutils import quoteattr

from .xmltext import apply_edits, attr, element_spans, insert_last_child

if TYPE_CHECKING:
    from .package import Package

NS_DOC_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
NS_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
REL_OFFICE_DOCUMENT = NS_DOC_REL + "/officeDocument"
REL_WORKSHEET = NS_DOC_REL + "/worksheet"
REL_STYLES = NS_DOC_REL + "/styles"
REL_SHARED_STRINGS = NS_DOC_REL + "/sharedStrings"
REL_CALC_CHAIN = NS_DOC_REL + "/calcChain"
REL_EXTENDED_PROPERTIES = NS_DOC_REL + "/extended-properties"
REL_CUSTOM_PROPERTIES = NS_DOC_REL + "/custom-properties"
REL_CORE_PROPERTIES = "http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties"


@dataclass(frozen=True)
class Rel:
    id: str
    type: str
    target: str  # the resolved part name (no leading slash), or the raw URI when external
    external: bool


def rels_part(part: str) -> str:
    """A part's rels part: xl/workbook.xml -> xl/_rels/workbook.xml.rels; the package's ("") _rels/.rels."""
    folder, name = posixpath.split(part)
    return posixpath.join(folder, "_rels", name + ".rels")


def resolve(source: str, target: str) -> str:
    target = unquote(target)
    if target.startswith("/"):
        return target.lstrip("/")
    return posixpath.normpath(posixpath.join(posixpath.dirname(source), target))


def relative(target: str, source: str) -> str:
    """The Target text of a relationship from part `source` to part `target`."""
    return posixpath.relpath(target, posixpath.dirname(source) or ".")


def rels_xml(rels: list[tuple[str, str, str]], external: list[bool] | None = None) -> bytes:
    external = external or [False] * len(rels)
    body = "".join(
        f"<Relationship Id={quoteattr(i)} Type={quoteattr(t)} Target={quoteattr(target)}"
        + (' TargetMode="External"/>' if ext else "/>")
        for (i, t, target), ext in zip(rels, external, strict=True)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<Relationships xmlns="{NS_PKG_REL}">{body}</Relationships>'
    ).encode()


def add_relationship(book: Package, source: str, rel_type: str, target_part: str) -> str:
    """Relate part `source` ("" for the package) to `target_part` by `rel_type`; returns the new rId."""
    part = rels_part(source)
    text = book.text(part)
    ids = {attr(m.open_tag(), "Id") for m in element_spans(text, "Relationship")}
    n = 1
    while f"rId{n}" in ids:
        n += 1
    rid = f"rId{n}"
    target = relative(target_part, source)

    def entry(prefix: str) -> str:
        attrs = f"Id={quoteattr(rid)} Type={quoteattr(rel_type)} Target={quoteattr(target)}"
        return f"<{prefix}Relationship {attrs}/>"

    book.set_text(part, insert_last_child(text, "Relationships", part, entry))
    return rid


def remove_relationships(book: Package, source: str, rids: set[str]) -> None:
    part = rels_part(source)
    text = book.text(part)
    edits = [
        (m.start, m.end, "") for m in element_spans(text, "Relationship") if attr(m.open_tag(), "Id") in rids
    ]
    if edits:
        book.set_text(part, apply_edits(text, edits))

"""What each part is: [Content_Types].xml, an Override per part name or a Default per extension."""

from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING
from urllib.parse import unquote
from xml.sax.saxutils import quoteattr

from .xmltext import apply_edits, attr, element_spans, insert_last_child, parse, q

if TYPE_CHECKING:
    from .package import Package

NS_CT = "http://schemas.openxmlformats.org/package/2006/content-types"
CONTENT_TYPES = "[Content_Types].xml"


def content_type(book: Package, part: str) -> str | None:
    """The content type of `part`: its Override, else the Default of its extension."""
    root = parse(book.parts[CONTENT_TYPES], CONTENT_TYPES)
    for o in root.iter(q(NS_CT, "Override")):
        if o.get("PartName", "").lstrip("/").lower() == part.lower():
            return o.get("ContentType")
    ext = posixpath.splitext(part)[1].lstrip(".").lower()
    for d in root.iter(q(NS_CT, "Default")):
        if d.get("Extension", "").lower() == ext:
            return d.get("ContentType")
    return None


def add_override(book: Package, part: str, kind: str) -> None:
    """Say that `part` is of content type `kind` (unless it already is)."""
    if content_type(book, part) == kind:
        return

    def entry(prefix: str) -> str:
        return f"<{prefix}Override PartName={quoteattr('/' + part)} ContentType={quoteattr(kind)}/>"

    book.set_text(CONTENT_TYPES, insert_last_child(book.text(CONTENT_TYPES), "Types", CONTENT_TYPES, entry))


def remove_overrides(book: Package, parts: set[str]) -> None:
    """Drop the Override entries of `parts`."""
    names = {p.lower() for p in parts}
    text = book.text(CONTENT_TYPES)
    edits = [
        (m.start, m.end, "")
        for m in element_spans(text, "Override")
        if unquote(attr(m.open_tag(), "PartName") or "").lstrip("/").lower() in names
    ]
    if edits:
        book.set_text(CONTENT_TYPES, apply_edits(text, edits))

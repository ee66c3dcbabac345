"""docProps/app.xml: the sheet titles Excel lists in the file's properties, kept in step with the sheets
(a grafted sheet's title added at its tab's place, a removed sheet's title dropped). A file without that list
is left as it is.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

from .relationships import REL_EXTENDED_PROPERTIES
from .xmltext import Span, apply_edits, container, element_spans, set_attr, set_inner

if TYPE_CHECKING:
    from .package import Package


def _app_part(book: Package) -> str | None:
    return book.related_part("", REL_EXTENDED_PROPERTIES)


def _app_titles(book: Package) -> tuple[str, Span, list[Span], Span, int, int] | None:
    """In docProps/app.xml: the part, the element counting worksheets, the title elements, their vector,
    and where the worksheet titles start and how many there are; None when it lists no worksheets."""
    part = _app_part(book)
    if part is None:
        return None
    text = book.text(part)
    pairs, titles = container(text, "HeadingPairs"), container(text, "TitlesOfParts")
    if pairs is None or titles is None:
        return None
    vector = element_spans(titles.xml, "vector", titles.start)[0]
    items = element_spans(vector.xml, "lpstr", vector.start)
    variants = element_spans(pairs.xml, "variant", pairs.start)
    start = 0
    for heading, count in zip(variants[::2], variants[1::2], strict=False):
        number = element_spans(count.xml, "i4", count.start)
        if not number:
            return None
        n = int(re.sub(r"<[^>]+>", "", number[0].xml))
        if re.sub(r"<[^>]+>", "", heading.xml).strip() in ("Worksheets", "Sheets"):
            return part, number[0], items, vector, start, n
        start += n
    return None


def add_title(book: Package, name: str, position: int | None) -> None:
    found = _app_titles(book)
    if found is None:
        return
    part, count_el, items, vector, start, count = found
    index = start + (count if position is None else min(position, count))
    at = items[index].start if index < len(items) else vector.start + vector.xml.rindex("</")
    edits = [
        (count_el.start, count_el.end, set_inner(count_el.xml, str(count + 1))),
        (at, at, f"<{count_el.prefix}lpstr>{escape(name)}</{count_el.prefix}lpstr>"),
        _resized(vector, len(items) + 1),
    ]
    book.set_text(part, apply_edits(book.text(part), edits))


def remove_title(book: Package, name: str) -> None:
    found = _app_titles(book)
    if found is None:
        return
    part, count_el, items, vector, start, count = found
    hits = [m for m in items[start : start + count] if re.sub(r"<[^>]+>", "", m.xml) == escape(name)]
    if not hits:
        return
    edits = [
        (count_el.start, count_el.end, set_inner(count_el.xml, str(count - 1))),
        (hits[0].start, hits[0].end, ""),
        _resized(vector, len(items) - 1),
    ]
    book.set_text(part, apply_edits(book.text(part), edits))


def _resized(vector: Span, size: int) -> tuple[int, int, str]:
    open_tag = vector.open_tag()
    return vector.start, vector.start + len(open_tag), set_attr(open_tag, "size", str(size))

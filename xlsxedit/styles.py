"""The formats and strings of grafted cells: a scratch sheet's cell and conditional formats are appended to
the target's xl/styles.xml (deduplicated, so repeated exports do not grow it) with the sheet's ``s="…"`` and
``dxfId="…"`` indices remapped; its shared strings are written inline (``t="inlineStr"``) so the target's
sharedStrings.xml is never touched.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

from .errors import PackageError
from .package import NS_MAIN, Package
from .relationships import REL_SHARED_STRINGS, REL_STYLES
from .xmltext import append_children, container, parse, q

# Custom number formats start here; lower ids are Excel's built-in formats.
FIRST_CUSTOM_NUMFMT = 164
# The schema's order of the style collections we append to (CT_Stylesheet is a sequence).
STYLE_COLLECTIONS = ("numFmts", "fonts", "fills", "borders", "cellXfs", "dxfs")
# Where a collection that the stylesheet lacks goes: right after the last of these that it has.
STYLE_PREDECESSORS = {
    "numFmts": (),
    "dxfs": ("cellStyles", "cellXfs", "cellStyleXfs", "borders", "fills", "fonts", "numFmts"),
}


def styles_part(book: Package) -> str:
    """The workbook's styles part (xl/styles.xml as xlsxwriter names it)."""
    part = book.related_part(book.workbook, REL_STYLES)
    if part is None:
        raise PackageError("the workbook has no styles part")
    return part


def graft_sheet_xml(book: Package, scratch: Package, xml: str) -> str:
    """Scratch's sheet (or row) XML ready for `book`: strings inline, format indices remapped to book's."""
    xml = inline_strings(scratch, xml)
    used = {int(s) for s in re.findall(r'<(?:c|row)\b[^>]*?\ss="(\d+)"', xml)}
    used |= {int(s) for s in re.findall(r'<col\b[^>]*?\sstyle="(\d+)"', xml)}
    dxfs = {int(s) for s in re.findall(r'<cfRule\b[^>]*?\sdxfId="(\d+)"', xml)}
    xf_map, dxf_map = merge_styles(book, scratch, sorted(used), sorted(dxfs))
    if all(k == v for k, v in (*xf_map.items(), *dxf_map.items())):
        return xml  # a workbook that excelgen wrote first numbers its formats as excelgen does

    def remap(m: re.Match[str]) -> str:
        return re.sub(
            r'(\s(?:s|style)=")(\d+)"', lambda a: f'{a.group(1)}{xf_map[int(a.group(2))]}"', m.group(0)
        )

    def remap_dxf(m: re.Match[str]) -> str:
        return re.sub(r'(\sdxfId=")(\d+)"', lambda a: f'{a.group(1)}{dxf_map[int(a.group(2))]}"', m.group(0))

    xml = re.sub(r"<(?:c|row|col)\b[^>]*>", remap, xml)
    return re.sub(r"<cfRule\b[^>]*>", remap_dxf, xml)


def merge_styles(
    book: Package, scratch: Package, xfs: list[int], dxfs: list[int] = ()
) -> tuple[dict[int, int], dict[int, int]]:
    """Append scratch's cell formats `xfs` (and the fonts, fills, borders, number formats they use) and
    its conditional formats `dxfs` to our styles.xml, reusing identical entries; return the maps from
    scratch indices to ours."""
    part = styles_part(book)
    ours = parse(book.parts[part], part)
    theirs_part = styles_part(scratch)
    theirs = parse(scratch.parts[theirs_part], theirs_part)
    pending: dict[str, list[ET.Element]] = {c: [] for c in STYLE_COLLECTIONS}

    def children(root: ET.Element, collection: str) -> list[ET.Element]:
        found = root.find(q(NS_MAIN, collection))
        return list(found) if found is not None else []

    def index_of(collection: str, element: ET.Element) -> int:
        existing = children(ours, collection) + pending[collection]
        key = _canonical(element)
        for i, e in enumerate(existing):
            if _canonical(e) == key:
                return i
        pending[collection].append(element)
        return len(existing)

    their_codes = {n.get("numFmtId"): n.get("formatCode") for n in children(theirs, "numFmts")}

    def numfmt_id(their_id: str) -> str:
        if int(their_id) < FIRST_CUSTOM_NUMFMT:
            return their_id
        code = their_codes[their_id]
        existing = children(ours, "numFmts") + pending["numFmts"]
        for n in existing:
            if n.get("formatCode") == code:
                return n.get("numFmtId", "")
        new_id = max([FIRST_CUSTOM_NUMFMT - 1] + [int(n.get("numFmtId", "0")) for n in existing]) + 1
        element = ET.Element(q(NS_MAIN, "numFmt"), {"numFmtId": str(new_id), "formatCode": code})
        pending["numFmts"].append(element)
        return str(new_id)

    their_fonts, their_fills = children(theirs, "fonts"), children(theirs, "fills")
    their_borders, their_xfs = children(theirs, "borders"), children(theirs, "cellXfs")
    xf_map = {}
    for i in xfs:
        xf = ET.fromstring(ET.tostring(their_xfs[i]))  # a copy to remap
        xf.set("numFmtId", numfmt_id(xf.get("numFmtId", "0")))
        xf.set("fontId", str(index_of("fonts", their_fonts[int(xf.get("fontId", "0"))])))
        xf.set("fillId", str(index_of("fills", their_fills[int(xf.get("fillId", "0"))])))
        xf.set("borderId", str(index_of("borders", their_borders[int(xf.get("borderId", "0"))])))
        xf.set("xfId", "0")  # the target's Normal style; scratch sheets use no other named style
        xf_map[i] = index_of("cellXfs", xf)
    their_dxfs = children(theirs, "dxfs")
    dxf_map = {i: index_of("dxfs", ET.fromstring(ET.tostring(their_dxfs[i]))) for i in dxfs}
    if any(pending.values()):
        book.set_text(part, _append_styles(book.text(part), ours, pending))
    return xf_map, dxf_map


def inline_strings(scratch: Package, xml: str) -> str:
    """Shared-string cells (t="s") as inline strings, so the target's sharedStrings.xml stays untouched."""
    table = scratch.related_part(scratch.workbook, REL_SHARED_STRINGS)
    if table is None:
        return xml
    items = [m.group(1) for m in re.finditer(r"<si>(.*?)</si>", scratch.text(table), re.S)]

    def inline(m: re.Match[str]) -> str:
        return f'<c{m.group(1)}t="inlineStr"{m.group(2)}><is>{items[int(m.group(3))]}</is></c>'

    return re.sub(r'<c(\b[^>]*?\s)t="s"([^>]*)><v>(\d+)</v></c>', inline, xml)


def _append_styles(text: str, ours: ET.Element, pending: dict[str, list[ET.Element]]) -> str:
    for collection in STYLE_COLLECTIONS:
        new = pending[collection]
        if not new:
            continue
        existing = ours.find(q(NS_MAIN, collection))
        span = container(text, collection)
        if existing is None or span is None:
            if collection not in STYLE_PREDECESSORS:
                raise PackageError(f"styles have no <{collection}>")
            # A missing collection goes after the last one the schema puts before it that the stylesheet has,
            # or (numFmts, the first child) right after <styleSheet …>.
            root = re.search(r"<([\w.-]+:)?styleSheet\b[^>]*>", text)
            prefix = root.group(1) or ""
            spans = [s for s in (container(text, c) for c in STYLE_PREDECESSORS[collection]) if s is not None]
            at = max((s.end for s in spans), default=root.end())
            body = "".join(_fragment(e, prefix) for e in new)
            block = f'<{prefix}{collection} count="{len(new)}">{body}</{prefix}{collection}>'
            text = text[:at] + block + text[at:]
            continue
        fragments = [_fragment(e, span.prefix) for e in new]
        text = append_children(text, span, fragments, len(existing) + len(new))
    return text


def _fragment(element: ET.Element, prefix: str) -> str:
    """A scratch styles element as XML text for the target, its tags under the target's own prefix for the
    main namespace (so no namespace declaration is needed where it lands)."""
    tag = element.tag.split("}", 1)[-1]
    if any(k.startswith("{") for k in element.attrib) or not element.tag.startswith(f"{{{NS_MAIN}}}"):
        raise ValueError(f"cannot graft <{element.tag}>: not plain SpreadsheetML")  # a bug: xlsxwriter never
    attrs = "".join(f" {k}={quoteattr(v)}" for k, v in element.attrib.items())
    inner = escape(element.text or "") + "".join(_fragment(child, prefix) for child in element)
    return f"<{prefix}{tag}{attrs}>{inner}</{prefix}{tag}>" if inner else f"<{prefix}{tag}{attrs}/>"


def _canonical(element: ET.Element) -> str:
    return ET.canonicalize(ET.tostring(element, encoding="unicode"), strip_text=True)

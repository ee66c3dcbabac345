"""Workbook-file surgery: replace whole sheets of an .xlsx, or append a row to one, and leave every other part
byte-identical. Both programs write their sheets into a user's workbook through here (see writer.py).

Why not openpyxl's load/save. Measured with openpyxl 3.1.5 on a workbook written by xlsxwriter 3.3.1 that has
formulas with cached values, a defined name, a cell note, data validation, a textbox and a line chart:
- every formula's cached value is dropped (``<f>init_w1*2</f><v/>``); LibreOffice does not recalculate .xlsx
  on load by default, so it would show blanks, and so would any viewer that does not recalculate;
- the textbox (a drawing shape, ``xdr:sp``) is dropped; the chart survives only as openpyxl re-serialises it:
  print settings dropped, tick marks changed to ``none``, ``dispBlanksAs`` added, cached numbers rewritten;
- the note moves to xl/comments/comment1.xml with a regenerated VML box (default size and place);
- styles.xml is rewritten (1,353 -> 3,089 bytes); data validation and defined names survive.

So the file is treated as the zip (OPC package) it is. A sheet is built by xlsxwriter in a scratch workbook
and grafted: its worksheet XML, its drawing, charts and notes and their rels, under part names unused in the
target; Override entries in [Content_Types].xml; a ``<sheet>`` in xl/workbook.xml and its relationship;
docProps/app.xml's sheet list when it has one; the defined names that point into it; its cell and
conditional formats appended to xl/styles.xml (deduplicated, so repeated exports do not grow it) with the
sheet's ``s="…"`` and ``dxfId="…"`` indices remapped; its strings written inline (``t="inlineStr"``) so
sharedStrings.xml is never touched. Replacing sheets removes the parts reachable only from them, their local
names, and calcChain.xml (Excel rebuilds it). Part names and rIds are read from the rels, never assumed:
xlsxwriter, LibreOffice and Excel name them differently.
Target XML is edited as text at precise spots, never re-serialised: ElementTree would drop the unused
namespace declarations that ``mc:Ignorable`` names, which Excel reports as a corrupt file.

Which sheets a program wrote is recorded in the file itself, as custom document properties
("excelgen sheet 1" = "Backprop", …; File ▸ Properties ▸ Custom shows them): a sheet a user adds, whatever
its name, is never one of them. LibreOffice keeps these properties when it saves (tested), as Excel does.

A workbook is untrusted input. It is read lazily and within `Limits`: the zip's directory is checked first
(entry count, each part's declared size and compression ratio, so a zip bomb is refused before anything is
inflated), a part is inflated only when it is parsed (never past its declared size, and zipfile's CRC check
catches a part that lies about it), and parts that are not edited are streamed from the old file to the new.
"""

from __future__ import annotations

import html
import io
import posixpath
import re
import shutil
import time
import xml.etree.ElementTree as ET
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote
from xml.sax.saxutils import escape, quoteattr

from xlsxwriter.utility import xl_cell_to_rowcol, xl_rowcol_to_cell

from . import ownership

NS_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
# ISO 29500 Strict: the same parts under other namespaces (Excel's "Strict Open XML Spreadsheet").
NS_STRICT_MAIN = "http://purl.oclc.org/ooxml/spreadsheetml/main"
STRICT_OFFICE_DOCUMENT = "http://purl.oclc.org/ooxml/officeDocument/relationships/officeDocument"
NS_DOC_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
NS_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
NS_CT = "http://schemas.openxmlformats.org/package/2006/content-types"
NS_VT = "http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes"
REL_OFFICE_DOCUMENT = NS_DOC_REL + "/officeDocument"
REL_WORKSHEET = NS_DOC_REL + "/worksheet"
REL_STYLES = NS_DOC_REL + "/styles"
REL_SHARED_STRINGS = NS_DOC_REL + "/sharedStrings"
REL_CALC_CHAIN = NS_DOC_REL + "/calcChain"
REL_EXTENDED_PROPERTIES = NS_DOC_REL + "/extended-properties"
CONTENT_TYPES = "[Content_Types].xml"
# Custom number formats start here; lower ids are Excel's built-in formats.
FIRST_CUSTOM_NUMFMT = 164
# The inside of a start tag: an attribute value may hold ">", so a tag ends at the first ">" outside quotes.
TAG_BODY = r"""(?:[^>"']|"[^"]*"|'[^']*')*?"""
# The schema's order of the style collections we append to (CT_Stylesheet is a sequence).
STYLE_COLLECTIONS = ("numFmts", "fonts", "fills", "borders", "cellXfs", "dxfs")
# Where a collection that the stylesheet lacks goes: right after the last of these that it has.
STYLE_PREDECESSORS = {
    "numFmts": (),
    "dxfs": ("cellStyles", "cellXfs", "cellStyleXfs", "borders", "fills", "fonts", "numFmts"),
}
REL_CUSTOM_PROPERTIES = NS_DOC_REL + "/custom-properties"
REL_CORE_PROPERTIES = "http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties"
NS_CUSTOM = "http://schemas.openxmlformats.org/officeDocument/2006/custom-properties"
CT_CUSTOM = "application/vnd.openxmlformats-officedocument.custom-properties+xml"
CUSTOM_PART = "docProps/custom.xml"
CUSTOM_FMTID = "{D5CDD505-2E9C-101B-9397-08002B2CF9AE}"  # what every Office custom property carries
# The children of <workbook> that may precede <definedNames>, in the schema's order.
BEFORE_DEFINED_NAMES = ("sheets", "functionGroups", "externalReferences")


@dataclass(frozen=True)
class Limits:
    """What a workbook handed to us may hold. Our own largest (10,000 iterations x 7 rates) has 40 parts, the
    largest 27 MiB inflated, compressed 5- to 8-fold."""

    entries: int = 100_000  # parts in the zip
    part_bytes: int = 2**30  # a part's declared inflated size
    total_bytes: int = 8 * 2**30  # all parts' declared inflated sizes together
    ratio: float = 100.0  # inflated / compressed, for parts larger than ratio_floor
    ratio_floor: int = 2**20
    parse_bytes: int = 256 * 2**20  # the largest part read into memory to be parsed or edited


LIMITS = Limits()
_MIB = 2**20
_CELL = re.compile(r"\$?[A-Z]+\$?\d+")
# What zipfile raises for a part it cannot inflate: damaged data, an unknown method, encryption.
_DAMAGED = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError, RuntimeError)


class PackageError(ValueError):
    """The bytes are not a workbook this module can edit safely; the message says why, in one line."""


@dataclass(frozen=True)
class Rel:
    id: str
    type: str
    target: str  # the resolved part name (no leading slash), or the raw URI when external
    external: bool


def _q(ns: str, tag: str) -> str:
    return f"{{{ns}}}{tag}"


def _parse(data: bytes, part: str) -> ET.Element:
    try:
        return ET.fromstring(data)
    except ET.ParseError as e:
        raise PackageError(f"{part} is not well-formed XML ({e})") from None


def _rels_part(part: str) -> str:
    """A part's rels part: xl/workbook.xml -> xl/_rels/workbook.xml.rels; the package's is _rels/.rels."""
    folder, name = posixpath.split(part)
    return posixpath.join(folder, "_rels", name + ".rels")


def _resolve(source: str, target: str) -> str:
    target = unquote(target)
    if target.startswith("/"):
        return target.lstrip("/")
    return posixpath.normpath(posixpath.join(posixpath.dirname(source), target))


@dataclass(frozen=True)
class _Span:
    """An element's place in a part's text: text[start:end] == xml; prefix is its namespace prefix + ':'."""

    start: int
    end: int
    xml: str
    prefix: str

    def open_tag(self) -> str:
        return re.match(rf"<{TAG_BODY}>", self.xml).group(0)


def _element_spans(text: str, tag: str, offset: int = 0) -> list[_Span]:
    """Every empty or open-close element <tag …> (any namespace prefix) in text, outermost first, in order;
    offsets are shifted by `offset` so that spans found in a slice point into the whole text."""
    pattern = rf"<(?P<p>(?:[\w.-]+:)?){tag}(?=[\s/>]){TAG_BODY}(?:/>|>.*?</(?P=p){tag}>)"
    return [
        _Span(m.start() + offset, m.end() + offset, m.group(0), m.group("p") or "")
        for m in re.finditer(pattern, text, re.S)
    ]


def _container(text: str, tag: str) -> _Span | None:
    spans = _element_spans(text, tag)
    return spans[0] if spans else None


def _attr(tag_text: str, name: str) -> str | None:
    m = re.search(rf"\s{re.escape(name)}\s*=\s*(\"[^\"]*\"|'[^']*')", tag_text)
    return m.group(1)[1:-1] if m else None


def _set_attr(open_tag: str, name: str, value: str) -> str:
    """Set an attribute in an opening tag's text, adding it when absent."""
    pattern = rf"(\s{re.escape(name)}\s*=\s*)(\"[^\"]*\"|'[^']*')"
    if re.search(pattern, open_tag):
        return re.sub(pattern, lambda m: f'{m.group(1)}"{value}"', open_tag, count=1)
    end = len(open_tag) - (2 if open_tag.endswith("/>") else 1)
    return f'{open_tag[:end]} {name}="{value}"{open_tag[end:]}'


def _append_children(text: str, container: _Span, fragments: list[str], count: int) -> str:
    """Insert fragments as the last children of the container and set its count attribute."""
    open_tag = container.open_tag()
    if open_tag.endswith("/>"):  # <fonts count="0"/> -> <fonts count="n">…</fonts>
        name = re.match(r"<([\w.:-]+)", open_tag).group(1)
        new = _set_attr(open_tag[:-2] + ">", "count", str(count)) + "".join(fragments) + f"</{name}>"
    else:
        close = container.xml.rindex("</")
        new = _set_attr(open_tag, "count", str(count)) + container.xml[len(open_tag) : close]
        new += "".join(fragments) + container.xml[close:]
    return text[: container.start] + new + text[container.end :]


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


def owner_property(owner: str, k: int) -> str:
    """The custom document property that records the k-th (1-based) sheet an owner wrote."""
    return f"{owner} sheet {k}"


def _owner_pattern(owner: str) -> re.Pattern[str]:
    return re.compile(rf"{re.escape(owner)} sheet (\d+)")


class StrictWorkbook(PackageError):
    """An ISO "Strict Open XML" workbook: other namespaces throughout, which this module does not edit."""

    def __init__(self) -> None:
        super().__init__(
            'is a "Strict Open XML Spreadsheet" workbook, which this tool cannot edit; it is unchanged: open '
            'it in Excel or LibreOffice and save it as an ordinary .xlsx ("Excel Workbook"), then try again'
        )


class SheetNameTaken(PackageError):
    """A sheet to add has the name (case-insensitively) of a sheet the workbook keeps."""

    def __init__(self, name: str) -> None:
        super().__init__(f"it already has a sheet named {name!r} that is not this program's")
        self.name = name


def _name_key(name: str, local: int | None, sheets: list[str]) -> tuple[str, str | None]:
    """Names are unique per scope, case-insensitively: a name of the workbook or of one sheet."""
    sheet = sheets[local].lower() if local is not None and local < len(sheets) else None
    return name.lower(), sheet


def _set_local_sheet(element: str, local: int | None) -> str:
    """A <definedName> element with its localSheetId set to `local`, or removed for a global name."""
    open_tag = re.match(rf"<{TAG_BODY}>", element).group(0)
    if local is not None:
        tag = _set_attr(open_tag, "localSheetId", str(local))
    else:
        tag = re.sub(r"""\slocalSheetId\s*=\s*(?:"[^"]*"|'[^']*')""", "", open_tag)
    return tag + element[len(open_tag) :]


def _reprefix(element: str, old: str, new: str) -> str:
    """An element's own tags moved from namespace prefix `old` (e.g. "" or "x:") to `new`."""
    if old == new:
        return element
    return re.sub(rf"<(/?){re.escape(old)}(definedName)\b", rf"<\g<1>{new}\g<2>", element)


def _unescape(text: str) -> str:
    return html.unescape(text)


def _namespaces(text: str) -> dict[str, str]:
    """prefix -> namespace declared on the root element of an XML text."""
    root = re.search(rf"<(?!\?)(?:[\w.-]+:)?[\w.-]+{TAG_BODY}>", text)
    if root is None:
        return {}
    return dict(re.findall(r"""\sxmlns:([\w.-]+)\s*=\s*["']([^"']*)["']""", root.group(0)))


def _root_prefix(text: str, tag: str) -> str:
    m = re.search(rf"<([\w.-]+:)?{tag}\b", text)
    return (m.group(1) or "") if m else ""


def _relative(target: str, source: str) -> str:
    """The Target text of a relationship from part `source` to part `target`."""
    return posixpath.relpath(target, posixpath.dirname(source) or ".")


class _Parts(MutableMapping[str, bytes]):
    """name -> bytes of a package's parts, in zip order. A part of the source zip is inflated (within the
    limits) only when first read; `source_info` says which parts still hold their original bytes."""

    def __init__(self, zf: zipfile.ZipFile, infos: dict[str, zipfile.ZipInfo], limits: Limits) -> None:
        self._zip, self._infos, self._limits = zf, infos, limits
        self._order: dict[str, None] = dict.fromkeys(infos)  # an insertion-ordered set
        self._data: dict[str, bytes] = {}
        self._changed: set[str] = set()

    def __getitem__(self, name: str) -> bytes:
        if name in self._data:
            return self._data[name]
        if name not in self._order:
            raise KeyError(name)
        info = self._infos[name]
        if info.file_size > self._limits.parse_bytes:
            raise PackageError(
                f"part {name} is {info.file_size / _MIB:,.0f} MiB inflated, more than the "
                f"{self._limits.parse_bytes / _MIB:,.0f} MiB this tool edits"
            )
        try:
            data = self._zip.read(info)
        except _DAMAGED as e:
            raise PackageError(f"part {name} is damaged ({e})") from None
        self._data[name] = data
        return data

    def __setitem__(self, name: str, data: bytes) -> None:
        self._data[name] = data
        self._changed.add(name)
        self._order.setdefault(name)

    def __delitem__(self, name: str) -> None:
        del self._order[name]
        self._data.pop(name, None)
        self._changed.discard(name)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._order))

    def __len__(self) -> int:
        return len(self._order)

    def __contains__(self, name: object) -> bool:
        return name in self._order

    def source_info(self, name: str) -> zipfile.ZipInfo | None:
        """The source zip's entry of a part whose bytes are still the original ones, else None."""
        return None if name in self._changed else self._infos.get(name)

    def loaded(self, name: str) -> bool:
        return name in self._data


def check_directory(infos: list[zipfile.ZipInfo], limits: Limits) -> None:
    """Refuse a zip whose directory already shows that it is not a workbook to inflate."""
    if len(infos) > limits.entries:
        raise PackageError(f"{len(infos):,} parts, more than the {limits.entries:,} a workbook may have")
    names = [i.filename for i in infos]
    if len(set(names)) != len(names):
        raise PackageError("two parts share one name")
    total = 0
    for info in infos:
        size = info.file_size
        if size > limits.part_bytes:
            raise PackageError(f"part {info.filename} would inflate to {size / _MIB:,.0f} MiB")
        if size > limits.ratio_floor and size > limits.ratio * max(info.compress_size, 1):
            raise PackageError(
                f"part {info.filename} would inflate {size / max(info.compress_size, 1):,.0f}-fold "
                f"to {size / _MIB:,.0f} MiB: a zip bomb, not a workbook"
            )
        total += size
    if total > limits.total_bytes:
        raise PackageError(f"its parts would inflate to {total / _MIB:,.0f} MiB in all")


@dataclass(frozen=True)
class DefinedName:
    name: str
    local_sheet: int | None  # the tab index of the sheet it belongs to (localSheetId), or None: global
    text: str  # what it refers to, as the file writes it: 'Backprop'!$B$4
    span: _Span  # where it stands in workbook.xml


class Package:
    """An .xlsx as its parts: name -> bytes, in the zip's order. Parts not edited keep their exact bytes.

    A package opened from a path keeps the file open until `close()` (or the end of a `with` block): parts
    are read from it on demand.
    """

    def __init__(self, source: bytes | str | Path, limits: Limits = LIMITS) -> None:
        self._file: BinaryIO | None = None
        try:
            self._file = io.BytesIO(source) if isinstance(source, bytes | bytearray) else open(source, "rb")  # noqa: SIM115
            self._zip = zipfile.ZipFile(self._file)
            infos = [i for i in self._zip.infolist() if not i.is_dir()]
        except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, ValueError):
            self.close()
            raise PackageError("not a zip file, or a damaged one") from None
        except BaseException:
            self.close()
            raise
        try:
            check_directory(infos, limits)
            self.parts = _Parts(self._zip, {i.filename: i for i in infos}, limits)
            if CONTENT_TYPES not in self.parts or "_rels/.rels" not in self.parts:
                raise PackageError("no [Content_Types].xml or _rels/.rels: not an Office Open XML file")
            rels = self.rels("")
            if any(r.type == STRICT_OFFICE_DOCUMENT for r in rels):
                raise StrictWorkbook()
            books = [r for r in rels if r.type == REL_OFFICE_DOCUMENT and not r.external]
            if not books or books[0].target not in self.parts:
                raise PackageError("no workbook part")
            self.workbook = books[0].target
            tag = _parse(self.parts[self.workbook], self.workbook).tag
            if tag == _q(NS_STRICT_MAIN, "workbook"):
                raise StrictWorkbook()
            if tag != _q(NS_MAIN, "workbook"):
                raise PackageError(f"{self.workbook} is not a spreadsheet workbook")
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> Package:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing the package out -----------------------------------------------------------------------

    def save(self, dest: str | Path | BinaryIO) -> None:
        """Write the package as a zip: fresh entries (an old one's extra fields could clash), an existing part
        keeping its date. Parts never read are streamed from the source, never held whole in memory."""
        now = time.localtime()[:6]
        with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as z:
            for name in self.parts:
                old = self.parts.source_info(name)
                info = zipfile.ZipInfo(name, date_time=old.date_time if old else now)
                info.compress_type = zipfile.ZIP_DEFLATED
                if old is None or self.parts.loaded(name):
                    z.writestr(info, self.parts[name])
                    continue
                info.file_size = old.file_size  # lets zipfile choose ZIP64 up front for a huge part
                try:
                    with self._zip.open(old) as src, z.open(info, "w") as dst:
                        shutil.copyfileobj(src, dst, _MIB)
                except _DAMAGED as e:
                    raise PackageError(f"part {name} is damaged ({e})") from None

    def to_bytes(self) -> bytes:
        out = io.BytesIO()
        self.save(out)
        return out.getvalue()

    # -- reading ---------------------------------------------------------------------------------------

    def text(self, part: str) -> str:
        return self.parts[part].decode("utf-8")

    def rels(self, part: str) -> list[Rel]:
        """The relationships of a part ("" is the package itself), targets resolved to part names."""
        rels_part = "_rels/.rels" if part == "" else _rels_part(part)
        if rels_part not in self.parts:
            return []
        root = _parse(self.parts[rels_part], rels_part)
        out = []
        for r in root.iter(_q(NS_PKG_REL, "Relationship")):
            external = r.get("TargetMode") == "External"
            target = r.get("Target", "")
            out.append(
                Rel(
                    r.get("Id", ""),
                    r.get("Type", ""),
                    target if external else _resolve(part, target),
                    external,
                )
            )
        return out

    def _sheet_entries(self) -> list[tuple[str, int, str]]:
        """(name, sheetId, rId) of each sheet, in tab order."""
        root = _parse(self.parts[self.workbook], self.workbook)
        sheets = root.find(_q(NS_MAIN, "sheets"))
        if sheets is None:
            raise PackageError(f"{self.workbook} has no <sheets>")
        return [
            (s.get("name", ""), int(s.get("sheetId", "0")), s.get(_q(NS_DOC_REL, "id"), ""))
            for s in sheets.findall(_q(NS_MAIN, "sheet"))
        ]

    def sheet_names(self) -> list[str]:
        return [name for name, _, _ in self._sheet_entries()]

    def sheet_part(self, name: str) -> str | None:
        targets = {r.id: r.target for r in self.rels(self.workbook) if not r.external}
        for sheet, _, rid in self._sheet_entries():
            if sheet.lower() == name.lower():  # sheet names are case-insensitive in every spreadsheet
                return targets.get(rid)
        return None

    def last_row(self, sheet: str) -> int | None:
        """The number of the last row holding a value in the sheet; 0 when it has none; None without it."""
        part = self.sheet_part(sheet)
        if part is None:
            return None
        last = number = 0
        for row in _parse(self.parts[part], part).iter(_q(NS_MAIN, "row")):
            number = int(row.get("r", number + 1))  # r is optional: a row without it follows the previous one
            if any(
                c.find(_q(NS_MAIN, "v")) is not None or c.find(_q(NS_MAIN, "is")) is not None for c in row
            ):
                last = max(last, number)
        return last

    def first_cell_text(self, sheet: str) -> str | None:
        """The text in A1 of a sheet (an inline or shared string), or None."""
        part = self.sheet_part(sheet)
        if part is None:
            return None
        root = _parse(self.parts[part], part)
        cell = next((c for c in root.iter(_q(NS_MAIN, "c")) if c.get("r") == "A1"), None)
        if cell is None:
            return None
        if cell.get("t") == "inlineStr":
            return "".join(t.text or "" for t in cell.iter(_q(NS_MAIN, "t")))
        if cell.get("t") == "s":
            table = self._related_part(self.workbook, REL_SHARED_STRINGS)
            value = cell.findtext(_q(NS_MAIN, "v")) or ""
            if table is None or not value.isdigit():
                return None
            items = list(_parse(self.parts[table], table).iter(_q(NS_MAIN, "si")))
            if int(value) >= len(items):
                return None
            return "".join(t.text or "" for t in items[int(value)].iter(_q(NS_MAIN, "t")))
        return None

    def _reachable(self, roots: Iterable[str], skip: tuple[str, set[str]] | None = None) -> set[str]:
        """Parts reachable from roots through internal relationships, not following the relationships from
        skip[0] to any part in skip[1]."""
        source, targets = skip if skip is not None else ("", set())
        seen: set[str] = set()
        stack = list(roots)
        while stack:
            part = stack.pop()
            if part in seen:
                continue
            seen.add(part)
            for r in self.rels(part):
                if r.external or r.target not in self.parts:
                    continue
                if part == source and r.target in targets and skip is not None:
                    continue
                stack.append(r.target)
        return seen

    # -- editing ---------------------------------------------------------------------------------------

    def _set_text(self, part: str, text: str) -> None:
        self.parts[part] = text.encode("utf-8")

    def _unused_name(self, wanted: str) -> str:
        """wanted itself, or the same name with the smallest free number: charts/chart1.xml -> chart3.xml."""
        taken = {p.lower() for p in self.parts}
        if wanted.lower() not in taken:
            return wanted
        folder, name = posixpath.split(wanted)
        stem, ext = re.match(r"(.*?)\d*(\.[^.]*)$", name).groups()
        n = 1
        while posixpath.join(folder, f"{stem}{n}{ext}").lower() in taken:
            n += 1
        return posixpath.join(folder, f"{stem}{n}{ext}")

    def _content_type(self, part: str) -> str | None:
        root = _parse(self.parts[CONTENT_TYPES], CONTENT_TYPES)
        for o in root.iter(_q(NS_CT, "Override")):
            if o.get("PartName", "").lstrip("/").lower() == part.lower():
                return o.get("ContentType")
        ext = posixpath.splitext(part)[1].lstrip(".").lower()
        for d in root.iter(_q(NS_CT, "Default")):
            if d.get("Extension", "").lower() == ext:
                return d.get("ContentType")
        return None

    def _add_override(self, part: str, content_type: str) -> None:
        if self._content_type(part) == content_type:
            return
        text = self.text(CONTENT_TYPES)
        close = re.search(r"</([\w.-]+:)?Types>\s*$", text)
        if close is None:
            raise PackageError("[Content_Types].xml has no closing </Types>")
        prefix = close.group(1) or ""
        entry = f"<{prefix}Override PartName={quoteattr('/' + part)} ContentType={quoteattr(content_type)}/>"
        self._set_text(CONTENT_TYPES, text[: close.start()] + entry + text[close.start() :])

    def _remove_overrides(self, parts: set[str]) -> None:
        names = {p.lower() for p in parts}
        text = self.text(CONTENT_TYPES)
        edits = [
            (m.start, m.end, "")
            for m in _element_spans(text, "Override")
            if unquote(_attr(m.open_tag(), "PartName") or "").lstrip("/").lower() in names
        ]
        if edits:
            self._set_text(CONTENT_TYPES, _apply(text, edits))

    def _remove_relationships(self, source: str, rids: set[str]) -> None:
        rels_part = "_rels/.rels" if source == "" else _rels_part(source)
        text = self.text(rels_part)
        edits = [
            (m.start, m.end, "")
            for m in _element_spans(text, "Relationship")
            if _attr(m.open_tag(), "Id") in rids
        ]
        if edits:
            self._set_text(rels_part, _apply(text, edits))

    def _add_relationship(self, source: str, rel_type: str, target_part: str) -> str:
        rels_part = "_rels/.rels" if source == "" else _rels_part(source)
        text = self.text(rels_part)
        ids = {_attr(m.open_tag(), "Id") for m in _element_spans(text, "Relationship")}
        n = 1
        while f"rId{n}" in ids:
            n += 1
        rid = f"rId{n}"
        target = _relative(target_part, source)
        close = re.search(r"</([\w.-]+:)?Relationships>\s*$", text)
        if close is None:
            raise PackageError(f"{rels_part} has no closing </Relationships>")
        prefix = close.group(1) or ""
        entry = f"<{prefix}Relationship Id={quoteattr(rid)} Type={quoteattr(rel_type)}"
        entry += f" Target={quoteattr(target)}/>"
        self._set_text(rels_part, text[: close.start()] + entry + text[close.start() :])
        return rid

    def _sheet_spans(self) -> tuple[str, _Span, list[_Span]]:
        """workbook.xml's text, its <sheets> element and the <sheet> elements in it (same order as
        _sheet_entries)."""
        text = self.text(self.workbook)
        block = _container(text, "sheets")
        if block is None:
            raise PackageError(f"{self.workbook} has no <sheets>")
        return text, block, _element_spans(block.xml, "sheet", block.start)

    def put_sheet(self, name: str, scratch: Package) -> None:
        """Add scratch's sheet `name` in place of ours of that name, or as the last tab (replace_sheets)."""
        self.replace_sheets([name], scratch, [name])

    def replace_sheets(
        self,
        remove: Iterable[str],
        scratch: Package | None,
        add: Sequence[str],
        *,
        at_start: bool = False,
        drop_name: Callable[[str], bool] = lambda name: False,
    ) -> None:
        """Remove the sheets `remove` (those that exist) with every part reachable only from them, then graft
        scratch's sheets `add`, in that order, where the first removed sheet stood (else first or last).

        Defined names: those local to a removed sheet go, as do the global ones that `drop_name` claims and
        those that scratch defines anew; scratch's names then follow its sheets in; every other name stays,
        its localSheetId moved with its sheet. The active tab stays on the sheet it was on, by name (else the
        first added sheet). Raises SheetNameTaken, leaving the package unchanged, when a kept sheet already
        has the name of one to add.
        """
        before = self.sheet_names()
        removing = {n.lower() for n in remove} & {n.lower() for n in before}
        kept = [n for n in before if n.lower() not in removing]
        adding = {n.lower() for n in add}
        clash = [n for n in kept if n.lower() in adding]
        if clash:
            raise SheetNameTaken(clash[0])
        first = next((i for i, n in enumerate(before) if n.lower() in removing), None)
        if first is not None:
            position = sum(1 for n in before[:first] if n.lower() not in removing)
        else:
            position = 0 if at_start else len(kept)
        active = self._active_sheet(before)
        incoming = [] if scratch is None else scratch.defined_names()
        incoming_keys = {_name_key(d.name, d.local_sheet, scratch.sheet_names()) for d in incoming}
        names = [
            (d, before[d.local_sheet] if d.local_sheet is not None else None)
            for d in self.defined_names()
            if d.local_sheet is None or d.local_sheet < len(before)  # a name of no sheet is dropped
            if not (d.local_sheet is not None and before[d.local_sheet].lower() in removing)
            and not (d.local_sheet is None and drop_name(d.name))
            and _name_key(d.name, d.local_sheet, before) not in incoming_keys
        ]

        self._remove_sheets(removing)
        if active is None or (active.lower() in removing and active.lower() not in {a.lower() for a in add}):
            active = add[0] if add else None
        for k, name in enumerate(add):
            self._graft_sheet(name, scratch, position + k, selected=name.lower() == (active or "").lower())

        after = [n.lower() for n in self.sheet_names()]
        elements = [
            _set_local_sheet(d.span.xml, None if sheet is None else after.index(sheet.lower()))
            for d, sheet in names
        ]
        if scratch is not None:
            theirs = [n.lower() for n in scratch.sheet_names()]
            wanted = {a.lower() for a in add}
            for d in incoming:
                sheet = None if d.local_sheet is None else theirs[d.local_sheet]
                if sheet is None or sheet in wanted:
                    local = None if sheet is None else after.index(sheet)
                    element = _reprefix(d.span.xml, d.span.prefix, self._names_prefix())
                    elements.append(_set_local_sheet(element, local))
        self._write_defined_names(elements)
        self._drop_calc_chain()
        self._set_active_tab(active)

    def _remove_sheets(self, removing: set[str]) -> None:
        entries = self._sheet_entries()
        targets = {r.id: r.target for r in self.rels(self.workbook) if not r.external}
        gone = [(i, name, rid, targets.get(rid)) for i, (name, _, rid) in enumerate(entries)]
        gone = [g for g in gone if g[1].lower() in removing]
        if not gone:
            return
        parts = {part for *_, part in gone if part is not None}
        others = self._reachable([""], skip=(self.workbook, parts))
        doomed = set().union(*(self._reachable([p]) for p in parts)) - others
        text, _, spans = self._sheet_spans()
        self._set_text(self.workbook, _apply(text, [(spans[i].start, spans[i].end, "") for i, *_ in gone]))
        self._remove_relationships(self.workbook, {rid for _, _, rid, _ in gone})
        for _, name, _, _ in gone:
            self._remove_app_title(name)
        for p in doomed:
            for part in (p, _rels_part(p)):
                if part in self.parts:
                    del self.parts[part]
        self._remove_overrides(doomed)

    def _graft_sheet(self, name: str, scratch: Package, position: int, selected: bool) -> None:
        source = scratch.sheet_part(name)
        if source is None:
            raise ValueError(f"the scratch workbook has no sheet {name!r}")  # a bug, not a user mistake
        parts = sorted(scratch._reachable([source]), key=lambda p: p != source)  # the sheet first
        renamed = {}
        for part in parts:  # reserve each name as it is chosen, so that two new parts never collide
            renamed[part] = self._unused_name(part)
            self.parts[renamed[part]] = b""
        for old, new in renamed.items():
            data = scratch.parts[old]
            if old == source:
                xml = data.decode("utf-8")
                if not selected:  # two selected tabs are a group in Excel, and an edit would go to both
                    xml = re.sub(r'\stabSelected="(?:1|true)"', "", xml)
                data = self._graft_sheet_xml(scratch, xml).encode("utf-8")
            self.parts[new] = data
            content_type = scratch._content_type(old)
            if content_type is None:
                raise ValueError(f"no content type for scratch part {old}")
            self._add_override(new, content_type)
            rels = scratch.rels(old)
            if rels:
                self.parts[_rels_part(new)] = _rels_xml(
                    [
                        (r.id, r.type, r.target if r.external else _relative(renamed[r.target], new))
                        for r in rels
                    ],
                    [r.external for r in rels],
                )
        rid = self._add_relationship(self.workbook, REL_WORKSHEET, renamed[source])
        self._insert_sheet_entry(name, rid, position)
        self._add_app_title(name, position)

    def _insert_sheet_entry(self, name: str, rid: str, position: int | None) -> None:
        entries = self._sheet_entries()
        sheet_id = max((i for _, i, _ in entries), default=0) + 1
        text, block, spans = self._sheet_spans()
        prefix = block.prefix
        # Use the prefix the workbook already declares for relationship ids; declare one only if it has none.
        root = re.search(r"<([\w.-]+:)?workbook\b[^>]*>", text).group(0)
        declared = re.search(rf'xmlns:([\w.-]+)="{re.escape(NS_DOC_REL)}"', root)
        r = declared.group(1) if declared else "r"
        local = "" if declared else f' xmlns:r="{NS_DOC_REL}"'
        entry = f'<{prefix}sheet name={quoteattr(name)} sheetId="{sheet_id}" {r}:id={quoteattr(rid)}{local}/>'
        if position is not None and position < len(spans):
            at = spans[position].start
        elif block.xml.endswith("/>"):
            text = text[: block.start] + block.xml[:-2] + f"></{prefix}sheets>" + text[block.end :]
            at = block.start + len(block.xml) - 1
        else:
            at = block.end - len(f"</{prefix}sheets>")
        self._set_text(self.workbook, text[:at] + entry + text[at:])

    # -- defined names, the active tab, calcChain --------------------------------------------------------

    def defined_names(self) -> list[DefinedName]:
        """Every <definedName> of workbook.xml, in order."""
        text = self.text(self.workbook)
        block = _container(text, "definedNames")
        if block is None or block.xml.endswith("/>"):
            return []
        out = []
        for span in _element_spans(block.xml, "definedName", block.start):
            tag = span.open_tag()
            local = _attr(tag, "localSheetId")
            body = span.xml[len(tag) : span.xml.rindex("</")] if not span.xml.endswith("/>") else ""
            name = _unescape(_attr(tag, "name") or "")
            out.append(
                DefinedName(name, int(local) if local and local.isdigit() else None, _unescape(body), span)
            )
        return out

    def _names_prefix(self) -> str:
        """The namespace prefix workbook.xml writes its elements with ("" for the default namespace)."""
        return self._sheet_spans()[1].prefix

    def _write_defined_names(self, elements: list[str]) -> None:
        prefix = self._names_prefix()
        text = self.text(self.workbook)
        block = _container(text, "definedNames")
        new = f"<{prefix}definedNames>{''.join(elements)}</{prefix}definedNames>" if elements else ""
        if block is not None:
            text = text[: block.start] + new + text[block.end :]
        elif new:
            after = max(s.end for s in (_container(text, t) for t in BEFORE_DEFINED_NAMES) if s is not None)
            text = text[:after] + new + text[after:]
        self._set_text(self.workbook, text)

    def _drop_calc_chain(self) -> None:
        """calcChain.xml lists formula cells by sheet id; once sheets change Excel rebuilds it anew."""
        for r in self.rels(self.workbook):
            if r.type == REL_CALC_CHAIN:
                if r.target in self.parts:
                    del self.parts[r.target]
                self._remove_overrides({r.target})
                self._remove_relationships(self.workbook, {r.id})

    def _active_sheet(self, names: list[str]) -> str | None:
        view = _container(self.text(self.workbook), "workbookView")
        tab = _attr(view.open_tag(), "activeTab") if view is not None else None
        index = int(tab) if tab and tab.isdigit() else 0
        return names[index] if index < len(names) else (names[0] if names else None)

    def _set_active_tab(self, name: str | None) -> None:
        text = self.text(self.workbook)
        view = _container(text, "workbookView")
        names = [n.lower() for n in self.sheet_names()]
        if view is None or not names:
            return
        index = names.index(name.lower()) if name and name.lower() in names else 0
        tag = _set_attr(view.open_tag(), "activeTab", str(index))
        first = _attr(tag, "firstSheet")
        if first is not None and (not first.isdigit() or int(first) > index):
            tag = _set_attr(tag, "firstSheet", "0")
        self._set_text(self.workbook, text[: view.start] + tag + text[view.start + len(view.open_tag()) :])

    # -- which sheets a program wrote: custom document properties ----------------------------------------

    def custom_properties(self) -> dict[str, str]:
        """name -> text of the custom document properties that hold text (vt:lpwstr)."""
        part = self._custom_part()
        if part is None:
            return {}
        root = _parse(self.parts[part], part)
        return {
            p.get("name", ""): p.findtext(_q(NS_VT, "lpwstr")) or ""
            for p in root.iter(_q(NS_CUSTOM, "property"))
            if p.find(_q(NS_VT, "lpwstr")) is not None
        }

    def custom_property_names(self) -> list[str]:
        """The names of every custom document property, whatever its type."""
        part = self._custom_part()
        if part is None:
            return []
        return [p.get("name", "") for p in _parse(self.parts[part], part).iter(_q(NS_CUSTOM, "property"))]

    def owned_sheets(self, owner: str) -> list[str] | None:
        """The sheets `owner` recorded as its own ("<owner> sheet 1" …), in order; None when the file holds no
        such record (a workbook it never wrote, or one written before records were kept)."""
        found = []
        for name, value in self.custom_properties().items():
            m = _owner_pattern(owner).fullmatch(name)
            if m:
                found.append((int(m.group(1)), value))
        return [value for _, value in sorted(found)] if found else None

    def set_owned_sheets(self, owner: str, sheets: Sequence[str], token: str | None = None) -> None:
        """Record `sheets` as owner's own, replacing what it recorded before: the custom properties and, on
        each sheet, its ownership mark (see ownership.py). `token` defaults to a new one."""
        token = ownership.new_token() if token is None else token
        self.mark_sheets(owner, sheets, token)
        part = self._custom_part()
        if part is None:
            part = self._unused_name(CUSTOM_PART)
            self.parts[part] = (
                '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                f'<Properties xmlns="{NS_CUSTOM}" xmlns:vt="{NS_VT}"></Properties>'
            ).encode()
            self._add_override(part, CT_CUSTOM)
            self._add_relationship("", REL_CUSTOM_PROPERTIES, part)
        text = self.text(part)
        root = _parse(self.parts[part], part)
        vt = next((k for k, v in _namespaces(text).items() if v == NS_VT), None)
        properties = _element_spans(text, "property")
        mine = _owner_pattern(owner)
        token_name = ownership.token_property(owner)
        edits = [
            (s.start, s.end, "")
            for s in properties
            if mine.fullmatch(name := _unescape(_attr(s.open_tag(), "name") or "")) or name == token_name
        ]
        pid = max([1] + [int(p.get("pid", "1")) for p in root.iter(_q(NS_CUSTOM, "property"))])
        prefix = properties[0].prefix if properties else _root_prefix(text, "Properties")
        vt_open = f"<{vt}:lpwstr>" if vt else f'<lpwstr xmlns="{NS_VT}">'
        vt_close = f"</{vt}:lpwstr>" if vt else "</lpwstr>"
        records = [(owner_property(owner, k), sheet) for k, sheet in enumerate(sheets, start=1)]
        new = "".join(
            f'<{prefix}property fmtid="{CUSTOM_FMTID}" pid="{pid + k}" name={quoteattr(name)}>'
            f"{vt_open}{escape(value)}{vt_close}</{prefix}property>"
            for k, (name, value) in enumerate([*records, (token_name, token)], start=1)
        )
        close = re.search(rf"</{re.escape(prefix)}Properties>\s*$", text)
        if close is None:
            if not text.rstrip().endswith("/>"):
                raise PackageError(f"{part} has no closing </Properties>")
            end = text.rstrip()
            edits.append((len(end) - 2, len(text), f">{new}</{prefix}Properties>"))
        else:
            edits.append((close.start(), close.start(), new))
        self._set_text(part, _apply(text, edits))

    def mark_sheets(self, owner: str, sheets: Sequence[str], token: str) -> None:
        """Give each of `sheets` owner's mark (a sheet-local defined name), replacing any mark on them, and
        drop owner's marks from every other sheet."""
        names = [n.lower() for n in self.sheet_names()]
        wanted = {s.lower() for s in sheets}
        if not wanted <= set(names):
            raise ValueError(f"no sheets {sorted(wanted - set(names))} to mark")  # a bug: we just wrote them
        marks = ownership.sheet_marks(self)
        elements = []
        for d in self.defined_names():
            if d.name.lower() == ownership.MARK_NAME.lower() and d.local_sheet is not None:
                sheet = names[d.local_sheet] if d.local_sheet < len(names) else None
                mark = next((m for n, m in marks.items() if n.lower() == sheet), None)
                if sheet in wanted or (mark is not None and mark.owner == owner):
                    continue
            elements.append(d.span.xml)
        p = self._names_prefix()
        for sheet in sheets:
            value = escape(ownership.mark_formula(owner, token, sheet))
            local = names.index(sheet.lower())
            tag = f'<{p}definedName name="{ownership.MARK_NAME}" localSheetId="{local}">'
            elements.append(f"{tag}{value}</{p}definedName>")
        self._write_defined_names(elements)

    def structure_locked(self) -> bool:
        """Whether the sheet structure is protected (Review ▸ Protect Workbook): no sheet may be added or
        removed."""
        protection = _container(self.text(self.workbook), "workbookProtection")
        return protection is not None and _attr(protection.open_tag(), "lockStructure") in ("1", "true")

    def cell_text(self, sheet: str, ref: str) -> str | None:
        """The value a cell holds as the file writes it (a number's text, a string, TRUE as "1"), or None."""
        part = self.sheet_part(sheet)
        if part is None:
            return None
        ref = ref.replace("$", "").upper()
        for cell in _parse(self.parts[part], part).iter(_q(NS_MAIN, "c")):
            if cell.get("r") != ref:
                continue
            if cell.get("t") == "inlineStr":
                return "".join(t.text or "" for t in cell.iter(_q(NS_MAIN, "t")))
            if cell.get("t") == "s":
                return None  # a shared string: no input of ours is text
            return cell.findtext(_q(NS_MAIN, "v"))
        return None

    def core_properties(self) -> dict[str, str]:
        """The file's core properties (title, description, creator …) by local name, as text."""
        part = self._related_part("", REL_CORE_PROPERTIES)
        if part is None:
            return {}
        root = _parse(self.parts[part], part)
        return {child.tag.rsplit("}", 1)[-1]: (child.text or "") for child in root}

    def _custom_part(self) -> str | None:
        return self._related_part("", REL_CUSTOM_PROPERTIES)

    def _related_part(self, source: str, rel_type: str) -> str | None:
        """The part that `source` (a part name, "" for the package) relates to by `rel_type`, when present."""
        for r in self.rels(source):
            if r.type == rel_type and not r.external and r.target in self.parts:
                return r.target
        return None

    # -- styles and strings of grafted cells -------------------------------------------------------------

    def _styles_part(self) -> str:
        part = self._related_part(self.workbook, REL_STYLES)
        if part is None:
            raise PackageError("the workbook has no styles part")
        return part

    def _graft_sheet_xml(self, scratch: Package, xml: str) -> str:
        xml = _inline_strings(scratch, xml)
        used = {int(s) for s in re.findall(r'<(?:c|row)\b[^>]*?\ss="(\d+)"', xml)}
        used |= {int(s) for s in re.findall(r'<col\b[^>]*?\sstyle="(\d+)"', xml)}
        dxfs = {int(s) for s in re.findall(r'<cfRule\b[^>]*?\sdxfId="(\d+)"', xml)}
        xf_map, dxf_map = self._merge_styles(scratch, sorted(used), sorted(dxfs))
        if all(k == v for k, v in (*xf_map.items(), *dxf_map.items())):
            return xml  # a workbook that excelgen wrote first numbers its formats as excelgen does

        def remap(m: re.Match[str]) -> str:
            return re.sub(
                r'(\s(?:s|style)=")(\d+)"', lambda a: f'{a.group(1)}{xf_map[int(a.group(2))]}"', m.group(0)
            )

        def remap_dxf(m: re.Match[str]) -> str:
            return re.sub(
                r'(\sdxfId=")(\d+)"', lambda a: f'{a.group(1)}{dxf_map[int(a.group(2))]}"', m.group(0)
            )

        xml = re.sub(r"<(?:c|row|col)\b[^>]*>", remap, xml)
        return re.sub(r"<cfRule\b[^>]*>", remap_dxf, xml)

    def _merge_styles(
        self, scratch: Package, xfs: list[int], dxfs: list[int] = ()
    ) -> tuple[dict[int, int], dict[int, int]]:
        """Append scratch's cell formats `xfs` (and the fonts, fills, borders, number formats they use) and
        its conditional formats `dxfs` to our styles.xml, reusing identical entries; return the maps from
        scratch indices to ours."""
        part = self._styles_part()
        ours = _parse(self.parts[part], part)
        theirs_part = scratch._styles_part()
        theirs = _parse(scratch.parts[theirs_part], theirs_part)
        pending: dict[str, list[ET.Element]] = {c: [] for c in STYLE_COLLECTIONS}

        def children(root: ET.Element, collection: str) -> list[ET.Element]:
            found = root.find(_q(NS_MAIN, collection))
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
            element = ET.Element(_q(NS_MAIN, "numFmt"), {"numFmtId": str(new_id), "formatCode": code})
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
            self._set_text(part, _append_styles(self.text(part), ours, pending))
        return xf_map, dxf_map

    # -- appending a row -------------------------------------------------------------------------------

    def append_row(self, name: str, scratch: Package, row: int) -> None:
        """Copy row number `row` of scratch's sheet `name` into our sheet `name` (below its last value);
        nothing else in our sheet changes but its dimension."""
        part, source = self.sheet_part(name), scratch.sheet_part(name)
        if part is None or source is None:
            raise ValueError(f"no sheet {name!r} to append to")
        scratch_text = scratch.text(source)
        found = [m for m in _element_spans(scratch_text, "row") if _attr(m.open_tag(), "r") == str(row)]
        if not found:
            raise ValueError(f"the scratch sheet {name!r} has no row {row}")
        row_xml = self._graft_sheet_xml(scratch, found[0].xml)
        text = self.text(part)
        data = _container(text, "sheetData")
        if data is None:
            raise PackageError(f"{part} has no <sheetData>")
        if data.prefix:  # our row is in the default namespace: declare it where it lands
            row_xml = row_xml.replace("<row", f'<row xmlns="{NS_MAIN}"', 1)
        # Rows must stay in ascending order: rows that only carry formatting may follow the last value.
        later, number = [], 0
        for span in _element_spans(data.xml, "row", data.start):
            number = int(_attr(span.open_tag(), "r") or number + 1)
            if number >= row:
                later.append((span, number))
        if later and later[0][1] == row:  # a formatting-only row where ours goes: ours replaces it
            edits = [(later[0][0].start, later[0][0].end, row_xml)]
        elif later:
            edits = [(later[0][0].start, later[0][0].start, row_xml)]
        elif data.xml.endswith("/>"):
            edits = [(data.start, data.end, data.xml[:-2] + ">" + row_xml + f"</{data.prefix}sheetData>")]
        else:
            at = data.start + data.xml.rindex("</")
            edits = [(at, at, row_xml)]
        ours, theirs = _container(text, "dimension"), _container(scratch_text, "dimension")
        if ours is not None and theirs is not None:
            ref = _union_ref(_attr(ours.open_tag(), "ref") or "A1", _attr(theirs.open_tag(), "ref") or "A1")
            edits.append((ours.start, ours.end, _set_attr(ours.xml, "ref", ref)))
        self._set_text(part, _apply(text, edits))

    # -- docProps/app.xml: the sheet titles Excel lists in the file's properties --------------------------

    def _app_part(self) -> str | None:
        return self._related_part("", REL_EXTENDED_PROPERTIES)

    def _app_titles(self) -> tuple[str, _Span, list[_Span], _Span, int, int] | None:
        """In docProps/app.xml: the part, the element counting worksheets, the title elements, their vector,
        and where the worksheet titles start and how many there are; None when it lists no worksheets."""
        part = self._app_part()
        if part is None:
            return None
        text = self.text(part)
        pairs, titles = _container(text, "HeadingPairs"), _container(text, "TitlesOfParts")
        if pairs is None or titles is None:
            return None
        vector = _element_spans(titles.xml, "vector", titles.start)[0]
        items = _element_spans(vector.xml, "lpstr", vector.start)
        variants = _element_spans(pairs.xml, "variant", pairs.start)
        start = 0
        for heading, count in zip(variants[::2], variants[1::2], strict=False):
            number = _element_spans(count.xml, "i4", count.start)
            if not number:
                return None
            n = int(re.sub(r"<[^>]+>", "", number[0].xml))
            if re.sub(r"<[^>]+>", "", heading.xml).strip() in ("Worksheets", "Sheets"):
                return part, number[0], items, vector, start, n
            start += n
        return None

    def _add_app_title(self, name: str, position: int | None) -> None:
        found = self._app_titles()
        if found is None:
            return
        part, count_el, items, vector, start, count = found
        index = start + (count if position is None else min(position, count))
        at = items[index].start if index < len(items) else vector.start + vector.xml.rindex("</")
        edits = [
            (count_el.start, count_el.end, _set_inner(count_el.xml, str(count + 1))),
            (at, at, f"<{count_el.prefix}lpstr>{escape(name)}</{count_el.prefix}lpstr>"),
            _resized(vector, len(items) + 1),
        ]
        self._set_text(part, _apply(self.text(part), edits))

    def _remove_app_title(self, name: str) -> None:
        found = self._app_titles()
        if found is None:
            return
        part, count_el, items, vector, start, count = found
        hits = [m for m in items[start : start + count] if re.sub(r"<[^>]+>", "", m.xml) == escape(name)]
        if not hits:
            return
        edits = [
            (count_el.start, count_el.end, _set_inner(count_el.xml, str(count - 1))),
            (hits[0].start, hits[0].end, ""),
            _resized(vector, len(items) - 1),
        ]
        self._set_text(part, _apply(self.text(part), edits))

    # -- a copy that prints one sheet's charts (docs/render.py) --------------------------------------------

    def chart_area(self, sheet: str) -> str:
        """The cell range that the charts of a sheet cover, from their drawing anchors: "$K$4:$T$35"."""
        part = self.sheet_part(sheet)
        if part is None:
            raise ValueError(f"no sheet {sheet!r}")
        xdr = "http://schemas.openxmlformats.org/drawingml/2006/spreadsheetDrawing"
        cols, rows = [], []
        for drawing in (r.target for r in self.rels(part) if r.type == NS_DOC_REL + "/drawing"):
            for anchor in _parse(self.parts[drawing], drawing).iter(_q(xdr, "twoCellAnchor")):
                if anchor.find(_q(xdr, "graphicFrame")) is None:  # a shape or picture, not a chart
                    continue
                for corner in ("from", "to"):
                    cols.append(int(anchor.findtext(f"{{{xdr}}}{corner}/{{{xdr}}}col")))
                    rows.append(int(anchor.findtext(f"{{{xdr}}}{corner}/{{{xdr}}}row")))
        if not cols:
            raise ValueError(f"sheet {sheet!r} has no chart")
        # Anchors are 0-based and the "to" cell holds the chart's edge, so it belongs to the area.
        first, last = (
            xl_rowcol_to_cell(min(rows), min(cols), True, True),
            xl_rowcol_to_cell(max(rows), max(cols), True, True),
        )
        return f"{first}:{last}"

    def print_only(self, sheet: str, area: str) -> None:
        """Make this (a throwaway copy) print nothing but `area` of `sheet`, landscape on one page: every
        other sheet hidden, a print area, fit to page."""
        entries = self._sheet_entries()
        index = next(i for i, (n, _, _) in enumerate(entries) if n.lower() == sheet.lower())
        text, block, spans = self._sheet_spans()
        edits = [
            (s.start, s.end, _set_attr(s.xml, "state", "visible" if i == index else "hidden"))
            for i, s in enumerate(spans)
        ]
        view = _container(text, "workbookView")
        if view is not None:
            tag = view.open_tag()
            tag = _set_attr(_set_attr(tag, "activeTab", str(index)), "firstSheet", str(index))
            edits.append((view.start, view.start + len(view.open_tag()), tag))
        quoted = "'" + sheet.replace("'", "''") + "'"
        names = _container(text, "definedNames")
        p = names.prefix if names is not None else block.prefix
        print_area = f'<{p}definedName name="_xlnm.Print_Area" localSheetId="{index}">'
        print_area += f"{escape(quoted)}!{area}</{p}definedName>"
        if names is not None and not names.xml.endswith("/>"):
            for old in _element_spans(names.xml, "definedName", names.start):
                tag = old.open_tag()
                if _attr(tag, "name") == "_xlnm.Print_Area" and _attr(tag, "localSheetId") == str(index):
                    edits.append((old.start, old.end, ""))
            at = names.start + names.xml.rindex("</")
            edits.append((at, at, print_area))
        else:  # definedNames follows sheets (and externalReferences, when there are any)
            after = max(s.end for s in (_container(text, t) for t in ("sheets", "externalReferences")) if s)
            if names is not None:  # an empty <definedNames/>
                edits.append((names.start, names.end, ""))
            edits.append((after, after, f"<{p}definedNames>{print_area}</{p}definedNames>"))
        self._set_text(self.workbook, _apply(text, edits))

        part = self.sheet_part(sheet)
        xml = self.text(part)
        setup = _container(xml, "pageSetup")
        landscape = {"orientation": "landscape", "fitToWidth": "1", "fitToHeight": "1"}
        if setup is not None:
            tag = setup.xml
            for key, value in landscape.items():
                tag = _set_attr(tag, key, value)
            xml = xml[: setup.start] + tag + xml[setup.end :]
        else:
            margins = _container(xml, "pageMargins")
            if margins is None:
                raise PackageError(f"{part} has no <pageMargins> to put a page setup after")
            tag = f"<{margins.prefix}pageSetup" + "".join(f' {k}="{v}"' for k, v in landscape.items()) + "/>"
            xml = xml[: margins.end] + tag + xml[margins.end :]
        sheet_pr = _container(xml, "sheetPr")
        fit = _container(sheet_pr.xml, "pageSetUpPr") if sheet_pr is not None else None
        if fit is not None:
            at = sheet_pr.start + fit.start
            xml = xml[:at] + _set_attr(fit.xml, "fitToPage", "1") + xml[at + len(fit.xml) :]
        elif sheet_pr is not None:
            p = sheet_pr.prefix
            body = (
                sheet_pr.xml[:-2] + ">"
                if sheet_pr.xml.endswith("/>")
                else sheet_pr.xml[: sheet_pr.xml.rindex("</")]
            )
            new = f'{body}<{p}pageSetUpPr fitToPage="1"/></{p}sheetPr>'
            xml = xml[: sheet_pr.start] + new + xml[sheet_pr.end :]
        else:
            root = re.search(r"<([\w.-]+:)?worksheet\b[^>]*>", xml)
            p = root.group(1) or ""
            xml = (
                xml[: root.end()]
                + f'<{p}sheetPr><{p}pageSetUpPr fitToPage="1"/></{p}sheetPr>'
                + xml[root.end() :]
            )
        self._set_text(part, xml)


def _resized(vector: _Span, size: int) -> tuple[int, int, str]:
    open_tag = vector.open_tag()
    return vector.start, vector.start + len(open_tag), _set_attr(open_tag, "size", str(size))


def _union_ref(a: str, b: str) -> str:
    """The smallest range holding both ranges: A1:F9 and A1:H12 -> A1:H12."""
    cells = [xl_cell_to_rowcol(c) for ref in (a, b) for c in ref.split(":") if _CELL.fullmatch(c)]
    rows, cols = [r for r, _ in cells], [c for _, c in cells]
    return f"{xl_rowcol_to_cell(min(rows), min(cols))}:{xl_rowcol_to_cell(max(rows), max(cols))}"


def _set_inner(element: str, value: str) -> str:
    return re.sub(r">[^<]*<", f">{value}<", element, count=1)


def _apply(text: str, edits: list[tuple[int, int, str]]) -> str:
    """Replace text[start:end] for each edit, from the back so that earlier offsets stay valid."""
    for start, end, new in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):
        text = text[:start] + new + text[end:]
    return text


def _rels_xml(rels: list[tuple[str, str, str]], external: list[bool] | None = None) -> bytes:
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


def _inline_strings(scratch: Package, xml: str) -> str:
    """Shared-string cells (t="s") as inline strings, so the target's sharedStrings.xml stays untouched."""
    table = scratch._related_part(scratch.workbook, REL_SHARED_STRINGS)
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
        existing = ours.find(_q(NS_MAIN, collection))
        span = _container(text, collection)
        if existing is None or span is None:
            if collection not in STYLE_PREDECESSORS:
                raise PackageError(f"styles have no <{collection}>")
            # A missing collection goes after the last one the schema puts before it that the stylesheet has,
            # or (numFmts, the first child) right after <styleSheet …>.
            root = re.search(r"<([\w.-]+:)?styleSheet\b[^>]*>", text)
            prefix = root.group(1) or ""
            spans = [
                s for s in (_container(text, c) for c in STYLE_PREDECESSORS[collection]) if s is not None
            ]
            at = max((s.end for s in spans), default=root.end())
            body = "".join(_fragment(e, prefix) for e in new)
            block = f'<{prefix}{collection} count="{len(new)}">{body}</{prefix}{collection}>'
            text = text[:at] + block + text[at:]
            continue
        fragments = [_fragment(e, span.prefix) for e in new]
        text = _append_children(text, span, fragments, len(existing) + len(new))
    return text

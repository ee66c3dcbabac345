"""Workbook-file surgery: replace whole sheets of an .xlsx, or append a row to one, and leave every other part
byte-identical. Both programs write their sheets into a user's workbook through this package (ownership.py).

Why not openpyxl's load/save. Measured with openpyxl 3.1.5 on a workbook written by xlsxwriter 3.3.1 that has
formulas with cached values, a defined name, a cell note, data validation, a textbox and a line chart:
- every formula's cached value is dropped (``<f>init_w1*2</f><v/>``); LibreOffice does not recalculate .xlsx
  on load by default, so it would show blanks, and so would any viewer that does not recalculate;
- the textbox (a drawing shape, ``xdr:sp``) is dropped; the chart survives only as openpyxl re-serialises it:
  print settings dropped, tick marks changed to ``none``, ``dispBlanksAs`` added, cached numbers rewritten;
- the note moves to xl/comments/comment1.xml with a regenerated VML box (default size and place);
- styles.xml is rewritten (1,353 -> 3,089 bytes); data validation and defined names survive.

So the file is treated as the zip (OPC package) it is, and this package's modules each hold one part of
the work:
- package.py (here): the core. Open and save within limits, the parts, each part's relationships, the sheets
  and their parts, the defined names, the core properties.
- zipguard.py: the untrusted zip read lazily within `Limits` (a zip bomb is refused before inflating).
- xmltext.py: XML edited as text at precise spots, never re-serialised.
- relationships.py, contenttypes.py: the rels parts and [Content_Types].xml.
- graft.py: replacing sheets by a scratch workbook's, appending a row; styles.py: merging the grafted cells'
  formats and strings; apptitles.py: docProps/app.xml's list of sheets.
- ownership.py: which sheets a program wrote, and the one way a program updates its sheets in a workbook.
- files.py and writer.py: writing the file safely (atomic, locked, a backup; refusals in one line).
"""

from __future__ import annotations

import io
import posixpath
import re
import shutil
import time
import xml.etree.ElementTree as ET
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .contenttypes import CONTENT_TYPES
from .errors import PackageError, StrictWorkbook
from .relationships import (
    NS_DOC_REL,
    NS_PKG_REL,
    REL_CORE_PROPERTIES,
    REL_OFFICE_DOCUMENT,
    REL_SHARED_STRINGS,
    Rel,
    rels_part,
    resolve,
)
from .xmltext import Span, attr, container, element_spans, parse, q, unescape
from .zipguard import DAMAGED, LIMITS, MIB, LazyParts, Limits, check_directory

NS_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
# ISO 29500 Strict: the same parts under other namespaces (Excel's "Strict Open XML Spreadsheet").
NS_STRICT_MAIN = "http://purl.oclc.org/ooxml/spreadsheetml/main"
STRICT_OFFICE_DOCUMENT = "http://purl.oclc.org/ooxml/officeDocument/relationships/officeDocument"
# The children of <workbook> that may precede <definedNames>, in the schema's order.
BEFORE_DEFINED_NAMES = ("sheets", "functionGroups", "externalReferences")
_CELL_REF = re.compile(r"([A-Z]{1,3})([1-9][0-9]{0,6})")


def item_text(item: ET.Element) -> str:
    """A string item's text (<si>, or an inline string's <is>): its <t> and its runs' <t>, not the phonetic
    hints' (<rPh>)."""
    hints = {id(t) for rph in item.iter(q(NS_MAIN, "rPh")) for t in rph.iter(q(NS_MAIN, "t"))}
    return "".join(t.text or "" for t in item.iter(q(NS_MAIN, "t")) if id(t) not in hints)


def col_index(letters: str) -> int:
    """A column's letters as a 0-based index: A is 0, Z 25, AA 26."""
    n = 0
    for letter in letters:
        n = n * 26 + ord(letter) - 64
    return n - 1


@dataclass(frozen=True)
class DefinedName:
    name: str
    local_sheet: int | None  # the tab index of the sheet it belongs to (localSheetId), or None: global
    text: str  # what it refers to, as the file writes it: 'Backprop'!$B$4
    span: Span  # where it stands in workbook.xml


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
            self.parts = LazyParts(self._zip, {i.filename: i for i in infos}, limits)
            if CONTENT_TYPES not in self.parts or "_rels/.rels" not in self.parts:
                raise PackageError("no [Content_Types].xml or _rels/.rels: not an Office Open XML file")
            rels = self.rels("")
            if any(r.type == STRICT_OFFICE_DOCUMENT for r in rels):
                raise StrictWorkbook()
            books = [r for r in rels if r.type == REL_OFFICE_DOCUMENT and not r.external]
            if not books or books[0].target not in self.parts:
                raise PackageError("no workbook part")
            self.workbook = books[0].target
            tag = parse(self.parts[self.workbook], self.workbook).tag
            if tag == q(NS_STRICT_MAIN, "workbook"):
                raise StrictWorkbook()
            if tag != q(NS_MAIN, "workbook"):
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

    # -- writing the package out ---------------------------------------------------------------------------

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
                        shutil.copyfileobj(src, dst, MIB)
                except DAMAGED as e:
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
        rels = rels_part(part)
        if rels not in self.parts:
            return []
        root = parse(self.parts[rels], rels)
        out = []
        for r in root.iter(q(NS_PKG_REL, "Relationship")):
            external = r.get("TargetMode") == "External"
            target = r.get("Target", "")
            out.append(
                Rel(
                    r.get("Id", ""),
                    r.get("Type", ""),
                    target if external else resolve(part, target),
                    external,
                )
            )
        return out

    def sheet_entries(self) -> list[tuple[str, int, str]]:
        """(name, sheetId, rId) of each sheet, in tab order."""
        root = parse(self.parts[self.workbook], self.workbook)
        sheets = root.find(q(NS_MAIN, "sheets"))
        if sheets is None:
            raise PackageError(f"{self.workbook} has no <sheets>")
        return [
            (s.get("name", ""), int(s.get("sheetId", "0")), s.get(q(NS_DOC_REL, "id"), ""))
            for s in sheets.findall(q(NS_MAIN, "sheet"))
        ]

    def sheet_names(self) -> list[str]:
        return [name for name, _, _ in self.sheet_entries()]

    def sheet_part(self, name: str) -> str | None:
        targets = {r.id: r.target for r in self.rels(self.workbook) if not r.external}
        for sheet, _, rid in self.sheet_entries():
            if sheet.lower() == name.lower():  # sheet names are case-insensitive in every spreadsheet
                return targets.get(rid)
        return None

    def last_row(self, sheet: str) -> int | None:
        """The number of the last row holding a value in the sheet; 0 when it has none; None without it."""
        part = self.sheet_part(sheet)
        if part is None:
            return None
        last = number = 0
        for row in parse(self.parts[part], part).iter(q(NS_MAIN, "row")):
            number = int(row.get("r", number + 1))  # r is optional: a row without it follows the previous one
            if any(c.find(q(NS_MAIN, "v")) is not None or c.find(q(NS_MAIN, "is")) is not None for c in row):
                last = max(last, number)
        return last

    def shared_strings(self) -> list[str]:
        """The texts of the workbook's shared strings by index ([] without that part): each item's runs
        joined, its phonetic hints (<rPh>) left out."""
        table = self.related_part(self.workbook, REL_SHARED_STRINGS)
        if table is None:
            return []
        return [item_text(si) for si in parse(self.parts[table], table).iter(q(NS_MAIN, "si"))]

    def row_texts(self, sheet: str, row: int, columns: int) -> dict[int, str] | None:
        """The strings (inline or shared) among the first `columns` cells of a row, by 0-based column;
        numbers and empty cells are left out. None without the sheet."""
        part = self.sheet_part(sheet)
        if part is None:
            return None
        root = parse(self.parts[part], part)
        element = next((r for r in root.iter(q(NS_MAIN, "row")) if r.get("r", "1") == str(row)), None)
        texts: dict[int, str] = {}
        shared: list[str] | None = None
        for c in element.iter(q(NS_MAIN, "c")) if element is not None else ():
            m = _CELL_REF.fullmatch(c.get("r", ""))
            if m is None or m[2] != str(row) or (col := col_index(m[1])) >= columns:
                continue
            value = c.findtext(q(NS_MAIN, "v")) or ""
            if c.get("t") == "inlineStr":
                texts[col] = item_text(c)
            elif c.get("t") == "s" and value.isdigit():
                shared = self.shared_strings() if shared is None else shared
                if int(value) < len(shared):
                    texts[col] = shared[int(value)]
        return texts

    def first_cell_text(self, sheet: str) -> str | None:
        """The text in A1 of a sheet (an inline or shared string), or None."""
        return (self.row_texts(sheet, 1, 1) or {}).get(0)

    def cell_text(self, sheet: str, ref: str) -> str | None:
        """The value a cell holds as the file writes it (a number's text, an inline string, TRUE as "1"),
        or None (no such cell or value, or a shared string)."""
        part = self.sheet_part(sheet)
        if part is None:
            return None
        ref = ref.replace("$", "").upper()
        for cell in parse(self.parts[part], part).iter(q(NS_MAIN, "c")):
            if cell.get("r") != ref:
                continue
            if cell.get("t") == "inlineStr":
                return "".join(t.text or "" for t in cell.iter(q(NS_MAIN, "t")))
            return None if cell.get("t") == "s" else cell.findtext(q(NS_MAIN, "v"))
        return None

    def structure_locked(self) -> bool:
        """Whether the sheet structure is protected (Review ▸ Protect Workbook): no sheet may be added or
        removed."""
        protection = container(self.text(self.workbook), "workbookProtection")
        return protection is not None and attr(protection.open_tag(), "lockStructure") in ("1", "true")

    def reachable(self, roots: Iterable[str], skip: tuple[str, set[str]] | None = None) -> set[str]:
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

    # -- small steps every edit takes -------------------------------------------------------------------

    def set_text(self, part: str, text: str) -> None:
        """Replace a part's text (the edits of xmltext.apply_edits land here)."""
        self.parts[part] = text.encode("utf-8")

    def unused_name(self, wanted: str) -> str:
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

    def sheet_spans(self) -> tuple[str, Span, list[Span]]:
        """workbook.xml's text, its <sheets> element and the <sheet> elements in it (same order as
        _sheet_entries)."""
        text = self.text(self.workbook)
        block = container(text, "sheets")
        if block is None:
            raise PackageError(f"{self.workbook} has no <sheets>")
        return text, block, element_spans(block.xml, "sheet", block.start)

    # -- defined names -----------------------------------------------------------------------------------

    def defined_names(self) -> list[DefinedName]:
        """Every <definedName> of workbook.xml, in order."""
        text = self.text(self.workbook)
        block = container(text, "definedNames")
        if block is None or block.xml.endswith("/>"):
            return []
        out = []
        for span in element_spans(block.xml, "definedName", block.start):
            tag = span.open_tag()
            local = attr(tag, "localSheetId")
            body = span.xml[len(tag) : span.xml.rindex("</")] if not span.xml.endswith("/>") else ""
            name = unescape(attr(tag, "name") or "")
            out.append(
                DefinedName(name, int(local) if local and local.isdigit() else None, unescape(body), span)
            )
        return out

    def names_prefix(self) -> str:
        """The namespace prefix workbook.xml writes its elements with ("" for the default namespace)."""
        return self.sheet_spans()[1].prefix

    def write_defined_names(self, elements: list[str]) -> None:
        """Make <definedNames> hold exactly `elements` (none: no <definedNames> at all)."""
        prefix = self.names_prefix()
        text = self.text(self.workbook)
        block = container(text, "definedNames")
        new = f"<{prefix}definedNames>{''.join(elements)}</{prefix}definedNames>" if elements else ""
        if block is not None:
            text = text[: block.start] + new + text[block.end :]
        elif new:
            after = max(s.end for s in (container(text, t) for t in BEFORE_DEFINED_NAMES) if s is not None)
            text = text[:after] + new + text[after:]
        self.set_text(self.workbook, text)

    def core_properties(self) -> dict[str, str]:
        """The file's core properties (title, description, creator …) by local name, as text."""
        part = self.related_part("", REL_CORE_PROPERTIES)
        if part is None:
            return {}
        root = parse(self.parts[part], part)
        return {child.tag.rsplit("}", 1)[-1]: (child.text or "") for child in root}

    def related_part(self, source: str, rel_type: str) -> str | None:
        """The part that `source` (a part name, "" for the package) relates to by `rel_type`, when present."""
        for r in self.rels(source):
            if r.type == rel_type and not r.external and r.target in self.parts:
                return r.target
        return None

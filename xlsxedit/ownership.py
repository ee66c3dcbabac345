"""Who wrote which sheet, and the one way a program updates its sheets in a user's workbook.

Which sheets a program wrote is recorded in the file itself, as custom document properties
("excelgen sheet 1" = "Backprop", …; File ▸ Properties ▸ Custom shows them): a sheet a user adds, whatever
its name, is never one of them. LibreOffice keeps these properties when it saves (tested), as Excel does.

Every program (excelgen, the trainer's export) is an `Owner`: its name in those records, how it recognises its
sheets in files from before the records, and which workbook-level names are its own. `Owner.update` is the one
path from a program's freshly drawn sheets to the user's file: through writer.update_workbook (locked, atomic,
a backup), replacing only that owner's sheets and keeping every other sheet, the user's included.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from . import writer
from .contenttypes import add_override
from .graft import SheetNameTaken, append_row, replace_sheets
from .package import Package
from .relationships import REL_CUSTOM_PROPERTIES, add_relationship
from .xmltext import apply_edits, attr, element_spans, insert_last_child, namespaces, parse, q, unescape

NS_VT = "http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes"
NS_CUSTOM = "http://schemas.openxmlformats.org/officeDocument/2006/custom-properties"
CT_CUSTOM = "application/vnd.openxmlformats-officedocument.custom-properties+xml"
CUSTOM_PART = "docProps/custom.xml"
CUSTOM_FMTID = "{D5CDD505-2E9C-101B-9397-08002B2CF9AE}"  # what every Office custom property carries


# -- the records: custom document properties ---------------------------------------------------------------


def owner_property(owner: str, k: int) -> str:
    """The custom document property that records the k-th (1-based) sheet an owner wrote."""
    return f"{owner} sheet {k}"


def _owner_pattern(owner: str) -> re.Pattern[str]:
    return re.compile(rf"{re.escape(owner)} sheet (\d+)")


def custom_properties(book: Package) -> dict[str, str]:
    """name -> text of the custom document properties that hold text (vt:lpwstr)."""
    part = _custom_part(book)
    if part is None:
        return {}
    root = parse(book.parts[part], part)
    return {
        p.get("name", ""): p.findtext(q(NS_VT, "lpwstr")) or ""
        for p in root.iter(q(NS_CUSTOM, "property"))
        if p.find(q(NS_VT, "lpwstr")) is not None
    }


def recorded_sheets(book: Package, owner: str) -> list[str] | None:
    """The sheets `owner` recorded as its own ("<owner> sheet 1" …), in order; None when the file holds no
    such record (a workbook it never wrote, or one written before records were kept)."""
    found = []
    for name, value in custom_properties(book).items():
        m = _owner_pattern(owner).fullmatch(name)
        if m:
            found.append((int(m.group(1)), value))
    return [value for _, value in sorted(found)] if found else None


def set_owned_sheets(book: Package, owner: str, sheets: Sequence[str]) -> None:
    """Record `sheets` as owner's own, replacing what it recorded before."""
    part = _custom_part(book)
    if part is None:
        part = book.unused_name(CUSTOM_PART)
        book.parts[part] = (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            f'<Properties xmlns="{NS_CUSTOM}" xmlns:vt="{NS_VT}"></Properties>'
        ).encode()
        add_override(book, part, CT_CUSTOM)
        add_relationship(book, "", REL_CUSTOM_PROPERTIES, part)
    text = book.text(part)
    root = parse(book.parts[part], part)
    vt = next((k for k, v in namespaces(text).items() if v == NS_VT), None)
    properties = element_spans(text, "property")
    mine = _owner_pattern(owner)
    edits = [
        (s.start, s.end, "") for s in properties if mine.fullmatch(unescape(attr(s.open_tag(), "name") or ""))
    ]
    pid = max([1] + [int(p.get("pid", "1")) for p in root.iter(q(NS_CUSTOM, "property"))])
    vt_open = f"<{vt}:lpwstr>" if vt else f'<lpwstr xmlns="{NS_VT}">'
    vt_close = f"</{vt}:lpwstr>" if vt else "</lpwstr>"

    def records(prefix: str) -> str:
        return "".join(
            f'<{prefix}property fmtid="{CUSTOM_FMTID}" pid="{pid + k}" name={quoteattr(name)}>'
            f"{vt_open}{escape(sheet)}{vt_close}</{prefix}property>"
            for k, sheet in enumerate(sheets, start=1)
            for name in [owner_property(owner, k)]
        )

    book.set_text(part, insert_last_child(apply_edits(text, edits), "Properties", part, records))


def _custom_part(book: Package) -> str | None:
    return book.related_part("", REL_CUSTOM_PROPERTIES)


# -- the sheets a program owns, and the one way it updates them --------------------------------------------


def _no_names(name: str) -> bool:
    return False


@dataclass(frozen=True)
class Owner:
    """A program that writes sheets into a shared workbook."""

    name: str  # as the records spell it: "excelgen", "trainer"
    legacy: Callable[[Package], list[str]]  # its sheets in a file written before records were kept
    owns_name: Callable[[str], bool] = _no_names  # whether a workbook-level defined name is one of its own
    at_start: bool = False  # its sheets go first (else last) in a workbook that has none of them yet

    def sheets(self, book: Package) -> list[str]:
        """The sheets of `book` this owner wrote, as the file records them (else as `legacy` finds them)."""
        recorded = recorded_sheets(book, self.name)
        if recorded is None:
            recorded = self.legacy(book)
        present = {n.lower(): n for n in book.sheet_names()}
        return [present[n.lower()] for n in recorded if n.lower() in present]

    def replace(
        self, book: Package, scratch: Package, sheets: Sequence[str], keep: Sequence[str] = ()
    ) -> None:
        """Replace this owner's sheets in `book` by scratch's `sheets` (its sheets in `keep` stay as they are)
        and record the result as its own. A sheet of someone else's with one of those names is a
        writer.WorkbookError."""
        kept = {k.lower() for k in keep}
        try:
            replace_sheets(
                book,
                [m for m in self.sheets(book) if m.lower() not in kept],
                scratch,
                [s for s in sheets if s.lower() not in kept],
                at_start=self.at_start,
                drop_name=self.owns_name,
            )
        except SheetNameTaken as e:
            raise writer.WorkbookError(
                f"has a sheet {e.name!r} that {self.name} did not write; "
                "rename that sheet, or write to another file"
            ) from None
        set_owned_sheets(book, self.name, [*sheets])

    def update(
        self,
        path: Path,
        draw: Callable[[Package | None, Path], Drawn],
        start: Callable[[Path], Path] | None = None,
    ) -> None:
        """Put this owner's sheets into the workbook at `path`, through writer.update_workbook's guarantees.

        `draw(book, folder)` gets the workbook (None when there is none and no `start`; `start(folder)` writes
        one to begin from) and a private folder, and returns what it drew there (`Drawn`). Raises
        writer.WorkbookError for anything a user can fix.
        """

        def change(existing: Package | None, folder: Path) -> Path:
            book = existing if existing is not None or start is None else Package(start(folder))
            try:
                drawn = draw(book, folder)
                if drawn.whole:
                    return Path(drawn.scratch)
                assert book is not None, "a draw with no workbook to go into must be whole"
                scratch = Package(drawn.scratch)
                try:
                    self.replace(book, scratch, drawn.sheets, keep=drawn.keep)
                    for sheet, row in drawn.rows.items():
                        append_row(book, sheet, scratch, row)
                    out = folder / "updated.xlsx"
                    book.save(out)
                finally:
                    scratch.close()
                return out
            finally:
                if book is not None and book is not existing:
                    book.close()

        writer.update_workbook(path, change)


@dataclass(frozen=True)
class Drawn:
    """What a program drew for Owner.update: a scratch workbook and which of its sheets go where."""

    scratch: Path | bytes  # the scratch .xlsx (a file in the private folder, or its bytes)
    sheets: Sequence[str] = ()  # the owner's sheets, in order: they replace the ones it has
    keep: Sequence[str] = ()  # of those, the ones the workbook keeps as they are …
    rows: Mapping[str, int] = field(default_factory=dict)  # … and the scratch row appended to each of them
    whole: bool = False  # the scratch is the whole new workbook (nothing of anyone else's to keep)

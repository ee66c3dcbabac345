"""Who wrote which sheet and defined name, and the one way a program updates its sheets in a user's workbook.

Two records, written together on every write (set_owned_sheets):
- custom document properties: "<owner> sheet 1" = "Backprop", … and "<owner> token" = a random token new on
  each write (File ▸ Properties ▸ Custom shows them);
- on each of the owner's sheets, a sheet-local defined name `_xlsxedit_owner` holding the text
  "<owner> <token> <sheet name>" (its mark).
The mark is the proof: it lives in the sheet's own scope, so Excel and LibreOffice delete it with the sheet,
and a sheet a user deletes and makes again under the same name does not have it. A copy of the sheet
("Backprop (2)") carries it, but with another sheet's name in it; a sheet copied in from another workbook
carries that workbook's token, which the properties here do not record. Measured (LibreOffice 7.4,
Gnumeric 1.12; tests/test_ownership.py): both round trips keep the marks; a program that drops custom
properties (Gnumeric did, on an openpyxl-saved file) leaves the marks, which then prove ownership alone.
A sheet a user adds, whatever its name, is never a program's.

Global names are recognised exactly, as sheets are: a name is the owner's when the owner may define it (its
`owns_name`) and it refers to nothing but the owner's own sheets (or to nothing any more: `#REF!`, a sheet of
the owner's that was deleted). A user's name, whatever it is called, points elsewhere and is kept; a name the
owner needs that is a user's is a one-line refusal naming both.

Workbooks written before any record was kept are recognised by the owner's `legacy` rule, and only when the
file has no record of any program at all, or on a sheet that was already there when the first record was
written: the first program to record its sheets in a file marks every other sheet UNRECORDED, so that the
other program's legacy rule still finds its old sheets there, and never a sheet a user made since.

Every program (excelgen, the trainer's export) is an `Owner`: its name in those records, how it recognises its
sheets in files from before the records, and which workbook-level names are its own. `Owner.update` is the one
path from a program's freshly drawn sheets to the user's file: through writer.update_workbook (locked, atomic,
a backup), replacing only that owner's sheets and keeping every other sheet, the user's included.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from . import writer
from .contenttypes import add_override
from .graft import SheetNameTaken, append_row, replace_sheets
from .package import DefinedName, Package
from .relationships import REL_CUSTOM_PROPERTIES, add_relationship
from .xmltext import apply_edits, attr, element_spans, insert_last_child, namespaces, parse, q, unescape

NS_VT = "http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes"
NS_CUSTOM = "http://schemas.openxmlformats.org/officeDocument/2006/custom-properties"
CT_CUSTOM = "application/vnd.openxmlformats-officedocument.custom-properties+xml"
CUSTOM_PART = "docProps/custom.xml"
CUSTOM_FMTID = "{D5CDD505-2E9C-101B-9397-08002B2CF9AE}"  # what every Office custom property carries
MARK_NAME = "_xlsxedit_owner"  # the sheet-local defined name on each sheet a program wrote
UNRECORDED = "unrecorded"  # the owner in the marks of sheets that were there before the first record
UNRECORDED_TOKEN = "0"
_OWNER = re.compile(r"[A-Za-z][\w.-]*")
_TOKEN = re.compile(r"[0-9a-f]+")
# A sheet reference in a defined name's text: #REF!, 'quoted sheet'!, or an unquoted sheet name!.
_SHEET_REF = re.compile(r"""(#REF!)|'((?:[^']|'')+)'!|([^\s'"!:=(),;+\-*/^&<>#{}\[\]]+)!""")
_ANY_RECORD = re.compile(r"\S+ (?:sheet \d+|token)")


# -- the records: custom document properties ---------------------------------------------------------------


def owner_property(owner: str, k: int) -> str:
    """The custom document property that records the k-th (1-based) sheet an owner wrote."""
    return f"{owner} sheet {k}"


def _owner_pattern(owner: str) -> re.Pattern[str]:
    return re.compile(rf"{re.escape(owner)} sheet (\d+)")


def token_property(owner: str) -> str:
    """The custom document property that records the token of owner's last write."""
    return f"{owner} token"


def new_token() -> str:
    """A token that tells this write's sheets from copies of another workbook's."""
    return secrets.token_hex(6)


def is_record(property_name: str) -> bool:
    """Whether a custom document property is an ownership record (of any program)."""
    return bool(_ANY_RECORD.fullmatch(property_name))


def custom_property_names(book: Package) -> list[str]:
    """The names of every custom document property, whatever its type."""
    part = _custom_part(book)
    if part is None:
        return []
    return [p.get("name", "") for p in parse(book.parts[part], part).iter(q(NS_CUSTOM, "property"))]


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


def set_owned_sheets(book: Package, owner: str, sheets: Sequence[str], token: str | None = None) -> None:
    """Record `sheets` as owner's own, replacing what it recorded before: the custom properties and, on each
    sheet, its mark. `token` defaults to a new one."""
    token = new_token() if token is None else token
    mark_sheets(book, owner, sheets, token)
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
    mine, token_name = _owner_pattern(owner), token_property(owner)
    edits = [
        (s.start, s.end, "")
        for s in properties
        if mine.fullmatch(name := unescape(attr(s.open_tag(), "name") or "")) or name == token_name
    ]
    pid = max([1] + [int(p.get("pid", "1")) for p in root.iter(q(NS_CUSTOM, "property"))])
    vt_open = f"<{vt}:lpwstr>" if vt else f'<lpwstr xmlns="{NS_VT}">'
    vt_close = f"</{vt}:lpwstr>" if vt else "</lpwstr>"

    values = [
        *((owner_property(owner, k), sheet) for k, sheet in enumerate(sheets, start=1)),
        (token_name, token),
    ]

    def records(prefix: str) -> str:
        return "".join(
            f'<{prefix}property fmtid="{CUSTOM_FMTID}" pid="{pid + k}" name={quoteattr(name)}>'
            f"{vt_open}{escape(value)}{vt_close}</{prefix}property>"
            for k, (name, value) in enumerate(values, start=1)
        )

    book.set_text(part, insert_last_child(apply_edits(text, edits), "Properties", part, records))


def _custom_part(book: Package) -> str | None:
    return book.related_part("", REL_CUSTOM_PROPERTIES)


# -- the marks: a sheet-local defined name on each sheet a program wrote -----------------------------------


@dataclass(frozen=True)
class Mark:
    owner: str
    token: str
    sheet: str  # the name of the sheet the mark was written on


def mark_formula(owner: str, token: str, sheet: str) -> str:
    """A sheet's mark as a defined name's formula text: the string constant "<owner> <token> <sheet>"."""
    if not _OWNER.fullmatch(owner) or not _TOKEN.fullmatch(token):
        raise ValueError(f"bad owner {owner!r} or token {token!r}")  # a bug: owners are fixed names
    return '"' + f"{owner} {token} {sheet}".replace('"', '""') + '"'


def parse_mark(formula: str) -> Mark | None:
    """A mark from a defined name's text (a "…" string constant, possibly written ="…"), else None."""
    text = formula.strip().removeprefix("=").strip()
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        return None
    parts = text[1:-1].replace('""', '"').split(" ", 2)
    if len(parts) != 3 or not _OWNER.fullmatch(parts[0]) or not _TOKEN.fullmatch(parts[1]):
        return None
    return Mark(*parts)


def sheet_marks(book: Package) -> dict[str, Mark]:
    """Sheet name -> the mark in its scope, for every sheet that has one."""
    sheets = book.sheet_names()
    marks = {}
    for d in book.defined_names():
        if d.name.lower() == MARK_NAME.lower() and d.local_sheet is not None and d.local_sheet < len(sheets):
            mark = parse_mark(d.text)
            if mark is not None:
                marks[sheets[d.local_sheet]] = mark
    return marks


def mark_sheets(book: Package, owner: str, sheets: Sequence[str], token: str) -> None:
    """Give each of `sheets` owner's mark, replacing any mark on them, and drop owner's marks from every
    other sheet."""
    names = [n.lower() for n in book.sheet_names()]
    wanted = {s.lower() for s in sheets}
    if not wanted <= set(names):
        raise ValueError(f"no sheets {sorted(wanted - set(names))} to mark")  # a bug: they were just written
    marks = {n.lower(): m for n, m in sheet_marks(book).items()}
    elements = []
    for d in book.defined_names():
        if d.name.lower() == MARK_NAME.lower() and d.local_sheet is not None:
            sheet = names[d.local_sheet] if d.local_sheet < len(names) else None
            mark = marks.get(sheet) if sheet is not None else None
            if sheet in wanted or (mark is not None and mark.owner == owner):
                continue
        elements.append(d.span.xml)
    p = book.names_prefix()
    for sheet in sheets:
        tag = f'<{p}definedName name="{MARK_NAME}" localSheetId="{names.index(sheet.lower())}">'
        elements.append(f"{tag}{escape(mark_formula(owner, token, sheet))}</{p}definedName>")
    book.write_defined_names(elements)


def has_records(book: Package) -> bool:
    """Whether any program recorded what it wrote in this file (then a legacy rule finds only UNRECORDED
    sheets)."""
    if any(d.name.lower() == MARK_NAME.lower() for d in book.defined_names()):
        return True
    return any(is_record(name) for name in custom_property_names(book))


def owned_sheets(
    book: Package, owner: str, legacy: Callable[[Package], list[str]] | None = None
) -> list[str]:
    """The sheets of `book` that `owner` wrote, in tab order, by the rules in the module docstring."""
    sheets = book.sheet_names()
    token = custom_properties(book).get(token_property(owner))
    marks = sheet_marks(book)
    if token is not None or any(m.owner == owner for m in marks.values()):
        return [
            s
            for s in sheets
            if (m := marks.get(s)) is not None
            and m.owner == owner
            and m.sheet.lower() == s.lower()
            and (token is None or m.token == token)
        ]
    recorded = recorded_sheets(book, owner)  # written by a version that recorded sheet names only
    if recorded is None:
        recorded = legacy(book) if legacy is not None else []
        if has_records(book):
            older = {
                s.lower() for s, m in marks.items() if m.owner == UNRECORDED and m.sheet.lower() == s.lower()
            }
            recorded = [s for s in recorded if s.lower() in older]
    wanted = {n.lower() for n in recorded}
    return [s for s in sheets if s.lower() in wanted]


# -- global defined names ------------------------------------------------------------------------------------


def sheet_refs(text: str) -> list[str]:
    """The sheets a defined name's text refers to ("#REF!" for a reference to a deleted sheet)."""
    return [
        "#REF!" if dead else (quoted.replace("''", "'") if quoted else plain)
        for dead, quoted, plain in _SHEET_REF.findall(text)
    ]


def owns_name(name: DefinedName, mine: Sequence[str], claims: Callable[[str], bool]) -> bool:
    """Whether a defined name is the owner's: global, one the owner may define (`claims`), and pointing at
    nothing but the owner's sheets `mine` (or at a deleted sheet)."""
    if name.local_sheet is not None or not claims(name.name):
        return False
    refs = sheet_refs(name.text)
    own = {m.lower() for m in mine} | {"#ref!"}
    return bool(refs) and all(r.lower() in own for r in refs)


def sheet_taken(name: str, owner: str) -> str:
    return f"has a sheet {name!r} that {owner} did not write; rename that sheet, or write to another file"


def name_taken(user: DefinedName, needed: DefinedName, owner: str) -> str:
    return (
        f"has a defined name {user.name!r} (= {user.text}) that {owner} did not write, and {owner} needs "
        f"the name {needed.name!r} (= {needed.text}); rename yours (Formulas ▸ Name Manager, or Sheet ▸ "
        "Named Ranges in LibreOffice), or write to another file; it is unchanged"
    )


# -- the sheets a program owns, and the one way it updates them --------------------------------------------


def _no_names(name: str) -> bool:
    return False


@dataclass(frozen=True)
class Owner:
    """A program that writes sheets into a shared workbook."""

    name: str  # as the records spell it: "excelgen", "trainer"
    legacy: Callable[[Package], list[str]]  # its sheets in a file written before records were kept
    owns_name: Callable[[str], bool] = _no_names  # whether it may define a workbook-level name of this name
    at_start: bool = False  # its sheets go first (else last) in a workbook that has none of them yet

    def __post_init__(self) -> None:
        # The records read "<owner> sheet 1" and the marks "<owner> <token> <sheet>": one word, no spaces.
        if not _OWNER.fullmatch(self.name):
            raise ValueError(f"an owner's name is one word ({_OWNER.pattern}), not {self.name!r}")

    def sheets(self, book: Package) -> list[str]:
        """The sheets of `book` this owner wrote, as the file records them (owned_sheets)."""
        return owned_sheets(book, self.name, self.legacy)

    def names(self, book: Package, mine: Sequence[str] | None = None) -> set[str]:
        """The global defined names of `book` that are this owner's (lower-cased): see owns_name."""
        mine = self.sheets(book) if mine is None else mine
        return {d.name.lower() for d in book.defined_names() if owns_name(d, mine, self.owns_name)}

    def holds_only_own(self, book: Package) -> bool:
        """Whether everything of `book` that a whole new workbook would drop is this owner's: its sheets,
        its global names and its custom properties (its own records only: a user's property that merely looks
        like a record, "Balance sheet 1", is kept). Only then may a program write a whole new file over it."""
        mine = self.sheets(book)
        if {s.lower() for s in book.sheet_names()} - {m.lower() for m in mine}:
            return False
        ours = self.names(book, mine)
        if any(d.local_sheet is None and d.name.lower() not in ours for d in book.defined_names()):
            return False
        mine_pattern, token = _owner_pattern(self.name), token_property(self.name)
        return all(mine_pattern.fullmatch(n) or n == token for n in custom_property_names(book))

    def replace(
        self, book: Package, scratch: Package, sheets: Sequence[str], keep: Sequence[str] = ()
    ) -> None:
        """Replace this owner's sheets in `book` by scratch's `sheets` (its sheets in `keep` stay as they are)
        and its global names by scratch's, and record the result as its own. A sheet or a global name of
        someone else's that it needs is a writer.WorkbookError, the package unchanged."""
        first_record = not has_records(book)
        mine = self.sheets(book)
        kept = {k.lower() for k in keep}
        others = {s.lower(): s for s in book.sheet_names()}
        for m in mine:
            others.pop(m.lower(), None)
        taken = [others[s.lower()] for s in sheets if s.lower() in others and s.lower() not in kept]
        if taken:  # the sheet first: a user's sheet that takes our name often takes our names' targets too
            raise writer.WorkbookError(sheet_taken(taken[0], self.name))
        ours = self.names(book, mine)
        theirs = {d.name.lower(): d for d in book.defined_names() if d.local_sheet is None}
        for needed in scratch.defined_names():
            user = theirs.get(needed.name.lower())
            if needed.local_sheet is None and user is not None and needed.name.lower() not in ours:
                raise writer.WorkbookError(name_taken(user, needed, self.name))
        try:
            replace_sheets(
                book,
                [m for m in mine if m.lower() not in kept],
                scratch,
                [s for s in sheets if s.lower() not in kept],
                at_start=self.at_start,
                drop_name=lambda name: name.lower() in ours,
            )
        except SheetNameTaken as e:
            raise writer.WorkbookError(sheet_taken(e.name, self.name)) from None
        set_owned_sheets(book, self.name, [*sheets])
        if first_record:  # the other sheets, for the other programs' legacy rules (UNRECORDED)
            now = {s.lower() for s in sheets}
            mark_sheets(
                book, UNRECORDED, [s for s in book.sheet_names() if s.lower() not in now], UNRECORDED_TOKEN
            )

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

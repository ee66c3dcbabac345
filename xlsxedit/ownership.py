"""What belongs to whom in a workbook: the records a program leaves on the sheets and names it wrote, and the
rules that read them. A program replaces only what these rules give it; everything else is the user's.

Two records, written together on every write (Package.set_owned_sheets):
- custom document properties: "<owner> sheet 1" = "Backprop", … and "<owner> token" = a random token new on
  each write (File ▸ Properties ▸ Custom);
- on each of the owner's sheets, a sheet-local defined name `_xlsxedit_owner` holding the text
  "<owner> <token> <sheet name>".
The local name is the proof: it lives in the sheet's own scope, so Excel and LibreOffice delete it with the
sheet, and a sheet a user deletes and makes again under the same name does not have it. A copy of the sheet
("Backprop (2)") carries it, but with another sheet's name in it; a sheet copied in from another workbook
carries that workbook's token, which the properties here do not record. Measured (FACTS, 2026-11-29):
LibreOffice 7.4 and Gnumeric 1.12 round trips keep both records; a program that drops custom properties
leaves the local names, which then prove ownership alone.

Global names are recognised exactly, as sheets are: a name is the owner's when the owner may define it (its
`claims`) and it refers to nothing but the owner's own sheets (or to nothing at all any more: `#REF!`, a
sheet of the owner's that was deleted). A user's name, whatever it is called, points elsewhere and is kept.

Workbooks written before any record was kept are recognised by the program's `legacy` rule, and only when
the file has no record of any program at all, or on a sheet that was already there when the first record
was written: the first program to record its sheets in a file marks every other sheet as UNRECORDED, so
that the other program's legacy rule still finds its old sheets, and never a sheet a user made since.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .package import DefinedName, Package

MARK_NAME = "_xlsxedit_owner"  # the sheet-local defined name on each sheet a program wrote
UNRECORDED = "unrecorded"  # the owner in the marks of sheets that were there before the first record
UNRECORDED_TOKEN = "0"
_OWNER = re.compile(r"[A-Za-z][\w.-]*")
# A sheet reference in a defined name's text: #REF!, 'quoted sheet'!, or an unquoted sheet name!.
_SHEET_REF = re.compile(r"""(#REF!)|'((?:[^']|'')+)'!|([^\s'"!:=(),;+\-*/^&<>#{}\[\]]+)!""")
_ANY_RECORD = re.compile(r"\S+ (?:sheet \d+|token)")


def new_token() -> str:
    """A token that tells this write's sheets from copies of another workbook's."""
    return secrets.token_hex(6)


def token_property(owner: str) -> str:
    """The custom document property that records the token of owner's last write."""
    return f"{owner} token"


def mark_text(owner: str, token: str, sheet: str) -> str:
    """What a sheet's ownership mark says (the defined name's value, before formula quoting)."""
    if not _OWNER.fullmatch(owner) or not re.fullmatch(r"[0-9a-f]+", token):
        raise ValueError(f"bad owner {owner!r} or token {token!r}")  # a bug: owners are fixed names
    return f"{owner} {token} {sheet}"


def mark_formula(owner: str, token: str, sheet: str) -> str:
    """The mark as a defined name's formula text: a string constant."""
    return '"' + mark_text(owner, token, sheet).replace('"', '""') + '"'


@dataclass(frozen=True)
class Mark:
    owner: str
    token: str
    sheet: str  # the name of the sheet the mark was written on


def parse_mark(formula: str) -> Mark | None:
    """A mark from a defined name's text ("…" string constant, possibly written =\"…\"), else None."""
    text = formula.strip().removeprefix("=").strip()
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        return None
    parts = text[1:-1].replace('""', '"').split(" ", 2)
    if len(parts) != 3 or not _OWNER.fullmatch(parts[0]) or not re.fullmatch(r"[0-9a-f]+", parts[1]):
        return None
    return Mark(*parts)


def sheet_marks(book: Package) -> dict[str, Mark]:
    """Sheet name -> the ownership mark in its scope, for every sheet that has one."""
    sheets = book.sheet_names()
    marks = {}
    for d in book.defined_names():
        if d.name.lower() == MARK_NAME.lower() and d.local_sheet is not None and d.local_sheet < len(sheets):
            mark = parse_mark(d.text)
            if mark is not None:
                marks[sheets[d.local_sheet]] = mark
    return marks


def is_record(property_name: str) -> bool:
    """Whether a custom document property is an ownership record (of any program)."""
    return bool(_ANY_RECORD.fullmatch(property_name))


def has_records(book: Package) -> bool:
    """Whether any program recorded what it wrote in this file (then no legacy rule applies)."""
    if any(d.name.lower() == MARK_NAME.lower() for d in book.defined_names()):
        return True
    return any(is_record(name) for name in book.custom_properties())


def owned_sheets(
    book: Package, owner: str, legacy: Callable[[Package], list[str]] | None = None
) -> list[str]:
    """The sheets of `book` that `owner` wrote, in tab order, by the rules in the module docstring."""
    sheets = book.sheet_names()
    token = book.custom_properties().get(token_property(owner))
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
    recorded = book.owned_sheets(owner)  # written by a version that recorded sheet names only
    if recorded is None:
        recorded = legacy(book) if legacy is not None else []
        if has_records(book):
            older = {
                s.lower() for s, m in marks.items() if m.owner == UNRECORDED and m.sheet.lower() == s.lower()
            }
            recorded = [s for s in recorded if s.lower() in older]
    wanted = {n.lower() for n in recorded}
    return [s for s in sheets if s.lower() in wanted]


def sheet_refs(text: str) -> list[str]:
    """The sheets a defined name's text refers to ("#REF!" for a reference to a deleted sheet)."""
    return [
        "#REF!" if dead else (quoted.replace("''", "'") if quoted else plain)
        for dead, quoted, plain in _SHEET_REF.findall(text)
    ]


def owns_name(name: DefinedName, mine: Sequence[str], claims: Callable[[str], bool]) -> bool:
    """Whether a defined name is the owner's: global, one the owner may define, and pointing at nothing but
    the owner's sheets `mine` (or at a deleted sheet)."""
    if name.local_sheet is not None or not claims(name.name):
        return False
    refs = sheet_refs(name.text)
    own = {m.lower() for m in mine} | {"#ref!"}
    return bool(refs) and all(r.lower() in own for r in refs)

"""The roster: a CSV an instructor exports from an LMS or a spreadsheet, read as untrusted input.

A header row names the columns, in any of the spellings LMSs use (id, student id, username, login, …; name or
first name + last name; email), separated by commas, semicolons or tabs. Within limits (MAX_BYTES,
MAX_STUDENTS), UTF-8 only (a byte-order mark is fine). A student id becomes a file name (students/<id>.xlsx),
so it must be one on every system: letters, digits and . _ - @, at most MAX_ID characters, no leading dot, no
"..", not a name Windows reserves; ids that differ only in case are duplicates (Windows and macOS would give
them one file). Names and emails are kept as text: whatever they hold (=HYPERLINK(…) included) is written
as text.
Anything wrong is a RosterError naming the row and saying what to do.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from xlsxedit.files import NotRegularFile, TooLarge, read_small

MAX_BYTES = 2 << 20  # a class of a thousand is ~100 KB
MAX_STUDENTS = 1_000  # a class set writes two workbooks a student; a larger roster is a mistake
MAX_ID = 64
MAX_TEXT = 200  # characters kept of a name or an email
_SAFE_ID = re.compile(r"^[A-Za-z0-9_@-][A-Za-z0-9._@-]*$")
_WINDOWS_RESERVED = {
    "con",
    "prn",
    "aux",
    "nul",
    *(f"com{k}" for k in range(1, 10)),
    *(f"lpt{k}" for k in range(1, 10)),
}
# The id column's spellings, most specific first: Canvas's export has "Student" (a name), "ID", "SIS User ID".
ID_HEADERS = (
    "id", "studentid", "sid", "studentnumber", "username", "login", "loginid", "userid", "sisuserid",
    "sisloginid", "orgdefinedid", "matriculationnumber", "matrikelnummer", "uid", "user", "number",
)  # fmt: skip
NAME_HEADERS = ("name", "fullname", "studentname", "student", "displayname", "sortablename")
FIRST_HEADERS = ("firstname", "givenname", "forename", "first")
LAST_HEADERS = ("lastname", "surname", "familyname", "last")
EMAIL_HEADERS = ("email", "emailaddress", "mail")


class RosterError(ValueError):
    """The roster cannot be used: one line saying where and what to do."""


@dataclass(frozen=True)
class Student:
    id: str
    name: str = ""
    email: str = ""


def fold(header: str) -> str:
    """A header as compared: lower case, letters and digits only ("Student ID" -> studentid)."""
    text = unicodedata.normalize("NFKC", header).lower()
    return "".join(ch for ch in text if ch.isalnum())


def _text(value: str) -> str:
    """A name or an email as kept: control characters dropped, spaces collapsed, cut at MAX_TEXT."""
    kept = "".join(" " if unicodedata.category(ch).startswith("C") else ch for ch in value)
    return " ".join(kept.split())[:MAX_TEXT]


def id_problem(student_id: str) -> str | None:
    """Why `student_id` cannot be a student's file name, or None when it can."""
    if not student_id:
        return "the student id is empty"
    shown = repr(student_id if len(student_id) <= 40 else student_id[:39] + "…")
    if len(student_id) > MAX_ID:
        return f"the student id {shown} is longer than {MAX_ID} characters"
    if not _SAFE_ID.match(student_id) or ".." in student_id or student_id.endswith("."):
        return f"the student id {shown} cannot be a file name: use letters, digits and . _ - @"
    if student_id.split(".")[0].lower() in _WINDOWS_RESERVED:
        return f"the student id {shown} is a name Windows reserves for a device"
    return None


def _delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    return max(counts, key=lambda d: (counts[d], d == ","))


def _columns(header: list[str], source: str) -> tuple[int, int | None, int | None, int | None, int | None]:
    folded = [fold(h) for h in header]

    def find(names: tuple[str, ...]) -> int | None:
        return next((folded.index(n) for n in names if n in folded), None)

    id_col = find(ID_HEADERS)
    if id_col is None:
        found = ", ".join(repr(h[:30]) for h in header[:8]) or "nothing"
        raise RosterError(
            f"{source}: line 1: no student id column (found {found}); name one 'id' or 'student id'"
        )
    return id_col, find(NAME_HEADERS), find(FIRST_HEADERS), find(LAST_HEADERS), find(EMAIL_HEADERS)


def parse(text: str, source: str = "<roster>") -> list[Student]:
    """The students of a roster's text, in its order; RosterError for the first problem."""
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise RosterError(
            f"{source}: the roster is empty; give a CSV with a header row and a row per student"
        )
    rows = csv.reader(lines, delimiter=_delimiter(lines[0]), strict=False)
    try:
        header = next(rows)
        id_col, name_col, first_col, last_col, email_col = _columns(header, source)
        students: list[Student] = []
        seen: dict[str, int] = {}
        for row in rows:
            line = rows.line_num
            if not any(cell.strip() for cell in row):
                continue  # a blank line, or a row of empty cells a spreadsheet leaves at the end
            if len(students) >= MAX_STUDENTS:
                raise RosterError(
                    f"{source}: more than {MAX_STUDENTS:,} students; split the class into rosters"
                )

            def cell(col: int | None, row: list[str] = row) -> str:
                return row[col] if col is not None and col < len(row) else ""

            student_id = cell(id_col).strip()
            problem = id_problem(student_id)
            if problem is not None:
                raise RosterError(f"{source}: line {line}: {problem}")
            key = student_id.lower()
            if key in seen:
                raise RosterError(
                    f"{source}: line {line}: the student id {student_id!r} is already on line {seen[key]} "
                    "(ids that differ only in case count as one); give each student one id"
                )
            seen[key] = line
            name = cell(name_col) or " ".join(p for p in (cell(first_col), cell(last_col)) if p.strip())
            students.append(Student(student_id, _text(name), _text(cell(email_col))))
    except csv.Error as e:
        raise RosterError(f"{source}: line {rows.line_num}: not valid CSV ({e})") from None
    if not students:
        raise RosterError(f"{source}: no students under the header; give a row per student")
    return students


def read(path: Path) -> list[Student]:
    """Read and check a roster file; RosterError in one line when it cannot be used."""
    source = str(path)
    try:
        data = read_small(Path(path), MAX_BYTES)
    except NotRegularFile:
        raise RosterError(f"{source}: not a regular file (a pipe or a device); give a .csv file") from None
    except TooLarge:
        raise RosterError(f"{source}: larger than {MAX_BYTES >> 20} MiB: not a roster") from None
    except FileNotFoundError:
        raise RosterError(f"{source}: no such file") from None
    except IsADirectoryError:
        raise RosterError(f"{source}: is a folder; give a .csv file") from None
    except OSError as e:
        raise RosterError(f"{source}: cannot read it ({e.strerror or e})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise RosterError(
            f"{source}: not UTF-8 (byte {e.start}); save it as 'CSV UTF-8' and try again"
        ) from None
    if "\0" in text:
        raise RosterError(f"{source}: holds NUL bytes: not a CSV roster")
    return parse(text, source)

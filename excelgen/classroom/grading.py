"""Grading a class: each submission against its own student's variant, through the grader (grade_many with
that variant as expected_inputs: error carried forward, diagnoses), and one gradebook for the class.

Whose a submission is: the roster id its file name holds (how an LMS names what a student handed in), else
the id the workbook itself carries (its custom property, else the id cell on its Backprop sheet). A workbook
whose own id or whose inputs belong to someone else is flagged: a copied file with another name on it shows
as "its inputs are those of 's017'". Grades are kept in DIR/grades.json, one entry per student: grading a
student again (a late submission) replaces their row. The gradebook (DIR/gradebook.xlsx and .csv, the
grader's writer) has a row per roster student in roster order, "missing" for those with no submission yet,
then this run's files that name no roster student.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xlsxedit import files
from xlsxedit.relationships import REL_CUSTOM_PROPERTIES

from ..grade import reading
from ..grade.api import NO_TABLE, grade_many
from ..grade.check import DEFAULT_TOLERANCE
from ..grade.gradebook import write_csv, write_xlsx
from ..grade.project import PackageError
from ..grade.report import ColumnResult, Diagnosis, Report
from ..model import reference
from ..sheets import layout
from .classfile import ClassError, ClassSet
from .roster import MAX_TEXT, Student
from .student import STUDENT_PROPERTY

GRADES = "grades.json"
GRADEBOOK = "gradebook.xlsx"
GRADEBOOK_CSV = "gradebook.csv"
LEAD = ("student", "name", "flags")
MAX_GRADES_BYTES = 64 << 20
_NS_CUSTOM = "{http://schemas.openxmlformats.org/officeDocument/2006/custom-properties}"
_INPUT_FIELDS = {name: field for name, field in layout.NAMED_INPUTS.items() if not field.startswith("b")}


@dataclass
class Found:
    """What a submission says about itself: the id in its properties and on its sheet, its inputs."""

    property_id: str | None = None
    cell_id: str | None = None
    inputs: dict[str, float] = field(default_factory=dict)


@dataclass
class Entry:
    """One gradebook row: the roster's student (None for an unknown file), the grader's report, the flags."""

    student: Student | None
    report: Report
    flags: list[str] = field(default_factory=list)


def inspect(path: Path) -> Found:
    """The id and inputs a submission holds, read through the grader's reading (within its limits); nothing
    when it cannot be read (grading the file says why)."""
    found = Found()
    try:
        with reading.open_book(path) as book:
            part = book.related_part("", REL_CUSTOM_PROPERTIES)
            if part is not None:
                root = ET.fromstring(reading._xml(book, part, "the custom properties"))  # its DOCTYPE check
                for prop in root.iter(f"{_NS_CUSTOM}property"):
                    if prop.get("name") == STUDENT_PROPERTY:
                        found.property_id = "".join(prop.itertext()).strip()[:MAX_TEXT] or None
            sheets = dict(reading.worksheets(book))
            if layout.BACKPROP in sheets:
                strings = reading.shared_strings(book)
                sheet = reading.read_sheet(book, layout.BACKPROP, sheets[layout.BACKPROP], strings)
                label = sheet.cells.get(layout.STUDENT_LABEL_CELL[0], {}).get(layout.STUDENT_LABEL_CELL[1])
                if label == "student":  # a class set's student workbook (a key has its legend there)
                    found.cell_id = _text(
                        sheet.cells.get(layout.STUDENT_ID_CELL[0], {}).get(layout.STUDENT_ID_CELL[1])
                    )
                for name, (row, col) in [*layout.INPUT_CELLS.items(), (layout.ETA, layout.ETA_CELL)]:
                    value = sheet.cells.get(row, {}).get(col)
                    if name in (*_INPUT_FIELDS, layout.ETA) and isinstance(value, float):
                        found.inputs[_INPUT_FIELDS.get(name, "eta")] = value
    except (reading.Refused, PackageError, ET.ParseError, RecursionError, MemoryError, OSError):
        pass
    return found


def _text(value: object) -> str | None:
    if isinstance(value, float) and value.is_integer():  # an id of digits retyped as a number
        return str(int(value))
    return value.strip()[:MAX_TEXT] or None if isinstance(value, str) else None


def id_in_name(path: Path, cs: ClassSet) -> Student | None:
    """The roster student a file's name names: its whole stem, else the longest id standing in it as a word
    (s017_attempt2.xlsx, Smith_John_s017.xlsx), case aside."""
    stem = path.stem
    exact = cs.find(stem)
    if exact is not None:
        return exact
    words = [
        s for s in cs.students if re.search(rf"(?<![A-Za-z0-9]){re.escape(s.id)}(?![A-Za-z0-9])", stem, re.I)
    ]
    return max(words, key=lambda s: len(s.id)) if words else None


def _same(a: Mapping[str, float], b: Mapping[str, float]) -> bool:
    return all(k in a and float(reference.rel_diff(a[k], b[k])) <= 1e-9 for k in b)


def identify(path: Path, cs: ClassSet, found: Found) -> tuple[Student | None, list[str]]:
    """Whose submission this is, and what about it does not add up."""
    flags: list[str] = []
    named = id_in_name(path, cs)
    claims = [c for c in (found.property_id, found.cell_id) if c]
    if found.property_id and found.cell_id and found.property_id.lower() != found.cell_id.lower():
        flags.append(f"its properties say {found.property_id!r}, its sheet says {found.cell_id!r}")
    claimed = next((cs.find(c) for c in claims if cs.find(c) is not None), None)
    student = named or claimed
    if named is not None and claims and all(c.lower() != named.id.lower() for c in claims):
        flags.append(f"the workbook names {claims[0]!r} as its student")
    if student is None:
        return None, [*flags, "no roster id in its file name or in the workbook"]
    own = cs.variants[student.id]
    wanted = {k: v for k, v in own.inputs().items() if k in (*_INPUT_FIELDS.values(), "eta")}
    if found.inputs and not _same(found.inputs, wanted):
        owners = [s.id for s in cs.students if s.id != student.id and _same(found.inputs, _wanted(cs, s))]
        if owners:
            flags.append(f"its inputs are those of {owners[0]!r}, not of {student.id!r}: a copied file?")
        else:
            flags.append(f"its inputs are not those of {student.id!r}, whose numbers it is graded against")
    return student, flags


def _wanted(cs: ClassSet, s: Student) -> dict[str, float]:
    return {k: v for k, v in cs.variants[s.id].inputs().items() if k in (*_INPUT_FIELDS.values(), "eta")}


def grade_submissions(
    cs: ClassSet,
    paths: Sequence[Path],
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    sheet: str | None = None,
    recalc: bool = False,
) -> list[Entry]:
    """Grade each file against its student's variant; an entry per file, in order."""
    whose, ours = {}, set()
    for p in paths:
        found = inspect(p)
        whose[p] = identify(p, cs, found)
        if found.cell_id is not None:
            ours.add(p)

    def expected(p: Path) -> Mapping[str, float] | None:
        student = whose[p][0]
        return None if student is None else cs.variants[student.id].inputs()

    reports = grade_many(paths, expected_inputs=expected, tolerance=tolerance, sheet=sheet, recalc=recalc)
    for p, r in zip(paths, reports, strict=True):
        if p in ours and r.status == "refused" and r.reason == NO_TABLE:
            r.reason = "the table is empty: not one iteration filled in (the file as it was handed out?)"
    entries = [Entry(whose[p][0], r, list(whose[p][1])) for p, r in zip(paths, reports, strict=True)]
    by_student: dict[str, list[Entry]] = {}
    for e in entries:
        if e.student is not None:
            by_student.setdefault(e.student.id, []).append(e)
    for same in by_student.values():
        if len(same) > 1:
            names = ", ".join(Path(e.report.file).name for e in same)
            for e in same:
                e.flags.append(f"{len(same)} submissions ({names}): the gradebook keeps the last given")
    return entries


# --- grades.json: the class's grades so far, a re-grade replacing a student's entry. ---------------------


def _report(data: Any) -> Report:
    r = Report(file=str(data["file"]), status=str(data["status"]))
    for key in ("reason", "sheet", "header_row", "eta", "iterations", "score"):
        setattr(r, key, data.get(key))
    r.columns = {str(n): ColumnResult(**c) for n, c in data.get("columns", {}).items()}
    r.missing_columns = [str(n) for n in data.get("missing_columns", [])]
    r.diagnoses = [Diagnosis(**d) for d in data.get("diagnoses", [])]
    r.notes = [str(n) for n in data.get("notes", [])]
    trajectory = data.get("trajectory") or {}
    r.trajectory_matches, r.first_divergence = trajectory.get("matches"), trajectory.get("first_divergence")
    return r


def load_grades(folder: Path) -> dict[str, tuple[Report, list[str]]]:
    """The grades kept so far, by student id (empty when none)."""
    path = folder / GRADES
    if not path.exists():
        return {}
    try:
        data = json.loads(files.read_small(path, MAX_GRADES_BYTES).decode("utf-8"))
        return {
            str(sid): (_report(entry["report"]), [str(f) for f in entry.get("flags", [])])
            for sid, entry in data["grades"].items()
        }
    except (OSError, files.TooLarge, files.NotRegularFile, ValueError, KeyError, TypeError, AttributeError):
        raise ClassError(
            f"{path}: damaged; move it away to start the class's grades afresh (the gradebook is rebuilt)"
        ) from None


def _save_grades(folder: Path, grades: Mapping[str, tuple[Report, list[str]]]) -> None:
    data = {
        "format": "excelgen class grades",
        "version": 1,
        "grades": {
            sid: {"report": r.to_json(), "flags": flags} for sid, (r, flags) in sorted(grades.items())
        },
    }
    text = json.dumps(data, ensure_ascii=False, indent=1) + "\n"
    files.write_atomic(folder / GRADES, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def gradebook_rows(
    cs: ClassSet, grades: Mapping[str, tuple[Report, list[str]]], unknown: Sequence[Entry]
) -> list[Entry]:
    """A row per roster student (missing where no grade is kept), then the unknown files."""
    rows = []
    for s in cs.students:
        if s.id in grades:
            report, flags = grades[s.id]
            rows.append(Entry(s, report, flags))
        else:
            rows.append(Entry(s, Report(file="", status="missing", reason="no submission graded yet")))
    return rows + list(unknown)


def record(
    cs: ClassSet, folder: Path, entries: Sequence[Entry], out: Path | None = None, csv: Path | None = None
) -> list[Entry]:
    """Keep this run's grades (a student's last entry replaces what was kept) and write the class gradebook:
    DIR/gradebook.xlsx and DIR/gradebook.csv unless `out`/`csv` say elsewhere. Returns its rows."""
    with files.exclusive_lock(folder / GRADES):
        grades = load_grades(folder)
        for e in entries:
            if e.student is not None:
                grades[e.student.id] = (e.report, e.flags)
        _save_grades(folder, grades)
        rows = gradebook_rows(cs, grades, [e for e in entries if e.student is None])
        lead = (LEAD, [_lead(e) for e in rows])
        reports = [e.report for e in rows]
        write_xlsx(reports, out or folder / GRADEBOOK, lead)
        write_csv(reports, csv or folder / GRADEBOOK_CSV, lead)
    return rows


def _lead(e: Entry) -> tuple[str, str, str]:
    if e.student is None:
        return ("?", "", "\n".join(e.flags))
    return (e.student.id, e.student.name, "\n".join(e.flags))

"""Grading files: `grade_file` for one submission, `grade_many` for a class. Every file gets a Report; a file
that cannot be graded gets one with status "refused" and a one-line reason, and the batch goes on.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from xml.etree import ElementTree as ET

from . import reading
from . import table as tables
from .check import DEFAULT_TOLERANCE, grade_table
from .project import PackageError, libreoffice
from .report import Report

NO_TABLE = (
    "no table found: no row near the top of a sheet names the documents' columns "
    "(t1, t2, i1, i2, w1…w8, h1, a_h1, …, E_total, ∂E/∂w1…∂E/∂w8)"
)


class NotCalculated(reading.Refused):
    """The table's formulas have no saved values: written by a program that does not calculate."""


def grade_file(
    path: str | Path,
    *,
    expected_inputs: Mapping[str, float] | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    sheet: str | None = None,
    name: str | None = None,
) -> Report:
    """Grade one submission. `expected_inputs` (t1, t2, i1, i2, w1…w8, b1, b2 and optionally eta) makes row 0
    checked against an assigned starting point; without it the student's own row 0 is the start. `sheet`
    grades that sheet only (default: the first sheet with a table). `name` is the file name the report
    shows (default: the path). Never raises for anything in the file."""
    path = Path(path)
    shown = name if name is not None else str(path)
    try:
        table = _find_table(path, sheet)
    except reading.Refused as e:
        report = Report.refused(shown, str(e))
        report.not_calculated = isinstance(e, NotCalculated)
        return report
    except (PackageError, ET.ParseError, RecursionError, MemoryError) as e:
        return Report.refused(shown, f"not a workbook that can be read safely ({type(e).__name__}: {e})")
    return grade_table(table, Report(file=shown), tolerance, expected_inputs)


def _find_table(path: Path, sheet: str | None) -> tables.Table:
    with reading.open_book(path) as book:
        parts = reading.worksheets(book)
        reading.check_calls(book, parts)
        if sheet is not None:
            parts = [(n, p) for n, p in parts if n.lower() == sheet.lower()]
            if not parts:
                raise reading.Refused(f"no sheet named {sheet!r}")
        strings = reading.shared_strings(book)
        for sheet_name, part in parts:
            found = tables.find(reading.read_sheet(book, sheet_name, part, strings))
            if found is not None:
                break
        else:
            raise reading.Refused(NO_TABLE)
    if found.uncached:
        cells = ", ".join(found.uncached[:3]) + (" …" if len(found.uncached) > 3 else "")
        raise NotCalculated(
            f"{len(found.uncached)} formulas in the table have no saved values ({cells} on {found.sheet!r}): "
            "the file was saved by a program that does not calculate; open it in Excel or LibreOffice and "
            "save it, or grade with --recalc"
        )
    return found


def grade_many(
    paths: Iterable[str | Path],
    *,
    expected_inputs: Mapping[str, float] | Callable[[Path], Mapping[str, float] | None] | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    sheet: str | None = None,
    recalc: bool = False,
) -> list[Report]:
    """Grade each file, in order. `expected_inputs` is one mapping for all, or a function of the path (a class
    set's per-student variant). With `recalc`, files whose formulas have no saved values are recalculated
    in one headless LibreOffice run (libreoffice.recalc_many) and graded again; nothing else is ever opened
    by LibreOffice, and files that call out or link elsewhere are refused before that."""
    paths = [Path(p) for p in paths]

    def inputs(p: Path) -> Mapping[str, float] | None:
        return expected_inputs(p) if callable(expected_inputs) else expected_inputs

    def one(p: Path, source: Path | None = None) -> Report:
        return grade_file(
            source or p, expected_inputs=inputs(p), tolerance=tolerance, sheet=sheet, name=str(p)
        )

    reports = [_safely(p, lambda p=p: one(p)) for p in paths]
    todo = [k for k, r in enumerate(reports) if r.not_calculated]
    if recalc and todo:
        _recalculate(paths, reports, todo, one)
    return reports


def _safely(path: Path, grade: Callable[[], Report]) -> Report:
    try:
        return grade()
    except KeyboardInterrupt:
        raise
    except Exception as e:  # a bug must not cost the rest of the class their grades; it says it is one
        return Report.refused(str(path), f"the grader failed on this file (a bug; please report it): {e!r}")


def _recalculate(
    paths: Sequence[Path], reports: list[Report], todo: list[int], grade: Callable[[Path, Path], Report]
) -> None:
    with tempfile.TemporaryDirectory(prefix="excelgen-grade-") as tmp:
        # LibreOffice names its output by the source's stem: give each file a unique one.
        staged = []
        for k in todo:
            copy = Path(tmp) / "in" / f"{k:05d}.xlsx"
            copy.parent.mkdir(exist_ok=True)
            copy.write_bytes(paths[k].read_bytes())
            staged.append(copy)
        try:
            outs = libreoffice.recalc_many(staged, Path(tmp))
        except (RuntimeError, OSError, ValueError, subprocess.SubprocessError) as e:
            for k in todo:
                reports[k].reason = f"{reports[k].reason}; recalculating failed ({str(e).splitlines()[0]})"
            return
        for k, out in zip(todo, outs, strict=True):
            report = _safely(paths[k], lambda out=out, k=k: grade(paths[k], out))
            if report.status == "graded":
                report.notes.append("its formulas had no saved values: recalculated with LibreOffice")
            reports[k] = report

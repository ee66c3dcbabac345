"""The gradebook: an .xlsx (a row per submission, the columns the class gets wrong most, the score
distribution as a native chart) and a CSV an LMS imports.

Text from a submission (a file name, a sheet name, a diagnosis quoting a cell) stays text: the .xlsx writes
every string with write_string in a workbook whose automatic string conversions are off, so nothing becomes a
formula, a link or a number; the CSV prefixes a cell that a spreadsheet would read as a formula (= + - @, tab,
carriage return) with an apostrophe. Both files are written the project's way: writer.update_workbook (lock,
atomic rename, backup) for the .xlsx, files.write_atomic under files.exclusive_lock for the CSV.
"""

from __future__ import annotations

import csv
import io
import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import xlsxwriter

from .columns import NAMES, label
from .project import files, writer
from .report import Report

GRADES = "Gradebook"
COLUMNS = "Columns"
SCORES = "Scores"
HEADINGS = (
    "file",
    "status",
    "score",
    "reason",
    "sheet",
    "iterations",
    "η",
    "columns wrong",
    "first wrong iteration",
    "trajectory matches",
    "diagnoses",
)
WRAPPED = (3, 10)  # reason, diagnoses
BINS = tuple(range(0, 100, 10))  # 0-9, 10-19, …, 90-100
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class GradebookError(Exception):
    """The gradebook cannot be written; one line saying what to do."""


# Columns before the report's own, one row of cells per report: a class set's student, name and flags.
Lead = tuple[Sequence[str], Sequence[Sequence[object]]]


def row(report: Report, sep: str = "; ") -> list[object]:
    """One submission's gradebook row, in HEADINGS' order (None for an empty cell); `sep` joins diagnoses."""
    return [
        report.file,
        report.status,
        report.score,
        report.reason,
        report.sheet,
        report.iterations,
        report.eta,
        ", ".join(label(n) for n in report.wrong_columns),
        report.first_wrong,
        None if report.trajectory_matches is None else ("yes" if report.trajectory_matches else "no"),
        sep.join(f"{d.text}" + (f" [{d.cell}]" if d.cell and d.mistake else "") for d in report.diagnoses),
    ]


def column_counts(reports: Sequence[Report]) -> list[tuple[str, int, int]]:
    """(column, submissions with it wrong, submissions that had it checked), most often wrong first."""
    wrong: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    for r in reports:
        for name, c in r.columns.items():
            seen[name] += 1
            wrong[name] += c.wrong > 0
    order = {n: k for k, n in enumerate(NAMES)}
    return sorted(((n, wrong[n], seen[n]) for n in seen), key=lambda t: (-t[1], order.get(t[0], 99)))


def histogram(reports: Sequence[Report]) -> list[int]:
    """How many graded submissions scored in each of BINS (the last bin holds 100)."""
    counts = [0] * len(BINS)
    for r in reports:
        if r.score is not None:
            counts[min(int(r.score // 10), len(BINS) - 1)] += 1
    return counts


def write_xlsx(reports: Sequence[Report], path: Path, lead: Lead | None = None) -> None:
    """Write the gradebook workbook at `path` (an existing one is replaced, its previous versions kept as
    NAME.bak.1.xlsx … NAME.bak.5.xlsx); `lead` puts columns of its own before each report's. Raises
    GradebookError with one line when it cannot."""

    def change(existing: object, folder: Path) -> Path:
        fresh = folder / "gradebook.xlsx"
        _build(reports, fresh, lead)
        return fresh

    try:
        writer.update_workbook(Path(path), change)
    except writer.WorkbookError as e:
        raise GradebookError(f"{path}: {e}") from None


def _build(reports: Sequence[Report], path: Path, lead: Lead | None = None) -> None:
    options = {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False}
    book = xlsxwriter.Workbook(str(path), options)
    bold = book.add_format({"bold": True, "bg_color": "#D9E1F2", "text_wrap": True, "valign": "top"})
    wrap = book.add_format({"text_wrap": True, "valign": "top"})
    top = book.add_format({"valign": "top"})
    pct = book.add_format({"num_format": "0.0%", "valign": "top"})

    sheet = book.add_worksheet(GRADES)
    lead_headings, lead_rows = lead or ((), [()] * len(reports))
    shift = len(lead_headings)
    wrapped = (*range(shift), *(c + shift for c in WRAPPED))
    for c, heading in enumerate((*lead_headings, *HEADINGS)):
        sheet.write_string(0, c, heading, bold)
    widths = (*(24,) * shift, 24, 9, 7, 40, 12, 10, 6, 24, 10, 11, 70)
    sheet.set_row(0, 30)  # two lines for the longer headings
    for r, (report, first) in enumerate(zip(reports, lead_rows, strict=True), start=1):
        cells = [*first, *row(report, sep="\n")]
        # Spreadsheets do not size a row to wrapped text on opening: give it the lines it needs.
        lines = max(
            sum(-(-len(part) // int(widths[c] * 1.1)) for part in str(cells[c] or "").split("\n"))
            for c in wrapped
        )
        sheet.set_row(r, 15 * max(lines, 1))
        for c, value in enumerate(cells):
            if value is None:
                continue
            if isinstance(value, str):
                sheet.write_string(r, c, value, wrap if c in wrapped else top)
            elif math.isfinite(value):
                sheet.write_number(r, c, value, top)
    for c, width in enumerate(widths):
        sheet.set_column(c, c, width)
    sheet.freeze_panes(1, 1 + shift)
    sheet.autofilter(0, 0, max(len(reports), 1), shift + len(HEADINGS) - 1)

    cols = book.add_worksheet(COLUMNS)
    for c, heading in enumerate(("column", "submissions wrong", "submissions checked", "share wrong")):
        cols.write_string(0, c, heading, bold)
    counts = column_counts(reports)
    for r, (name, wrong, seen) in enumerate(counts, start=1):
        cols.write_string(r, 0, label(name), top)
        cols.write_number(r, 1, wrong, top)
        cols.write_number(r, 2, seen, top)
        cols.write_number(r, 3, wrong / seen if seen else 0.0, pct)
    if counts:
        cols.conditional_format(
            1, 3, len(counts), 3,
            {"type": "3_color_scale", "min_color": "#FFFFFF", "mid_color": "#F8CBAD", "max_color": "#C00000",
             "min_type": "num", "min_value": 0, "max_type": "num", "max_value": 1},
        )  # fmt: skip
    cols.set_column(0, 0, 12)
    cols.set_column(1, 3, 20)

    scores = book.add_worksheet(SCORES)
    scores.write_string(0, 0, "score", bold)
    scores.write_string(0, 1, "submissions", bold)
    for r, (low, n) in enumerate(zip(BINS, histogram(reports), strict=True), start=1):
        scores.write_string(r, 0, f"{low}–{low + 9}" if low < 90 else "90–100", top)
        scores.write_number(r, 1, n, top)
    refused = sum(r.status == "refused" for r in reports)
    scores.write_string(len(BINS) + 2, 0, "refused", top)
    scores.write_number(len(BINS) + 2, 1, refused, top)
    missing = sum(r.status == "missing" for r in reports)  # a class gradebook's students with no submission
    if missing:
        scores.write_string(len(BINS) + 3, 0, "missing", top)
        scores.write_number(len(BINS) + 3, 1, missing, top)
    chart = book.add_chart({"type": "column"})
    chart.add_series(
        {
            "name": "submissions",
            "categories": [SCORES, 1, 0, len(BINS), 0],
            "values": [SCORES, 1, 1, len(BINS), 1],
            "fill": {"color": "#4472C4"},
            "gap": 30,
        }
    )
    chart.set_title({"name": "Score distribution"})
    chart.set_x_axis({"name": "score"})
    chart.set_y_axis({"name": "submissions", "major_gridlines": {"visible": True}})
    chart.set_legend({"none": True})
    scores.insert_chart(0, 3, chart)
    scores.set_column(0, 1, 12)
    book.close()


def csv_text(reports: Sequence[Report], lead: Lead | None = None) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    lead_headings, lead_rows = lead or ((), [()] * len(reports))
    w.writerow((*lead_headings, *HEADINGS))
    for report, first in zip(reports, lead_rows, strict=True):
        w.writerow(["" if v is None else safe_cell(v) for v in (*first, *row(report))])
    return out.getvalue()


def safe_cell(value: object) -> object:
    """A CSV cell that no spreadsheet reads as a formula: text starting with = + - @ (or a tab or carriage
    return) gets a leading apostrophe, as OWASP advises for CSV injection. Numbers stay numbers."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def write_csv(reports: Sequence[Report], path: Path, lead: Lead | None = None) -> None:
    """Write the CSV atomically (UTF-8 with a byte-order mark, which Excel needs to read η and ∂ right)."""
    text = csv_text(reports, lead)
    target = files.real_target(Path(path))
    if not target.parent.is_dir():
        raise GradebookError(f"{path}: folder {str(target.parent)!r} does not exist; create it first")
    try:
        with files.exclusive_lock(target):
            files.write_atomic(target, lambda tmp: tmp.write_text(text, encoding="utf-8-sig", newline=""))
    except files.Busy:
        raise GradebookError(f"{path}: another program is writing it; try again") from None
    except OSError as e:
        raise GradebookError(f"{path}: cannot write it ({files.reason(e)})") from None

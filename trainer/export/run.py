"""A training run into the user's workbook: the `MNIST` sheet (mnist.py, and below it what the network
learned: learned.py) and one new row of the `Runs` sheet (runs.py). The sheets are drawn with xlsxwriter in a
scratch workbook and handed to xlsxedit's Owner.update, which grafts them into the user's file, leaves every
other part of it byte-identical, and writes it locked, atomically and with a backup.

A run folder may come from anyone: log.json and results.json are read within limits, and every text in
them reaches the sheet as a string (never a formula, never a hyperlink).
"""

from __future__ import annotations

import io
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import xlsxwriter

from xlsxedit.files import real_target
from xlsxedit.ownership import Drawn, Owner
from xlsxedit.package import Package
from xlsxedit.writer import DEFAULT_WORKBOOK, WorkbookError, backup_path

from ..errors import UserError
from .learned import owns_name as learned_owns_name
from .log import load_log
from .mnist import MNIST_SHEET, mnist_sheet
from .runs import (
    OLD_FIRST_HEADER,
    RUNS_COLUMNS,
    RUNS_SHEET,
    column_order,
    existing_headers,
    runs_row,
    runs_sheet,
)

# xlsxwriter's defaults would turn a text starting with "=" into a formula and a URL into a hyperlink.
SCRATCH_OPTIONS = {
    "in_memory": True,
    "nan_inf_to_errors": True,
    "strings_to_formulas": False,
    "strings_to_urls": False,
}


def heading_formats(wb: Any) -> dict[str, Any]:
    """The trainer's sheets' title and table-header formats, the same on the MNIST, Runs and sweep sheets."""
    return {
        "title": wb.add_format({"bold": True, "font_size": 14}),
        "head": wb.add_format({"bold": True, "bottom": 1, "bg_color": "#DDEBF7", "text_wrap": True}),
    }


def scratch_workbook(
    log: dict[str, Any],
    run_dir: Path,
    runs_row_number: int,
    exported_at: datetime,
    runs_order: list[str | None] | None = None,
) -> bytes:
    """A workbook holding the MNIST sheet and a Runs sheet with its header and this run at runs_row_number
    (1-based), its columns in `runs_order` (runs.column_order), to graft from."""
    out = io.BytesIO()
    wb = xlsxwriter.Workbook(out, SCRATCH_OPTIONS)
    fmt = heading_formats(wb) | {
        "label": wb.add_format({"bold": True}),
        "value": wb.add_format({"align": "left"}),
    }
    mnist_sheet(wb, fmt, log, run_dir)
    runs_sheet(wb, fmt, runs_row(log, run_dir, exported_at), runs_row_number, runs_order)
    wb.close()
    return out.getvalue()


def export_run(run_dir: Path, workbook: Path = DEFAULT_WORKBOOK) -> Path | None:
    """Add or replace the MNIST sheet and append a Runs row in the workbook (excelgen's default workbook is
    written first when there is none); returns where the previous version was kept, None when there was
    none. Refused with a UserError, the workbook byte-identical, when it is open in a spreadsheet program, is
    not a workbook, or has a sheet or defined name that the trainer needs and did not write."""
    run_dir, workbook = Path(run_dir), Path(workbook)
    log = load_log(run_dir)
    exported_at = datetime.now(timezone.utc)
    existed = real_target(workbook).exists()

    def draw(book: Package | None, folder: Path) -> Drawn:
        runs_are_mine = RUNS_SHEET.lower() in {n.lower() for n in OWNER.sheets(book)}
        last = book.last_row(RUNS_SHEET) if runs_are_mine else None
        if last:  # our Runs sheet with at least its header: this run is appended below, under its headers
            order = column_order(existing_headers(book, RUNS_SHEET))
            scratch = scratch_workbook(log, run_dir, last + 1, exported_at, order)
            return Drawn(scratch, SHEETS, keep=[RUNS_SHEET], rows={RUNS_SHEET: last + 1})
        return Drawn(scratch_workbook(log, run_dir, 2, exported_at), SHEETS)

    try:
        OWNER.update(workbook, draw, start=_default_workbook)
    except WorkbookError as e:
        raise UserError(f"{workbook}: {e}") from None
    return backup_path(real_target(workbook)) if existed else None


def _default_workbook(folder: Path) -> Path:
    """excelgen's workbook for the course's values, for a user who has none yet."""
    from excelgen.assemble import write_workbook
    from excelgen.model.config import Config

    path = folder / "excelgen.xlsx"
    write_workbook(Config(), path, tmpdir=folder)
    return path


# What the first cell of each sheet says; it tells the trainer's sheets in workbooks from before the records.
FIRST_CELLS = {MNIST_SHEET: "MNIST: ", RUNS_SHEET: (OLD_FIRST_HEADER, RUNS_COLUMNS[0][0])}


def _legacy_sheets(book: Package) -> list[str]:
    """Before workbooks recorded the trainer's sheets, it exported them under these exact names, each with
    its title in A1. Asked only of sheets from before any record (xlsxedit/ownership.py)."""
    return [
        name
        for name in book.sheet_names()
        if name in FIRST_CELLS and (book.first_cell_text(name) or "").startswith(FIRST_CELLS[name])
    ]


# How a workbook records which sheets are the trainer's (xlsxedit.ownership), and knows them in older files;
# the names it may define are learned.py's (of those, it replaces only the ones that point at its sheets).
OWNER = Owner("trainer", legacy=_legacy_sheets, owns_name=learned_owns_name)
SHEETS = [MNIST_SHEET, RUNS_SHEET]

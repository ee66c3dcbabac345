"""A class set's student files filled the way students fill them, for the tests and docs/class_demo.py.

    fill(students / "s001.xlsx", submissions / "s001.xlsx", mistake="no_half")

openpyxl writes formulas without values: recalculate with LibreOffice (or grade with --recalc).
"""

from __future__ import annotations

from pathlib import Path

from openpyxl import load_workbook
from openpyxl.utils import get_column_letter
from student_sheets import formulas

from excelgen.model import reference
from excelgen.model.config import Config, Network, Training
from excelgen.sheets import layout


def fill(src: Path, dst: Path, mistake: str | None = None, typed: Network | None = None) -> Path:
    """What a student does: the table's rows filled with formulas (the documents' ones, a catalogue mistake
    planted when asked) reading the named inputs and eta, or typed numbers of `typed`'s run."""
    book = load_workbook(src)
    sheet = book[layout.BACKPROP]
    iterations = max(r for r in range(sheet.max_row + 1) if isinstance(sheet.cell(r + 1, 1).value, int))
    iterations -= layout.FIRST_DATA_ROW
    config = Config(training=Training(iterations=iterations))
    names = layout.columns(config)
    col = {n: get_column_letter(layout.column(config, n) + 1) for n in names}
    eta = sheet.cell(layout.ETA_CELL[0] + 1, layout.ETA_CELL[1] + 1).value
    run = reference.trajectory(typed, eta, iterations) if typed is not None else None
    for k in range(iterations + 1):
        row = layout.data_row(k) + 1

        def at(offset: int, row: int = row):
            return lambda name: f"{col[name]}{row + offset}"

        f = formulas(at(0), at(-1) if k else None, at(1), "eta", mistake)
        for n in names:
            value = float(run[n][k]) if run is not None else f.get(n) or f"={layout.INPUT_NAME[n]}"
            sheet.cell(row, layout.column(config, n) + 1, value)
    book.save(dst)
    return dst

"""Finding a student's iteration table on a sheet: the header row, its columns, the data rows below, and η.

The header is the row near the top that names the most of the documents' columns (at least MIN_COLUMNS), in
any order and spelling (columns.py). Data rows follow it until the first row in which no named column holds a
number, an error value or an uncalculated formula (text alone, a note under the table, ends it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from . import columns
from .reading import MAX_ROWS, CellError, Refused, Sheet, Uncached

HEADER_SEARCH_ROWS = 500  # a header this far down the sheet is still found
MIN_COLUMNS = 6  # a row naming fewer of the table's columns is a label row, not the header
MAX_ITERATIONS = 10_000  # the longest run excelgen's bench writes; a longer table is refused
_ETA_IN_TEXT = re.compile(r"^\s*(?:η|eta|lr|learning rate|alpha|α)\s*[=:]\s*([-+0-9.eE]+)\s*$", re.I)


@dataclass
class Table:
    """A table found on a sheet. values[name] is a float array over the data rows (NaN where the cell does
    not hold a number); bad[name] maps a row to what the cell holds instead (text, an error, a formula
    without a value). `cols` gives each name's 0-based column, `rows` the 0-based sheet row of each data row.
    """

    sheet: str
    header_row: int  # 0-based
    cols: dict[str, int]
    rows: list[int]
    values: dict[str, np.ndarray]
    bad: dict[str, dict[int, str]] = field(default_factory=dict)
    eta_cell: tuple[float, int, int] | None = None  # (value, row, col) of a labelled η
    uncached: list[str] = field(default_factory=list)  # A1 references of formulas without a saved value

    @property
    def iterations(self) -> int:
        return len(self.rows)

    def cell(self, name: str, k: int) -> str:
        """The A1 reference of column `name` at data row k."""
        return f"{_letters(self.cols[name])}{self.rows[k] + 1}"


def _letters(col: int) -> str:
    out = ""
    col += 1
    while col:
        col, rem = divmod(col - 1, 26)
        out = chr(65 + rem) + out
    return out


def header(sheet: Sheet) -> tuple[int, dict[str, int]] | None:
    """(row, {name: col}) of the row that names most columns, when it names at least MIN_COLUMNS."""
    best: tuple[int, dict[str, int]] | None = None
    for row in sorted(r for r in sheet.cells if r < HEADER_SEARCH_ROWS):
        found: dict[str, int] = {}
        for col, value in sorted(sheet.cells[row].items()):
            if isinstance(value, str) and not isinstance(value, CellError | Uncached):
                name = columns.column_name(value)
                if name is not None and name not in found:
                    found[name] = col
        if len(found) >= MIN_COLUMNS and (best is None or len(found) > len(best[1])):
            best = (row, found)
    return best


def _is_number(value: object) -> bool:
    return isinstance(value, float)


def find(sheet: Sheet) -> Table | None:
    """The sheet's table, or None when no row names enough of the columns."""
    found = header(sheet)
    if found is None:
        return None
    head, cols = found
    rows: list[int] = []
    row = head + 1
    while True:
        cells = sheet.cells.get(row, {})
        held = [cells.get(c) for c in cols.values()]
        if not any(_is_number(v) or isinstance(v, CellError | Uncached) for v in held):
            break
        if len(rows) >= MAX_ITERATIONS + 1:
            raise Refused(f"the table runs past {MAX_ITERATIONS:,} iterations; grade a shorter run")
        rows.append(row)
        row += 1
    if not rows:
        return None
    if sheet.truncated and rows[-1] >= MAX_ROWS - 1:
        raise Refused(f"the table runs past the first {MAX_ROWS:,} rows of the sheet; grade a shorter run")
    values: dict[str, np.ndarray] = {}
    bad: dict[str, dict[int, str]] = {}
    uncached: list[tuple[int, int]] = []
    for name, col in cols.items():
        arr = np.full(len(rows), np.nan)
        for k, r in enumerate(rows):
            v = sheet.cells.get(r, {}).get(col)
            if _is_number(v):
                arr[k] = v
            else:
                if isinstance(v, Uncached):
                    uncached.append((r, col))
                bad.setdefault(name, {})[k] = _describe(v)
        values[name] = arr
    table = Table(sheet.name, head, cols, rows, values, bad)
    table.uncached = [f"{_letters(c)}{r + 1}" for r, c in sorted(uncached)]
    table.eta_cell = eta_label(sheet, head, set(rows))
    return table


def _describe(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, Uncached):
        return f"a formula without a saved value (={value})"
    if isinstance(value, CellError):
        return str(value)
    if isinstance(value, bool):
        return str(value).upper()
    return f"the text {str(value)[:40]!r}"


def eta_label(sheet: Sheet, head: int, data_rows: set[int]) -> tuple[float, int, int] | None:
    """(η, row, col) from a labelled cell outside the table: a label (η, eta, lr, learning rate, alpha)
    with a number just right of it or just below it, or one cell reading "η = 0.5"."""
    for row in sorted(sheet.cells):
        if row == head or row in data_rows:
            continue
        cells = sheet.cells[row]
        for col, value in sorted(cells.items()):
            if not isinstance(value, str) or isinstance(value, CellError | Uncached):
                continue
            m = _ETA_IN_TEXT.match(value)
            if m:
                try:
                    return float(m.group(1)), row, col
                except ValueError:
                    continue
            if not columns.is_eta_label(value):
                continue
            for r, c in ((row, col + 1), (row, col + 2), (row + 1, col)):
                v = sheet.cells.get(r, {}).get(c)
                if _is_number(v):
                    return v, r, c
    return None

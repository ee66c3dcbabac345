"""Writing millions of formula cells quickly: the tables of 10,000 iterations × 7 rates hold 2.5 million.

xlsxwriter spends ~20 µs on each write_formula: ~30 regular expressions looking for Excel 365 functions
(FILTER, LAMBDA, …), a named tuple per cell, and a formatted write per cell when the row is flushed.
`write_cells` renders a run of consecutive cells of one row to XML in one go instead, and stores it in the
row as one entry that FormulaWorksheet writes out verbatim, in its place among the row's other cells.
The XML is what xlsxwriter itself writes for those cells (tests/test_workbook.py compares the two files
byte for byte); on any other worksheet, `write_cells` just calls write_number and write_formula.

This relies on xlsxwriter internals (`table`, `previous_row`, `_write_single_row`, `_check_dimensions`,
`_write_cell`, `fh`) that have been stable for years; the byte-for-byte test catches a change.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from xlsxwriter.format import Format
from xlsxwriter.utility import xl_col_to_name
from xlsxwriter.worksheet import Worksheet

from .cells import ExactFloat

# One cell: (formula or None for a plain number, format or None, number: the formula's cached result).
Cell = tuple[str | None, Format | None, float]


class _Rendered(NamedTuple):
    xml: str
    format: None = None  # read by xlsxwriter's row code, like every cell's


def _escape(formula: str) -> str:
    # The escaping xlsxwriter applies to formula text.
    if "&" in formula or "<" in formula or ">" in formula:
        return formula.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return formula


def _number(value: float) -> str:
    # A float as its exact repr (as ExactFloat makes xlsxwriter write it); an int as itself.
    if value.__class__ is int:
        return str(value)
    return repr(float(value))


class FormulaWorksheet(Worksheet):
    """A worksheet that also takes pre-rendered runs of cells (see `write_cells`)."""

    _letters: list[str] = [xl_col_to_name(col) for col in range(16_384)]  # A … XFD

    def _write_run(self, row: int, first_col: int, cells: list[Cell]) -> None:
        last_col = first_col + len(cells) - 1
        if last_col >= len(self._letters) or self._check_dimensions(row, first_col):
            raise ValueError(f"{self.name}: cannot write cells at row {row}, column {first_col}")
        self._check_dimensions(row, last_col)
        if row > self.previous_row:
            self._write_single_row(row)
        ref = str(row + 1)
        parts = []
        for col, (formula, fmt, value) in enumerate(cells, start=first_col):
            style = f' s="{fmt._get_xf_index()}"' if fmt is not None else ""
            if formula is None:
                parts.append(f'<c r="{self._letters[col]}{ref}"{style}><v>{_number(value)}</v></c>')
            else:
                text = _escape(formula[1:] if formula.startswith("=") else formula)
                parts.append(f'<c r="{self._letters[col]}{ref}"{style}><f>{text}</f><v>{value}</v></c>')
        self.table[row][first_col] = _Rendered("".join(parts))

    def _write_cell(self, row, col, cell) -> None:
        if cell.__class__ is _Rendered:
            self.fh.write(cell.xml)
        else:
            super()._write_cell(row, col, cell)


def write_cells(sheet: Worksheet, row: int, first_col: int, cells: Iterable[Cell]) -> None:
    """Write consecutive cells of one row: formulas with their cached numbers, and plain numbers.

    The row must have no other cell in those columns. Formula results must be numbers (float or int).
    """
    cells = list(cells)
    if isinstance(sheet, FormulaWorksheet) and sheet.constant_memory:
        sheet._write_run(row, first_col, cells)
        return
    for col, (formula, fmt, value) in enumerate(cells, start=first_col):
        if formula is None:
            number = ExactFloat(value) if isinstance(value, float) else value
            rc = sheet.write_number(row, col, number, fmt)
        else:
            rc = sheet.write_formula(row, col, formula, fmt, value)
        if rc:
            raise ValueError(f"{sheet.name}: cannot write cells at row {row}, column {col}")

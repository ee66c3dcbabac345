"""Cells gathered in any order and written in reading order, as constant-memory mode requires.

xlsxwriter's constant-memory mode flushes a row once a later one is written and silently drops anything
written to it afterwards (the call returns -2); `Cells.write` sorts first and fails loudly on any refusal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet


class ExactFloat(float):
    """A float that xlsxwriter writes as its shortest exact repr.

    write_number formats numbers with 16 significant digits, which does not round-trip every float
    (0.1 + 0.2 reads back as 0.3); an input cell must hold exactly the number the reference used.
    """

    __slots__ = ()

    def __format__(self, spec: str) -> str:
        return repr(float(self))


@dataclass
class Cells:
    _cells: list[tuple[int, int, str, tuple[Any, ...]]] = field(default_factory=list)
    _sorted: bool = True

    def _add(self, row: int, col: int, kind: str, args: tuple[Any, ...]) -> None:
        self._cells.append((row, col, kind, args))
        self._sorted = False

    def text(self, row: int, col: int, text: str, fmt: Format | None = None) -> None:
        self._add(row, col, "string", (text, fmt))

    def number(self, row: int, col: int, number: float, fmt: Format | None = None) -> None:
        self._add(row, col, "number", (ExactFloat(number), fmt))

    def boolean(self, row: int, col: int, value: bool, fmt: Format | None = None) -> None:
        self._add(row, col, "boolean", (value, fmt))

    def formula(self, row: int, col: int, formula: str, fmt: Format | None, value: Any) -> None:
        self._add(row, col, "formula", (formula, fmt, value))

    def blank(self, row: int, col: int, fmt: Format) -> None:
        self._add(row, col, "blank", (None, fmt))

    def comment(self, row: int, col: int, text: str, options: dict | None = None) -> None:
        self._add(row, col, "comment", (text, options or {}))

    def write_until(self, sheet: Worksheet, stop_row: int) -> None:
        """Write the gathered cells above `stop_row` in reading order; keep the rest for later."""
        if not self._sorted:
            self._cells.sort(key=lambda c: (c[0], c[1], c[2] == "comment"))
            self._sorted = True
        done = 0
        for row, col, kind, args in self._cells:
            if row >= stop_row:
                break
            if getattr(sheet, f"write_{kind}")(row, col, *args):
                raise RuntimeError(f"{sheet.name}: {kind} at row {row}, column {col} was refused")
            done += 1
        del self._cells[:done]

    def write(self, sheet: Worksheet) -> None:
        self.write_until(sheet, 1 << 40)

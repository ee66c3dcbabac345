"""What grading one submission found: the Report, and its JSON (one object per file, `excelgen grade --json`).

    {"file", "status": "graded"|"refused", "reason", "sheet", "header_row", "eta", "iterations", "score",
     "columns": {NAME: {"checked", "wrong", "first_wrong"}}, "missing_columns": [...],
     "diagnoses": [{"column", "text", "mistake", "iteration", "cell"}], "notes": [...],
     "trajectory": {"matches", "first_divergence"}}

NAME is one of columns.NAMES (t1 … a_o2, E1, E2, E_total, dE/dw1 …); iterations count the updates (data rows
minus one); first_wrong and iteration are 0 for the first data row; header_row is the sheet's row number as
a spreadsheet shows it (1-based); mistake is a catalogue key (mistakes.KEYS) or null when none matched.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class ColumnResult:
    checked: int = 0
    wrong: int = 0
    first_wrong: int | None = None


@dataclass
class Diagnosis:
    column: str
    text: str
    mistake: str | None = None  # a mistakes.KEYS entry, or None: expected vs found only
    iteration: int | None = None  # the first wrong iteration it speaks of
    cell: str | None = None  # that cell's A1 reference on the sheet


@dataclass
class Report:
    file: str
    status: str = "graded"  # or "refused"
    reason: str | None = None
    sheet: str | None = None
    header_row: int | None = None
    eta: float | None = None
    iterations: int | None = None
    score: float | None = None
    columns: dict[str, ColumnResult] = field(default_factory=dict)
    missing_columns: list[str] = field(default_factory=list)
    diagnoses: list[Diagnosis] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    trajectory_matches: bool | None = None  # the whole table against the true run from its own row 0
    first_divergence: int | None = None
    not_calculated: bool = False  # refused only because its formulas have no saved values (see --recalc)

    @classmethod
    def refused(cls, file: str, reason: str) -> Report:
        return cls(file=file, status="refused", reason=reason)

    @property
    def wrong_columns(self) -> list[str]:
        return [name for name, c in self.columns.items() if c.wrong]

    @property
    def first_wrong(self) -> int | None:
        firsts = [c.first_wrong for c in self.columns.values() if c.first_wrong is not None]
        return min(firsts) if firsts else None

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "status": self.status,
            "reason": self.reason,
            "sheet": self.sheet,
            "header_row": self.header_row,
            "eta": _finite(self.eta),
            "iterations": self.iterations,
            "score": self.score,
            "columns": {name: asdict(c) for name, c in self.columns.items()},
            "missing_columns": list(self.missing_columns),
            "diagnoses": [asdict(d) for d in self.diagnoses],
            "notes": list(self.notes),
            "trajectory": {"matches": self.trajectory_matches, "first_divergence": self.first_divergence},
        }


def _finite(x: float | None) -> float | None:
    """JSON has no inf or NaN."""
    return x if x is not None and math.isfinite(x) else None

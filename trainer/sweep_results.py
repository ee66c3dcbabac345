"""What a sweep found, read back from its runs' own log.json files (the one source of its numbers): the table
printed at the end, `sweep.json`, and what the MNIST sweep sheet draws.

Per setting: how many seeds finished, the mean, min and max of the last epoch's test accuracy (the result of a
run, as `trainer train` reports it), how many seeds reach the documents' 99.40%, the mean seconds of training
per run, and the mean test accuracy of every epoch over the seeds (the chart's series).
"""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from xlsxedit.files import write_atomic

from . import grid
from .config import TARGET_ACC
from .sweep import Outcome

SWEEP_JSON = "sweep.json"
FORMAT = 1


@dataclass
class RunResult:
    name: str
    setting: str  # grid.label
    seed: int
    status: str  # finished, failed, stopped, pending
    reason: str | None = None
    test_acc: list[float] = field(default_factory=list)  # per epoch, as log.json records it
    seconds: float | None = None  # of training (train + test passes), all epochs

    @property
    def last_acc(self) -> float | None:
        return self.test_acc[-1] if self.status == "finished" and self.test_acc else None


@dataclass
class SettingRow:
    setting: str
    seeds: int  # in the grid
    finished: int
    mean: float | None
    min: float | None
    max: float | None
    reached: int  # finished seeds whose last epoch is at >= TARGET_ACC
    seconds: float | None  # mean per finished run
    epoch_means: list[float | None]  # mean test accuracy of each epoch over the finished seeds
    per_seed: dict[int, float | None]  # seed -> last epoch's test accuracy (None: not finished)


def collect(runs: list[grid.Run], out: Path, outcomes: dict[str, Outcome]) -> list[RunResult]:
    """Each run's result from its own folder; a run not run this time but finished before counts too."""
    results = []
    for run in runs:
        outcome = outcomes.get(run.name, Outcome("pending"))
        status, reason = outcome.status, outcome.reason
        log = grid.read_log(out / run.name / "log.json")
        if grid.finished(out / run.name):
            status, reason = "finished", None
        epochs = [row for row in (log or {}).get("epochs", []) if isinstance(row, dict)]
        accs = [float(row["test_acc"]) for row in epochs if isinstance(row.get("test_acc"), int | float)]
        secs = [float(row["seconds"]) for row in epochs if isinstance(row.get("seconds"), int | float)]
        results.append(
            RunResult(
                run.name, run.label, run.seed, status, reason, accs, round(sum(secs), 3) if secs else None
            )
        )
    return results


def table(runs: list[grid.Run], results: list[RunResult]) -> list[SettingRow]:
    """One row per setting, in grid order."""
    rows = []
    labels = list(dict.fromkeys(run.label for run in runs))
    for label in labels:
        mine = [r for r in results if r.setting == label]
        done = [r for r in mine if r.last_acc is not None]
        lasts = [r.last_acc for r in done]
        epochs = max((len(r.test_acc) for r in done), default=0)
        means = []
        for i in range(epochs):
            values = [r.test_acc[i] for r in done if len(r.test_acc) > i]
            means.append(statistics.fmean(values) if values else None)
        seconds = [r.seconds for r in done if r.seconds is not None]
        rows.append(
            SettingRow(
                setting=label,
                seeds=len(mine),
                finished=len(done),
                mean=statistics.fmean(lasts) if lasts else None,
                min=min(lasts, default=None),
                max=max(lasts, default=None),
                reached=sum(1 for a in lasts if a >= TARGET_ACC),
                seconds=statistics.fmean(seconds) if seconds else None,
                epoch_means=means,
                per_seed={r.seed: r.last_acc for r in mine},
            )
        )
    return rows


def _num(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def format_table(rows: list[SettingRow]) -> str:
    """The table printed at the end, one line per setting."""
    head = ("setting", "seeds", "mean %", "min %", "max %", f">= {TARGET_ACC:.2f}%", "s per run")
    body = [
        (
            row.setting,
            f"{row.finished}/{row.seeds}",
            _num(row.mean, 2),
            _num(row.min, 2),
            _num(row.max, 2),
            f"{row.reached}/{row.finished}",
            _num(row.seconds, 1),
        )
        for row in rows
    ]
    widths = [max(len(str(line[i])) for line in [head, *body]) for i in range(len(head))]
    lines = [
        "  ".join(
            str(c).ljust(w) if i == 0 else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        )
        for line in [head, *body]
    ]
    return "\n".join(lines)


def document(description: dict[str, Any], results: list[RunResult], rows: list[SettingRow]) -> dict[str, Any]:
    """sweep.json's content: what was asked, every run's result, and the table."""
    return {
        "format": FORMAT,
        **description,
        "target_acc": TARGET_ACC,
        "runs": [asdict(r) | {"last_acc": r.last_acc} for r in results],
        "table": [asdict(row) | {"per_seed": {str(k): v for k, v in row.per_seed.items()}} for row in rows],
    }


def save(out: Path, content: dict[str, Any]) -> Path:
    path = out / SWEEP_JSON
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(path, lambda p: p.write_text(json.dumps(content, indent=2) + "\n"))
    return path

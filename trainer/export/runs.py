"""The Runs sheet: one row per exported run (folder, model, parameters, best and last accuracy, time),
appended below the rows of earlier exports."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import xlsxwriter

from .log import best_epoch, cell, number

RUNS_SHEET = "Runs"
RUNS_COLUMNS = (
    ("Run folder", 44, None),
    ("Model", 12, None),
    ("Parameters", 12, "#,##0"),
    ("Best test acc (%)", 17, "0.00"),
    ("Best epoch", 11, "0"),
    ("Epochs", 8, "0"),
    ("Total seconds", 14, "0.0"),
    ("Exported (UTC)", 20, None),
    # Added after the others so that rows appended to an older Runs sheet stay under their headers.
    ("Last epoch's test acc (%)", 16, "0.00"),
)


def runs_row(log: dict[str, Any], run_dir: Path, exported_at: datetime) -> list[Any]:
    """One Runs row, in RUNS_COLUMNS order."""
    best = best_epoch(log)
    seconds = [number(e.get("seconds")) for e in log["epochs"]]
    return [
        run_dir.as_posix(),
        cell(log.get("model")),
        cell(log.get("params")),
        cell(log.get("best_test_acc", best.get("test_acc"))),
        cell(best.get("epoch")),
        len(log["epochs"]),
        sum(s for s in seconds if s is not None),
        exported_at.strftime("%Y-%m-%d %H:%M:%S"),
        cell(log["epochs"][-1].get("test_acc")),
    ]


def runs_sheet(wb: xlsxwriter.Workbook, fmt: dict, row: list[Any], row_number: int) -> None:
    ws = wb.add_worksheet(RUNS_SHEET)
    ws.freeze_panes(1, 0)
    for col, (header, width, code) in enumerate(RUNS_COLUMNS):
        ws.set_column(col, col, width)
        ws.write(0, col, header, fmt["head"])
        ws.write(row_number - 1, col, row[col], wb.add_format({"num_format": code}) if code else None)

"""The Runs sheet: one row per exported run, the headline figure first (the last epoch's test accuracy), then
the best epoch, the model, the time and the run folder; appended below the rows of earlier exports, each value
under the header of its column as that sheet has it (`existing_headers`), so that a Runs sheet written in an
older column order keeps its columns."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import xlsxwriter

from xlsxedit.package import Package

from .log import best_epoch, cell, number

RUNS_SHEET = "Runs"
LAST_ACC = "Last epoch's test acc (%)"  # the headline figure: the test set does not pick the epoch
RUNS_COLUMNS = (  # (header, width, number format); the header texts are how a later export finds a column
    (LAST_ACC, 16, "0.00"),
    ("Best test acc (%)", 17, "0.00"),
    ("Best epoch", 11, "0"),
    ("Epochs", 8, "0"),
    ("Model", 12, None),
    ("Parameters", 12, "#,##0"),
    ("Total seconds", 14, "0.0"),
    ("Exported (UTC)", 20, None),
    ("Run folder", 44, None),
)
# What A1 said in the Runs sheets of exports that put the run folder first (before the headline figure).
OLD_FIRST_HEADER = "Run folder"
MAX_HEADER_COLUMNS = 256  # a header row is read this far, no further


def runs_row(log: dict[str, Any], run_dir: Path, exported_at: datetime) -> dict[str, Any]:
    """One Runs row: header -> value, for every header of RUNS_COLUMNS."""
    best = best_epoch(log)
    seconds = [number(e.get("seconds")) for e in log["epochs"]]
    return {
        LAST_ACC: cell(log["epochs"][-1].get("test_acc")),
        "Best test acc (%)": cell(log.get("best_test_acc", best.get("test_acc"))),
        "Best epoch": cell(best.get("epoch")),
        "Epochs": len(log["epochs"]),
        "Model": cell(log.get("model")),
        "Parameters": cell(log.get("params")),
        "Total seconds": sum(s for s in seconds if s is not None),
        "Exported (UTC)": exported_at.strftime("%Y-%m-%d %H:%M:%S"),
        "Run folder": run_dir.as_posix(),
    }


def column_order(existing: list[str | None] | None) -> list[str | None]:
    """The headers in the order this export writes its row: the sheet's own when it has a header row (a
    column it does not know stays empty, None), then the headers it lacks; RUNS_COLUMNS' for a new sheet."""
    ours = [header for header, _, _ in RUNS_COLUMNS]
    if not existing or not any(h in ours for h in existing):
        return list(ours)
    order = [h if h in ours else None for h in existing]
    return order + [h for h in ours if h not in order]


def existing_headers(book: Package, sheet: str = RUNS_SHEET) -> list[str | None] | None:
    """The texts of row 1 of a sheet, A onwards (None for an empty or non-text cell); None without it."""
    texts = book.row_texts(sheet, 1, MAX_HEADER_COLUMNS)
    if texts is None:
        return None
    return [texts.get(k) for k in range(max(texts) + 1)] if texts else []


def runs_sheet(
    wb: xlsxwriter.Workbook,
    fmt: dict,
    row: dict[str, Any],
    row_number: int,
    order: list[str | None] | None = None,
) -> None:
    """The Runs sheet: the header row and this run at row_number (1-based), in `order` (column_order)."""
    ws = wb.add_worksheet(RUNS_SHEET)
    ws.freeze_panes(1, 0)
    spec = {header: (width, code) for header, width, code in RUNS_COLUMNS}
    for col, header in enumerate(order or column_order(None)):
        if header is None:
            continue
        width, code = spec[header]
        ws.set_column(col, col, width)
        ws.write(0, col, header, fmt["head"])
        ws.write(row_number - 1, col, row[header], wb.add_format({"num_format": code}) if code else None)

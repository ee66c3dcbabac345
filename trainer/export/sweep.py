"""The `MNIST sweep` sheet: a sweep's table (per setting: seeds, mean, min and max of the last epoch's test
accuracy, seeds at >= 99.40%, seconds), the mean test accuracy of every epoch per setting under a native line
chart with a series per setting (the CNN's twin of the LR sweep chart), and each seed's result per setting
under a chart of the spread. Drawn with xlsxwriter in a scratch workbook and handed to xlsxedit's Owner.update
(locked, atomic, backed up, every other sheet kept), like the MNIST sheet (run.py). The sheet is recorded as
the trainer's sweep sheet, apart from the MNIST and Runs sheets' record, so that exporting a run and running a
sweep each replace only their own sheets.

Settings' labels reach the sheet as strings (never formulas or links).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import xlsxwriter

from xlsxedit.files import real_target
from xlsxedit.ownership import Drawn, Owner
from xlsxedit.package import Package
from xlsxedit.writer import WorkbookError, backup_path

from ..config import TARGET_ACC
from ..errors import UserError
from ..sweep_results import SettingRow
from .mnist import accuracy_axis
from .run import SCRATCH_OPTIONS, _default_workbook, heading_formats

SHEET = "MNIST sweep"
# Its own record ("trainer-sweep sheet 1"): `trainer export` replaces the trainer's MNIST and Runs sheets
# only, and a sweep only this one. No sheet of it predates the records.
OWNER = Owner("trainer-sweep", legacy=lambda book: [])
TABLE_ROW = 3  # 0-based row of the table's header
TABLE_COLUMNS = (
    ("Setting", 28, None),
    ("Seeds finished", 9, "0"),
    ("Mean last-epoch test acc (%)", 13, "0.00"),
    ("Min (%)", 9, "0.00"),
    ("Max (%)", 9, "0.00"),
    (f"Seeds at >= {TARGET_ACC:.2f}%", 11, "0"),
    ("Seconds per run (mean)", 11, "0.0"),
)
MAX_SEED_SERIES = 20  # the spread chart draws each seed as a series up to this many; min, mean, max always
CHART_SIZE = (640, 320)
CHART_ROWS = 17


def scratch_workbook(title: str, note: str, rows: list[SettingRow], seeds: list[int]) -> bytes:
    out = io.BytesIO()
    wb = xlsxwriter.Workbook(out, SCRATCH_OPTIONS)
    fmt = heading_formats(wb) | {"bold": wb.add_format({"bold": True})}
    number = {code: wb.add_format({"num_format": code}) for code in ("0", "0.00", "0.0")}
    ws = wb.add_worksheet(SHEET)
    ws.write(0, 0, title, fmt["title"])
    ws.write(1, 0, note)

    # The table.
    ws.set_row(TABLE_ROW, 45)
    for col, (header, width, _) in enumerate(TABLE_COLUMNS):
        ws.set_column(col, col, width)
        ws.write(TABLE_ROW, col, header, fmt["head"])
    for i, row in enumerate(rows, start=TABLE_ROW + 1):
        values = (row.setting, row.finished, row.mean, row.min, row.max, row.reached, row.seconds)
        for col, (value, (_, _, code)) in enumerate(zip(values, TABLE_COLUMNS, strict=True)):
            ws.write(i, col, value, number[code] if code else None)
    if any(row.finished < row.seeds for row in rows):
        ws.write(TABLE_ROW + len(rows) + 1, 0, "Seeds not finished are left out of a setting's figures.")

    # Mean test accuracy per epoch, a column per setting, and the target beside them for the chart's line.
    epochs_top = TABLE_ROW + len(rows) + 3
    ws.write(epochs_top, 0, "Mean test accuracy per epoch (%), over the finished seeds", fmt["bold"])
    head = epochs_top + 1
    ws.write(head, 0, "Epoch", fmt["head"])
    for col, row in enumerate(rows, start=1):
        ws.write(head, col, row.setting, fmt["head"])
    target_col = len(rows) + 1
    ws.write(head, target_col, f"Target {TARGET_ACC:.2f}%", fmt["head"])
    n_epochs = max((len(row.epoch_means) for row in rows), default=0)
    for e in range(n_epochs):
        ws.write(head + 1 + e, 0, e + 1)
        for col, row in enumerate(rows, start=1):
            value = row.epoch_means[e] if e < len(row.epoch_means) else None
            ws.write(head + 1 + e, col, value, number["0.00"])
        ws.write(head + 1 + e, target_col, TARGET_ACC, number["0.00"])
    epochs_first, epochs_last = head + 1, head + max(n_epochs, 1)

    # Each seed's last-epoch accuracy per setting, with the setting's min, mean and max for the spread chart.
    seeds_top = epochs_last + 3
    ws.write(seeds_top, 0, "Last epoch's test accuracy per seed (%)", fmt["bold"])
    shead = seeds_top + 1
    columns = ["Setting", "Min", "Mean", "Max", *(f"Seed {s}" for s in seeds)]
    for col, text in enumerate(columns):
        ws.write(shead, col, text, fmt["head"])
    for i, row in enumerate(rows, start=shead + 1):
        ws.write(i, 0, row.setting)
        for col, value in enumerate((row.min, row.mean, row.max), start=1):
            ws.write(i, col, value, number["0.00"])
        for col, seed in enumerate(seeds, start=4):
            ws.write(i, col, row.per_seed.get(seed), number["0.00"])
    seeds_first, seeds_last = shead + 1, shead + len(rows)

    accs = [a for row in rows for a in [*row.epoch_means, *row.per_seed.values()] if a is not None]
    low, step = accuracy_axis(accs)
    chart_col = max(len(TABLE_COLUMNS), len(columns), target_col + 1) + 1
    ws.insert_chart(TABLE_ROW, chart_col, _epoch_chart(wb, rows, head, epochs_first, epochs_last, low, step))
    spread = _spread_chart(wb, seeds, seeds_first, seeds_last, low, step)
    ws.insert_chart(TABLE_ROW + CHART_ROWS, chart_col, spread)
    wb.close()
    return out.getvalue()


GRIDLINES = {"visible": True, "line": {"color": "#E0E0E0"}}
COLORS = ("#2F75B5", "#ED7D31", "#70AD47", "#7030A0", "#FFC000", "#5B9BD5", "#A5A5A5", "#264478", "#9E480E")


def _epoch_chart(wb: Any, rows: list[SettingRow], head: int, first: int, last: int, low: float, step: float):
    chart = wb.add_chart({"type": "line"})
    for col in range(1, len(rows) + 1):
        chart.add_series(
            {
                "name": [SHEET, head, col],
                "categories": [SHEET, first, 0, last, 0],
                "values": [SHEET, first, col, last, col],
                "marker": {"type": "circle", "size": 5},
                "line": {"color": COLORS[(col - 1) % len(COLORS)], "width": 2},
            }
        )
    target = len(rows) + 1
    chart.add_series(
        {
            "name": [SHEET, head, target],
            "categories": [SHEET, first, 0, last, 0],
            "values": [SHEET, first, target, last, target],
            "line": {"color": "#C00000", "width": 1.5, "dash_type": "dash"},
        }
    )
    title = "Mean test accuracy per epoch, a line per setting"
    return _accuracy_frame(chart, title, "Epoch", low, step, legend=True)


def _spread_chart(wb: Any, seeds: list[int], first: int, last: int, low: float, step: float):
    """Categories the settings; min and max joined by a high-low line, the mean and each seed as markers."""
    chart = wb.add_chart({"type": "line"})
    head = first - 1
    categories = [SHEET, first, 0, last, 0]

    def markers(col: int, kind: str, size: int, fill: str, border: str) -> None:
        chart.add_series(
            {
                "name": [SHEET, head, col],
                "categories": categories,
                "values": [SHEET, first, col, last, col],
                "line": {"none": True},
                "marker": {"type": kind, "size": size, "fill": {"color": fill}, "border": {"color": border}},
            }
        )

    markers(1, "triangle", 6, "#7F7F7F", "#7F7F7F")  # min
    markers(2, "diamond", 8, "#C00000", "#C00000")  # mean
    markers(3, "triangle", 6, "#7F7F7F", "#7F7F7F")  # max
    for k, _seed in enumerate(seeds[:MAX_SEED_SERIES]):
        markers(4 + k, "circle", 4, "#9DC3E6", "#2F75B5")
    chart.set_high_low_lines({"line": {"color": "#7F7F7F", "width": 1}})
    title = "Last epoch's test accuracy of each seed, per setting"
    return _accuracy_frame(chart, title, "Setting", low, step, legend=len(seeds) <= MAX_SEED_SERIES)


def _accuracy_frame(chart: Any, title: str, x_name: str, low: float, step: float, legend: bool) -> Any:
    """What both charts share: the title, the axes (test accuracy from `low` to 100 in steps of `step`),
    the legend below or none, the size."""
    chart.set_title({"name": title})
    chart.set_x_axis({"name": x_name})
    axis = {
        "name": "Test accuracy (%)",
        "min": low,
        "max": 100,
        "major_unit": step,
        "major_gridlines": GRIDLINES,
    }
    chart.set_y_axis(axis)
    chart.set_legend({"position": "bottom" if legend else "none"})
    chart.set_size({"width": CHART_SIZE[0], "height": CHART_SIZE[1]})
    return chart


def write_sheet(
    workbook: Path, title: str, note: str, rows: list[SettingRow], seeds: list[int]
) -> Path | None:
    """Adds or replaces the MNIST sweep sheet in `workbook` (excelgen's default workbook is written first when
    there is none); every other sheet is kept. Returns where the previous version was kept (None when there
    was none), as export_run does. One-line UserError when the writer refuses."""
    scratch = scratch_workbook(title, note, rows, seeds)
    existed = real_target(Path(workbook)).exists()

    def draw(book: Package | None, folder: Path) -> Drawn:
        return Drawn(scratch, [SHEET])

    try:
        OWNER.update(Path(workbook), draw, start=_default_workbook)
    except WorkbookError as e:
        raise UserError(f"{workbook}: {e}") from None
    return backup_path(real_target(Path(workbook))) if existed else None

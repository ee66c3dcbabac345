"""A training run into the user's workbook: the `MNIST` sheet (settings, layers, epochs, two native
charts, and below them what the network learned: trainer/learned.py) and one new row of the `Runs` sheet.
The sheets are drawn with xlsxwriter in a scratch workbook and handed to the shared workbook writer
(xlsxedit.writer), which grafts them into the user's file, leaves every other part of it byte-identical, and
writes it locked, atomically and with a backup.

A run folder may come from anyone: log.json and results.json are read within limits, and every text in
them reaches the sheet as a string (never a formula, never a hyperlink).
"""

from __future__ import annotations

import io
import json
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import xlsxwriter

from xlsxedit import files, writer
from xlsxedit.package import Package

from . import learned
from .errors import UserError, one_line

DEFAULT_WORKBOOK = Path("output/backprop.xlsx")
OWNER = "trainer"  # how the workbook records which sheets are the trainer's
MNIST_SHEET = "MNIST"
RUNS_SHEET = "Runs"
MAX_LOG_BYTES = 16 * 2**20  # a 20-epoch log.json is ~5 KB
MAX_EPOCHS = 10_000
# xlsxwriter's defaults would turn a text starting with "=" into a formula and a URL into a hyperlink.
SCRATCH_OPTIONS = {
    "in_memory": True,
    "nan_inf_to_errors": True,
    "strings_to_formulas": False,
    "strings_to_urls": False,
}
TARGET_ACC = 99.4  # percent: the documents' goal, drawn on the accuracy chart

# (log.json key, header, number format) of each epoch-table column, in order. The target column holds
# TARGET_ACC on every row: a native chart draws a horizontal line from a range, not from a constant.
EPOCH_COLUMNS = (
    ("epoch", "Epoch", "0"),
    ("train_loss", "Train loss", "0.0000"),
    ("train_acc", "Train acc (%)", "0.00"),
    ("test_loss", "Test loss", "0.0000"),
    ("test_correct", "Test correct", "0"),
    ("test_acc", "Test acc (%)", "0.00"),
    ("target", "Target (%)", "0.0"),
    ("lr", "LR", "0.000000"),
    ("seconds", "Seconds", "0.0"),
)
# Labels of the hyperparameters a reader looks for first; other keys follow under their own names.
HYPERPARAMETER_LABELS = {
    "epochs": "Epochs",
    "batch_size": "Batch size",
    "lr": "Learning rate",
    "schedule": "Schedule",
    "optimizer": "Optimizer",
    "weight_decay": "Weight decay",
    "augmentation": "Augmentation",
    "limit_train": "Training images (limit)",
    "threads": "Threads",
}
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
EPOCH_TABLE_ROW = 3  # 0-based row of the epoch table's header on the MNIST sheet
CHART_COLUMN = len(EPOCH_COLUMNS) + 1  # charts start one column right of the epoch table
CHART_SIZE = (600, 300)  # pixels: about 9 columns by 15 rows
CHART_ROWS = 16  # rows from one chart's top to the next one's
CHARTS_END = EPOCH_TABLE_ROW + 2 * CHART_ROWS  # the first row below both charts
AXIS_STEPS = (0.1, 0.2, 0.5, 1, 2, 5, 10, 20)  # percent: round major units for the accuracy axis
SETTINGS_VALUE_COLUMNS = (1, 4)  # a setting's value spans B:E, wide enough for a schedule's description


def load_log(run_dir: Path) -> dict[str, Any]:
    """The run's log.json, checked for what the export needs (older runs may lack optional keys)."""
    path = run_dir / "log.json"
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: no such run folder; pass a folder written by `trainer train`")
    if path.exists() and not path.is_file():  # a folder, or a pipe that would never end
        raise UserError(f"{path}: not a regular file; pass a run folder written by `trainer train`")
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_LOG_BYTES + 1)
        if len(raw) > MAX_LOG_BYTES:
            raise UserError(f"{path}: larger than {MAX_LOG_BYTES >> 20} MiB, not a log `trainer train` wrote")
        log = json.loads(raw.decode("utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: missing; pass a run folder written by `trainer train`") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        reason = "nested too deeply" if isinstance(e, RecursionError) else one_line(e, 200)
        raise UserError(
            f"{path}: unreadable ({reason}); pass a run folder written by `trainer train`"
        ) from None
    epochs = log.get("epochs") if isinstance(log, dict) else None
    if not isinstance(epochs, list) or not epochs or not all(isinstance(e, dict) for e in epochs):
        raise UserError(f"{path}: no finished epoch to export; train at least one epoch first")
    if len(epochs) > MAX_EPOCHS:
        raise UserError(f"{path}: {len(epochs):,} epochs, more than the {MAX_EPOCHS:,} an export shows")
    return log


def best_epoch(log: dict[str, Any]) -> dict[str, Any]:
    """The epoch the log names as best, else the first with the highest test accuracy."""
    epochs = log["epochs"]
    named = [e for e in epochs if e.get("epoch") == log.get("best_epoch")]
    return named[0] if named else max(epochs, key=lambda e: _number(e.get("test_acc")) or -math.inf)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return value


def _cell(value: Any) -> Any:
    """A log value as a cell value: numbers and text as they are, anything else as JSON text."""
    if value is None or isinstance(value, str) or _number(value) is not None:
        return value
    return json.dumps(value)


def settings(log: dict[str, Any], run_dir: Path) -> list[tuple[str, Any]]:
    """The run's settings as (label, value) rows, in reading order."""
    hyper = log.get("hyperparameters")
    hyper = hyper if isinstance(hyper, dict) else {}
    rows: list[tuple[str, Any]] = [("Run folder", run_dir.as_posix()), ("Model", log.get("model"))]
    rows.append(("Parameters", log.get("params")))
    rows += [(label, hyper.get(key)) for key, label in HYPERPARAMETER_LABELS.items() if key in hyper]
    rows += [(key, value) for key, value in hyper.items() if key not in HYPERPARAMETER_LABELS]
    rows += [("Seed", log.get("seed")), ("Device", log.get("device")), ("Torch", log.get("torch_version"))]
    rows += [("Started", log.get("started_at")), ("Finished", log.get("finished_at"))]
    return [(label, _cell(value)) for label, value in rows if value is not None]


def runs_row(log: dict[str, Any], run_dir: Path, exported_at: datetime) -> list[Any]:
    """One Runs row, in RUNS_COLUMNS order."""
    best = best_epoch(log)
    seconds = [_number(e.get("seconds")) for e in log["epochs"]]
    return [
        run_dir.as_posix(),
        _cell(log.get("model")),
        _cell(log.get("params")),
        _cell(log.get("best_test_acc", best.get("test_acc"))),
        _cell(best.get("epoch")),
        len(log["epochs"]),
        sum(s for s in seconds if s is not None),
        exported_at.strftime("%Y-%m-%d %H:%M:%S"),
        _cell(log["epochs"][-1].get("test_acc")),
    ]


def scratch_workbook(
    log: dict[str, Any], run_dir: Path, runs_row_number: int, exported_at: datetime
) -> bytes:
    """A workbook holding the MNIST sheet and a Runs sheet with its header and this run at runs_row_number
    (1-based), to graft from."""
    out = io.BytesIO()
    wb = xlsxwriter.Workbook(out, SCRATCH_OPTIONS)
    fmt = {
        "title": wb.add_format({"bold": True, "font_size": 14}),
        "head": wb.add_format({"bold": True, "bottom": 1, "bg_color": "#DDEBF7", "text_wrap": True}),
        "label": wb.add_format({"bold": True}),
        "value": wb.add_format({"align": "left"}),
    }
    _mnist_sheet(wb, fmt, log, run_dir)
    _runs_sheet(wb, fmt, runs_row(log, run_dir, exported_at), runs_row_number)
    wb.close()
    return out.getvalue()


def _mnist_sheet(wb: xlsxwriter.Workbook, fmt: dict, log: dict[str, Any], run_dir: Path) -> None:
    """Title, the epoch table with its charts beside it, then the settings and the layer table below it."""
    ws = wb.add_worksheet(MNIST_SHEET)
    ws.set_column(0, 0, 24)  # the settings' labels and the layer names share column A with "Epoch"
    ws.set_column(1, len(EPOCH_COLUMNS) - 1, 11)
    best = best_epoch(log)
    params = log.get("params")
    params = f"{params:,}" if isinstance(params, int) else "?"
    ws.write(0, 0, f"MNIST: {log.get('model', '?')}, {params} parameters", fmt["title"])
    # The result is the last epoch (the test set does not pick the epoch); the documents' best one beside it.
    last_acc, last_epoch = (_cell(log["epochs"][-1].get(key)) for key in ("test_acc", "epoch"))
    summary = (
        f"Result: {last_acc}% test accuracy after epoch {last_epoch}, "
        f"the last (target {TARGET_ACC}%); best {best.get('test_acc')}% at epoch {best.get('epoch')} of "
        f"{len(log['epochs'])}"
    )
    ws.write(1, 0, f"{summary}. Run folder: {run_dir.as_posix()}")
    first, last = _epoch_table(wb, ws, fmt, log["epochs"], best)
    _charts(wb, ws, log["epochs"], first, last)
    row = _settings(ws, fmt, last + 3, settings(log, run_dir))
    row = _layers(ws, fmt, row + 2, log)
    # Below everything, so that its rows can be small squares: the confusion matrix, mistakes, kernels.
    learned.draw(wb, ws, MNIST_SHEET, max(row, CHARTS_END) + 3, run_dir, log)


def _epoch_table(wb: xlsxwriter.Workbook, ws, fmt: dict, epochs: list[dict], best: dict) -> tuple[int, int]:
    """The epoch table, the best epoch highlighted; returns its first and last data rows."""
    ws.set_row(EPOCH_TABLE_ROW, 30)
    for col, (_, header, _) in enumerate(EPOCH_COLUMNS):
        ws.write(EPOCH_TABLE_ROW, col, header, fmt["head"])
    plain = {code: wb.add_format({"num_format": code}) for _, _, code in EPOCH_COLUMNS}
    highlighted = {
        code: wb.add_format({"num_format": code, "bold": True, "bg_color": "#C6EFCE"})
        for _, _, code in EPOCH_COLUMNS
    }
    first = EPOCH_TABLE_ROW + 1
    for i, epoch in enumerate(epochs):
        formats = highlighted if epoch is best else plain
        for col, (key, _, code) in enumerate(EPOCH_COLUMNS):
            value = TARGET_ACC if key == "target" else _cell(epoch.get(key))
            ws.write(first + i, col, value, formats[code])
    last = first + len(epochs) - 1
    ws.write(last + 1, 0, "The best epoch is highlighted.")
    return first, last


def accuracy_axis(accs: list[float]) -> tuple[float, float]:
    """(minimum, major unit) of the accuracy axis, which ends at 100: the smallest round step that reaches
    a little below every point and the target in at most 8 steps."""
    low = min([*accs, TARGET_ACC])
    for step in AXIS_STEPS:
        bottom = step * math.floor((low - step / 4) / step)
        if (100 - bottom) / step <= 8:
            return max(round(bottom, 6), 0.0), step
    return 0.0, AXIS_STEPS[-1]


def _charts(wb: xlsxwriter.Workbook, ws, epochs: list[dict], first: int, last: int) -> None:
    """Test accuracy with the target line, and train and test loss, per epoch: native charts."""

    def column(key: str) -> list:
        col = [k for k, _, _ in EPOCH_COLUMNS].index(key)
        return [MNIST_SHEET, first, col, last, col]

    gridlines = {"visible": True, "line": {"color": "#E0E0E0"}}
    marker = {"type": "circle", "size": 5}
    accuracy = wb.add_chart({"type": "line"})
    accuracy.add_series(
        {
            "name": "Test accuracy (%)",
            "categories": column("epoch"),
            "values": column("test_acc"),
            "marker": marker,
            "line": {"color": "#2F75B5", "width": 2},
        }
    )
    accuracy.add_series(
        {
            "name": f"Target {TARGET_ACC}%",
            "categories": column("epoch"),
            "values": column("target"),
            "line": {"color": "#C00000", "width": 1.5, "dash_type": "dash"},
        }
    )
    low, step = accuracy_axis([a for a in (_number(e.get("test_acc")) for e in epochs) if a is not None])
    accuracy.set_y_axis(
        {
            "name": "Test accuracy (%)",
            "min": low,
            "max": 100,
            "major_unit": step,
            "major_gridlines": gridlines,
        }
    )
    accuracy.set_title({"name": "MNIST test accuracy per epoch"})

    loss = wb.add_chart({"type": "line"})
    for key, name, color in (("train_loss", "Train loss", "#ED7D31"), ("test_loss", "Test loss", "#2F75B5")):
        loss.add_series(
            {
                "name": name,
                "categories": column("epoch"),
                "values": column(key),
                "marker": marker,
                "line": {"color": color, "width": 2},
            }
        )
    # Log scale: the first epoch's loss is many times the last ones', which a linear axis flattens.
    loss.set_y_axis({"name": "Average loss (log scale)", "log_base": 10, "major_gridlines": gridlines})
    loss.set_title({"name": "Train and test loss per epoch"})

    for i, chart in enumerate((accuracy, loss)):
        chart.set_x_axis({"name": "Epoch"})
        chart.set_legend({"position": "bottom"})
        chart.set_size({"width": CHART_SIZE[0], "height": CHART_SIZE[1]})
        ws.insert_chart(EPOCH_TABLE_ROW + i * CHART_ROWS, CHART_COLUMN, chart)


def _settings(ws, fmt: dict, top: int, rows: list[tuple[str, Any]]) -> int:
    """Label and value rows, each value across SETTINGS_VALUE_COLUMNS; returns the last row used."""
    ws.write(top, 0, "Settings", fmt["title"])
    first, last = SETTINGS_VALUE_COLUMNS
    for i, (label, value) in enumerate(rows, start=top + 1):
        ws.write(i, 0, label, fmt["label"])
        ws.merge_range(i, first, i, last, value, fmt["value"])
    return top + len(rows)


def _layers(ws, fmt: dict, top: int, log: dict[str, Any]) -> int:
    """The torchinfo layer table: layer, output shape, parameters, the total; returns the last row used."""
    layers = [layer for layer in log.get("layers") or [] if isinstance(layer, dict)]
    if not layers:
        return top - 1
    ws.write(top, 0, "Layers (torchinfo)", fmt["title"])
    ws.write(top + 1, 0, "Layer", fmt["head"])
    ws.merge_range(top + 1, 1, top + 1, 2, "Output shape", fmt["head"])
    ws.write(top + 1, 3, "Param #", fmt["head"])
    for i, layer in enumerate(layers, start=top + 2):
        shape = layer.get("output_shape")
        ws.write(i, 0, _cell(layer.get("layer")))
        ws.merge_range(i, 1, i, 2, str(shape) if isinstance(shape, list) else _cell(shape), fmt["value"])
        ws.write(i, 3, _cell(layer.get("params")))
    total = top + 2 + len(layers)
    ws.write(total, 0, "Total params", fmt["label"])
    ws.write(total, 3, _cell(log.get("params")), fmt["label"])
    return total


def _runs_sheet(wb: xlsxwriter.Workbook, fmt: dict, row: list[Any], row_number: int) -> None:
    ws = wb.add_worksheet(RUNS_SHEET)
    ws.freeze_panes(1, 0)
    for col, (header, width, code) in enumerate(RUNS_COLUMNS):
        ws.set_column(col, col, width)
        ws.write(0, col, header, fmt["head"])
        ws.write(row_number - 1, col, row[col], wb.add_format({"num_format": code}) if code else None)


def export_run(run_dir: Path, workbook: Path = DEFAULT_WORKBOOK) -> Path | None:
    """Add or replace the MNIST sheet and append a Runs row in the workbook (excelgen's default workbook is
    written first when there is none); returns where the previous version was kept, None when there was
    none. Refused with a UserError, the workbook byte-identical, when it is open in a spreadsheet program, is
    not a workbook, or has a sheet or defined name that the trainer needs and did not write."""
    run_dir, workbook = Path(run_dir), Path(workbook)
    log = load_log(run_dir)
    exported_at = datetime.now(timezone.utc)
    backup: list[Path] = []

    def change(existing: Package | None, folder: Path) -> Path:
        backup[:] = [writer.backup_path(files.real_target(workbook))] if existing is not None else []
        book = existing if existing is not None else _default_workbook(folder)
        try:
            runs_are_mine = RUNS_SHEET.lower() in {
                n.lower() for n in writer.owned_sheets(book, OWNER, legacy=_legacy_sheets)
            }
            last = book.last_row(RUNS_SHEET) if runs_are_mine else None
            appending = bool(last)  # our Runs sheet with at least its header
            scratch = Package(scratch_workbook(log, run_dir, last + 1 if appending else 2, exported_at))
            writer.replace_owned_sheets(
                book,
                OWNER,
                scratch,
                [MNIST_SHEET, RUNS_SHEET],
                keep=[RUNS_SHEET] if appending else [],
                owns_name=learned.owns_name,
                legacy=_legacy_sheets,
            )
            if appending:
                book.append_row(RUNS_SHEET, scratch, last + 1)
            out = folder / "exported.xlsx"
            book.save(out)
            return out
        finally:
            if existing is None:
                book.close()

    try:
        writer.update_workbook(workbook, change)
    except writer.WorkbookError as e:
        raise UserError(f"{workbook}: {e}") from None
    return backup[0] if backup else None


def _default_workbook(folder: Path) -> Package:
    """excelgen's workbook for the course's values, for a user who has none yet."""
    from excelgen.assemble import write_workbook
    from excelgen.model.config import Config

    path = folder / "excelgen.xlsx"
    write_workbook(Config(), path, tmpdir=folder)
    return Package(path)


# What the first cell of each sheet says; it tells the trainer's sheets in workbooks from before the records.
FIRST_CELLS = {MNIST_SHEET: "MNIST: ", RUNS_SHEET: RUNS_COLUMNS[0][0]}


def _legacy_sheets(book: Package) -> list[str]:
    """Before workbooks recorded the trainer's sheets, it exported them under these exact names, each with
    its title in A1. Asked only of a workbook that holds no record at all (xlsxedit/ownership.py)."""
    return [
        name
        for name in book.sheet_names()
        if name in FIRST_CELLS and (book.first_cell_text(name) or "").startswith(FIRST_CELLS[name])
    ]

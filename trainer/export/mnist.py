"""The MNIST sheet: a title and the result, the epoch table with two native charts beside it (test accuracy
with the target line; train and test loss), the settings and the layer table below, and under everything
what the network learned (learned.py)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import xlsxwriter

from ..config import TARGET_ACC
from . import learned
from .log import best_epoch, cell, number

MNIST_SHEET = "MNIST"

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
    "lr": "Learning rate (peak)",
    "schedule": "Schedule",
    "optimizer": "Optimizer",
    "weight_decay": "Weight decay",
    "label_smoothing": "Label smoothing",
    "augmentation": "Augmentation",
    "limit_train": "Training images (limit)",
    "threads": "Threads",
    "pct_start": "Warm-up (share of steps)",
    "momentum": "Momentum (start and end)",
    "base_momentum": "Momentum at the peak",
    "nesterov": "Nesterov momentum",
    "degrees": "Rotation (± degrees)",
    "shift_px": "Shift (± pixels)",
    "precision": "Precision",
    "test_batch_size": "Test batch size",
    "testing": "Test answer",
    "test_shift_px": "Test shifts (pixels)",
}
CLASSES = 10
EPOCH_TABLE_ROW = 3  # 0-based row of the epoch table's header on the MNIST sheet
CHART_COLUMN = len(EPOCH_COLUMNS) + 1  # charts start one column right of the epoch table
CHART_SIZE = (600, 300)  # pixels: about 9 columns by 15 rows
CHART_ROWS = 16  # rows from one chart's top to the next one's
CHARTS_END = EPOCH_TABLE_ROW + 2 * CHART_ROWS  # the first row below both charts
AXIS_STEPS = (0.1, 0.2, 0.5, 1, 2, 5, 10, 20)  # percent: round major units for the accuracy axis
SETTINGS_VALUE_COLUMNS = (1, 4)  # a setting's value spans B:E, wide enough for a schedule's description


def settings(log: dict[str, Any], run_dir: Path) -> list[tuple[str, Any]]:
    """The run's settings as (label, value) rows, in reading order."""
    hyper = log.get("hyperparameters")
    hyper = hyper if isinstance(hyper, dict) else {}
    rows: list[tuple[str, Any]] = [("Run folder", run_dir.as_posix()), ("Model", log.get("model"))]
    rows.append(("Parameters", log.get("params")))
    rows += [(label, hyper.get(key)) for key, label in HYPERPARAMETER_LABELS.items() if key in hyper]
    rows += [(label_of(key), value) for key, value in hyper.items() if key not in HYPERPARAMETER_LABELS]
    rows += [("Seed", log.get("seed")), ("Device", log.get("device")), ("Torch", log.get("torch_version"))]
    rows += [("Started", log.get("started_at")), ("Finished", log.get("finished_at"))]
    return [(label, _setting(value)) for label, value in rows if value is not None]


def label_of(key: Any) -> str:
    """A readable label for a setting this module does not name: "pct_start" -> "Pct start"."""
    text = str(key).replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def _setting(value: Any) -> Any:
    return ("yes" if value else "no") if isinstance(value, bool) else cell(value)


def smoothing_floor(smoothing: float, classes: int = CLASSES) -> float:
    """The least label-smoothed cross-entropy any prediction reaches: the entropy of the smoothed target."""
    on, off = 1 - smoothing + smoothing / classes, smoothing / classes
    return -(on * math.log(on)) - (classes - 1) * (off * math.log(off) if off > 0 else 0.0)


def _smoothing(log: dict[str, Any]) -> float | None:
    """The run's label smoothing when it had one (0 < ε < 1), else None."""
    hyper = log.get("hyperparameters")
    value = number(hyper.get("label_smoothing")) if isinstance(hyper, dict) else None
    return value if value is not None and 0 < value < 1 else None


def loss_note(log: dict[str, Any]) -> tuple[str, str]:
    """Two lines under the epoch table on why the train loss sits above the test loss."""
    smoothing = _smoothing(log)
    test = "Test loss: the final weights on the 10,000 test images, plain negative log-likelihood."
    if smoothing:
        return (
            f"Train loss is above test loss by design: it is the label-smoothed loss the optimizer minimises "
            f"(smoothing {smoothing:g}), which cannot fall below {smoothing_floor(smoothing):.2f},",
            f"averaged over the epoch's augmented batches. {test}",
        )
    return ("Train loss: averaged over the epoch's batches (augmented) while the weights moved.", test)


def mnist_sheet(wb: xlsxwriter.Workbook, fmt: dict, log: dict[str, Any], run_dir: Path) -> None:
    """Title, the epoch table with its charts beside it, then the settings and the layer table below it."""
    ws = wb.add_worksheet(MNIST_SHEET)
    ws.set_column(0, 0, 24)  # the settings' labels and the layer names share column A with "Epoch"
    ws.set_column(1, len(EPOCH_COLUMNS) - 1, 11)
    best = best_epoch(log)
    params = log.get("params")
    params = f"{params:,}" if isinstance(params, int) else "?"
    ws.write(0, 0, f"MNIST: {log.get('model', '?')}, {params} parameters", fmt["title"])
    # The result is the last epoch (the test set does not pick the epoch); the documents' best one beside it.
    last_acc, last_epoch, alone = (
        cell(log["epochs"][-1].get(key)) for key in ("test_acc", "epoch", "plain_test_acc")
    )
    # A run with test shifts (config.Hyper.test_shift_px) answered its last test pass with them: say so.
    shifts = f" (with its test shifts; the image alone {alone}%)" if number(alone) is not None else ""
    summary = (
        f"Result: {last_acc}% test accuracy after epoch {last_epoch}{shifts}, "
        f"the last (target {TARGET_ACC}%); best {best.get('test_acc')}% at epoch {best.get('epoch')} of "
        f"{len(log['epochs'])}"
    )
    ws.write(1, 0, f"{summary}. Run folder: {run_dir.as_posix()}")
    first, last = _epoch_table(wb, ws, fmt, log["epochs"], best)
    _charts(wb, ws, log, first, last)
    for k, line in enumerate(loss_note(log), start=2):
        ws.write(last + k, 0, line)
    row = _settings(ws, fmt, last + 5, settings(log, run_dir))
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
            value = TARGET_ACC if key == "target" else cell(epoch.get(key))
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


def _charts(wb: xlsxwriter.Workbook, ws, log: dict[str, Any], first: int, last: int) -> None:
    """Test accuracy with the target line, and train and test loss, per epoch: native charts."""
    epochs = log["epochs"]

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
    target = {"color": "#C00000", "width": 1.5, "dash_type": "dash"}
    accuracy.add_series(
        {
            "name": f"Target {TARGET_ACC}%",
            "categories": column("epoch"),
            "values": column("target"),
            "line": target,
            # One epoch is one point, and a line needs two: a wide dash marks the target instead.
            "marker": (
                {"type": "long_dash", "size": 14, "border": {"color": target["color"]}}
                if len(epochs) < 2
                else {"type": "none"}
            ),
        }
    )
    low, step = accuracy_axis([a for a in (number(e.get("test_acc")) for e in epochs) if a is not None])
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
    train = "Train loss (label-smoothed)" if _smoothing(log) else "Train loss"
    losses = (("train_loss", train, "#ED7D31"), ("test_loss", "Test loss", "#2F75B5"))
    for key, name, color in losses:
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
        ws.write(i, 0, cell(layer.get("layer")))
        ws.merge_range(i, 1, i, 2, str(shape) if isinstance(shape, list) else cell(shape), fmt["value"])
        ws.write(i, 3, cell(layer.get("params")))
    total = top + 2 + len(layers)
    ws.write(total, 0, "Total params", fmt["label"])
    ws.write(total, 3, cell(log.get("params")), fmt["label"])
    return total

"""The run's log.json, read within limits and checked for what the export needs, and its values as cells.

A run folder may come from anyone: every value of the log reaches a sheet through `cell` (numbers and text as
they are, anything else as JSON text), and xlsxwriter writes text as a string (never a formula or a link).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from xlsxedit.files import NotRegularFile, TooLarge, read_small

from ..errors import UserError, one_line

MAX_LOG_BYTES = 16 * 2**20  # a 20-epoch log.json is ~5 KB
MAX_EPOCHS = 10_000


def load_log(run_dir: Path) -> dict[str, Any]:
    """The run's log.json, checked for what the export needs (older runs may lack optional keys)."""
    path = run_dir / "log.json"
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: no such run folder; pass a folder written by `trainer train`")
    try:
        log = json.loads(read_small(path, MAX_LOG_BYTES).decode("utf-8"))
    except (NotRegularFile, IsADirectoryError):  # a folder, or a pipe that would never end
        raise UserError(f"{path}: not a regular file; pass a run folder written by `trainer train`") from None
    except TooLarge:
        raise UserError(
            f"{path}: larger than {MAX_LOG_BYTES >> 20} MiB, not a log `trainer train` wrote"
        ) from None
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
    return named[0] if named else max(epochs, key=lambda e: number(e.get("test_acc")) or -math.inf)


def number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return value


def cell(value: Any) -> Any:
    """A log value as a cell value: numbers and text as they are, anything else as JSON text."""
    if value is None or isinstance(value, str) or number(value) is not None:
        return value
    return json.dumps(value)

"""A sweep's grid: the settings given with `--set KEY=V1,V2 …` crossed with the seeds, each cell one ordinary
run with a folder name that says what it is (`default_lr=0.2_seed=3`), so that the same command finds its own
runs again: finished ones are skipped, unfinished ones resumed, and a folder of that name that holds another
run (another sweep's, other settings) is refused before anything starts.

No torch here: the grid is checked, and its mistakes are reported, before a worker is started.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import config
from .errors import UserError, one_line

# What `--set` may vary: every hyperparameter but the thread count, which says how a run runs, not what it is
# (`--threads` applies to every run).
SETTABLE = tuple(f.name for f in dataclasses.fields(config.Hyper) if f.name != "threads")
PRECISIONS = ("auto", "float32", "bfloat16")
MAX_LR = 10.0  # SGD on these networks diverges far below this; a larger value is a typo
MAX_SEEDS = 10_000
MAX_RUNS_WITHOUT_YES = 100  # about an hour of 40-second runs on two cores: more asks for --yes
MAX_LOG_BYTES = 16 * 2**20
SEEDS = re.compile(r"\d+(-\d+)?(,\d+(-\d+)?)*")


def check_value(key: str, value: Any) -> str | None:
    """What is wrong with `value` for hyperparameter `key`, or None. The ranges `trainer train` checks for its
    options, and the ones that make the other fields meaningful (a share is in [0, 1), a count positive)."""
    at_least_one = ("epochs", "batch_size", "test_batch_size", "limit_train", "threads")
    if key in at_least_one:
        return None if value >= 1 else "must be at least 1"
    if key == "lr":
        return None if 0 < value <= MAX_LR else f"must be a positive number up to {MAX_LR:g}"
    if key in ("pct_start", "momentum", "base_momentum", "label_smoothing"):
        return None if 0 <= value < 1 and (key != "pct_start" or value > 0) else "must be in [0, 1)"
    if key in ("weight_decay", "degrees", "shift_px"):
        return None if value >= 0 else "must be 0 or more"
    if key == "test_shift_px":
        limit = config.MAX_TEST_SHIFT_PX
        return None if 0 <= value <= limit else f"must be 0 (the image alone) to {limit}"
    if key == "precision":
        return None if value in PRECISIONS else f"must be one of {', '.join(PRECISIONS)}"
    return None


OPTIONAL = ("threads", "limit_train")  # int fields whose default None means: the free cores; every image
KIND_NAMES = {bool: "true or false", int: "a whole number", float: "a number", str: "text"}


def kind_of(key: str) -> type:
    """The type of hyperparameter `key`'s values: its default's, and int for the ones that default to None."""
    return int if key in OPTIONAL else type(getattr(config.Hyper(), key))


def hyper_problem(fields: dict) -> str | None:
    """What is wrong with the hyperparameters a checkpoint recorded (a file from anywhere), or None: each
    field of its own type and in the range `--set` allows, so that a crafted file cannot, say, ask the test
    pass for a shift of a billion pixels."""
    hp = config.from_log(fields)
    for f in dataclasses.fields(config.Hyper):
        value, kind = getattr(hp, f.name), kind_of(f.name)
        if value is None and f.name in OPTIONAL:
            continue
        number = type(value) in (int, float) and math.isfinite(value)
        fits = number if kind is float else type(value) is kind
        problem = f"is not {KIND_NAMES[kind]}" if not fits else check_value(f.name, value)
        if problem:
            return f"{f.name} {problem}"
    return None


def parse_value(key: str, text: str) -> Any:
    """`text` as a value of hyperparameter `key`, of the field's own type, checked; UserError otherwise."""
    kind = kind_of(key)
    text = text.strip()
    try:
        if kind is bool:
            value = {"true": True, "1": True, "false": False, "0": False}[text.lower()]
        elif kind is int:
            value = int(text)
        elif kind is float:
            value = float(text)
            if not math.isfinite(value):
                raise ValueError
        else:
            value = text
    except (ValueError, KeyError):
        wanted = KIND_NAMES[kind] if kind is not str else "a value"
        raise UserError(f"--set {key}={text!r}: {key} takes {wanted}") from None
    problem = check_value(key, value)
    if problem:
        raise UserError(f"--set {key}={text}: {key} {problem}")
    return value


def parse_sets(items: list[str], given: dict[str, Any]) -> list[tuple[str, list[Any]]]:
    """`--set KEY=V1,V2` items as (key, values), in the order given. `given` holds the hyperparameters that
    options such as --lr already fix: a key may not be both."""
    axes: list[tuple[str, list[Any]]] = []
    for item in items:
        key, eq, values = item.partition("=")
        key = key.strip().replace("-", "_")
        if not eq or not key:
            raise UserError(f"--set {item!r}: write KEY=V1,V2 (e.g. --set lr=0.2,0.4)")
        if key not in SETTABLE:
            hint = "; --threads applies to every run" if key == "threads" else ""
            raise UserError(f"--set {item}: unknown key {key!r}; choose from {', '.join(SETTABLE)}{hint}")
        if key in given:
            raise UserError(f"--set {key}=… and --{key.replace('_', '-')} both given; keep one")
        if key in (k for k, _ in axes):
            raise UserError(f"--set {key} given twice; list all its values in one --set {key}=V1,V2")
        parsed = [parse_value(key, v) for v in values.split(",") if v.strip()]
        if not parsed:
            raise UserError(f"--set {item}: no values; the grid would be empty")
        if len(set(parsed)) < len(parsed):
            raise UserError(f"--set {item}: a value is listed twice")
        axes.append((key, parsed))
    return axes


def parse_seeds(text: str) -> list[int]:
    """ "1-10", "1,3,7", "1-4,42" as the seeds in that order, each once."""
    text = text.replace(" ", "")
    if not SEEDS.fullmatch(text):
        raise UserError(f"--seeds {text!r}: write seeds as 1-10, 1,3,7 or 1-4,42")
    seeds: list[int] = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        first, last = int(low), int(high or low)
        if last < first:
            raise UserError(f"--seeds {part}: the range is empty; write it low-high")
        if len(seeds) + last - first + 1 > MAX_SEEDS:
            raise UserError(f"--seeds {text}: more than {MAX_SEEDS:,} seeds")
        seeds += range(first, last + 1)
    if len(set(seeds)) < len(seeds):
        raise UserError(f"--seeds {text}: a seed is listed twice")
    return seeds


def format_value(value: Any) -> str:
    return (
        repr(value)
        if isinstance(value, float)
        else str(value).lower()
        if isinstance(value, bool)
        else str(value)
    )


Setting = tuple[tuple[str, Any], ...]  # (key, value) pairs, in --set order; () is the recipe as it is


def label(setting: Setting) -> str:
    """How tables, charts and messages name a setting: "lr=0.2, batch_size=64", or "recipe" for none."""
    return ", ".join(f"{k}={format_value(v)}" for k, v in setting) or "recipe"


@dataclass(frozen=True)
class Run:
    """One cell of the grid: what `trainer train --model M --seed S` with these hyperparameters runs."""

    model: str
    setting: Setting
    seed: int
    hp: config.Hyper

    @property
    def name(self) -> str:
        """Its folder's name under --out."""
        return "_".join(
            [self.model, *(f"{k}={format_value(v)}" for k, v in self.setting), f"seed={self.seed}"]
        )

    @property
    def label(self) -> str:
        return label(self.setting)


def settings(axes: list[tuple[str, list[Any]]]) -> list[Setting]:
    """Every combination of the axes' values, the first axis varying slowest."""
    keys = [k for k, _ in axes]
    return [tuple(zip(keys, values, strict=True)) for values in itertools.product(*(v for _, v in axes))]


def runs(model: str, base: config.Hyper, axes: list[tuple[str, list[Any]]], seeds: list[int]) -> list[Run]:
    """The grid, setting by setting, seeds within each."""
    out = []
    for setting in settings(axes):
        hp = dataclasses.replace(base, **dict(setting))
        out += [Run(model, setting, seed, hp) for seed in seeds]
    return out


def check_size(n: int, yes: bool) -> None:
    if n == 0:
        raise UserError("the grid is empty: give at least one seed and one value for each --set")
    if n > MAX_RUNS_WITHOUT_YES and not yes:
        raise UserError(
            f"the grid holds {n:,} runs (more than {MAX_RUNS_WITHOUT_YES}); add --yes to run them all, or "
            "narrow --seeds and --set"
        )


def read_log(path: Path) -> dict | None:
    """A run folder's log.json as data, within limits; None when it is missing or not a log."""
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_LOG_BYTES + 1)
        log = json.loads(raw.decode("utf-8")) if len(raw) <= MAX_LOG_BYTES else None
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None
    return log if isinstance(log, dict) and isinstance(log.get("epochs"), list) else None


def same_run(log: dict, run: Run) -> str | None:
    """Why the run a log.json records is not `run` (the first difference found), or None when it is."""
    if log.get("model") != run.model:
        return f"model {str(log.get('model'))[:40]!r}, not {run.model!r}"
    if log.get("seed") != run.seed:
        return f"seed {str(log.get('seed'))[:20]}, not {run.seed}"
    recorded = log.get("hyperparameters")
    if not isinstance(recorded, dict):
        return "no hyperparameters"
    try:
        saved = config.from_log(recorded)
    except TypeError as e:
        return f"hyperparameters this trainer does not know ({one_line(e, 80)})"
    for f in dataclasses.fields(config.Hyper):
        want, have = getattr(run.hp, f.name), getattr(saved, f.name)
        if f.name == "threads" or (f.name == "precision" and want == "auto"):
            continue  # how it ran, not what it is; "auto" is recorded as what it resolved to
        if want != have:
            return f"{f.name} {format_value(have)}, not {format_value(want)}"
    return None


def check_out(out: Path, grid: list[Run]) -> None:
    """Refuses an --out that is a file, or that holds, under one of the grid's run names, another run."""
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: is a file; pass a folder for the sweep's run folders")
    for run in grid:
        folder = out / run.name
        if not folder.exists():
            continue
        log = read_log(folder / "log.json") if folder.is_dir() else None
        why = "not a run folder of `trainer train`" if log is None else same_run(log, run)
        if why:
            raise UserError(
                f"--out {out}: {run.name} holds another run ({why}), from another sweep; pass another --out, "
                "or move that folder away"
            )


def finished(run_dir: Path) -> bool:
    """A run whose last epoch, final model and results are all saved: the sweep skips it."""
    log = read_log(run_dir / "log.json")
    return (
        log is not None
        and bool(log.get("finished_at"))
        and (run_dir / "model.pt").is_file()
        and (run_dir / "results.json").is_file()
    )

"""The workbook's inputs: a TOML file read with the standard library, checked key by key.

Every key is optional; the defaults are the course sheet's values (templates/default.toml spells them out).
A bad value raises ConfigError, which the CLI prints as one line: ``<file>: <key>: <what is wrong>``.
"""

from __future__ import annotations

import math
import sys
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from xlsxedit.files import NotRegularFile, TooLarge, read_small

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

WEIGHTS = ("w1", "w2", "w3", "w4", "w5", "w6", "w7", "w8")
BIASES = ("b1", "b2")


class ConfigError(ValueError):
    """A user mistake in the config or the command line: printed as one line, never as a traceback."""

    def __init__(self, source: str, key: str, message: str) -> None:
        super().__init__(f"{source}: {key}: {message}")
        self.source, self.key, self.message = source, key, message


@dataclass(frozen=True)
class Network:
    """A 2-2-2 sigmoid network and one training example, in the documents' notation."""

    i1: float = 0.05
    i2: float = 0.1
    t1: float = 0.5
    t2: float = 0.5
    w1: float = 0.15
    w2: float = 0.2
    w3: float = 0.25
    w4: float = 0.3
    w5: float = 0.4
    w6: float = 0.45
    w7: float = 0.5
    w8: float = 0.55
    b1: float = 0.0  # bias into h1 and h2
    b2: float = 0.0  # bias into o1 and o2

    @property
    def weights(self) -> tuple[float, ...]:
        return tuple(getattr(self, w) for w in WEIGHTS)


@dataclass(frozen=True)
class Training:
    learning_rates: tuple[float, ...] = (0.1, 0.2, 0.5, 0.8, 1.0, 2.0)
    iterations: int = 100  # N updates: tables hold iteration 0 (the initial weights) through N
    train_biases: bool = False  # True: b1 and b2 get gradients and updates too


@dataclass(frozen=True)
class Exercise:
    show_answers: bool = True  # False: the workbook opens with the Backprop sheet's exercise switch off


@dataclass(frozen=True)
class Config:
    network: Network = field(default_factory=Network)
    training: Training = field(default_factory=Training)
    exercise: Exercise = field(default_factory=Exercise)
    source: str = "<defaults>"  # where the values came from, for error messages

    @property
    def has_biases(self) -> bool:
        """Bias columns appear in the tables when a bias is non-zero or trained."""
        n = self.network
        return self.training.train_biases or n.b1 != 0.0 or n.b2 != 0.0


def _short(value: Any, limit: int = 60) -> str:
    """A value as an error message quotes it: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _number(source: str, key: str, value: Any) -> float:
    # bool is an int subclass in Python; `true` where a number belongs is a mistake, not 1.0.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(source, key, f"expected a number, got {type(value).__name__} {_short(value)}")
    try:
        number = float(value)  # a TOML integer may be too large for a float
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise ConfigError(source, key, f"must be a finite number, got {_short(value)}")
    return number


def _learning_rates(source: str, key: str, value: Any, limit: int | None = None) -> tuple[float, ...]:
    if not isinstance(value, (list, tuple)):
        got = f"{type(value).__name__} {_short(value)}"
        raise ConfigError(source, key, f"expected a list of numbers, got {got}")
    if not value:
        raise ConfigError(source, key, "the list is empty; give at least one learning rate")
    if limit is not None and len(value) > limit:
        message = f"{len(value)} learning rates do not fit the Check sheet's columns; the most is {limit}"
        raise ConfigError(source, key, message)
    rates = tuple(_number(source, key, v) for v in value)
    for lr in rates:
        if lr <= 0:
            raise ConfigError(source, key, f"learning rates must be > 0, got {lr:g}")
    dupes = sorted(lr for lr, n in Counter(rates).items() if n > 1)
    if dupes:
        raise ConfigError(source, key, f"duplicate learning rate {', '.join(f'{d:g}' for d in dupes)}")
    return rates


def _iterations(source: str, key: str, value: Any, limit: int | None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(source, key, f"expected a whole number, got {type(value).__name__} {_short(value)}")
    if value < 1:
        raise ConfigError(source, key, f"must be at least 1, got {value}")
    if limit is not None and value > limit:
        raise ConfigError(source, key, f"{value} rows do not fit in a sheet; the most is {limit}")
    return value


def _check_keys(source: str, section: str, table: Any, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise ConfigError(source, section, f"expected a table [{section}], got {type(table).__name__}")
    for key in table:
        if key not in allowed:
            where = f"{section}.{key}" if section else key
            raise ConfigError(source, where, f"unknown key; known keys: {', '.join(sorted(allowed))}")
    return table


def from_dict(
    data: dict[str, Any],
    source: str = "<dict>",
    iteration_limit: int | None = None,
    rate_limit: int | None = None,
) -> Config:
    """Build a validated Config from parsed TOML. The limits are what the output can hold (the sheets know
    theirs: excelgen's cli passes them); None checks no upper bound."""
    _check_keys(source, "", data, {"network", "training", "exercise"})
    net_fields = set(Network.__dataclass_fields__)
    net = _check_keys(source, "network", data.get("network", {}), net_fields)
    train = _check_keys(source, "training", data.get("training", {}), set(Training.__dataclass_fields__))

    network = Network(**{k: _number(source, f"network.{k}", v) for k, v in net.items()})
    kwargs: dict[str, Any] = {}
    if "learning_rates" in train:
        rates = train["learning_rates"]
        kwargs["learning_rates"] = _learning_rates(source, "training.learning_rates", rates, rate_limit)
    if "iterations" in train:
        kwargs["iterations"] = _iterations(
            source, "training.iterations", train["iterations"], iteration_limit
        )
    if "train_biases" in train:
        value = train["train_biases"]
        if not isinstance(value, bool):
            raise ConfigError(source, "training.train_biases", f"expected true or false, got {_short(value)}")
        kwargs["train_biases"] = value
    ex = _check_keys(source, "exercise", data.get("exercise", {}), set(Exercise.__dataclass_fields__))
    exercise = Exercise()
    if "show_answers" in ex:
        value = ex["show_answers"]
        if not isinstance(value, bool):
            raise ConfigError(source, "exercise.show_answers", f"expected true or false, got {_short(value)}")
        exercise = Exercise(show_answers=value)
    return Config(network=network, training=Training(**kwargs), exercise=exercise, source=source)


MAX_CONFIG_BYTES = 1 << 20  # a config is a few lines; a megabyte is not a config


def load(
    path: str | Path | None, iteration_limit: int | None = None, rate_limit: int | None = None
) -> Config:
    """Read and validate a TOML config; None gives the defaults."""
    if path is None:
        return Config()
    source = str(path)
    try:
        text = read_small(Path(path), MAX_CONFIG_BYTES).decode("utf-8")
    except NotRegularFile:
        raise ConfigError(
            source, "--config", "not a regular file (a pipe or a device); give a .toml file"
        ) from None
    except TooLarge:
        raise ConfigError(
            source, "--config", f"larger than {MAX_CONFIG_BYTES >> 10} KiB: not a config"
        ) from None
    except FileNotFoundError:
        raise ConfigError(source, "--config", "no such file") from None
    except IsADirectoryError:
        raise ConfigError(source, "--config", "is a directory; give a .toml file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(source, "--config", f"cannot read it ({exc})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, "toml", f"not valid TOML ({exc})") from None
    return from_dict(data, source, iteration_limit, rate_limit)


def override(
    config: Config,
    learning_rates: list[float] | None = None,
    iterations: int | None = None,
    iteration_limit: int | None = None,
    rate_limit: int | None = None,
    show_answers: bool | None = None,
) -> Config:
    """Apply command-line flags on top of the file, with the same checks."""
    training = config.training
    if learning_rates is not None:
        rates = _learning_rates(config.source, "--lr", learning_rates, rate_limit)
        training = replace(training, learning_rates=rates)
    if iterations is not None:
        training = replace(
            training, iterations=_iterations(config.source, "--iterations", iterations, iteration_limit)
        )
    exercise = config.exercise if show_answers is None else Exercise(show_answers=show_answers)
    return replace(config, training=training, exercise=exercise)

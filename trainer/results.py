"""`results.json`: what the final model does on the test set, saved with the run so that the export can draw
it without torch, the model, the checkpoint or the MNIST files.

The file holds, for the run's final epoch: every test image's true digit, predicted digit and that
prediction's probability; the 10x10 confusion counts; the most confident mistakes with their 28x28 pixels;
and the first convolution's kernels. `summarize` builds it from numpy arrays (trainer/evaluate.py runs the
model), `save` writes it atomically, and `load` reads it back as untrusted input: someone else's run folder
may hold anything, so the size, the JSON and every field are checked, and the counts must agree with each
other and with log.json. Anything wrong is a `ResultsUnavailable` whose one-line message the sheet shows.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from xlsxedit.files import NotRegularFile, TooLarge, read_small, write_atomic

from .errors import one_line

RESULTS = "results.json"
FORMAT = 1
MISTAKES = 24  # the most confident mistakes saved with their pixels
CLASSES = 10
IMAGE = 28
MAX_TEST_IMAGES = 10_000  # MNIST's test set
MAX_BYTES = 4 << 20  # a real file is about 0.2 MB
MAX_KERNELS = 64  # output channels of the first convolution
MAX_KERNEL_SIZE = 11
MAX_WEIGHT = 1e3  # a first-layer weight beyond this is not from a trained model
NAME = re.compile(r"[A-Za-z0-9_.]{1,40}")  # a module path such as "0" or "conv1"


class ResultsUnavailable(Exception):
    """Why the results cannot be drawn: one line, for the sheet."""


@dataclass(frozen=True)
class Mistake:
    index: int  # in the test set, 0-based
    true: int
    predicted: int
    probability: float  # of the predicted digit
    pixels: np.ndarray  # uint8 [28, 28]


@dataclass(frozen=True)
class Results:
    epoch: int
    labels: np.ndarray  # int64 [n]
    predicted: np.ndarray  # int64 [n]
    probability: np.ndarray  # float64 [n], of the predicted digit
    confusion: np.ndarray  # int64 [10, 10]: rows the true digit, columns the predicted one
    mistakes: tuple[Mistake, ...]  # most confident first
    conv_name: str
    kernels: np.ndarray  # float64 [out, 1, kh, kw]

    @property
    def test_images(self) -> int:
        return len(self.labels)

    @property
    def correct(self) -> int:
        return int(np.trace(self.confusion))


def confusion(labels: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    return np.bincount(labels * CLASSES + predicted, minlength=CLASSES * CLASSES).reshape(CLASSES, CLASSES)


def most_confident_mistakes(labels: np.ndarray, predicted: np.ndarray, probability: np.ndarray) -> np.ndarray:
    """Indices of the wrong predictions, the most probable first (ties: the lower index first)."""
    wrong = np.flatnonzero(labels != predicted)
    return wrong[np.lexsort((wrong, -probability[wrong]))]


def summarize(
    labels: np.ndarray,
    predicted: np.ndarray,
    probability: np.ndarray,
    images: np.ndarray,
    conv_name: str,
    kernels: np.ndarray,
    epoch: int,
) -> dict[str, Any]:
    """The content of results.json. `images` are the test set's uint8 [n, 28, 28] pixels; probabilities are
    rounded to 6 decimals once, so that a mistake's probability is the same number as its image's."""
    labels, predicted = np.asarray(labels, np.int64), np.asarray(predicted, np.int64)
    probability = np.round(np.asarray(probability, np.float64), 6)
    top = most_confident_mistakes(labels, predicted, probability)[:MISTAKES]
    return {
        "format": FORMAT,
        "epoch": int(epoch),
        "labels": labels.tolist(),
        "predicted": predicted.tolist(),
        "probability": probability.tolist(),
        "confusion": confusion(labels, predicted).tolist(),
        "mistakes": [
            {
                "index": int(i),
                "true": int(labels[i]),
                "predicted": int(predicted[i]),
                "probability": float(probability[i]),
                "pixels": np.asarray(images[i], np.uint8).tolist(),
            }
            for i in top
        ],
        "first_conv": {
            "name": conv_name,
            "shape": list(kernels.shape),
            "weights": np.asarray(kernels, np.float64).tolist(),
        },
    }


def save(run_dir: Path, content: dict[str, Any]) -> Path:
    path = Path(run_dir) / RESULTS
    text = json.dumps(content, separators=(",", ":")) + "\n"
    write_atomic(path, lambda p: p.write_text(text, encoding="utf-8"))
    return path


# -- reading someone else's file ---------------------------------------------------------------------------


def load(run_dir: Path, log: dict[str, Any]) -> Results:
    """The run's results, checked field by field and against log.json's final epoch; otherwise
    ResultsUnavailable saying, in one line, what is wrong and what to do."""
    path = Path(run_dir) / RESULTS
    try:
        data = read_small(path, MAX_BYTES)
    except (NotRegularFile, IsADirectoryError):  # a folder, or a pipe that would block the export
        raise ResultsUnavailable(f"{RESULTS}: not a regular file") from None
    except TooLarge:
        raise ResultsUnavailable(
            f"{RESULTS}: larger than {MAX_BYTES >> 20} MB; not a file the trainer wrote"
        ) from None
    except FileNotFoundError:
        raise ResultsUnavailable(
            f"no {RESULTS} in the run folder (runs trained before it existed have none); "
            f"`trainer train --resume RUN_DIR --no-workbook` adds it, then export again"
        ) from None
    except OSError as e:
        raise ResultsUnavailable(f"{RESULTS}: cannot read it ({e.strerror or type(e).__name__})") from None
    try:
        content = json.loads(data.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        reason = "nested too deeply" if isinstance(e, RecursionError) else one_line(e, 120)
        raise ResultsUnavailable(f"{RESULTS}: not valid JSON ({reason})") from None
    results = _check(content)
    _check_against_log(results, log)
    return results


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def _fail(what: str, expected: str) -> ResultsUnavailable:
    return ResultsUnavailable(f"{RESULTS}: {what}: expected {expected}")


def _field(obj: dict[str, Any], key: str, what: str = "") -> Any:
    if key not in obj:
        raise ResultsUnavailable(f"{RESULTS}: {what}{key} is missing")
    return obj[key]


def _int(value: Any, low: int, high: int, what: str) -> int:
    if type(value) is not int or not low <= value <= high:
        raise _fail(what, f"an integer in {low}..{high}")
    return value


def _array(value: Any, dims: tuple[int | tuple[int, int], ...], kind: str, what: str) -> np.ndarray:
    """Nested JSON lists as a rectangular numpy array: each dimension an exact length or a (min, max) range,
    each leaf an integer (kind "int") or a finite number ("float")."""
    shape, level = [], [value]
    for dim in dims:
        low, high = dim if isinstance(dim, tuple) else (dim, dim)
        wanted = f"{low}" if low == high else f"{low}..{high}"
        if not all(isinstance(v, list) for v in level):
            raise _fail(what, f"nested lists of shape {_dims_text(dims)}")
        lengths = {len(v) for v in level}
        if len(lengths) > 1:
            raise _fail(what, f"rectangular nested lists of shape {_dims_text(dims)}")
        n = lengths.pop() if lengths else 0
        if not low <= n <= high:
            raise _fail(what, f"{wanted} items at depth {len(shape) + 1}, not {n}")
        shape.append(n)
        level = [x for v in level for x in v]
    if kind == "int":
        if not all(type(x) is int for x in level):
            raise _fail(what, "integers")
        try:
            return np.array(level, dtype=np.int64).reshape(shape)
        except OverflowError:
            raise _fail(what, "integers of a sensible size") from None
    if not all(type(x) in (int, float) for x in level):
        raise _fail(what, "numbers")
    array = np.array(level, dtype=np.float64).reshape(shape)
    if not np.isfinite(array).all():
        raise _fail(what, "finite numbers")
    return array


def _dims_text(dims: tuple[int | tuple[int, int], ...]) -> str:
    return "x".join(str(d) if isinstance(d, int) else "n" for d in dims)


def _check(content: Any) -> Results:
    if not isinstance(content, dict):
        raise _fail("the file", "a JSON object")
    if type(_field(content, "format")) is not int or content["format"] != FORMAT:
        raise ResultsUnavailable(
            f"{RESULTS}: format is not {FORMAT}; export it with the trainer that wrote it"
        )
    epoch = _int(_field(content, "epoch"), 1, 10_000, "epoch")
    n = (1, MAX_TEST_IMAGES)
    labels = _array(_field(content, "labels"), (n,), "int", "labels")
    predicted = _array(_field(content, "predicted"), (n,), "int", "predicted")
    probability = _array(_field(content, "probability"), (n,), "float", "probability")
    if not len(labels) == len(predicted) == len(probability):
        raise _fail("labels, predicted and probability", "one entry per test image each")
    for name, array in (("labels", labels), ("predicted", predicted)):
        if array.min() < 0 or array.max() >= CLASSES:
            raise _fail(name, f"digits 0..{CLASSES - 1}")
    if probability.min() < 0 or probability.max() > 1:
        raise _fail("probability", "numbers in [0, 1]")

    counts = _array(_field(content, "confusion"), (CLASSES, CLASSES), "int", "confusion")
    if counts.min() < 0:
        raise _fail("confusion", "counts >= 0")
    if not np.array_equal(counts, confusion(labels, predicted)):
        raise _fail("confusion", "the counts of the labels and predictions it is saved with")

    mistakes = _check_mistakes(_field(content, "mistakes"), labels, predicted, probability)
    conv_name, kernels = _check_conv(_field(content, "first_conv"))
    return Results(epoch, labels, predicted, probability, counts, mistakes, conv_name, kernels)


def _check_mistakes(
    items: Any, labels: np.ndarray, predicted: np.ndarray, probability: np.ndarray
) -> tuple[Mistake, ...]:
    if not isinstance(items, list) or len(items) > 100:
        raise _fail("mistakes", "a list of at most 100")
    mistakes = []
    for k, item in enumerate(items):
        what = f"mistakes[{k}]"
        if not isinstance(item, dict):
            raise _fail(what, "an object")
        index = _int(_field(item, "index", f"{what}."), 0, len(labels) - 1, f"{what}.index")
        true = _int(_field(item, "true", f"{what}."), 0, CLASSES - 1, f"{what}.true")
        guess = _int(_field(item, "predicted", f"{what}."), 0, CLASSES - 1, f"{what}.predicted")
        p = _field(item, "probability", f"{what}.")
        if (true, guess) != (labels[index], predicted[index]) or true == guess:
            raise _fail(what, f"a wrong prediction whose digits match test image {index}'s")
        if type(p) not in (int, float) or p != probability[index]:
            raise _fail(f"{what}.probability", f"test image {index}'s probability")
        pixels = _array(_field(item, "pixels", f"{what}."), (IMAGE, IMAGE), "int", f"{what}.pixels")
        if pixels.min() < 0 or pixels.max() > 255:
            raise _fail(f"{what}.pixels", "values 0..255")
        mistakes.append(Mistake(index, true, guess, float(p), pixels.astype(np.uint8)))
    ranked = most_confident_mistakes(labels, predicted, probability)
    if [m.index for m in mistakes] != ranked[: len(mistakes)].tolist():
        raise _fail("mistakes", "the most confident wrong predictions, most confident first")
    return tuple(mistakes)


def _check_conv(conv: Any) -> tuple[str, np.ndarray]:
    if not isinstance(conv, dict):
        raise _fail("first_conv", "an object")
    name = _field(conv, "name", "first_conv.")
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise _fail("first_conv.name", "a module name of letters, digits, '_' and '.'")
    size = (1, MAX_KERNEL_SIZE)
    weights = _array(
        _field(conv, "weights", "first_conv."),
        ((1, MAX_KERNELS), 1, size, size),
        "float",
        "first_conv.weights",
    )
    if _field(conv, "shape", "first_conv.") != list(weights.shape):
        raise _fail("first_conv.shape", "the shape of its weights")
    if np.abs(weights).max() > MAX_WEIGHT:
        raise _fail("first_conv.weights", f"weights within ±{MAX_WEIGHT:g}")
    return name, weights


def _check_against_log(results: Results, log: dict[str, Any]) -> None:
    """The results must be the final epoch's: same epoch number and the same number of correct test images."""
    last = log["epochs"][-1]
    epoch, correct = last.get("epoch"), last.get("test_correct")
    if epoch != results.epoch:
        raise ResultsUnavailable(
            f"{RESULTS} is from epoch {results.epoch} but log.json ends at epoch {_text(epoch)}; "
            "`trainer train --resume RUN_DIR --no-workbook` rewrites it"
        )
    if correct != results.correct:
        raise ResultsUnavailable(
            f"{RESULTS}: {results.correct} correct test images, but log.json's final epoch has "
            f"{_text(correct)}; `trainer train --resume RUN_DIR --no-workbook` rewrites it"
        )
    acc = last.get("test_acc")
    if type(acc) in (int, float) and not math.isclose(acc, 100 * results.correct / results.test_images):
        raise ResultsUnavailable(
            f"{RESULTS}: {results.test_images} test images do not give log.json's final test accuracy"
        )


def _text(value: Any) -> str:
    """A log value for a message: numbers as they are, anything else named by its type."""
    return str(value) if type(value) is int else f"a {type(value).__name__}"

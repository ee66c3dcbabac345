"""Each student's own numbers: a variant (i1, i2, t1, t2, w1…w8 and η) drawn from the class's seed and the
student's id alone, so the same roster and seed give the same numbers on any machine and a student added later
changes nobody else's.

The draw is a SHAKE-256 stream of (seed, id) read as whole hundredths: values with two decimals, like the
course's. Not numpy's Generator: its methods carry no promise that a stream stays the same across numpy
versions (NEP 19), and a class set must be rebuilt byte for byte next term. A draw the lesson cannot use is
rejected and the stream read on (see `usable`), judged by the numpy reference, the one numeric truth.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from ..model import reference
from ..model.config import BIASES, WEIGHTS, Config, Network

INPUT_RANGE = (5, 95)  # hundredths: i1, i2, t1, t2 in [0.05, 0.95]
WEIGHT_RANGE = (5, 95)  # w1…w8 in [0.05, 0.95]
ETA_RANGE = (10, 90)  # η in [0.10, 0.90]: never 1, where "forgot η" and the right update coincide
SATURATION = 0.02  # every activation of every iteration stays in [0.02, 0.98]
MIN_LOSS = 1e-3  # E_total at iteration 0: something left to learn
MIN_GRADIENT = 1e-6  # |∂E/∂w| at iteration 0: a gradient check of a near-zero gradient measures noise
GRADCHECK_TOLERANCE = 1e-7  # central differences at reference.FD_STEP agree with the chain rule this well
MAX_DRAWS = 10_000  # a seed and id that never give a usable variant are a bug, not a loop forever
FIELDS = ("i1", "i2", "t1", "t2", *WEIGHTS, "eta")


@dataclass(frozen=True)
class Variant:
    """One student's numbers. The biases stay 0, as in the course."""

    network: Network
    eta: float

    def inputs(self) -> dict[str, float]:
        """What the grader checks row 0 and the η cell against (grade_file's expected_inputs)."""
        return {**reference.initial_point(self.network), "eta": self.eta}

    def to_json(self) -> dict[str, float]:
        return {name: self.eta if name == "eta" else getattr(self.network, name) for name in FIELDS}

    def config(self, base: Config, sweep: bool = False, rate_limit: int | None = None) -> Config:
        """`base` with these numbers: the network, and η the (first) learning rate, the Backprop sheet's;
        with `sweep`, the base's other rates after it, as many as the workbook holds."""
        others = tuple(lr for lr in base.training.learning_rates if lr != self.eta) if sweep else ()
        rates = (self.eta, *others)[: rate_limit or None]
        return replace(base, network=self.network, training=replace(base.training, learning_rates=rates))


def from_json(data: Mapping[str, object]) -> Variant:
    """A variant from class.json's numbers; ValueError naming the field when one is missing or not finite."""
    values = {}
    for name in FIELDS:
        v = data.get(name)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValueError(f"{name} is {v!r}, not a finite number")
        values[name] = float(v)
    eta = values.pop("eta")
    if eta <= 0:
        raise ValueError(f"eta is {eta!r}, not > 0")
    return Variant(Network(**values), eta)


class _Stream:
    """Whole numbers drawn without bias from SHAKE-256 of a key, read on as far as needed."""

    def __init__(self, key: bytes) -> None:
        self._key, self._buffer, self._pos = key, b"", 0

    def _u32(self) -> int:
        if self._pos + 4 > len(self._buffer):
            # SHAKE's output for a longer length extends the shorter one: read on by asking for more.
            self._buffer = hashlib.shake_256(self._key).digest(max(256, 2 * len(self._buffer)))
        value = int.from_bytes(self._buffer[self._pos : self._pos + 4], "big")
        self._pos += 4
        return value

    def integer(self, low: int, high: int) -> int:
        """Uniform in [low, high]: a 32-bit draw past the last whole multiple of the span is drawn again."""
        span = high - low + 1
        limit = (1 << 32) - (1 << 32) % span
        while True:
            value = self._u32()
            if value < limit:
                return low + value % span


def _key(seed: str, student_id: str) -> bytes:
    # Lengths first, so ("ab", "c") and ("a", "bc") never share a stream.
    s, i = seed.encode("utf-8"), student_id.encode("utf-8")
    return b"excelgen-class-v1\0" + len(s).to_bytes(4, "big") + s + len(i).to_bytes(4, "big") + i


def _draw(stream: _Stream) -> Variant:
    def hundredths(bounds: tuple[int, int]) -> float:
        return stream.integer(*bounds) / 100

    inputs = {name: hundredths(INPUT_RANGE) for name in ("i1", "i2", "t1", "t2")}
    weights = {w: hundredths(WEIGHT_RANGE) for w in WEIGHTS}
    return Variant(Network(**inputs, **weights), hundredths(ETA_RANGE))


def usable(variant: Variant, iterations: int) -> bool:
    """Whether the lesson works with these numbers over `iterations` updates: no activation saturated, a loss
    that falls at every update from something worth learning, a well-conditioned gradient check, and no two
    numbers in the relation that makes two of the grader's diagnoses coincide (i2 = 2·i1, as in the
    course)."""
    n = variant.network
    if n.i1 == n.i2 or n.t1 == n.t2 or n.i2 == 2 * n.i1 or n.i1 == 2 * n.i2:
        return False
    run = reference.trajectory(n, variant.eta, iterations)
    activations = np.concatenate([run[a] for a in ("a_h1", "a_h2", "a_o1", "a_o2")])
    if not np.isfinite(activations).all():
        return False
    if activations.min() < SATURATION or activations.max() > 1 - SATURATION:
        return False
    loss = run["E_total"]
    if loss[0] < MIN_LOSS or not (np.diff(loss) < 0).all():
        return False
    check = reference.gradient_check(reference.initial_point(n), WEIGHTS, reference.FD_STEP)
    return all(
        abs(c["chain"]) >= MIN_GRADIENT and c["rel_diff"] < GRADCHECK_TOLERANCE for c in check.values()
    )


def draw(seed: str, student_id: str, iterations: int) -> Variant:
    """The student's variant: the first usable draw of the (seed, id) stream."""
    stream = _Stream(_key(seed, student_id))
    for _ in range(MAX_DRAWS):
        variant = _draw(stream)
        if usable(variant, iterations):
            return variant
    raise RuntimeError(f"no usable variant in {MAX_DRAWS} draws for {student_id!r}")  # a bug: report it


assert set(BIASES).isdisjoint(FIELDS)  # variants keep the course's zero biases

"""The numpy reference: the single numeric truth for the workbook, its Check sheet and the tests.

Float64, in the documents' notation. Each expression is written in the same order as the spreadsheet
formula that mirrors it, so the two agree to the last bit or two rather than merely "closely".

The update is simultaneous: every gradient of iteration k is taken at iteration k's weights, then
w <- w - lr * dE/dw for all of them at once.

Note: the course sheet that circulates with the documents uses a_h1*(1-a_h1) in dE/dw3 and dE/dw4, where
a_h2*(1-a_h2) belongs (its own derivation text is right). This module follows the math.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from .config import BIASES, WEIGHTS, Config, Network

INPUTS = ("t1", "t2", "i1", "i2")
FORWARD = ("h1", "a_h1", "h2", "a_h2", "o1", "a_o1", "o2", "a_o2", "E1", "E2", "E_total")
WEIGHT_GRADS = tuple(f"dE/d{w}" for w in WEIGHTS)
BIAS_GRADS = tuple(f"dE/d{b}" for b in BIASES)
PARAMS = WEIGHTS + BIASES
GRADS = WEIGHT_GRADS + BIAS_GRADS


def sigmoid(x: float) -> float:
    """σ(x) = EXP(MIN(x,0)) / (1 + EXP(-ABS(x))): equal to 1/(1+e^-x), but no EXP argument is ever > 0.

    The naive form overflows past x ≈ -709 (the spreadsheet shows #NUM!), which η = 1000 reaches at once.
    """
    return math.exp(min(x, 0.0)) / (1.0 + math.exp(-abs(x)))


def evaluate(p: Mapping[str, float], given: Mapping[str, float] | None = None) -> dict[str, float]:
    """Forward pass and every gradient at one point.

    `p` holds i1, i2, t1, t2, w1..w8 and b1, b2. Returns those plus every FORWARD and GRADS value.

    `given` (the grader's error carried forward) holds someone's own values of some FORWARD quantities: each
    returned value is still computed by the formula below, but from the given values of its inputs where
    there are any, so that a slip in h1 costs h1 and not every cell after it. Without it, nothing changes.
    """
    i1, i2, t1, t2 = p["i1"], p["i2"], p["t1"], p["t2"]
    w1, w2, w3, w4, w5, w6, w7, w8 = (p[w] for w in WEIGHTS)
    b1, b2 = p["b1"], p["b2"]
    out = dict(p)
    carried = given or {}

    def at(name: str, value: float) -> float:
        out[name] = value
        return carried.get(name, value)

    # In the table's column order, so that the returned dict lists them as before.
    h1 = at("h1", w1 * i1 + w2 * i2 + b1)
    a_h1 = at("a_h1", sigmoid(h1))
    h2 = at("h2", w3 * i1 + w4 * i2 + b1)
    a_h2 = at("a_h2", sigmoid(h2))
    o1 = at("o1", w5 * a_h1 + w6 * a_h2 + b2)
    a_o1 = at("a_o1", sigmoid(o1))
    o2 = at("o2", w7 * a_h1 + w8 * a_h2 + b2)
    a_o2 = at("a_o2", sigmoid(o2))
    # d * d, not d ** 2: the same correctly rounded square, but inf on overflow where ** raises.
    e1 = at("E1", 0.5 * ((t1 - a_o1) * (t1 - a_o1)))
    e2 = at("E2", 0.5 * ((t2 - a_o2) * (t2 - a_o2)))
    at("E_total", e1 + e2)

    # ∂E_total/∂o1 = ∂E1/∂a_o1 · ∂a_o1/∂o1, and likewise for o2.
    d_o1 = (a_o1 - t1) * a_o1 * (1 - a_o1)
    d_o2 = (a_o2 - t2) * a_o2 * (1 - a_o2)
    # ∂E_total/∂a_h1 and ∂E_total/∂a_h2: each hidden unit feeds both outputs.
    d_ah1 = d_o1 * w5 + d_o2 * w7
    d_ah2 = d_o1 * w6 + d_o2 * w8
    d_h1 = d_ah1 * a_h1 * (1 - a_h1)
    d_h2 = d_ah2 * a_h2 * (1 - a_h2)

    out.update(
        {
            "dE/dw1": d_h1 * i1,
            "dE/dw2": d_h1 * i2,
            "dE/dw3": d_h2 * i1,
            "dE/dw4": d_h2 * i2,
            "dE/dw5": d_o1 * a_h1,
            "dE/dw6": d_o1 * a_h2,
            "dE/dw7": d_o2 * a_h1,
            "dE/dw8": d_o2 * a_h2,
            "dE/db1": d_h1 + d_h2,  # b1 feeds both hidden units
            "dE/db2": d_o1 + d_o2,  # b2 feeds both outputs
        }
    )
    return out


def initial_point(network: Network) -> dict[str, float]:
    return {name: float(getattr(network, name)) for name in INPUTS + PARAMS}


def trajectory(
    network: Network, lr: float, iterations: int, train_biases: bool = False
) -> dict[str, np.ndarray]:
    """Rows 0..iterations of the iteration table, as one float64 array per column name.

    Row 0 holds the initial weights; row k+1 holds w_k - lr * dE/dw(w_k).
    """
    trained = PARAMS if train_biases else WEIGHTS
    point = initial_point(network)
    rows = []
    for _ in range(iterations + 1):
        row = evaluate(point)
        rows.append(row)
        point = dict(point)
        for name in trained:
            point[name] = point[name] - lr * row[f"dE/d{name}"]
    return {name: np.array([r[name] for r in rows], dtype=np.float64) for name in rows[0]}


def run_all(config: Config) -> dict[float, dict[str, np.ndarray]]:
    """The trajectory of every learning rate in the config, keyed by learning rate."""
    t = config.training
    return {lr: trajectory(config.network, lr, t.iterations, t.train_biases) for lr in t.learning_rates}


def first_overflow(runs: Mapping[float, Mapping[str, np.ndarray]]) -> tuple[float, int, str] | None:
    """(learning rate, iteration, column) of the first value that is not a finite float64, or None.

    Finite but huge inputs can overflow on the way (a spreadsheet then shows #NUM! everywhere)."""
    for lr, run in runs.items():
        bad = [(int(np.argmin(np.isfinite(v))), name) for name, v in run.items() if not np.isfinite(v).all()]
        if bad:
            row, name = min(bad)
            return lr, row, name
    return None


def rel_diff(a: np.ndarray | float, b: np.ndarray | float, floor: float = 0.0) -> np.ndarray:
    """|a - b| / max(|a|, |b|, floor), with 0 where that scale is 0: the Check sheet's and the tests' measure.

    `floor` keeps values far below any spreadsheet's resolution from counting as disagreement (E_TOTAL_FLOOR).
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = np.maximum(np.maximum(np.abs(a), np.abs(b)), floor)
    return np.divide(np.abs(a - b), scale, out=np.zeros(np.broadcast(a, b).shape), where=scale > 0)


TOLERANCE = 1e-9  # the largest relative difference the Check sheet and the tests accept

# E_total = ½(t − a)² squares a difference of O(1) numbers, so below ~1e-29 it is rounding noise in any
# float64 engine, and LibreOffice makes it so sooner: its subtraction returns exactly 0 when the operands
# agree to ~3.6e-15 of their size, where numpy keeps a few ulps. A converged run (10,000 iterations) then
# holds E_total ~1e-30 in both, relatively ~100% apart. Below this floor E_total is compared absolutely.
E_TOTAL_FLOOR = 1e-20


# The Backprop sheet's gradient check: E_total recomputed with one parameter moved by ±FD_STEP, and the
# central difference (E₊ − E₋) / 2h beside the chain rule's gradient. Its error is the truncation, O(h²), plus
# the rounding of E₊ − E₋ magnified by 1/h; 1e-5 balances the two best on the course network and on random
# ones (measured in numpy and LibreOffice: README). The sheet's cells compute what gradient_check does here.
FD_STEP = 1e-5


def gradient_check(
    point: Mapping[str, float], params: Sequence[str], h: float
) -> dict[str, dict[str, float]]:
    """For each parameter: E_total at p + h ("plus") and p − h ("minus"), their central difference ("fd"), the
    chain rule's gradient ("chain") and the relative difference of the two ("rel_diff"), at one point."""
    chain = evaluate(point)
    out = {}
    for name in params:
        e_plus = evaluate({**point, name: point[name] + h})["E_total"]
        e_minus = evaluate({**point, name: point[name] - h})["E_total"]
        fd = (e_plus - e_minus) / (2 * h)
        grad = chain[f"dE/d{name}"]
        out[name] = {
            "plus": e_plus,
            "minus": e_minus,
            "fd": fd,
            "chain": grad,
            "rel_diff": float(rel_diff(fd, grad)),
        }
    return out

"""The catalogue of mistakes people make in this derivation, each as the numbers it would produce.

A mistake is a variant of one column's formula. Wherever it can be, the variant is reference.evaluate itself
applied to a changed point or changed carried values (a_h2 replaced by a_h1 gives the course sheet's ∂E/∂w3
slip; w5…w8 swapped gives the swapped hidden-layer gradient), so the right math has one home; the rest are
one operation on the reference's own result (a sign, a factor ½, a σ′ divided out). The grader compares a
wrong column's numbers with each variant that applies to it, at its wrong rows, with the student's own
values carried in; the first that matches names the mistake in the documents' notation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .columns import label
from .project import reference

WEIGHTS = reference.WEIGHTS


@dataclass
class Row:
    """What a variant may use at one data row: the point the row is computed at (the student's t, i, w, b,
    or the expected ones where a cell held no number), the forward values carried (every FORWARD value:
    the student's where numeric, else the reference's), the reference's expected values there, the
    student's numbers in this row, the next row's weights (None on the last row) and, for an update, the
    previous row's point, the gradients it was updated with, and η."""

    point: dict[str, float]
    carried: dict[str, float]
    expected: dict[str, float]
    student: dict[str, float]
    next_point: dict[str, float] | None
    prev_point: dict[str, float] | None
    prev_grads: dict[str, float] | None
    eta: float | None


Variant = Callable[[Row], float | None]


@dataclass(frozen=True)
class Mistake:
    key: str
    columns: tuple[str, ...]
    variant: Callable[[str], Variant]  # column -> the value that column would hold with this mistake
    text: Callable[[str], str]  # column -> the sentence a student can act on


def _eval(row: Row, column: str, point: dict | None = None, **carried: float) -> float:
    """reference.evaluate at a changed point and/or with changed carried values, one column of it."""
    given = {**row.carried, **carried}
    return reference.evaluate(point if point is not None else row.point, given)[column]


def _swap(point: dict[str, float], *pairs: tuple[str, str]) -> dict[str, float]:
    out = dict(point)
    for a, b in pairs:
        out[a], out[b] = point[b], point[a]
    return out


def _unit(w: str) -> str:
    """The hidden unit a first-layer weight feeds (w1, w2 -> 1; w3, w4 -> 2)."""
    return "1" if w in ("w1", "w2") else "2"


def _grad(column: str) -> str:
    return column.removeprefix("dE/d")


HIDDEN = tuple(f"dE/d{w}" for w in WEIGHTS[:4])
OUTPUT = tuple(f"dE/d{w}" for w in WEIGHTS[4:])
GRADS = HIDDEN + OUTPUT


def _sigma_mixup(column: str) -> Variant:
    other = "a_h1" if _unit(_grad(column)) == "2" else "a_h2"
    mine = "a_h2" if other == "a_h1" else "a_h1"
    return lambda row: _eval(row, column, **{mine: row.carried[other]})


def _sigma_mixup_text(column: str) -> str:
    mine = f"a_h{_unit(_grad(column))}"
    other = "a_h1" if mine == "a_h2" else "a_h2"
    slip = " (the circulating course sheet's slip)" if mine == "a_h2" else ""
    return f"{label(column)} uses {other}·(1 − {other}) where {mine}·(1 − {mine}) belongs{slip}"


def _hidden_swapped(column: str) -> Variant:
    return lambda row: _eval(row, column, _swap(row.point, ("w5", "w6"), ("w7", "w8")))


def _hidden_swapped_text(column: str) -> str:
    used, right = ("w6 and w8", "w5 and w7") if _unit(_grad(column)) == "1" else ("w5 and w7", "w6 and w8")
    a = f"a_h{_unit(_grad(column))}"
    return f"{label(column)} takes {used} where {right} belong (∂E_total/∂{a} runs through {a}'s own weights)"


def _hidden_transposed(column: str) -> Variant:
    return lambda row: _eval(row, column, _swap(row.point, ("w6", "w7")))


def _hidden_transposed_text(column: str) -> str:
    used, right = ("w6", "w7") if _unit(_grad(column)) == "1" else ("w7", "w6")
    return f"{label(column)} uses {used} where {right} belongs in ∂E_total/∂a_h{_unit(_grad(column))}"


def _updated_weights(column: str) -> Variant:
    def variant(row: Row) -> float | None:
        if row.next_point is None:
            return None
        point = {**row.point, **{w: row.next_point[w] for w in WEIGHTS[4:]}}
        return _eval(row, column, point)

    return variant


def _updated_weights_text(column: str) -> str:
    return (
        f"{label(column)} uses the updated w5…w8 (the next row's); every gradient of a row takes that row's "
        "own, old weights"
    )


def _no_sigma_prime(column: str) -> Variant:
    w = _grad(column)
    act = f"a_o{1 if w in ('w5', 'w6') else 2}" if column in OUTPUT else f"a_h{_unit(w)}"

    def variant(row: Row) -> float | None:
        a = row.carried[act]
        slope = a * (1 - a)
        return row.expected[column] / slope if slope else None

    return variant


def _no_sigma_prime_text(column: str) -> str:
    w = _grad(column)
    act = f"a_o{1 if w in ('w5', 'w6') else 2}" if column in OUTPUT else f"a_h{_unit(w)}"
    return f"{label(column)} leaves out σ′ = {act}·(1 − {act})"


def _sign(column: str) -> Variant:
    return lambda row: -row.expected[column]


def _sign_text(column: str) -> str:
    if column in OUTPUT:
        n = 1 if _grad(column) in ("w5", "w6") else 2
        return f"{label(column)} has the wrong sign: (t{n} − a_o{n}) where (a_o{n} − t{n}) belongs"
    return f"{label(column)} has the wrong sign: (t − a_o) where (a_o − t) belongs"


def _inputs_swapped(column: str) -> Variant:
    return lambda row: _eval(row, column, _swap(row.point, ("i1", "i2")))


def _inputs_swapped_text(column: str) -> str:
    right = "i1" if _grad(column) in ("w1", "w3") else "i2"
    used = "i2" if right == "i1" else "i1"
    return f"{label(column)} multiplies by {used} where {right} belongs"


def _activation_swapped(column: str) -> Variant:
    return lambda row: _eval(row, column, a_h1=row.carried["a_h2"], a_h2=row.carried["a_h1"])


def _activation_swapped_text(column: str) -> str:
    right = "a_h1" if _grad(column) in ("w5", "w7") else "a_h2"
    used = "a_h2" if right == "a_h1" else "a_h1"
    return f"{label(column)} uses {used} where {right} belongs"


def _output_swapped(column: str) -> Variant:
    point = {"t1": "t2", "t2": "t1"}

    def variant(row: Row) -> float | None:
        p = {**row.point, **{k: row.point[v] for k, v in point.items()}}
        return _eval(row, column, p, a_o1=row.carried["a_o2"], a_o2=row.carried["a_o1"])

    return variant


def _output_swapped_text(column: str) -> str:
    right = "o1" if _grad(column) in ("w5", "w6") else "o2"
    used = "o2" if right == "o1" else "o1"
    return f"{label(column)} uses ∂E/∂{used} = (a_{used} − t{used[1]})·… where ∂E/∂{right} belongs"


def _h_for_a(column: str) -> Variant:
    return lambda row: _eval(row, column, a_h1=row.carried["h1"], a_h2=row.carried["h2"])


def _h_for_a_text(column: str) -> str:
    if column in ("o1", "o2"):
        return f"{column} uses h1 and h2 where a_h1 and a_h2 belong (the hidden layer's output is σ(h))"
    right = "a_h1" if _grad(column) in ("w5", "w7") else "a_h2"
    return f"{label(column)} uses h{right[-1]} where {right} = σ(h{right[-1]}) belongs"


def _o_for_a(column: str) -> Variant:
    return lambda row: _eval(row, column, a_o1=row.carried["o1"], a_o2=row.carried["o2"])


def _o_for_a_text(column: str) -> str:
    n = column[-1] if column in ("E1", "E2") else ("1" if _grad(column) in ("w5", "w6") else "2")
    return f"{label(column)} uses o{n} where a_o{n} = σ(o{n}) belongs"


def _e_fresh(row: Row, column: str) -> float:
    """The column's value from a_o1 and a_o2, not from the student's E1 and E2."""
    carried = {k: v for k, v in row.carried.items() if k not in ("E1", "E2", "E_total")}
    return reference.evaluate(row.point, carried)[column]


def _no_half(column: str) -> Variant:
    return lambda row: 2 * _e_fresh(row, column)


def _no_half_text(column: str) -> str:
    if column == "E_total":
        return "E_total leaves out the ½: E_total = ½·(t1 − a_o1)² + ½·(t2 − a_o2)²"
    n = column[-1]
    return f"{column} leaves out the ½: {column} = ½·(t{n} − a_o{n})²"


def _mean_error(column: str) -> Variant:
    return lambda row: row.expected[column] / 2


def _forward_transposed(column: str) -> Variant:
    pair = ("w2", "w3") if column in ("h1", "h2") else ("w6", "w7")
    return lambda row: _eval(row, column, _swap(row.point, pair))


def _forward_transposed_text(column: str) -> str:
    used, right = {"h1": ("w3", "w2"), "h2": ("w2", "w3"), "o1": ("w7", "w6"), "o2": ("w6", "w7")}[column]
    return f"{column} uses {used} where {right} belongs"


# -- the update w ← w − η·∂E/∂w -----------------------------------------------------------------------------


def _update_sign(column: str) -> Variant:
    def variant(row: Row) -> float | None:
        if row.prev_point is None or row.prev_grads is None or row.eta is None:
            return None
        return row.prev_point[column] + row.eta * row.prev_grads[column]

    return variant


def _update_sign_text(column: str) -> str:
    return f"{column} is updated with + η·∂E/∂{column}; the update is {column} ← {column} − η·∂E/∂{column}"


def _not_updated(column: str) -> Variant:
    return lambda row: None if row.prev_point is None else row.prev_point[column]


def _not_updated_text(column: str) -> str:
    return f"{column} is copied from the row above, not updated: {column} ← {column} − η·∂E_total/∂{column}"


def _wrong_gradient(column: str) -> Variant:
    def variant(row: Row) -> float | None:
        if row.prev_point is None or row.prev_grads is None or row.eta is None:
            return None
        return row.prev_point[column] - row.eta * row.prev_grads[_neighbour(column)]

    return variant


def _neighbour(w: str) -> str:
    """The weight whose gradient is most easily taken for w's: its pair in the same layer."""
    n = int(w[1])
    return f"w{n + 1 if n % 2 else n - 1}"


def _wrong_gradient_text(column: str) -> str:
    return f"{column} is updated with ∂E/∂{_neighbour(column)} where ∂E/∂{column} belongs"


def _no_eta(column: str) -> Variant:
    def variant(row: Row) -> float | None:
        if row.prev_point is None or row.prev_grads is None:
            return None
        return row.prev_point[column] - row.prev_grads[column]

    return variant


def _no_eta_text(column: str) -> str:
    return f"{column} is updated without η: {column} ← {column} − η·∂E_total/∂{column}"


CATALOGUE: tuple[Mistake, ...] = (
    Mistake("sigma_mixup", HIDDEN, _sigma_mixup, _sigma_mixup_text),
    Mistake("hidden_swapped", HIDDEN, _hidden_swapped, _hidden_swapped_text),
    Mistake("hidden_transposed", HIDDEN, _hidden_transposed, _hidden_transposed_text),
    Mistake("updated_weights", HIDDEN, _updated_weights, _updated_weights_text),
    Mistake("no_sigma_prime", GRADS, _no_sigma_prime, _no_sigma_prime_text),
    Mistake("sign", GRADS, _sign, _sign_text),
    Mistake("inputs_swapped", HIDDEN, _inputs_swapped, _inputs_swapped_text),
    Mistake("activation_swapped", OUTPUT, _activation_swapped, _activation_swapped_text),
    Mistake("output_swapped", OUTPUT, _output_swapped, _output_swapped_text),
    Mistake("h_for_a", ("o1", "o2", *OUTPUT), _h_for_a, _h_for_a_text),
    Mistake("o_for_a", ("E1", "E2", *OUTPUT), _o_for_a, _o_for_a_text),
    Mistake("no_half", ("E1", "E2", "E_total"), _no_half, _no_half_text),
    Mistake(
        "mean_error",
        ("E_total",),
        _mean_error,
        lambda c: "E_total averages E1 and E2; it is their sum, E_total = E1 + E2",
    ),
    Mistake("forward_transposed", ("h1", "h2", "o1", "o2"), _forward_transposed, _forward_transposed_text),
    Mistake("update_sign", WEIGHTS, _update_sign, _update_sign_text),
    Mistake("not_updated", WEIGHTS, _not_updated, _not_updated_text),
    # Before wrong_gradient: with the course's i2 = 2·i1, ∂E/∂w2 = 2·∂E/∂w1, so at η = 0.5 the two give the
    # same numbers for w1 (the diagnosis then names both), and the simpler slip is the likelier.
    Mistake("no_eta", WEIGHTS, _no_eta, _no_eta_text),
    Mistake("wrong_gradient", WEIGHTS, _wrong_gradient, _wrong_gradient_text),
)
KEYS = tuple(m.key for m in CATALOGUE)

"""Checking a found table cell by cell with error carried forward, and naming what is wrong.

Each row is computed by reference.evaluate at that row's own t, i and weights, with the student's own forward
values carried in (a_h1 is checked as σ of the student's h1, not of the true one), and each updated weight
against the row above's weight and the student's own gradient there: one slip costs its own cells. Separately
the whole table is compared with the true run from its own row 0 (reference.trajectory).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from . import mistakes
from .columns import FORWARD, INPUTS, label
from .project import BIASES, WEIGHTS, Network, reference
from .report import ColumnResult, Diagnosis, Report
from .table import Table

DEFAULT_TOLERANCE = 1e-6  # relative; any two engines agree to ~1e-12, typed values need it looser
MATCH_TOLERANCE = 1e-9  # a catalogue variant names a mistake when it matches the student's numbers this well
ETA_AGREEMENT = 1e-6  # the η cell and the η the updates used count as one below this relative difference
_E_COLUMNS = ("E1", "E2", "E_total")
POINT = INPUTS + WEIGHTS + BIASES


def _floor(name: str) -> float:
    return reference.E_TOTAL_FLOOR if name in _E_COLUMNS else 0.0


def _wrong(found: np.ndarray, expected: np.ndarray, name: str, tolerance: float) -> np.ndarray:
    """Where the student's numbers differ from the expected ones by more than `tolerance` (relatively), or
    hold no number; where the reference itself overflows, only a number is wrong (the spreadsheet's #NUM!
    is right there)."""
    with np.errstate(all="ignore"):
        far = reference.rel_diff(found, expected, _floor(name)) > tolerance
    return np.where(np.isfinite(expected), ~np.isfinite(found) | far, np.isfinite(found))


def _differs(found: float, expected: float, name: str, tolerance: float) -> bool:
    return bool(_wrong(np.array([found]), np.array([expected]), name, tolerance)[0])


def infer_eta(table: Table, trained: tuple[str, ...]) -> float | None:
    """The η the first update used: (w at row 0 − w at row 1) / ∂E/∂w at row 0, the median over the weights
    whose three cells hold numbers and whose gradient is not 0."""
    if table.iterations < 2:
        return None
    v = table.values
    etas = []
    for w in trained:
        g = f"dE/d{w}"
        if w in v and g in v:
            w0, w1, g0 = v[w][0], v[w][1], v[g][0]
            if np.isfinite([w0, w1, g0]).all() and g0 != 0:
                etas.append((w0 - w1) / g0)
    return float(np.median(etas)) if etas else None


def _trained(table: Table, bias: str) -> bool:
    """Whether the table trains a bias: it has the bias's gradient and the bias moves (the course's tables
    have no biases; ours show ∂E/∂b1 beside a fixed b1 unless train_biases is set)."""
    if bias not in table.values or f"dE/d{bias}" not in table.values:
        return False
    found = table.values[bias][np.isfinite(table.values[bias])]
    return bool(found.size and (found != found[0]).any())


def grade_table(
    table: Table,
    report: Report,
    tolerance: float = DEFAULT_TOLERANCE,
    expected_inputs: Mapping[str, float] | None = None,
) -> Report:
    """Fill `report` with the grade of `table`: columns, score, diagnoses, notes, trajectory."""
    cols, values = table.cols, table.values
    n_rows = table.iterations
    trained = WEIGHTS + tuple(b for b in BIASES if _trained(table, b))
    report.sheet, report.header_row, report.iterations = table.sheet, table.header_row + 1, n_rows - 1
    report.missing_columns = [
        n for n in (*INPUTS, *WEIGHTS, *FORWARD, *reference.WEIGHT_GRADS) if n not in cols
    ]

    defaults = {**reference.initial_point(Network()), **(expected_inputs or {})}
    start = {}
    for n in POINT:
        found = values[n][0] if n in values else math.nan
        start[n] = float(found) if math.isfinite(found) else float(defaults[n])
        if n not in values and n in WEIGHTS:
            report.notes.append(f"{n} is not in the table: its starting value {start[n]:g} is assumed")

    eta = _eta(table, trained, report, expected_inputs)

    rows: list[mistakes.Row] = []
    expected_at: list[dict[str, float]] = []
    checked = {n: np.zeros(n_rows, dtype=bool) for n in cols}
    prev_point: dict[str, float] | None = None
    prev_grads: dict[str, float] | None = None
    for k in range(n_rows):
        student = {n: float(values[n][k]) for n in cols if math.isfinite(values[n][k])}
        if prev_point is None:
            wanted = {n: float(defaults[n]) for n in POINT}
            point = {n: student.get(n, start[n]) for n in POINT}
        else:
            wanted = dict(prev_point)
            if eta is not None:
                for w in trained:
                    wanted[w] = prev_point[w] - eta * prev_grads[w]
            point = {n: student.get(n, wanted[n]) for n in POINT}
        given = {n: student[n] for n in FORWARD if n in student}
        expected = reference.evaluate(point, given)
        expected.update(wanted)
        expected_at.append(expected)
        for n in cols:
            # Row 0's t, i and weights are the student's own starting point unless one was assigned; an
            # update can only be checked with an η.
            if n in POINT and ((prev_point is None and not expected_inputs) or (prev_point and eta is None)):
                continue
            checked[n][k] = True
        carried = {n: given.get(n, expected[n]) for n in FORWARD}
        grads = {w: student.get(f"dE/d{w}", expected[f"dE/d{w}"]) for w in trained}
        rows.append(mistakes.Row(point, carried, expected, student, None, prev_point, prev_grads, eta))
        prev_point, prev_grads = point, grads
    for k in range(n_rows - 1):
        rows[k].next_point = rows[k + 1].point

    results: dict[str, ColumnResult] = {}
    wrong: dict[str, list[int]] = {}
    for n in cols:
        expected = np.array([e[n] for e in expected_at])
        bad = _wrong(values[n], expected, n, tolerance) & checked[n]
        wrong[n] = [int(k) for k in np.flatnonzero(bad)]
        results[n] = ColumnResult(int(checked[n].sum()), len(wrong[n]), wrong[n][0] if wrong[n] else None)
    report.columns = {n: results[n] for n in cols if results[n].checked}
    checked = sum(r.checked for r in report.columns.values())
    right = checked - sum(r.wrong for r in report.columns.values())
    report.score = round(100.0 * right / checked, 2) if checked else None
    if not checked:
        report.notes.append("nothing to check: the table has no computed column")
    report.diagnoses = [d for n in cols if wrong[n] for d in diagnose(table, n, wrong[n], rows, expected_at)]
    _trajectory(table, report, start, eta, trained, tolerance)
    return report


def _apart(a: float, b: float) -> bool:
    return float(reference.rel_diff(a, b)) > ETA_AGREEMENT


def _eta(
    table: Table, trained: tuple[str, ...], report: Report, expected_inputs: Mapping[str, float] | None
) -> float | None:
    """The η to check the updates with: the labelled η cell's, else the one the first update used."""
    labelled = table.eta_cell[0] if table.eta_cell else None
    inferred = infer_eta(table, trained)
    if labelled is not None and inferred is not None and _apart(labelled, inferred):
        report.notes.append(
            f"the η cell says {labelled:g} but the first update used η = {inferred:.6g}; "
            "the updates are checked with the η cell's"
        )
    eta = labelled if labelled is not None else inferred
    assigned = (expected_inputs or {}).get("eta")
    if assigned is not None and eta is not None and _apart(eta, assigned):
        report.notes.append(f"η is {eta:g}, not the assigned {assigned:g}")
    if eta is None and table.iterations > 1:
        report.notes.append("no η cell and no update to infer it from: the updated weights are not checked")
    report.eta = eta
    return eta


def diagnose(
    table: Table, name: str, ks: list[int], rows: list[mistakes.Row], expected_at: list[dict[str, float]]
) -> list[Diagnosis]:
    """What is wrong with one column at its wrong rows `ks`, as one or two sentences."""
    out = []
    found = table.values[name]
    numeric = [k for k in ks if math.isfinite(found[k])]
    others = [k for k in ks if not math.isfinite(found[k])]
    if numeric:
        k = numeric[0]
        fits = match(name, numeric, rows, found)
        if fits:
            text = fits[0].text(name)
            if len(fits) > 1:  # the numbers cannot tell these apart: say so rather than guess
                text += "; the numbers fit this too: " + "; ".join(m.text(name) for m in fits[1:])
            out.append(Diagnosis(name, text, fits[0].key, k, table.cell(name, k)))
        else:
            text = (
                f"{label(name)} at iteration {k} (cell {table.cell(name, k)}): expected "
                f"{expected_at[k][name]:.10g}, found {found[k]:.10g}"
            )
            if len(numeric) > 1:
                text += f"; {len(numeric)} wrong values in this column"
            out.append(Diagnosis(name, text, None, k, table.cell(name, k)))
    if others:
        k = others[0]
        what = table.bad.get(name, {}).get(k, "no number")
        text = (
            f"{label(name)} at iteration {k} (cell {table.cell(name, k)}) holds {what} where a number belongs"
        )
        if len(others) > 1:
            text += f"; {len(others)} such cells in this column"
        out.append(Diagnosis(name, text, None, k, table.cell(name, k)))
    return out


def match(name: str, ks: list[int], rows: list[mistakes.Row], found: np.ndarray) -> list[mistakes.Mistake]:
    """The catalogue mistakes whose numbers equal the student's at every wrong row they can be computed at
    (at least one), in the catalogue's order."""
    fits = []
    for mistake in mistakes.CATALOGUE:
        if name not in mistake.columns:
            continue
        variant = mistake.variant(name)
        hits = 0
        for k in ks:
            try:
                v = variant(rows[k])
            except (KeyError, ZeroDivisionError, OverflowError, ValueError):
                v = None
            if v is None:
                continue
            if not math.isfinite(v) or _differs(float(found[k]), v, name, MATCH_TOLERANCE):
                hits = -1
                break
            hits += 1
        if hits > 0:
            fits.append(mistake)
    return fits


def _trajectory(
    table: Table,
    report: Report,
    start: dict[str, float],
    eta: float | None,
    trained: tuple[str, ...],
    tolerance: float,
) -> None:
    """Whether the whole table is the true run from its own row 0, and where it first leaves it."""
    if eta is None:
        return
    network = Network(**start)
    true = reference.trajectory(network, eta, table.iterations - 1, train_biases=len(trained) > len(WEIGHTS))
    first = None
    for name, found in table.values.items():
        if name not in true:
            continue
        expected = true[name]
        with np.errstate(all="ignore"):
            bad = ~np.isfinite(found) | (reference.rel_diff(found, expected, _floor(name)) > tolerance)
        bad &= np.isfinite(expected)
        if bad.any():
            k = int(np.argmax(bad))
            first = k if first is None else min(first, k)
    report.trajectory_matches = first is None
    report.first_divergence = first

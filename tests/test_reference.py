"""The numpy reference against two independent truths: torch.autograd in float64, and central finite
differences taken in 40-digit decimal arithmetic (so the difference quotient itself is exact to far below
the 1e-9 tolerance, and any disagreement is the reference's)."""

from __future__ import annotations

import math
from decimal import Decimal, localcontext

import numpy as np
import pytest
import torch

from excelgen.model import reference as ref
from excelgen.model.config import BIASES, WEIGHTS, Config, Network, Training

PARAMS = WEIGHTS + BIASES
FORWARD = ("h1", "a_h1", "h2", "a_h2", "o1", "a_o1", "o2", "a_o2", "E1", "E2", "E_total")


def random_network(seed: int, biases: bool) -> Network:
    rng = np.random.default_rng(seed)
    values = {name: float(rng.uniform(-2, 2)) for name in ("i1", "i2", *WEIGHTS)}
    values |= {name: float(rng.uniform(0.05, 0.95)) for name in ("t1", "t2")}
    if biases:
        values |= {name: float(rng.uniform(-1, 1)) for name in BIASES}
    return Network(**values)


NETWORKS = {
    "course": Network(),
    "course+biases": Network(b1=0.35, b2=0.6),
    **{f"random{seed}": random_network(seed, biases=False) for seed in range(3)},
    **{f"random{seed}+biases": random_network(seed, biases=True) for seed in range(3, 6)},
}


def point_of(network: Network) -> dict[str, float]:
    return ref.initial_point(network)


def torch_forward(p: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The documents' equations written plainly, with torch's own sigmoid."""
    h1 = p["w1"] * p["i1"] + p["w2"] * p["i2"] + p["b1"]
    h2 = p["w3"] * p["i1"] + p["w4"] * p["i2"] + p["b1"]
    a_h1, a_h2 = torch.sigmoid(h1), torch.sigmoid(h2)
    o1 = p["w5"] * a_h1 + p["w6"] * a_h2 + p["b2"]
    o2 = p["w7"] * a_h1 + p["w8"] * a_h2 + p["b2"]
    a_o1, a_o2 = torch.sigmoid(o1), torch.sigmoid(o2)
    e1 = 0.5 * (p["t1"] - a_o1) ** 2
    e2 = 0.5 * (p["t2"] - a_o2) ** 2
    return dict(h1=h1, a_h1=a_h1, h2=h2, a_h2=a_h2, o1=o1, a_o1=a_o1, o2=o2, a_o2=a_o2, E1=e1, E2=e2,
                E_total=e1 + e2)  # fmt: skip


def decimal_loss(p: dict[str, Decimal]) -> Decimal:
    def sigma(x: Decimal) -> Decimal:
        return 1 / (1 + (-x).exp())

    a_h1 = sigma(p["w1"] * p["i1"] + p["w2"] * p["i2"] + p["b1"])
    a_h2 = sigma(p["w3"] * p["i1"] + p["w4"] * p["i2"] + p["b1"])
    a_o1 = sigma(p["w5"] * a_h1 + p["w6"] * a_h2 + p["b2"])
    a_o2 = sigma(p["w7"] * a_h1 + p["w8"] * a_h2 + p["b2"])
    return (p["t1"] - a_o1) ** 2 / 2 + (p["t2"] - a_o2) ** 2 / 2


@pytest.mark.parametrize("name", NETWORKS)
def test_forward_and_gradients_match_autograd(name: str) -> None:
    point = point_of(NETWORKS[name])
    ours = ref.evaluate(point)
    tensors = {k: torch.tensor(v, dtype=torch.float64, requires_grad=k in PARAMS) for k, v in point.items()}
    theirs = torch_forward(tensors)
    theirs["E_total"].backward()
    for key in FORWARD:
        assert ref.rel_diff(ours[key], theirs[key].item()) <= ref.TOLERANCE, key
    for param in PARAMS:
        grad = tensors[param].grad.item()
        assert ref.rel_diff(ours[f"dE/d{param}"], grad) <= ref.TOLERANCE, (param, ours[f"dE/d{param}"], grad)


@pytest.mark.parametrize("name", NETWORKS)
def test_gradients_match_central_differences(name: str) -> None:
    point = point_of(NETWORKS[name])
    ours = ref.evaluate(point)
    with localcontext() as ctx:
        ctx.prec = 40
        h = Decimal("1e-15")  # truncation error ~h² = 1e-30; rounding ~1e-40 / h = 1e-25
        exact = {k: Decimal(v) for k, v in point.items()}
        for param in PARAMS:
            plus, minus = dict(exact), dict(exact)
            plus[param] += h
            minus[param] -= h
            numeric = float((decimal_loss(plus) - decimal_loss(minus)) / (2 * h))
            assert ref.rel_diff(ours[f"dE/d{param}"], numeric) <= ref.TOLERANCE, (param, numeric)


@pytest.mark.parametrize("name", NETWORKS)
def test_the_sheets_gradient_check_agrees_with_the_chain_rule(name: str) -> None:
    # What the Backprop sheet's gradient check shows at the default step: finite differences within 1e-6.
    point = point_of(NETWORKS[name])
    checked = ref.gradient_check(point, PARAMS, ref.FD_STEP)
    chain = ref.evaluate(point)
    for param, row in checked.items():
        moved = ref.evaluate({**point, param: point[param] + ref.FD_STEP})["E_total"]
        assert row["plus"] == moved and row["chain"] == chain[f"dE/d{param}"]
        assert row["fd"] == (row["plus"] - row["minus"]) / (2 * ref.FD_STEP)
        assert row["rel_diff"] == ref.rel_diff(row["fd"], row["chain"]) <= 1e-6, (param, row)


def test_the_gradient_check_sees_a_wrong_gradient() -> None:
    # The check can fail: the course sheet's slip in dE/dw3 (a_h1 where a_h2 belongs) is far above 1e-6.
    point = point_of(NETWORKS["course"])
    row = ref.evaluate(point)
    d_o1 = (row["a_o1"] - point["t1"]) * row["a_o1"] * (1 - row["a_o1"])
    d_o2 = (row["a_o2"] - point["t2"]) * row["a_o2"] * (1 - row["a_o2"])
    slip = (d_o1 * point["w6"] + d_o2 * point["w8"]) * row["a_h1"] * (1 - row["a_h1"]) * point["i1"]
    fd = ref.gradient_check(point, ["w3"], ref.FD_STEP)["w3"]["fd"]
    assert ref.rel_diff(fd, slip) > 1e-4 > ref.rel_diff(fd, row["dE/dw3"]) * 100


def torch_trajectory(network: Network, lr: float, iterations: int, train_biases: bool) -> dict[str, list]:
    """Plain gradient descent with autograd: every gradient taken at the same weights, then all updated."""
    point = point_of(network)
    trained = PARAMS if train_biases else WEIGHTS
    p = {k: torch.tensor(v, dtype=torch.float64, requires_grad=k in trained) for k, v in point.items()}
    rows: dict[str, list] = {k: [] for k in (*PARAMS, "E_total")}
    for _ in range(iterations + 1):
        loss = torch_forward(p)["E_total"]
        for k in PARAMS:
            rows[k].append(p[k].item())
        rows["E_total"].append(loss.item())
        loss.backward()
        with torch.no_grad():
            for k in trained:
                p[k] -= lr * p[k].grad
                p[k].grad = None
    return rows


@pytest.mark.parametrize("train_biases", [False, True])
@pytest.mark.parametrize("name", ["course+biases", "random1", "random4+biases"])
def test_trajectory_matches_autograd_descent(name: str, train_biases: bool) -> None:
    network, lr, n = NETWORKS[name], 0.7, 30
    ours = ref.trajectory(network, lr, n, train_biases)
    theirs = torch_trajectory(network, lr, n, train_biases)
    for key, column in theirs.items():
        assert ours[key].shape == (n + 1,)
        assert ref.rel_diff(ours[key], column).max() <= ref.TOLERANCE, key


@pytest.mark.parametrize("train_biases", [False, True])
def test_trajectory_update_is_simultaneous(train_biases: bool) -> None:
    network, lr = NETWORKS["course+biases"], 2.0
    run = ref.trajectory(network, lr, 5, train_biases)
    trained = PARAMS if train_biases else WEIGHTS
    for k in range(5):
        # Every gradient of row k is taken at row k's own weights...
        at_k = ref.evaluate({name: float(run[name][k]) for name in ref.INPUTS + PARAMS})
        for name in PARAMS:
            assert run[f"dE/d{name}"][k] == at_k[f"dE/d{name}"]
            # ...and row k+1 is row k minus lr times them, all at once (frozen parameters stay put).
            step = lr * at_k[f"dE/d{name}"] if name in trained else 0.0
            assert run[name][k + 1] == run[name][k] - step, (name, k)


def test_bias_columns_stay_fixed_unless_trained() -> None:
    network = NETWORKS["course+biases"]
    frozen = ref.trajectory(network, 1.0, 10, train_biases=False)
    trained = ref.trajectory(network, 1.0, 10, train_biases=True)
    for b in BIASES:
        assert np.all(frozen[b] == getattr(network, b))
        assert np.all(np.diff(trained[b]) != 0)


def test_run_all_keys_every_rate() -> None:
    config = Config(training=Training(learning_rates=(0.1, 2.0), iterations=3))
    runs = ref.run_all(config)
    assert list(runs) == [0.1, 2.0]
    assert all(len(run["E_total"]) == 4 for run in runs.values())
    assert runs[2.0]["E_total"][-1] < runs[0.1]["E_total"][-1]


def test_course_rates_learn() -> None:
    # The documents' curves: every one of their ordinary rates lowers the loss at each step.
    for lr in Training().learning_rates:
        losses = ref.trajectory(Network(), lr, 100)["E_total"]
        assert np.all(np.diff(losses) < 0), lr


@pytest.mark.parametrize("lr", [1000.0, 10000.0])
def test_huge_rates_settle_at_a_quarter(lr: float) -> None:
    # The documents: at η = 1000 the loss jumps to ~0.25 and stays. Both outputs saturate at 0 (or 1)
    # against targets of 0.5, so E_total = 2 · ½ · 0.5², and the vanished slopes stop any recovery.
    losses = ref.trajectory(Network(), lr, 100)["E_total"]
    assert losses[0] < 0.02
    assert np.all(np.isfinite(losses))
    assert np.abs(losses[1:] - 0.25).max() < 1e-4


def test_sigmoid_cannot_overflow() -> None:
    with pytest.raises(OverflowError):
        math.exp(1000)  # the naive form's 1/(1+exp(-x)) dies here at x = -1000
    assert ref.sigmoid(1000.0) == 1.0
    assert ref.sigmoid(-1000.0) == 0.0
    assert ref.sigmoid(0.0) == 0.5
    for x in np.linspace(-30, 30, 121):
        naive = 1.0 / (1.0 + math.exp(-x))
        assert ref.rel_diff(ref.sigmoid(float(x)), naive) <= 1e-15, x


def test_evaluate_stays_finite_at_extreme_weights() -> None:
    point = point_of(Network(w1=-4e4, w2=-4e4, w3=4e4, w4=4e4, w5=1e5, w6=-1e5, w7=1e5, w8=-1e5))
    values = ref.evaluate(point)
    assert all(math.isfinite(v) for v in values.values())
    assert values["E_total"] == pytest.approx(0.25, abs=1e-12)


def test_rel_diff() -> None:
    assert ref.rel_diff(0.0, 0.0) == 0.0
    assert ref.rel_diff(1.0, 1.0 + 1e-12) == pytest.approx(1e-12, rel=1e-3)
    assert ref.rel_diff(-2.0, 2.0) == 2.0
    assert ref.rel_diff(np.array([1.0, 0.0]), np.array([1.0, 1e-300])).tolist() == [0.0, 1.0]
    # The floor: converged E_total values ~1e-30 apart by rounding noise agree; real differences still show.
    assert ref.rel_diff(3.6e-30, 2.2e-30, ref.E_TOTAL_FLOOR) < ref.TOLERANCE
    assert ref.rel_diff(3.6e-30, 2.2e-30) > 0.3
    assert ref.rel_diff(1e-12, 1.1e-12, ref.E_TOTAL_FLOOR) == pytest.approx(0.1 / 1.1)


def test_the_course_sheets_slip_is_what_the_readme_says() -> None:
    # The circulating course sheet uses a_h1*(1-a_h1) in dE/dw3 and dE/dw4 where a_h2*(1-a_h2) belongs. The
    # README quotes how far its losses drift from the true ones: this reproduces that figure.
    def course_sheet(point: dict) -> dict:
        row = ref.evaluate(point)
        d_o1 = (row["a_o1"] - point["t1"]) * row["a_o1"] * (1 - row["a_o1"])
        d_o2 = (row["a_o2"] - point["t2"]) * row["a_o2"] * (1 - row["a_o2"])
        slip = (d_o1 * point["w6"] + d_o2 * point["w8"]) * row["a_h1"] * (1 - row["a_h1"])
        return row | {"dE/dw3": slip * point["i1"], "dE/dw4": slip * point["i2"]}

    point, losses = ref.initial_point(Network()), []
    for _ in range(69):
        row = course_sheet(point)
        losses.append(row["E_total"])
        point = {k: v - 1.0 * row[f"dE/d{k}"] if k in WEIGHTS else v for k, v in point.items()}
    drift = ref.rel_diff(np.array(losses), ref.trajectory(Network(), 1.0, 68)["E_total"]).max()
    assert 4e-7 < drift < 5e-7, drift

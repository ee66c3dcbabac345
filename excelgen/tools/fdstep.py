"""Which step the gradient check should use: `python -m excelgen.tools.fdstep`.

For several networks (the course's, the course's with trained biases, the edited one of the tests, and
RANDOM random ones) and several steps h: the largest relative difference between the central difference and
the chain rule over w1…w8, b1, b2 at iteration 0, as numpy computes it (reference.gradient_check) and as
LibreOffice computes it in the workbook's own gradient check (fd_step set to h, recalculated on load).
Too large an h and the O(h²) truncation shows; too small and the rounding of E₊ − E₋, divided by 2h, does.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
from openpyxl import load_workbook

from ..assemble import write_workbook
from ..model.config import WEIGHTS, Config, Network, Training
from ..model.reference import FD_STEP, gradient_check, initial_point
from ..sheets import layout
from .libreoffice import recalc_many, soffice

STEPS = (1e-3, 1e-4, 3e-5, 1e-5, 3e-6, 1e-6, 1e-7)
RANDOM = 12


def networks() -> dict[str, Network]:
    rng = np.random.default_rng(0)
    nets = {
        "course": Network(),
        "course, b1 b2": Network(b1=0.35, b2=0.6),
        "edited": replace(Network(), w1=0.9, t1=0.05),
    }
    for k in range(RANDOM):  # inputs and weights in ±2, targets in (0.05, 0.95), biases in ±1
        values = {name: float(rng.uniform(-2, 2)) for name in ("i1", "i2", *WEIGHTS)}
        values |= {name: float(rng.uniform(0.05, 0.95)) for name in ("t1", "t2")}
        values |= {name: float(rng.uniform(-1, 1)) for name in ("b1", "b2")}
        nets[f"random{k}"] = Network(**values)
    return nets


def config_of(network: Network) -> Config:
    return Config(network=network, training=Training(learning_rates=(1.0,), iterations=1, train_biases=True))


def numpy_worst(network: Network, h: float) -> float:
    config = config_of(network)
    checked = gradient_check(initial_point(network), layout.trained_params(config), h)
    return max(v["rel_diff"] for v in checked.values())


def libreoffice_worst(nets: dict[str, Network], workdir: Path) -> dict[tuple[str, float], float]:
    """gradcheck_max_rel_diff as LibreOffice computes it, for every network and step, in one start."""
    sources, keys = [], []
    for k, (name, network) in enumerate(nets.items()):
        generated = workdir / f"net{k}.xlsx"
        write_workbook(config_of(network), generated)
        for j, h in enumerate(STEPS):
            book = load_workbook(generated)
            sheet, row, col = layout.named_cells(config_of(network))[layout.FD_STEP]
            book[sheet].cell(row + 1, col + 1).value = h
            sources.append(workdir / f"net{k}-step{j}.xlsx")
            book.save(sources[-1])
            keys.append((name, h))
    out = {}
    for key, path in zip(keys, recalc_many(sources, workdir), strict=True):
        book = load_workbook(path, data_only=True, read_only=True)
        sheet, row, col = layout.named_cells(config_of(nets[key[0]]))[layout.GRADCHECK_MAX]
        out[key] = next(book[sheet].iter_rows(min_row=row + 1, max_row=row + 1, values_only=True))[col]
        book.close()
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m excelgen.tools.fdstep", description=__doc__.splitlines()[0])
    p.add_argument("--no-libreoffice", action="store_true", help="numpy only")
    args = p.parse_args(argv)
    nets = networks()
    lo = None
    if not args.no_libreoffice and soffice() is not None:
        with tempfile.TemporaryDirectory(prefix="excelgen-fdstep-") as tmp:
            lo = libreoffice_worst(nets, Path(tmp))
    print("largest relative difference of finite difference and chain rule at iteration 0, w1…w8, b1, b2")
    print(
        "numpy"
        + (" / LibreOffice" if lo else " (LibreOffice not run)")
        + f"; fd_step's default is {FD_STEP:g}"
    )
    ours = {(name, h): numpy_worst(network, h) for name, network in nets.items() for h in STEPS}
    engines = [ours, lo] if lo else [ours]
    rows = {name: [{h: e[name, h] for h in STEPS} for e in engines] for name in list(nets)[:3]}
    randoms = [name for name in nets if name.startswith("random")]
    for label, reduce in (
        (f"{len(randoms)} random, median", np.median),
        (f"{len(randoms)} random, worst", max),
    ):
        rows[label] = [{h: float(reduce([e[name, h] for name in randoms])) for h in STEPS} for e in engines]
    print(f"{'h =':>18} " + " ".join(f"{h:>17g}" for h in STEPS))
    for label, values in rows.items():
        print(f"{label:>18} " + " ".join(f"{' / '.join(f'{v[h]:.1e}' for v in values):>17}" for h in STEPS))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""`trainer sweep`: the grid of settings × seeds, each cell an ordinary run, on a local pool of worker
processes or as Ray tasks on a running cluster; resumable (the same command skips finished runs and resumes
the others), a table at the end, `sweep.json` and the `MNIST sweep` sheet.

Everything a user can get wrong is checked before the first run starts: the options as `trainer train` checks
them, each `--set` value with the hyperparameters' rules (grid.py), the grid's size, the run folders already
in --out, the workbook, and the Ray cluster (reachable, same versions).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from . import config, grid, sweep, sweep_results
from .errors import UserError

DEFAULT_OUT = Path("output/sweep")
DEFAULT_SEEDS = "1-5"
# Options of `trainer train` that fix a hyperparameter of every run: (option's dest, Hyper field).
FIXED = (("epochs", "epochs"), ("batch_size", "batch_size"), ("lr", "lr"), ("precision", "precision"))
FIXED += (("limit_train", "limit_train"), ("test_shift_px", "test_shift_px"))


def add_parser(sub: Any, model_names: tuple[str, ...], default_help: Any, default_workbook: Path) -> None:
    s = sub.add_parser("sweep", help="train a grid of settings × seeds, here or on a Ray cluster")
    s.add_argument("--model", help=f"one of {', '.join(model_names)}; default: default")
    s.add_argument(
        "--seeds", default=DEFAULT_SEEDS, help=f"e.g. 1-10, 1,3,7 or 1-4,42; default {DEFAULT_SEEDS}"
    )
    s.add_argument(
        "--set",
        action="append",
        metavar="KEY=V1,V2",
        help=f"a hyperparameter's values to sweep (repeatable): {', '.join(grid.SETTABLE)}",
    )
    s.add_argument("--epochs", type=int, help=default_help("epochs"))
    s.add_argument("--batch-size", type=int, help=default_help("batch_size"))
    s.add_argument("--lr", type=float, help=f"OneCycle's peak learning rate, {default_help('lr')}")
    s.add_argument("--workers", type=int, help="local worker processes; default: one per free core")
    s.add_argument(
        "--ray",
        metavar="auto|ADDRESS",
        help="run on a running Ray cluster (auto: the one started on this machine; or its HOST:PORT)",
    )
    s.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto")
    s.add_argument("--threads", type=int, help="CPU threads per run; default 1 (see the README)")
    s.add_argument("--precision", choices=grid.PRECISIONS, help="of the training passes, as `trainer train`")
    s.add_argument("--data-dir", type=Path, default=Path("data"))
    s.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"where the run folders go, default {DEFAULT_OUT}"
    )
    s.add_argument("--limit-train", type=int, metavar="N", help="train on the first N images only")
    s.add_argument(
        "--test-shift-px", type=int, metavar="N", help="the last test pass's shifts, as `trainer train`"
    )
    s.add_argument(
        "--yes", action="store_true", help=f"run a grid of more than {grid.MAX_RUNS_WITHOUT_YES} runs"
    )
    w = s.add_mutually_exclusive_group()
    w.add_argument("--workbook", type=Path, default=default_workbook, help="add the MNIST sweep sheet here")
    w.add_argument("--no-workbook", action="store_true")


def plan(args: argparse.Namespace) -> list[grid.Run]:
    """The grid the options ask for, every value checked; nothing is started."""
    model = args.model or "default"
    given = {field: getattr(args, dest) for dest, field in FIXED if getattr(args, dest) is not None}
    axes = grid.parse_sets(args.set or [], given)
    seeds = grid.parse_seeds(args.seeds)
    runs = grid.runs(model, config.for_model(model, **given), axes, seeds)
    grid.check_size(len(runs), args.yes)
    grid.check_out(args.out, runs)
    return runs


def local_pool(workers: int | None, threads: int | None) -> tuple[sweep.LocalPool, int]:
    """The local pool and each run's threads: by default one single-threaded worker per free core."""
    from . import runtime

    free = runtime.free_cores()
    if workers is None:
        workers, threads = sweep.default_workers(threads, free)
    elif threads is None:
        threads = max(1, free // workers)
    return sweep.LocalPool(workers), threads


def run_grid(
    runs: list[grid.Run],
    out: Path,
    pool: Any,
    *,
    device: str,
    data_dir: Path,
    threads: int | None,
    say: Any = print,
) -> tuple[list[sweep_results.RunResult], list[sweep_results.SettingRow], bool]:
    """Trains the runs not finished yet on `pool`; returns every run's result, the table and whether Ctrl-C
    stopped it. sweep.json is written either way."""
    grid.check_out(out, runs)  # plan() checked already; the bench and other callers come here directly
    todo = [run for run in runs if not grid.finished(out / run.name)]
    if len(todo) < len(runs):
        say(f"{len(runs) - len(todo)} of {len(runs)} runs finished before: skipped")
    jobs = [sweep.Job(run, device, data_dir, threads, sweep.LOAD) for run in todo]
    outcomes, interrupted = sweep.execute(jobs, pool, out, say) if jobs else ({}, False)
    results = sweep_results.collect(runs, out, outcomes)
    rows = sweep_results.table(runs, results)
    return results, rows, interrupted


def description(runs: list[grid.Run], args: argparse.Namespace, backend: str) -> dict[str, Any]:
    settings = list(dict.fromkeys(run.setting for run in runs))
    return {
        "model": runs[0].model,
        "seeds": list(dict.fromkeys(run.seed for run in runs)),
        "settings": [dict(s) for s in settings],
        "hyperparameters": runs[0].hp.describe() | {k: "swept" for k, _ in settings[0]},
        "backend": backend,
        "device": args.device,
    }


def run(args: argparse.Namespace, check_train_args: Any, require_training_packages: Any) -> int:
    args.resume = None  # what check_train_args reads of `train`'s options
    check_train_args(args)
    if args.workers is not None and args.workers < 1:
        raise UserError(f"--workers must be at least 1, got {args.workers}")
    if args.workers is not None and args.ray:
        raise UserError("--workers is for the local pool; on Ray the cluster's CPUs decide; drop one of them")
    runs = plan(args)
    if runs[0].hp.epochs >= config.DOCUMENTS_EPOCH_LIMIT:
        print(f"trainer: warning: {runs[0].hp.epochs} epochs is outside the documents' rule; running anyway")
    if args.ray:
        from . import sweep_ray

        ray = sweep_ray.connect(args.ray)
        threads = args.threads or 1
        pool: Any = sweep_ray.RayPool(ray, threads, args.device)
        device = "cpu" if args.device == "auto" else args.device  # a task asks for a GPU only with cuda
        data_dir = Path(os.path.abspath(args.data_dir))
    else:
        require_training_packages()
        pool, threads = local_pool(args.workers, args.threads)
        device, data_dir = args.device, args.data_dir
    settings = len({run.setting for run in runs})
    print(
        f"Sweep: {len(runs)} runs ({settings} setting(s) × {len(runs) // settings} seed(s)) of "
        f"{runs[0].model}, {runs[0].hp.epochs} epoch(s) each, into {args.out}; {pool.describe()}, "
        f"{threads} thread(s) per run"
    )
    start = time.perf_counter()
    results, rows, interrupted = run_grid(
        runs, args.out, pool, device=device, data_dir=data_dir, threads=threads, say=_say
    )
    print(sweep_results.format_table(rows))
    print(f"{time.perf_counter() - start:.1f} s for the sweep ({os.getloadavg()[0]:.2f} load average now)")
    saved = sweep_results.save(
        args.out, sweep_results.document(description(runs, args, pool.describe()), results, rows)
    )
    print(f"Saved {saved}")
    if interrupted:
        print("Interrupted; the finished epochs are saved. Run the same command again to continue.")
        return 130
    if not args.no_workbook:
        from .export import sweep as sweep_sheet

        backup = sweep_sheet.write_sheet(args.workbook, *sheet_texts(runs, args), rows, _seeds(runs))
        kept = f" (the previous file is {backup})" if backup is not None else ""
        print(f"Added the MNIST sweep sheet to {args.workbook}{kept}")
    failed = [r for r in results if r.status == "failed"]
    if failed:
        print(f"{len(failed)} run(s) failed (reasons above); the others are saved", file=sys.stderr)
        return 1
    return 0


def _seeds(runs: list[grid.Run]) -> list[int]:
    return list(dict.fromkeys(run.seed for run in runs))


def sheet_texts(runs: list[grid.Run], args: argparse.Namespace) -> tuple[str, str]:
    hp = runs[0].hp
    swept = list(dict.fromkeys(k for run in runs for k, _ in run.setting))
    fixed = ", ".join(
        f"{k} {grid.format_value(getattr(hp, k))}" for k in ("epochs", "batch_size", "lr") if k not in swept
    )
    title = f"MNIST sweep: {runs[0].model}, {len(_seeds(runs))} seed(s) per setting"
    note = (
        f"Each run is `trainer train` with the recipe ({fixed}; swept: {', '.join(swept) or 'nothing'}; "
        "the rest in sweep.json); its result is the last epoch's test accuracy. "
        f"Run folders: {Path(args.out).as_posix()}/"
    )
    if hp.limit_train is not None:
        note += f" Trained on the first {hp.limit_train} images only."
    return title, note


def _say(line: str) -> None:
    print(line, flush=True)

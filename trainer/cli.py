"""`trainer`: the MNIST half of the course.

    trainer data [--data-dir DIR]
    trainer summary --model NAME
    trainer train [--model NAME] [--epochs N] [--batch-size N] [--lr X] [--seed N] [--device D]
                  [--threads N] [--precision P] [--test-shift-px N] [--data-dir DIR] [--out DIR]
                  [--limit-train N] [--resume RUN_DIR] [--workbook PATH | --no-workbook]
    trainer export --run RUN_DIR [--workbook PATH]
    trainer sweep [--model M] [--seeds 1-10] [--set KEY=V1,V2 ...] [--epochs N] [--workers N]
                  [--ray auto|ADDRESS] [--out DIR] [--workbook PATH | --no-workbook] (trainer/sweep_cli.py)

A user's mistake is one line on stderr, `trainer: error: <what to do>`, exit status 2 (argparse's own errors
have the same status). Ctrl-C during training keeps the last finished epoch and exits 130.

`trainer export` needs only the workbook packages; `data`, `summary` and `train` need PyTorch, the package's
`train` extra, and say how to install it when it is missing.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

import terminal
from xlsxedit.writer import DEFAULT_WORKBOOK

from . import config, grid, runtime
from .errors import UserError

DEFAULT_OUT = Path("output/mnist")
MODEL_NAMES = tuple(config.PER_MODEL)  # models.MODELS without importing torch (a test keeps them equal)
TRAIN_PACKAGES = ("torch", "torchvision", "torchinfo", "tqdm")
# Options that describe a run: on --resume they must agree with what the run saved. (option, Hyper field)
RUN_OPTIONS = (("--epochs", "epochs"), ("--batch-size", "batch_size"), ("--lr", "lr"))
RUN_OPTIONS += (("--precision", "precision"), ("--limit-train", "limit_train"))
RUN_OPTIONS += (("--test-shift-px", "test_shift_px"),)
# Options whose value is checked before anything runs, in this order. (option, Hyper field = args' dest)
CHECKED_OPTIONS = (("--epochs", "epochs"), ("--batch-size", "batch_size"), ("--threads", "threads"))
CHECKED_OPTIONS += (("--limit-train", "limit_train"), ("--test-shift-px", "test_shift_px"), ("--lr", "lr"))


def default_help(field: str) -> str:
    """'by model: default 2, tiny 8; others 4': the shipped value of a Hyper field, and the models (one of
    them named `default`) that set their own."""
    base = f"{getattr(config.Hyper, field):g}"
    departures = [f"{name} {given[field]:g}" for name, given in config.PER_MODEL.items() if field in given]
    if not departures:
        return f"default {base}"
    others = f"; others {base}" if len(departures) < len(config.PER_MODEL) else ""
    return f"by model: {', '.join(departures)}{others}"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="trainer", description="MNIST with a CNN under 20k parameters.")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("data", help="get and verify MNIST (offline when needed)")
    d.add_argument("--data-dir", type=Path, default=Path("data"))

    s = sub.add_parser("summary", help="print a model's torchinfo table")
    s.add_argument("--model", default="default", help=f"one of {', '.join(MODEL_NAMES)}")

    t = sub.add_parser("train", help="train a model and save the run")
    t.add_argument("--model", help=f"one of {', '.join(MODEL_NAMES)}; default: default")
    t.add_argument("--epochs", type=int, help=default_help("epochs"))
    t.add_argument("--batch-size", type=int, help=default_help("batch_size"))
    t.add_argument("--lr", type=float, help=f"OneCycle's peak learning rate, {default_help('lr')}")
    t.add_argument("--seed", type=int, help="default 1")
    t.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto")
    t.add_argument(
        "--threads", type=int, help="CPU threads; default: the cores free of other jobs, every epoch"
    )
    t.add_argument(
        "--precision",
        choices=("auto", "float32", "bfloat16"),
        help="of the training passes; default auto: bfloat16 autocast where the device has it natively",
    )
    t.add_argument(
        "--test-shift-px",
        type=int,
        metavar="N",
        help="the last epoch's test pass answers with the mean over each image and its copies moved N px up, "
        f"down, left and right where the net is under {config.TEST_SHIFT_BELOW * 100:g}%% sure of the image "
        f"alone; {default_help('test_shift_px')}; 0: the image alone",
    )
    t.add_argument("--data-dir", type=Path, default=Path("data"))
    t.add_argument("--out", type=Path, help=f"where run folders go, default {DEFAULT_OUT}")
    t.add_argument("--limit-train", type=int, metavar="N", help="train on the first N images only")
    t.add_argument(
        "--resume",
        type=Path,
        metavar="RUN_DIR",
        help="continue a run from its last finished epoch, with its own settings (only --threads, "
        "--device, --data-dir and the workbook options may be given with it)",
    )
    w = t.add_mutually_exclusive_group()
    w.add_argument("--workbook", type=Path, default=DEFAULT_WORKBOOK, help="add the run to this workbook")
    w.add_argument("--no-workbook", action="store_true")

    e = sub.add_parser("export", help="add a finished run to the workbook")
    e.add_argument("--run", type=Path, required=True, metavar="RUN_DIR")
    e.add_argument("--workbook", type=Path, default=DEFAULT_WORKBOOK)

    from . import sweep_cli

    sweep_cli.add_parser(sub, MODEL_NAMES, default_help, DEFAULT_WORKBOOK)
    return p


def check_model(name: str) -> None:
    if name not in MODEL_NAMES:
        raise UserError(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}")


def require_training_packages() -> None:
    missing = [name for name in TRAIN_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise UserError(
            f"{', '.join(missing)} not installed: this command needs the train extra; run `make train`, "
            "or `pip install -e '.[train]'`"
        )


def check_train_args(args: argparse.Namespace) -> None:
    if args.model is not None:
        check_model(args.model)
    # The ranges are grid.check_value's, which `--set` and a checkpoint's hyperparameters answer to as well.
    for option, field in CHECKED_OPTIONS:
        value = getattr(args, field)
        problem = None if value is None else grid.check_value(field, value)
        if problem:
            raise UserError(f"{option} {problem}, got {value:g}")
    if args.resume is not None and not args.resume.is_dir():
        raise UserError(f"--resume {args.resume}: no such run folder; pass one under {DEFAULT_OUT}/")
    out = args.out if args.out is not None else DEFAULT_OUT
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: is a file; pass a folder for the run folders")
    if not args.no_workbook:  # found out now, not after the training
        from xlsxedit import writer

        try:
            writer.check_target(args.workbook, open_ok=True)
        except writer.WorkbookError as e:
            raise UserError(f"--workbook {args.workbook}: {e}") from None


def check_resume(args: argparse.Namespace, saved: dict) -> config.Hyper:
    """The hyperparameters a resumed run continues with: its own. Options that would change the run are
    refused (naming each); those that only change how this session runs are taken."""
    log = saved["log"]
    hp = config.from_log(log["hyperparameters"])
    given = {"--model": (args.model, log["model"]), "--seed": (args.seed, log["seed"])}
    given |= {option: (getattr(args, field), getattr(hp, field)) for option, field in RUN_OPTIONS}
    given["--out"] = (args.out, None)  # the run folder stays where it is
    clashes = [
        f"{option} {value}" + ("" if kept is None else f" (the run has {kept})")
        for option, (value, kept) in given.items()
        if value is not None and value != kept
    ]
    if clashes:
        raise UserError(
            f"--resume {args.resume} continues the run with its own settings; drop {', '.join(clashes)}, "
            "or start a new run without --resume"
        )
    if args.threads is not None:  # speed only (though on a CPU it can move the last bits of sums)
        hp = dataclasses.replace(hp, threads=args.threads)
    return hp


def export(run_dir: Path, workbook: Path) -> str:
    """Export the run; returns what the success line adds: where the previous file is, if there was one."""
    try:
        from .export import export_run
    except ImportError as e:  # the exporter is another module's job; training must not depend on it
        raise UserError(f"the workbook export is not available in this install ({e})") from None
    backup = export_run(run_dir, workbook)
    return f" (the previous file is {backup})" if backup is not None else ""


def export_command(run_dir: Path, workbook: Path) -> str:
    return shlex.join(["trainer", "export", "--run", str(run_dir), "--workbook", str(workbook)])


def run_train(args: argparse.Namespace) -> int:
    check_train_args(args)
    require_training_packages()
    from . import train

    saved = None
    if args.resume is not None:
        saved = train.load_checkpoint(args.resume)
        hp = check_resume(args, saved)
    else:
        hp = config.for_model(
            args.model or "default",
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            threads=args.threads,
            precision=args.precision,
            limit_train=args.limit_train,
            test_shift_px=args.test_shift_px,
        )
    if hp.epochs >= config.DOCUMENTS_EPOCH_LIMIT:
        print(
            f"trainer: warning: {hp.epochs} epochs is outside the documents' rule "
            f"(fewer than {config.DOCUMENTS_EPOCH_LIMIT}); running anyway",
            file=sys.stderr,
        )
    runtime.configure(hp.threads)
    device = train.pick_device(args.device)
    data = train.load_mnist(args.data_dir, device, hp.limit_train)
    try:
        run_dir = train.fit(
            data,
            hp,
            model_name=args.model or "default",
            seed=1 if args.seed is None else args.seed,
            out=args.out or DEFAULT_OUT,
            resume=args.resume,
            saved=saved,
        )
    except train.Interrupted as stop:
        print(f"\nInterrupted; {stop.epochs_done} finished epochs are saved in {stop.run_dir}. Resume with:")
        resume = ["trainer", "train", "--resume", str(stop.run_dir)]
        if args.no_workbook:
            resume.append("--no-workbook")
        elif args.workbook != DEFAULT_WORKBOOK:
            resume += ["--workbook", str(args.workbook)]
        print(f"  {shlex.join(resume)}")
        return 130
    if args.no_workbook:
        return 0
    try:
        kept = export(run_dir, args.workbook)
    except UserError as e:
        print(f"trainer: error: {e}", file=sys.stderr)
        print(
            f"The run is saved; add it to a workbook later with:\n  {export_command(run_dir, args.workbook)}"
        )
        return 2
    print(f"Added the run to {args.workbook}{kept}")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.command == "data":
        require_training_packages()
        from . import data

        data.prepare(args.data_dir)
        return 0
    if args.command == "summary":
        check_model(args.model)
        require_training_packages()
        from . import models, train

        print(train.summary(models.build(args.model)))
        return 0
    if args.command == "train":
        return run_train(args)
    if args.command == "sweep":
        from . import sweep_cli

        return sweep_cli.run(args, check_train_args, require_training_packages)
    kept = export(args.run, args.workbook)
    print(f"Added {args.run} to {args.workbook}{kept}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    terminal.use_fallback_if_needed()
    try:
        args = parser().parse_args(argv)
    except SystemExit as e:  # argparse has printed its usage and error
        return int(e.code or 0)
    try:
        return run(args)
    except UserError as e:
        print(f"trainer: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # outside training (which saves and says how to resume): nothing half-done
        print("trainer: interrupted", file=sys.stderr)
        return 130

"""`excelgen`: write the backprop workbook from a TOML config.

    excelgen [--config PATH] [--out PATH] [--lr X ...] [--iterations N]

A user's mistake is one line on stderr, ``excelgen: error: <file>: <key>: <what is wrong>``, exit status 2,
and an existing output file left byte-identical: the workbook is written to a temporary file beside it and
renamed over it only once complete.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from . import config as cfg
from . import layout
from .workbook import write_workbook

DEFAULT_OUT = Path("output/backprop.xlsx")


def check_out(out: Path) -> None:
    """Refuse an output path before any work is done, so the message names the real problem."""
    source = str(out)
    if out.suffix.lower() != ".xlsx":
        raise cfg.ConfigError(source, "--out", "the name must end in .xlsx")
    if out.is_dir():
        raise cfg.ConfigError(source, "--out", "is a directory; give a file name ending in .xlsx")
    folder = out.parent
    if not folder.exists():
        raise cfg.ConfigError(source, "--out", f"folder {str(folder)!r} does not exist; create it first")
    if not folder.is_dir():
        raise cfg.ConfigError(source, "--out", f"{str(folder)!r} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise cfg.ConfigError(source, "--out", f"folder {str(folder)!r} is not writable")
    if out.exists() and not os.access(out, os.W_OK):
        raise cfg.ConfigError(source, "--out", "the file is read-only")


def _file_mode(out: Path) -> int:
    # mkstemp makes 0600 files; the result should look like any file the user writes (or keep the old mode).
    if out.exists():
        return out.stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def generate(config: cfg.Config, out: Path) -> dict[float, dict[str, np.ndarray]]:
    """Write the workbook to `out` atomically: a temporary file in the same folder, fsync, os.replace.
    Returns the reference runs whose values the workbook caches.

    On any failure the temporary file is removed and an existing `out` is untouched. OSError is turned into
    a ConfigError naming the output path.
    """
    out = Path(out)
    check_out(out)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{out.stem}-", suffix=".tmp.xlsx", dir=out.parent)
    except OSError as exc:
        raise _cannot_write(out, exc) from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        runs = write_workbook(config, tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, _file_mode(out))
        os.replace(tmp, out)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise _cannot_write(out, exc) from None
        raise
    _fsync_folder(out.parent)
    return runs


def _cannot_write(out: Path, exc: OSError) -> cfg.ConfigError:
    return cfg.ConfigError(str(out), "--out", f"cannot write it ({exc.strerror or exc})")


def _fsync_folder(folder: Path) -> None:
    # Makes the rename itself durable; a filesystem that cannot fsync a folder is no reason to fail.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def summary(config: cfg.Config, out: Path, runs: Mapping[float, Mapping[str, np.ndarray]]) -> str:
    """What a user wants to see after a run: where it went, what is in it, where each rate ended up."""
    t = config.training
    finals = {lr: run["E_total"][-1] for lr, run in runs.items()}
    width = max(len(f"{lr:g}") for lr in t.learning_rates)
    lines = [
        f"wrote {out}",
        f"  sheets: {', '.join(layout.sheet_names(config))}",
        f"  {t.iterations} iterations at learning rates {', '.join(f'{lr:g}' for lr in t.learning_rates)}",
        "  final E_total:",
    ]
    lines += [f"    η = {lr:<{width}g}  {finals[lr]:.6e}" for lr in t.learning_rates]
    return "\n".join(lines)


def build_config(args: argparse.Namespace) -> cfg.Config:
    config = cfg.load(args.config, iteration_limit=layout.MAX_ITERATIONS)
    return cfg.override(config, args.lr, args.iterations, iteration_limit=layout.MAX_ITERATIONS)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="excelgen",
        description="Write a spreadsheet that teaches backpropagation, every cell a live formula.",
    )
    p.add_argument(
        "--config", type=Path, metavar="PATH", help="TOML config (default: the built-in course values)"
    )
    p.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, metavar="PATH", help=f"output .xlsx (default: {DEFAULT_OUT})"
    )
    p.add_argument("--lr", type=float, nargs="+", metavar="X", help="learning rates, overriding the config")
    p.add_argument("--iterations", type=int, metavar="N", help="number of updates, overriding the config")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        config = build_config(args)
        runs = generate(config, args.out)
    except cfg.ConfigError as exc:
        print(f"excelgen: error: {exc}", file=sys.stderr)
        return 2
    print(summary(config, args.out, runs))
    return 0

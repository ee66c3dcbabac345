"""`excelgen`: write the backprop workbook from a TOML config.

    excelgen [--config PATH] [--out PATH] [--lr X ...] [--iterations N]
    excelgen grade FILE... [--out GRADEBOOK.xlsx] [--csv GRADEBOOK.csv] [--json]   (see excelgen/grade/)
    excelgen class ROSTER.csv --out DIR [--seed S] [--blank N]                       (see excelgen/classroom/)
    excelgen grade --class DIR SUBMISSION...

A user's mistake is one line on stderr, ``excelgen: error: <file>: <key>: <what is wrong>``, exit status 2,
and an existing output file left byte-identical. Writing goes through xlsxedit's Owner.update (locked, atomic,
a backup kept). Over an existing workbook only excelgen's own sheets are replaced: the trainer's MNIST and
Runs sheets and any sheet a user added stay as they are. Ctrl-C exits 130 and leaves nothing behind.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import terminal
from xlsxedit.files import real_target
from xlsxedit.ownership import Drawn
from xlsxedit.package import Package
from xlsxedit.writer import DEFAULT_WORKBOOK, WorkbookError, backup_path

from .assemble import OWNER, Runs, write_workbook
from .model import config as cfg
from .model import reference
from .sheets import layout


def edited_inputs(book: Package, config: cfg.Config) -> list[tuple[str, str, float]]:
    """(label, value in the workbook, value from the config) of each input on excelgen's sheets of `book`
    (the named inputs, eta, each η sheet's η) whose value differs from what `config` gives it."""
    mine = {s.lower() for s in OWNER.sheets(book)}
    names = {d.name.lower(): d.text for d in book.defined_names() if d.local_sheet is None}
    changed = []
    for label, formula, value in layout.check_inputs(config):
        m = _CELL_REF.fullmatch(names.get(formula.lower(), formula))
        if m is None:
            continue
        sheet = m.group(1).replace("''", "'") if m.group(1) is not None else m.group(2)
        if sheet.lower() not in mine:
            continue
        old = _number_text(book.cell_text(sheet, m.group(3)))
        if old is not None and not math.isclose(float(old), value, rel_tol=1e-12, abs_tol=0.0):
            changed.append((label, old, value))
    return changed


_CELL_REF = re.compile(r"=?(?:'((?:[^']|'')+)'|([^'!]+))!(\$?[A-Z]+\$?\d+)")


def _number_text(text: str | None) -> str | None:
    """A cell's text when it is a finite number, else None (a blank, a text, an error: nothing to compare)."""
    try:
        return text if text is not None and math.isfinite(float(text)) else None
    except ValueError:
        return None


def replaced_note(changed: list[tuple[str, str, float]], backup: Path) -> str:
    """One line saying which edited inputs a regeneration replaced, and where the previous file is."""
    edits = ", ".join(f"{label} {float(old):g} → {new:g}" for label, old, new in changed)
    return f"replaced inputs edited in the workbook by the config's: {edits} (the previous file is {backup})"


def generate(config: cfg.Config, out: Path, notes: list[str] | None = None) -> Runs:
    """Write the workbook for `config` to `out` through OWNER.update: a new file, or excelgen's sheets and
    names replaced in an existing workbook whose other sheets and names are kept. Returns the reference runs
    whose values the workbook caches. Any problem a user can fix is a ConfigError naming the output path.
    `notes`, when given, receives lines for the user: where the previous version is, and which inputs edited
    in the workbook the config's values replaced.
    """
    out = Path(out)
    runs = reference.run_all(config)
    overflow = reference.first_overflow(runs)
    if overflow is not None:
        lr, row, column = overflow
        raise cfg.ConfigError(
            config.source,
            "network",
            f"these values overflow float64 ({column} at iteration {row} of η = {lr:g}); use smaller numbers",
        )

    said: list[str] = []

    def draw(existing: Package | None, folder: Path) -> Drawn:
        said.clear()
        if existing is not None:
            backup = backup_path(real_target(out))
            changed = edited_inputs(existing, config)
            said.append(replaced_note(changed, backup) if changed else f"the previous file is {backup}")
        fresh = folder / "excelgen.xlsx"
        write_workbook(config, fresh, tmpdir=folder, runs=runs)
        # Nothing of anyone else's to keep (sheets, names, properties): the fresh workbook is the whole file.
        alone = existing is None or OWNER.holds_only_own(existing)
        return Drawn(fresh, layout.sheet_names(config), whole=alone)

    try:
        OWNER.update(out, draw)
    except WorkbookError as e:
        raise cfg.ConfigError(str(out), "--out", str(e)) from None
    if notes is not None:
        notes.extend(said)
    return runs


def summary(config: cfg.Config, out: Path, runs: Runs) -> str:
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
    limits = {"iteration_limit": layout.MAX_ITERATIONS, "rate_limit": layout.MAX_LEARNING_RATES}
    config = cfg.load(args.config, **limits)
    show = False if args.hide_answers else None
    return cfg.override(config, args.lr, args.iterations, **limits, show_answers=show)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="excelgen",
        description="Write a spreadsheet that teaches backpropagation, every cell a live formula.",
        epilog="To grade students' own sheets: excelgen grade --help. A class set: excelgen class --help",
    )
    p.add_argument(
        "--config", type=Path, metavar="PATH", help="TOML config (default: the built-in course values)"
    )
    p.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_WORKBOOK,
        metavar="PATH",
        help=f"output .xlsx (default: {DEFAULT_WORKBOOK})",
    )
    p.add_argument("--lr", type=float, nargs="+", metavar="X", help="learning rates, overriding the config")
    p.add_argument("--iterations", type=int, metavar="N", help="number of updates, overriding the config")
    p.add_argument(
        "--hide-answers",
        action="store_true",
        help="exercise mode: the workbook opens with show_answers FALSE (iterations 0 and 1 hidden on every "
        "sheet until the student sets it TRUE); the config's [exercise] show_answers = false does the same",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["grade"]:
        from .grade.cli import main as grade_main  # only `grade` pays for importing the grader

        return grade_main(argv[1:])
    if argv[:1] == ["class"]:
        from .classroom.cli import main as class_main

        return class_main(argv[1:])
    terminal.use_fallback_if_needed()
    args = parser().parse_args(argv)
    try:
        config = build_config(args)
        notes: list[str] = []
        runs = generate(config, args.out, notes)
    except cfg.ConfigError as exc:
        print(f"excelgen: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"excelgen: interrupted; {args.out} is unchanged", file=sys.stderr)
        return 130
    print(summary(config, args.out, runs))
    for note in notes:
        print(f"  {note}")
    return 0

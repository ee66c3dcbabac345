"""`excelgen class ROSTER.csv --out DIR [--seed S] [--blank N] [--config PATH] [--sweep]
    [--lr X ...] [--iterations N]`.

Writes DIR/students/<id>.xlsx, DIR/keys/<id>.xlsx and DIR/class.json (build.py) and prints a summary. A
mistake in the roster, the config or the command is one line on stderr and exit status 2, with DIR as it was.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import terminal

from ..model import config as cfg
from ..sheets import layout
from . import build
from .classfile import ClassError
from .roster import RosterError, read
from .student import DEFAULT_BLANK


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="excelgen class",
        description=(
            "Write a class set: for every student of the roster their own numbers, a blank workbook to fill "
            "(no answer in the file) and an answer key; grade it with `excelgen grade --class DIR FILE...`."
        ),
    )
    p.add_argument("roster", type=Path, metavar="ROSTER.csv", help="a CSV with a student id column")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="the class folder to write")
    p.add_argument(
        "--seed",
        metavar="S",
        help="the class's seed: the same roster and seed give the same files (default: the folder's own, "
        "else a new random one, printed)",
    )
    p.add_argument(
        "--blank",
        type=int,
        default=DEFAULT_BLANK,
        metavar="N",
        help=f"iterations left as empty input cells at the top of the table (default {DEFAULT_BLANK})",
    )
    p.add_argument("--config", type=Path, metavar="PATH", help="TOML config: iterations, learning rates")
    p.add_argument(
        "--sweep",
        action="store_true",
        help="the keys also hold the learning-rate sweep (an η sheet per rate of the config or --lr, and the "
        "LR sweep sheet): about three times the time; by default a key holds the student's own η",
    )
    p.add_argument(
        "--lr", type=float, nargs="+", metavar="X", help="the sweep's learning rates (with --sweep)"
    )
    p.add_argument("--iterations", type=int, metavar="N", help="number of updates in the table")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    terminal.use_fallback_if_needed()
    args = parser().parse_args(argv)
    start = time.perf_counter()
    try:
        limits = {"iteration_limit": layout.MAX_ITERATIONS, "rate_limit": layout.MAX_LEARNING_RATES}
        base = cfg.override(cfg.load(args.config, **limits), args.lr, args.iterations, **limits)
        students = read(args.roster)
        seed = build.resolve_seed(args.out, None if args.seed is None else build.check_seed(args.seed))
        cs = build.plan(students, seed, base, args.blank, args.sweep)
        build.write_class(cs, args.out)
    except (RosterError, ClassError, cfg.ConfigError) as e:
        print(f"excelgen class: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"excelgen class: interrupted; {args.out} is as it was", file=sys.stderr)
        return 130
    print(
        f"wrote {args.out}: {len(cs.students)} students (seed {cs.seed}, {base.training.iterations} "
        f"iterations, {cs.blank} blank) in {time.perf_counter() - start:.1f} s\n"
        f"  {args.out / build.STUDENTS}/<id>.xlsx  to hand out\n"
        f"  {args.out / build.KEYS}/<id>.xlsx      answer keys (keep them)\n"
        f"  {args.out / 'class.json'}     what grading needs: "
        f"excelgen grade --class {args.out} SUBMISSION..."
    )
    return 0


def grade_class(args: argparse.Namespace, paths: Sequence[Path]) -> int:
    """`excelgen grade --class DIR FILE...`: the grade CLI's checked arguments, graded as a class."""
    from ..grade.cli import summary_line
    from ..grade.gradebook import GradebookError
    from . import classfile, grading

    try:
        cs = classfile.read(args.class_dir)
        entries = grading.grade_submissions(
            cs, paths, tolerance=args.tolerance, sheet=args.sheet, recalc=args.recalc
        )
        for e in entries:
            if args.json:
                who = None if e.student is None else e.student.id
                print(
                    json.dumps({"student": who, "flags": e.flags, **e.report.to_json()}, ensure_ascii=False)
                )
                continue
            print(f"{'?' if e.student is None else e.student.id}  {summary_line(e.report)}")
            for flag in e.flags:
                print(f"  flag: {flag}")
            for d in e.report.diagnoses:
                print(f"  {d.text}")
        rows = grading.record(cs, args.class_dir, entries, args.out, args.csv)
    except (ClassError, GradebookError) as e:
        print(f"excelgen grade: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("excelgen grade: interrupted; the class's grades are as they were", file=sys.stderr)
        return 130
    missing = sum(r.report.status == "missing" for r in rows)
    flagged = sum(bool(r.flags) for r in rows)
    unknown = sum(r.student is None for r in rows)
    book = args.out or args.class_dir / grading.GRADEBOOK
    print(
        f"wrote {book}: {len(cs.students)} students, {len(cs.students) - missing} handed in, "
        f"{missing} missing, {flagged} rows flagged, {unknown} files of no roster student",
        file=sys.stderr,
    )
    return 0

"""`excelgen grade FILE|FOLDER... [--out GRADEBOOK.xlsx] [--csv GRADEBOOK.csv] [--json] [--tolerance REL]`,
and `excelgen grade --class DIR FILE|FOLDER...` for a class set (excelgen/classroom/grading.py).

Prints one line per submission (or, with --json, one JSON object per line) and writes the gradebook files
asked for. A submission that cannot be graded is a line with its reason, never an error: the exit status is
0 when every file was read; 2 (one line on stderr) for a mistake in the command itself.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from .api import grade_many
from .check import DEFAULT_TOLERANCE
from .columns import label
from .gradebook import GradebookError, write_csv, write_xlsx
from .project import terminal, writer
from .report import Report

MAX_FILES = 10_000


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="excelgen grade",
        description=(
            "Grade students' own backprop sheets cell by cell, with error carried forward, and name the "
            "mistake in the documents' notation."
        ),
    )
    p.add_argument("files", nargs="+", type=Path, metavar="FILE", help="submissions, or folders of them")
    p.add_argument("--out", type=Path, metavar="GRADEBOOK.xlsx", help="write the gradebook workbook here")
    p.add_argument("--csv", type=Path, metavar="GRADEBOOK.csv", help="write the gradebook as CSV here")
    p.add_argument("--json", action="store_true", help="print one JSON object per file instead of a summary")
    p.add_argument(
        "--tolerance",
        type=float,
        default=DEFAULT_TOLERANCE,
        metavar="REL",
        help=f"largest relative difference counted right (default {DEFAULT_TOLERANCE:g}; typed values "
        "rounded to 6 digits need ~1e-5)",
    )
    p.add_argument("--sheet", metavar="NAME", help="grade this sheet (default: the first with a table)")
    p.add_argument(
        "--class",
        dest="class_dir",
        type=Path,
        metavar="DIR",
        help="a class folder (excelgen class): grade each file against its student's own numbers and write "
        "DIR/gradebook.xlsx and .csv, a row per student; grading a student again replaces their row",
    )
    p.add_argument(
        "--recalc",
        action="store_true",
        help="recalculate files whose formulas have no saved values in headless LibreOffice, then grade them",
    )
    return p


def expand(items: Sequence[Path]) -> list[Path]:
    """Files as given, and the files directly in each folder (sorted; hidden ones and lock files skipped)."""
    out: list[Path] = []
    for item in items:
        if item.is_dir():
            out += sorted(p for p in item.iterdir() if not p.name.startswith((".", "~$")) and not p.is_dir())
        else:
            out.append(item)
    return out


def summary_line(r: Report) -> str:
    if r.status == "refused":
        return f"{r.file}: refused: {r.reason}"
    wrong = ", ".join(label(n) for n in r.wrong_columns) or "none"
    score = "-" if r.score is None else f"{r.score:g}"
    return f"{r.file}: {score}/100 (sheet {r.sheet!r}, {r.iterations} iterations, wrong: {wrong})"


def main(argv: Sequence[str] | None = None) -> int:
    terminal.use_fallback_if_needed()
    args = parser().parse_args(argv)
    if not (args.tolerance > 0 and args.tolerance < 1):
        print("excelgen grade: error: --tolerance must be between 0 and 1, e.g. 1e-6", file=sys.stderr)
        return 2
    for out, suffix in ((args.out, ".xlsx"), (args.csv, ".csv")):
        if out is not None and out.suffix.lower() != suffix:
            print(f"excelgen grade: error: {out}: the name must end in {suffix}", file=sys.stderr)
            return 2
    if args.out is not None:
        try:
            writer.check_target(args.out)
        except writer.WorkbookError as e:
            print(f"excelgen grade: error: {args.out}: {e}", file=sys.stderr)
            return 2
    paths = expand(args.files)
    if len(paths) > MAX_FILES:
        print(f"excelgen grade: error: {len(paths):,} files; at most {MAX_FILES:,} at once", file=sys.stderr)
        return 2
    if args.class_dir is not None:
        from ..classroom.cli import grade_class  # only a class pays for importing the class set

        return grade_class(args, paths)
    try:
        reports = grade_many(paths, tolerance=args.tolerance, sheet=args.sheet, recalc=args.recalc)
        for r in reports:
            if args.json:
                print(json.dumps(r.to_json(), ensure_ascii=False))
            else:
                print(summary_line(r))
                for d in r.diagnoses:
                    print(f"  {d.text}")
                for note in r.notes:
                    print(f"  note: {note}")
        if args.out is not None:
            write_xlsx(reports, args.out)
        if args.csv is not None:
            write_csv(reports, args.csv)
    except GradebookError as e:
        print(f"excelgen grade: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("excelgen grade: interrupted; no gradebook written", file=sys.stderr)
        return 130
    if not args.json:
        for out in (args.out, args.csv):
            if out is not None:
                print(f"wrote {out}", file=sys.stderr)
    return 0

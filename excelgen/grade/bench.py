"""How fast the grader is: `python -m excelgen.grade.bench [--files N]` (reported, not asserted).

Cases, each graded in this process after one warm-up (imports excluded, as in a batch):
- "student sheet": a one-sheet 100-iteration table in the documents' layout, written with xlsxwriter as a
  spreadsheet program saves it (each computed cell a formula with its cached value);
- "student sheet, two wrong columns": the same with dE/dw3 wrong in every row and one typed slip in h1, so
  the whole catalogue is tried on both (the slowest path);
- "excelgen workbook": our own default workbook (9 sheets; its Backprop table is graded);
- "class of N": grade_many over N submissions, half right and half with the two wrong columns.
The issue's targets: under 0.5 s per 100-iteration submission, 200 submissions in under 60 s.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import xlsxwriter

from .api import grade_file, grade_many
from .project import Config, Network, generate_workbook, reference

ORDER = (
    "t1", "t2", "i1", "i2", "w1", "w2", "w3", "w4", "h1", "a_h1", "h2", "a_h2", "w5", "w6", "w7", "w8",
    "o1", "a_o1", "o2", "a_o2", "E1", "E2", "E_total", *reference.WEIGHT_GRADS,
)  # fmt: skip


def student_sheet(path: Path, iterations: int = 100, wrong: bool = False) -> Path:
    """A student-sized workbook: the table at B4, the η cell at B2; every cell after row 0's inputs a formula
    (the text a student types, of the usual length) with the reference's value cached."""
    run = reference.trajectory(Network(), 0.5, iterations)
    if wrong:
        run = {k: v.copy() for k, v in run.items()}
        run["dE/dw3"] *= 1.1
        run["h1"][iterations // 2] += 0.001
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("Backprop")
    sheet.write_string(1, 1, "η")
    sheet.write_number(1, 2, 0.5)
    for j, name in enumerate(ORDER):
        sheet.write_string(3, 1 + j, name)
    for k in range(iterations + 1):
        for j, name in enumerate(ORDER):
            value = float(run[name][k])
            if k == 0 and j < 8 or (k == 0 and name in ("w5", "w6", "w7", "w8")):
                sheet.write_number(4 + k, 1 + j, value)
            else:  # a formula of a typical length: the grader reads only the cached value
                sheet.write_formula(
                    4 + k, 1 + j, f"=(B{4 + k}-C{4 + k})*D{4 + k}*(1-D{4 + k})*E{4 + k}", None, value
                )
    book.close()
    return path


def _time(fn, repeat: int) -> tuple[float, float]:
    fn()  # warm-up
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - wall) / repeat, (time.process_time() - cpu) / repeat


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m excelgen.grade.bench", description=__doc__.splitlines()[0])
    p.add_argument("--files", type=int, default=200, help="submissions in the class case (default 200)")
    p.add_argument("--repeat", type=int, default=10, help="gradings per single-file case (default 10)")
    args = p.parse_args(argv)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory(prefix="grade-bench-") as tmp:
        folder = Path(tmp)
        right = student_sheet(folder / "right.xlsx")
        wrong = student_sheet(folder / "wrong.xlsx", wrong=True)
        ours = folder / "backprop.xlsx"
        generate_workbook(Config(), ours)
        for label, path in (
            ("student sheet, 100 iterations", right),
            ("student sheet, two wrong columns", wrong),
            ("excelgen workbook (9 sheets)", ours),
        ):
            report = grade_file(path)
            wall, cpu = _time(lambda path=path: grade_file(path), args.repeat)
            size = path.stat().st_size / 1024
            print(
                f"{label:36s} {size:7.0f} KiB  {wall:6.3f} s wall  {cpu:6.3f} s CPU  score {report.score:g}"
            )
        paths = []
        for k in range(args.files):
            dest = folder / "class" / f"student-{k:04d}.xlsx"
            dest.parent.mkdir(exist_ok=True)
            shutil.copyfile(wrong if k % 2 else right, dest)
            paths.append(dest)
        wall, cpu = time.perf_counter(), time.process_time()
        reports = grade_many(paths)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        graded = sum(r.status == "graded" for r in reports)
        print(
            f"{f'class of {args.files}':36s} {'':12s} {wall:6.2f} s wall  {cpu:6.2f} s CPU  {graded} graded"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

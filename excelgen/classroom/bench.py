"""How fast a class set is: `python -m excelgen.classroom.bench [--students N] [--sweep]` (reported, not
asserted).

- "write": `excelgen class` for a roster of N students (default 60, 100 iterations): N blank workbooks, N
  keys, class.json, through the CLI's own functions, in this process (imports excluded);
- "grade": `excelgen grade --class` over N submissions, each a filled 100-iteration table with saved values
  (the keys, under the students' ids: what a student's file holds once Excel or LibreOffice saved it), and
  the class gradebook written.
Wall time and this process's CPU time (with its worker processes') for each, and the load average, which
on a shared machine explains the gap. The issue's targets: a class of 60 written in under 10 s, graded in
under 30 s.
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

from ..model.config import Config
from . import build, classfile, grading
from .roster import Student


def _cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _timed(what: str, run) -> None:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    wall, cpu = time.perf_counter(), _cpu()
    run()
    wall, cpu = time.perf_counter() - wall, _cpu() - cpu
    print(f"{what:<44} {wall:7.2f} s wall {cpu:7.2f} s CPU   (load average {load:.1f} before)")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m excelgen.classroom.bench")
    p.add_argument("--students", type=int, default=60)
    p.add_argument("--sweep", action="store_true", help="keys with the default learning-rate sweep")
    args = p.parse_args(argv)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"{platform.processor() or platform.machine()}, {cores} cores, Python {platform.python_version()}")
    students = [Student(f"s{k:03d}", f"Student {k}") for k in range(args.students)]
    with tempfile.TemporaryDirectory(prefix="excelgen-class-bench-") as tmp:
        out = Path(tmp) / "class"
        _timed(
            f"write a class of {args.students}" + (" (keys with the sweep)" if args.sweep else ""),
            lambda: build.write_class(build.plan(students, "bench", Config(), sweep=args.sweep), out),
        )
        subs = Path(tmp) / "submissions"
        subs.mkdir()
        for s in students:
            shutil.copy(out / build.KEYS / f"{s.id}.xlsx", subs / f"{s.id}.xlsx")
        cs = classfile.read(out)

        def grade() -> None:
            entries = grading.grade_submissions(cs, sorted(subs.iterdir()))
            grading.record(cs, out, entries)
            assert all(e.report.score == 100 for e in entries), "a key graded below 100: a bug"

        _timed(f"grade the class of {args.students} + gradebook", grade)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

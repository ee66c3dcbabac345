"""How fast and how big: `python -m excelgen.tools.bench` (also `make bench`).

For each case, a fresh Python process writes the workbook with `excelgen.cli.generate` and reports the time
that call took (wall clock, and the CPU time it used, which other load on a shared machine inflates less)
and its peak resident memory (``ru_maxrss`` of that process, so the interpreter and the imported libraries
are included: it is what a user's `excelgen` run needs). The parent then reports the file size and
LibreOffice's time to open, fully recalculate and save the file headless, its start-up included.

LibreOffice is driven by excelgen/tools/libreoffice.py, as in the tests.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import openpyxl

from ..cli import generate
from ..model.config import Config, Training
from ..sheets import layout
from .libreoffice import recalc, soffice

# The documents' six rates plus the plateau one: the "10,000 iterations x 7 rates" case of the issue.
CASES = {
    "default": Config(),
    "10000x7": Config(
        training=Training(learning_rates=(0.1, 0.2, 0.5, 0.8, 1.0, 2.0, 1000.0), iterations=10_000)
    ),
}

# The targets on a 2-core machine: (seconds for generate(), MiB of peak memory).
TARGETS = {"default": (1.0, None), "10000x7": (30.0, 1024.0)}


def _verdict(case: str, seconds: float, peak_mib: float) -> str:
    max_s, max_mib = TARGETS[case]
    ok = seconds < max_s and (max_mib is None or peak_mib < max_mib)
    target = f"< {max_s:g} s" + ("" if max_mib is None else f" and < {max_mib:g} MiB")
    return f"target {target}: {'met' if ok else 'MISSED'}"


def _child(case: str, out: Path) -> None:
    """Runs in a fresh process: time one generate() call, report it and this process's peak memory."""
    cpu_start, start = time.process_time(), time.perf_counter()
    generate(CASES[case], out)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({"generate_s": seconds, "cpu_s": cpu, "peak_rss_mib": peak_kib / 1024}))


def _measure(case: str, out: Path) -> dict[str, float]:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "excelgen.tools.bench", "--child", case, str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["process_s"] = time.perf_counter() - start
    result["size_mib"] = out.stat().st_size / 2**20
    return result


def _recalc(src: Path, workdir: Path) -> tuple[float, Path]:
    """Seconds LibreOffice took to load, recalculate and save `src`, and the file it wrote."""
    start = time.perf_counter()
    out = recalc(src, workdir)
    return time.perf_counter() - start, out


def check_status(recalculated: Path) -> tuple[str, float]:
    """The Check sheet's status and largest relative difference, as the spreadsheet engine computed them."""
    wanted = [layout.CHECK_CELLS[layout.CHECK_STATUS], layout.CHECK_CELLS[layout.CHECK_MAX_REL_DIFF]]
    book = openpyxl.load_workbook(recalculated, read_only=True, data_only=True)
    try:
        last = max(row for row, _ in wanted)
        rows = list(book[layout.CHECK].iter_rows(min_row=1, max_row=last + 1, values_only=True))
    finally:
        book.close()
    status, max_rel = (rows[row][col] for row, col in wanted)
    return status, max_rel


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m excelgen.tools.bench", description=__doc__.splitlines()[0])
    p.add_argument("--no-libreoffice", action="store_true", help="skip LibreOffice's recalculation time")
    p.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    p.add_argument("--child", nargs=2, metavar=("CASE", "OUT"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        _child(args.child[0], Path(args.child[1]))
        return 0

    use_lo = not args.no_libreoffice and soffice() is not None
    print(f"excelgen bench: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, a fresh process per case")
    print("peak memory = ru_maxrss of that process (interpreter and libraries included)")
    with tempfile.TemporaryDirectory(prefix="excelgen-bench-") as tmp:
        tmp = Path(tmp)
        if use_lo:
            # The first start builds the profile; time it on a tiny file so it is not charged to a case.
            tiny = tmp / "startup.xlsx"
            generate(Config(training=Training(learning_rates=(1.0,), iterations=1)), tiny)
            print(f"LibreOffice start-up (1-iteration file, new profile): {_recalc(tiny, tmp)[0]:.1f} s")
            print(f"LibreOffice start-up (same, warm profile):            {_recalc(tiny, tmp)[0]:.1f} s")
        for case in args.cases:
            t = CASES[case].training
            out = tmp / f"{case}.xlsx"
            r = _measure(case, out)
            line = (
                f"{case:>8}: {t.iterations} iterations x {len(t.learning_rates)} rates: "
                f"generate {r['generate_s']:.2f} s (CPU {r['cpu_s']:.2f} s, "
                f"whole process {r['process_s']:.2f} s), "
                f"peak {r['peak_rss_mib']:.0f} MiB, file {r['size_mib']:.2f} MiB"
            )
            if use_lo:
                seconds, recalculated = _recalc(out, tmp)
                status, max_rel = check_status(recalculated)
                line += f", LibreOffice load+recalc+save {seconds:.1f} s"
                line += f", its Check sheet: {status} (largest relative difference {max_rel:.2g})"
            print(f"{line}; {_verdict(case, r['generate_s'], r['peak_rss_mib'])}", flush=True)
    if not use_lo and not args.no_libreoffice:
        print("LibreOffice (soffice) not found: recalculation time not measured")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Headless LibreOffice, the one place that knows how to drive it: convert files with a throwaway profile
whose only setting makes Calc recalculate every formula of an .xlsx on load (by default it keeps the cached
values). The tests, the bench and docs/render.py all go through here.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

# LibreOffice keeps an .xlsx file's cached values on load unless told otherwise; 0 means "always recalculate".
RECALC_PROFILE = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry" xmlns:xs="http://www.w3.org/2001/XMLSchema"
 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="OOXMLRecalcMode" oor:op="fuse">
<value>0</value></prop></item>
</oor:items>
"""

XLSX = ("xlsx:Calc MS Excel 2007 XML", ".xlsx")
PDF = ("pdf", ".pdf")
# Every sheet as CSV, UTF-8, each cell as shown (its number format applied): "<file>-<sheet>.csv" each.
SHOWN_CSV = ("csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,true,false,false,-1", ".csv")


def soffice() -> str | None:
    """The LibreOffice executable on PATH, or None."""
    return shutil.which("soffice") or shutil.which("libreoffice")


def convert(
    srcs: Sequence[Path], workdir: Path, outdir: Path, to: tuple[str, str] = XLSX, timeout: float = 600
) -> list[Path]:
    """Open each file in headless LibreOffice (recalculating on load) and save it `to` (filter, suffix) in
    `outdir`. One LibreOffice start serves all files. The profile is a throwaway one in `workdir` (so runs in
    parallel never share a profile lock). Returns the new paths in the order of `srcs`; raises RuntimeError
    when LibreOffice is missing or a file did not come out.
    """
    outdir = Path(outdir).resolve()
    filter_name, suffix = to
    srcs = [Path(s).resolve() for s in srcs]
    outs = [outdir / f"{s.stem}{suffix}" for s in srcs]
    if len(set(outs)) != len(outs):
        raise ValueError(f"two sources share a file name: {[s.name for s in srcs]}")
    for out in outs:
        out.unlink(missing_ok=True)
    proc = _run(srcs, workdir, outdir, filter_name, timeout)
    missing = [str(s) for s, out in zip(srcs, outs, strict=True) if not out.exists()]
    if proc.returncode != 0 or missing:
        raise RuntimeError(
            f"LibreOffice failed (exit {proc.returncode}) on {missing or srcs}:\n{proc.stdout}{proc.stderr}"
        )
    return outs


def _run(
    srcs: Sequence[Path], workdir: Path, outdir: Path, filter_name: str, timeout: float
) -> subprocess.CompletedProcess:
    """One headless LibreOffice, with a throwaway recalculating profile in `workdir`, converting `srcs`."""
    exe = soffice()
    if exe is None:
        raise RuntimeError("LibreOffice (soffice) is not on PATH; install libreoffice-calc-nogui")
    profile = Path(workdir).resolve() / "lo-profile"
    (profile / "user").mkdir(parents=True, exist_ok=True)
    (profile / "user" / "registrymodifications.xcu").write_text(RECALC_PROFILE, encoding="utf-8")
    outdir.mkdir(parents=True, exist_ok=True)
    cmd = [exe, f"-env:UserInstallation={profile.as_uri()}", "--headless", "--norestore", "--nologo",
           "--convert-to", filter_name, "--outdir", str(outdir), *map(str, srcs)]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def recalc_many(srcs: Sequence[Path], workdir: Path, timeout: float = 600) -> list[Path]:
    """Recalculate each .xlsx and save it as .xlsx under `workdir`/recalculated."""
    return convert(srcs, workdir, Path(workdir) / "recalculated", XLSX, timeout)


def recalc(src: Path, workdir: Path, timeout: float = 600) -> Path:
    """Recalculate one .xlsx in headless LibreOffice; see recalc_many."""
    return recalc_many([src], workdir, timeout)[0]


def shown(srcs: Sequence[Path], workdir: Path, timeout: float = 600) -> list[dict[str, list[list[str]]]]:
    """What each cell of each .xlsx shows in LibreOffice once recalculated, its number format applied:
    per file, sheet name -> rows of cell texts. One LibreOffice start serves all files."""

    outdir = Path(workdir).resolve() / "shown"
    srcs = [Path(s).resolve() for s in srcs]
    proc = _run(srcs, workdir, outdir, SHOWN_CSV[0], timeout)
    result = []
    for src in srcs:
        sheets = {}
        for path in sorted(outdir.glob(f"{src.stem}-*.csv")):
            with path.open(newline="", encoding="utf-8") as f:
                sheets[path.stem[len(src.stem) + 1 :]] = list(csv.reader(f))
        if proc.returncode != 0 or not sheets:
            output = f"{proc.stdout}{proc.stderr}"
            raise RuntimeError(f"LibreOffice failed (exit {proc.returncode}) on {src}:\n{output}")
        result.append(sheets)
    return result

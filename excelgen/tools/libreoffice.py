"""Headless LibreOffice, the one place that knows how to drive it: convert files with a throwaway profile
whose only setting makes Calc recalculate every formula of an .xlsx on load (by default it keeps the cached
values). The tests, the bench and docs/render.py all go through here.
"""

from __future__ import annotations

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
    exe = soffice()
    if exe is None:
        raise RuntimeError("LibreOffice (soffice) is not on PATH; install libreoffice-calc-nogui")
    profile = Path(workdir).resolve() / "lo-profile"
    (profile / "user").mkdir(parents=True, exist_ok=True)
    (profile / "user" / "registrymodifications.xcu").write_text(RECALC_PROFILE, encoding="utf-8")
    outdir = Path(outdir).resolve()
    outdir.mkdir(parents=True, exist_ok=True)
    filter_name, suffix = to
    srcs = [Path(s).resolve() for s in srcs]
    outs = [outdir / f"{s.stem}{suffix}" for s in srcs]
    if len(set(outs)) != len(outs):
        raise ValueError(f"two sources share a file name: {[s.name for s in srcs]}")
    for out in outs:
        out.unlink(missing_ok=True)
    cmd = [
        exe,
        f"-env:UserInstallation={profile.as_uri()}",
        "--headless",
        "--norestore",
        "--nologo",
        "--convert-to",
        filter_name,
        "--outdir",
        str(outdir),
        *map(str, srcs),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    missing = [str(s) for s, out in zip(srcs, outs, strict=True) if not out.exists()]
    if proc.returncode != 0 or missing:
        raise RuntimeError(
            f"LibreOffice failed (exit {proc.returncode}) on {missing or srcs}:\n{proc.stdout}{proc.stderr}"
        )
    return outs


def recalc_many(srcs: Sequence[Path], workdir: Path, timeout: float = 600) -> list[Path]:
    """Recalculate each .xlsx and save it as .xlsx under `workdir`/recalculated."""
    return convert(srcs, workdir, Path(workdir) / "recalculated", XLSX, timeout)


def recalc(src: Path, workdir: Path, timeout: float = 600) -> Path:
    """Recalculate one .xlsx in headless LibreOffice; see recalc_many."""
    return recalc_many([src], workdir, timeout)[0]

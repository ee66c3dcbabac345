"""Render the README's pictures from a workbook: the LR sweep charts and the MNIST charts, as PNG.

    python docs/render.py output/backprop.xlsx        # -> docs/img/lr_sweep.png, docs/img/mnist.png

For each picture a throwaway copy of the workbook prints only that sheet's charts (every other sheet hidden,
a print area over the charts' anchors, fit to one landscape page); headless LibreOffice turns the copies
into PDF (recalculating on load, so a file whose cached values an editor dropped still renders right);
pdftoppm (Debian: poppler-utils) makes each first page a PNG, which is trimmed to its content and reduced to
a palette so that it stays small. The user's workbook is only read.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageChops

from excelgen.layout import SWEEP
from excelgen.libreoffice import PDF, convert, soffice
from excelgen.package import Package, PackageError
from trainer.export import MNIST_SHEET

PICTURES = {"lr_sweep.png": SWEEP, "mnist.png": MNIST_SHEET}
DPI = 110
MARGIN = 12  # pixels of white kept around the trimmed content


def print_copy(workbook: Path, sheet: str, out: Path) -> None:
    """A copy of the workbook that prints nothing but the charts of `sheet`."""
    package = Package(workbook.read_bytes())
    package.print_only(sheet, package.chart_area(sheet))
    out.write_bytes(package.to_bytes())


def to_pdf(sources: list[Path], workdir: Path) -> list[Path]:
    if soffice() is None:
        raise SystemExit(
            "render: LibreOffice (soffice) is not installed: apt-get install libreoffice-calc-nogui"
        )
    try:
        return convert(sources, workdir, workdir, PDF)
    except RuntimeError as e:
        raise SystemExit(f"render: {e}") from None


def to_png(pdf: Path, out: Path) -> None:
    stem = pdf.with_suffix("")
    cmd = ["pdftoppm", "-png", "-r", str(DPI), "-f", "1", "-l", "1", "-singlefile", str(pdf), str(stem)]
    try:
        subprocess.run(cmd, check=True, capture_output=True)
    except FileNotFoundError:
        raise SystemExit("render: pdftoppm is not installed: apt-get install poppler-utils") from None
    page = Image.open(stem.with_suffix(".png")).convert("RGB")
    box = ImageChops.difference(page, Image.new("RGB", page.size, "white")).getbbox()
    if box is None:
        raise SystemExit(f"render: {pdf.name} came out blank")
    left, top, right, bottom = box
    box = (
        max(left - MARGIN, 0),
        max(top - MARGIN, 0),
        min(right + MARGIN, page.width),
        min(bottom + MARGIN, page.height),
    )
    page.crop(box).quantize(colors=128).save(out, optimize=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workbook", type=Path, help="an excelgen workbook with an MNIST sheet (make train)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "img", help="folder for the PNGs")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        copies = []
        for name, sheet in PICTURES.items():
            copies.append(workdir / f"{Path(name).stem}.xlsx")
            try:
                print_copy(args.workbook, sheet, copies[-1])
            except (OSError, PackageError, ValueError) as e:  # no such file, not a workbook, no such sheet
                print(
                    f"render: {args.workbook}: {e}; pass a workbook that `make train` wrote", file=sys.stderr
                )
                return 2
        for pdf, name in zip(to_pdf(copies, workdir), PICTURES, strict=True):
            to_png(pdf, args.out / name)
            print(f"wrote {args.out / name} ({(args.out / name).stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

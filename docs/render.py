"""Render the README's pictures from a workbook as PNG: the LR sweep charts, the Backprop sheet (with
show_answers off and on, and its gradient check), the MNIST charts and the top of the MNIST sheet's "what the
network learned" section.

    python docs/render.py output/backprop.xlsx        # -> docs/img/*.png (the MNIST ones need `make train`)
    python docs/render.py output/backprop.xlsx --only backprop_answers_off.png backprop_answers_on.png

For each picture a throwaway copy of the workbook prints only one area of one sheet (every other sheet
hidden, a print area: over the charts' anchors, one of the Backprop sheet's areas or the learned section,
fit to one landscape page), with the exercise switch set where the picture says; headless LibreOffice turns
the copies into PDF (recalculating on load, so a file whose cached values an editor dropped still renders
right, and the conditional formats see the switch); pdftoppm (Debian: poppler-utils) makes each first page a
PNG, which is trimmed to its content and reduced to a palette so that it stays small. The user's workbook is
only read.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from openpyxl import load_workbook
from openpyxl.utils import get_column_letter
from PIL import Image, ImageChops

from excelgen.sheets import layout
from excelgen.sheets.layout import SWEEP
from excelgen.tools.libreoffice import PDF, convert, soffice
from trainer import learned
from trainer.export import MNIST_SHEET
from xlsxedit.package import Package, PackageError

MARGIN = 12  # pixels of white kept around the trimmed content
GALLERY_LINES = 2  # the learned section's picture ends below this many lines of mistakes
CHARTS, SECTION = "charts", "section"  # areas found in the workbook: its charts' anchors, the learned section


def _area(first_row: int, first_col: int, last_row: int, last_col: int) -> str:
    return f"{layout.a1(first_row, first_col, True)}:{layout.a1(last_row, last_col, True)}"


# The Backprop sheet: its left part (legend, inputs, diagram, the exercise switch, iterations 0 to 3 of the
# table's first columns) with answers hidden and shown, and the gradient check.
_LEFT = _area(0, 0, layout.data_row(3), layout.DERIVATION_COLS[0] - 1)
_GRADCHECK = _area(
    layout.GRADCHECK_TOP, layout.GRADCHECK_LABEL_COL, layout.GRADCHECK_MAX_CELL[0], layout.GRADCHECK_LAST_COL
)
# picture: (sheet, area, show_answers or None to leave it, dots per inch)
PICTURES = {
    "lr_sweep.png": (SWEEP, CHARTS, None, 110),
    "backprop_answers_off.png": (layout.BACKPROP, _LEFT, False, 110),
    "backprop_answers_on.png": (layout.BACKPROP, _LEFT, True, 110),
    "gradient_check.png": (layout.BACKPROP, _GRADCHECK, True, 110),
    "mnist.png": (MNIST_SHEET, CHARTS, None, 110),
    # A wide area on one page: more dots, so that the small text stays legible.
    "mnist_learned.png": (MNIST_SHEET, SECTION, None, 220),
}


def section_area(workbook: Path) -> str:
    """The learned section from its title to the end of its first GALLERY_LINES lines of mistakes."""
    book = load_workbook(workbook, read_only=True)
    try:
        cells = [
            (c.row, c.column, c.value)
            for row in book[MNIST_SHEET].iter_rows()
            for c in row
            if c.value is not None
        ]
    finally:
        book.close()
    top = next((r for r, col, v in cells if col == 1 and v == learned.TITLE), None)
    if top is None:
        raise ValueError(f"its {MNIST_SHEET} sheet has no section {learned.TITLE!r}")
    if any(r == top + 1 and str(v).startswith("Nothing to draw") for r, _, v in cells):
        raise ValueError(f"its {MNIST_SHEET} sheet has no results drawn (the run has no results.json)")
    after = (
        f"#{GALLERY_LINES * learned.GALLERY_COLUMNS + 1} "  # the label above the next line's first picture
    )
    below = [r for r, _, v in cells if r > top and isinstance(v, str) and v.startswith(after)]
    bottom = below[0] - 1 if below else max(r for r, _, _ in cells)
    right = get_column_letter(max(col for r, col, _ in cells if top <= r <= bottom))
    return f"$A${top}:${right}${bottom}"


def set_show_answers(package: Package, on: bool) -> None:
    """Set the Backprop sheet's show_answers cell in a throwaway copy: a boolean cell, keeping its style."""
    part = package.sheet_part(layout.BACKPROP)
    if part is None:
        raise ValueError(f"no sheet {layout.BACKPROP!r}")
    ref = layout.a1(*layout.SHOW_ANSWERS_CELL)

    def boolean(m: re.Match[str]) -> str:
        attrs = re.sub(r'\st="[^"]*"', "", m["attrs"])
        return f'<c r="{ref}"{attrs} t="b"><v>{int(on)}</v></c>'

    cell = re.compile(rf'<c r="{ref}"(?P<attrs>[^>]*?)(?:/>|>.*?</c>)', re.S)
    xml, found = cell.subn(boolean, package.text(part), count=1)
    if not found:
        raise ValueError(f"no {layout.SHOW_ANSWERS} cell at {layout.BACKPROP}!{ref} (an older workbook?)")
    package.parts[part] = xml.encode("utf-8")


def print_copy(workbook: Path, sheet: str, area: str, show_answers: bool | None, out: Path) -> None:
    """A copy of the workbook that prints nothing but `area` of `sheet`, with the exercise switch set when
    `show_answers` is given."""
    package = Package(workbook.read_bytes())
    if show_answers is not None:
        set_show_answers(package, show_answers)
    if area == CHARTS:
        area = package.chart_area(sheet)
    elif area == SECTION:
        area = section_area(workbook)
    package.print_only(sheet, area)
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


def to_png(pdf: Path, out: Path, dpi: int) -> None:
    stem = pdf.with_suffix("")
    cmd = ["pdftoppm", "-png", "-r", str(dpi), "-f", "1", "-l", "1", "-singlefile", str(pdf), str(stem)]
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
    parser.add_argument("workbook", type=Path, help="an excelgen workbook (with an MNIST sheet: make train)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "img", help="folder for the PNGs")
    parser.add_argument(
        "--only", nargs="+", choices=list(PICTURES), default=list(PICTURES), metavar="PNG", help="only these"
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        copies = []
        for name in args.only:
            sheet, area, switch, _ = PICTURES[name]
            copies.append(workdir / f"{Path(name).stem}.xlsx")
            try:
                print_copy(args.workbook, sheet, area, switch, copies[-1])
            except (OSError, PackageError, ValueError) as e:  # no such file, not a workbook, no such sheet
                print(
                    f"render: {args.workbook}: {e}; pass a workbook that `make train` wrote", file=sys.stderr
                )
                return 2
        for pdf, name in zip(to_pdf(copies, workdir), args.only, strict=True):
            to_png(pdf, args.out / name, PICTURES[name][3])
            print(f"wrote {args.out / name} ({(args.out / name).stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

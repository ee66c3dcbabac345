"""Render the README's pictures from a workbook as PNG: the LR sweep charts, the Backprop sheet (with
show_answers off and on, and its gradient check), the MNIST charts and the top of the MNIST sheet's "what the
network learned" section.

    python docs/render.py output/backprop.xlsx        # -> docs/img/*.png (the MNIST ones need `make train`)
    python docs/render.py output/backprop.xlsx --only backprop_answers_off.png lr_sheet.png

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
from xml.sax.saxutils import escape

from openpyxl import load_workbook
from openpyxl.utils import get_column_letter
from PIL import Image, ImageChops
from xlsxwriter.utility import xl_rowcol_to_cell

from excelgen.sheets import layout
from excelgen.sheets.layout import SWEEP
from excelgen.tools.libreoffice import PDF, convert, soffice
from trainer.export import MNIST_SHEET, learned
from xlsxedit.package import Package, PackageError
from xlsxedit.relationships import NS_DOC_REL
from xlsxedit.xmltext import apply_edits, attr, container, element_spans, parse, q, set_attr

MARGIN = 12  # pixels of white kept around the trimmed content
GALLERY_LINES = 2  # the learned section's picture ends below this many lines of mistakes
CHARTS, SECTION = "charts", "section"  # areas found in the workbook: its charts' anchors, the learned section


def _area(first_row: int, first_col: int, last_row: int, last_col: int) -> str:
    return f"{layout.a1(first_row, first_col, True)}:{layout.a1(last_row, last_col, True)}"


# The Backprop sheet: its left part (legend, inputs, diagram, the exercise switch, iterations 0 to 3 of the
# table's first columns) with answers hidden and shown, and the gradient check.
_LEFT = _area(0, 0, layout.data_row(3), layout.BACKPROP_CHART_CELL[1] - 1)
_GRADCHECK = _area(
    layout.GRADCHECK_TOP, layout.GRADCHECK_LABEL_COL, layout.GRADCHECK_MAX_CELL[0], layout.GRADCHECK_LAST_COL
)
# The first learning-rate sheet of `make workbook` (η = 0.1): its title, η cell and notes, summary, legend and
# charts, over the first iterations of its table.
_LR_SHEET = layout.lr_sheet_name(0.1)
_LR_TOP = _area(0, 0, layout.data_row(3), layout.LR_CHART_CELL[1] + 11)
# picture: (sheet, area, show_answers or None to leave it, dots per inch)
PICTURES = {
    "lr_sweep.png": (SWEEP, CHARTS, None, 110),
    "lr_sheet.png": (_LR_SHEET, _LR_TOP, None, 110),
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


# -- a copy that prints one sheet's charts -------------------------------------------------------------------


def chart_area(book: Package, sheet: str) -> str:
    """The cell range that the charts of a sheet cover, from their drawing anchors: "$K$4:$T$35"."""
    part = book.sheet_part(sheet)
    if part is None:
        raise ValueError(f"no sheet {sheet!r}")
    xdr = "http://schemas.openxmlformats.org/drawingml/2006/spreadsheetDrawing"
    cols, rows = [], []
    for drawing in (r.target for r in book.rels(part) if r.type == NS_DOC_REL + "/drawing"):
        for anchor in parse(book.parts[drawing], drawing).iter(q(xdr, "twoCellAnchor")):
            if anchor.find(q(xdr, "graphicFrame")) is None:  # a shape or picture, not a chart
                continue
            for corner in ("from", "to"):
                cols.append(int(anchor.findtext(f"{{{xdr}}}{corner}/{{{xdr}}}col")))
                rows.append(int(anchor.findtext(f"{{{xdr}}}{corner}/{{{xdr}}}row")))
    if not cols:
        raise ValueError(f"sheet {sheet!r} has no chart")
    # Anchors are 0-based and the "to" cell holds the chart's edge, so it belongs to the area.
    first, last = (
        xl_rowcol_to_cell(min(rows), min(cols), True, True),
        xl_rowcol_to_cell(max(rows), max(cols), True, True),
    )
    return f"{first}:{last}"


def print_only(book: Package, sheet: str, area: str) -> None:
    """Make this (a throwaway copy) print nothing but `area` of `sheet`, landscape on one page: every
    other sheet hidden, a print area, fit to page."""
    entries = book.sheet_entries()
    index = next(i for i, (n, _, _) in enumerate(entries) if n.lower() == sheet.lower())
    text, block, spans = book.sheet_spans()
    edits = [
        (s.start, s.end, set_attr(s.xml, "state", "visible" if i == index else "hidden"))
        for i, s in enumerate(spans)
    ]
    view = container(text, "workbookView")
    if view is not None:
        tag = view.open_tag()
        tag = set_attr(set_attr(tag, "activeTab", str(index)), "firstSheet", str(index))
        edits.append((view.start, view.start + len(view.open_tag()), tag))
    quoted = "'" + sheet.replace("'", "''") + "'"
    names = container(text, "definedNames")
    p = names.prefix if names is not None else block.prefix
    print_area = f'<{p}definedName name="_xlnm.Print_Area" localSheetId="{index}">'
    print_area += f"{escape(quoted)}!{area}</{p}definedName>"
    if names is not None and not names.xml.endswith("/>"):
        for old in element_spans(names.xml, "definedName", names.start):
            tag = old.open_tag()
            if attr(tag, "name") == "_xlnm.Print_Area" and attr(tag, "localSheetId") == str(index):
                edits.append((old.start, old.end, ""))
        at = names.start + names.xml.rindex("</")
        edits.append((at, at, print_area))
    else:  # definedNames follows sheets (and externalReferences, when there are any)
        after = max(s.end for s in (container(text, t) for t in ("sheets", "externalReferences")) if s)
        if names is not None:  # an empty <definedNames/>
            edits.append((names.start, names.end, ""))
        edits.append((after, after, f"<{p}definedNames>{print_area}</{p}definedNames>"))
    book.set_text(book.workbook, apply_edits(text, edits))

    part = book.sheet_part(sheet)
    xml = book.text(part)
    setup = container(xml, "pageSetup")
    landscape = {"orientation": "landscape", "fitToWidth": "1", "fitToHeight": "1"}
    if setup is not None:
        tag = setup.xml
        for key, value in landscape.items():
            tag = set_attr(tag, key, value)
        xml = xml[: setup.start] + tag + xml[setup.end :]
    else:
        margins = container(xml, "pageMargins")
        if margins is None:
            raise PackageError(f"{part} has no <pageMargins> to put a page setup after")
        tag = f"<{margins.prefix}pageSetup" + "".join(f' {k}="{v}"' for k, v in landscape.items()) + "/>"
        xml = xml[: margins.end] + tag + xml[margins.end :]
    sheet_pr = container(xml, "sheetPr")
    fit = container(sheet_pr.xml, "pageSetUpPr") if sheet_pr is not None else None
    if fit is not None:
        at = sheet_pr.start + fit.start
        xml = xml[:at] + set_attr(fit.xml, "fitToPage", "1") + xml[at + len(fit.xml) :]
    elif sheet_pr is not None:
        p = sheet_pr.prefix
        body = (
            sheet_pr.xml[:-2] + ">"
            if sheet_pr.xml.endswith("/>")
            else sheet_pr.xml[: sheet_pr.xml.rindex("</")]
        )
        new = f'{body}<{p}pageSetUpPr fitToPage="1"/></{p}sheetPr>'
        xml = xml[: sheet_pr.start] + new + xml[sheet_pr.end :]
    else:
        root = re.search(r"<([\w.-]+:)?worksheet\b[^>]*>", xml)
        p = root.group(1) or ""
        xml = (
            xml[: root.end()]
            + f'<{p}sheetPr><{p}pageSetUpPr fitToPage="1"/></{p}sheetPr>'
            + xml[root.end() :]
        )
    book.set_text(part, xml)


def print_copy(workbook: Path, sheet: str, area: str, show_answers: bool | None, out: Path) -> None:
    """A copy of the workbook that prints nothing but `area` of `sheet`, with the exercise switch set when
    `show_answers` is given."""
    package = Package(workbook.read_bytes())
    if show_answers is not None:
        set_show_answers(package, show_answers)
    if area == CHARTS:
        area = chart_area(package, sheet)
    elif area == SECTION:
        area = section_area(workbook)
    print_only(package, sheet, area)
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

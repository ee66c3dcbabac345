"""The MNIST sheet's last section, "what the network learned", drawn in cells from the run's results.json
(trainer/results.py): the confusion matrix with per-class accuracy as live formulas, the most confident
mistakes as 28x28 blocks of pixel values under a white-to-black colour scale, and the first convolution's
kernels under a diverging one (red < 0 < blue, as the Backprop sheet's gradients). Colour scales need no
differential formats, so the grafted sheet carries them as they are; every number is written with
write_number and every text with write_string.

Where it goes. Column widths and row heights belong to whole columns and rows, and a picture needs square
cells. So the section starts below everything else on the sheet, where its rows can all be CELL_PX high,
and its pictures live in narrow columns right of the confusion matrix (from column N; the charts above keep
their size in pixels over the narrower columns). Its text is small enough for those rows.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import xlsxwriter
from xlsxwriter.utility import quote_sheetname, xl_range, xl_range_abs, xl_rowcol_to_cell

from .. import results as results_file
from ..results import IMAGE, Results, ResultsUnavailable

TITLE = "What the network learned"
CLASSES = results_file.CLASSES
LABEL_COLUMN = 0  # A: row labels
COUNT_COLUMN = 1  # B..K: the confusion counts, one column per predicted digit
ACC_COLUMN = COUNT_COLUMN + CLASSES  # L: per-class accuracy
WIDE_WIDTH = 11  # characters: the epoch table's width of B..I, given to J..L too so the matrix is even
GRID_COLUMN = ACC_COLUMN + 2  # N: the first column of square cells (M is a narrow gap)
CELL_PX = 15  # a square cell: 15 px wide and high
ROW_POINTS = CELL_PX * 0.75  # 11.25 pt
NARROW_WIDTH = (CELL_PX - 5) / 7  # xlsxwriter's character units for CELL_PX pixels
FONT_SIZE = 8  # fits a CELL_PX row
GALLERY_COLUMNS = 4  # mistakes side by side
KERNELS_PER_LINE = 8
KERNEL_SCALE = 2  # a kernel's weight fills a square of 2 x 2 cells: a 3x3 kernel of single cells is tiny
WHITE, BLACK = "#FFFFFF", "#000000"
# The kernels' diverging scale, red < 0 < blue: the workbook's one sign language (the Backprop sheet's
# gradients too, in lighter tints that keep their digits legible).
NEGATIVE, POSITIVE = "#B2182B", "#2166AC"
MISTAKE_RED = "#F8696B"
# Defined names, so that formulas and readers can find the blocks wherever the sheet puts them.
CONFUSION_NAME = "mnist_confusion"
CLASS_ACC_NAME = "mnist_class_acc"
SECTION_NAME = "mnist_learned"


def owns_name(name: str) -> bool:
    """Whether the trainer may define a global name of this name (the export replaces only those of them
    that point at its own sheets: xlsxedit/ownership.py)."""
    name = name.lower()
    fixed = (CONFUSION_NAME, CLASS_ACC_NAME, SECTION_NAME)
    return name in fixed or re.fullmatch(r"mnist_mistake_\d+", name) is not None


def mistake_name(k: int) -> str:
    """The name of the k-th most confident mistake's 28x28 block, from 1."""
    return f"mnist_mistake_{k}"


def draw(wb: xlsxwriter.Workbook, ws: Any, sheet: str, top: int, run_dir: Path, log: dict[str, Any]) -> None:
    """The section from row `top` (0-based) down; when results.json is missing or wrong, its title and the
    one-line reason instead."""
    fmt = _formats(wb)
    ws.write_string(top, LABEL_COLUMN, TITLE, fmt["title"])
    try:
        res = results_file.load(run_dir, log)
    except ResultsUnavailable as e:
        ws.write_string(top + 1, LABEL_COLUMN, f"Nothing to draw: {e}", fmt["reason"])
        return
    n = res.test_images
    ws.write_string(
        top + 1,
        LABEL_COLUMN,
        f"The final model (epoch {res.epoch}) on the {n:,} test images: {res.correct:,} right, "
        f"{n - res.correct:,} wrong.",
    )
    ws.set_column(COUNT_COLUMN, ACC_COLUMN, WIDE_WIDTH)
    grid = top + 3  # the first row of small square cells
    ws.write_string(
        top + 2, LABEL_COLUMN, "Confusion matrix: rows the true digit, columns the prediction", fmt["bold"]
    )
    left_end = _confusion(wb, ws, fmt, sheet, grid, res)
    left_end = _mistake_table(ws, fmt, left_end + 2, res)
    ws.write_string(top + 2, GRID_COLUMN, _kernels_caption(res), fmt["bold"])
    row = _kernels(ws, fmt, grid, res)
    right_end, last_column = _gallery(wb, ws, fmt, sheet, row + 1, res)
    last_row = max(left_end, right_end)
    for r in range(grid, last_row + 1):
        ws.set_row(r, ROW_POINTS)
    ws.set_column(GRID_COLUMN - 1, last_column, NARROW_WIDTH)
    wb.define_name(SECTION_NAME, f"={quote_sheetname(sheet)}!{xl_range_abs(top, 0, last_row, last_column)}")


def _formats(wb: xlsxwriter.Workbook) -> dict[str, Any]:
    small = {"font_size": FONT_SIZE}
    return {
        "title": wb.add_format({"bold": True, "font_size": 14}),
        "bold": wb.add_format({"bold": True}),
        "reason": wb.add_format({"italic": True, "font_color": "#9C0006"}),
        "text": wb.add_format(small),
        "head": wb.add_format({**small, "bold": True, "bottom": 1, "bg_color": "#DDEBF7", "align": "center"}),
        "row_head": wb.add_format({**small, "bold": True, "bg_color": "#DDEBF7", "align": "center"}),
        "count": wb.add_format({**small, "num_format": "0", "align": "center"}),
        "right": wb.add_format(
            {**small, "num_format": "0", "align": "center", "bold": True, "bg_color": "#C6EFCE"}
        ),
        "total": wb.add_format({**small, "num_format": "0", "align": "center", "top": 1}),
        "pct": wb.add_format({**small, "num_format": "0.00", "align": "center"}),
        "pct_total": wb.add_format(
            {**small, "num_format": "0.00", "align": "center", "top": 1, "bold": True}
        ),
        "int": wb.add_format({**small, "num_format": "0", "align": "left"}),
        "prob": wb.add_format({**small, "num_format": "0.0%", "align": "left"}),
        "caption": wb.add_format({**small, "italic": True}),
        # The pictures' values stay in the cells (and the formula bar) but are not printed over the colours.
        "hidden": wb.add_format({**small, "num_format": ";;;"}),
    }


def _confusion(wb: xlsxwriter.Workbook, ws: Any, fmt: dict, sheet: str, top: int, res: Results) -> int:
    """Header row, ten rows of counts with per-class accuracy, a totals row; returns the last row used."""
    first, last = top + 1, top + CLASSES
    ws.write_string(top, LABEL_COLUMN, "True digit \\ predicted", fmt["head"])
    for d in range(CLASSES):
        ws.write_number(top, COUNT_COLUMN + d, d, fmt["head"])
    ws.write_string(top, ACC_COLUMN, "Accuracy (%)", fmt["head"])
    counts = res.confusion
    for t in range(CLASSES):
        row = first + t
        ws.write_number(row, LABEL_COLUMN, t, fmt["row_head"])
        for p in range(CLASSES):
            ws.write_number(row, COUNT_COLUMN + p, int(counts[t, p]), fmt["right" if t == p else "count"])
        total = int(counts[t].sum())
        cells = xl_range(row, COUNT_COLUMN, row, COUNT_COLUMN + CLASSES - 1)
        diagonal = xl_rowcol_to_cell(row, COUNT_COLUMN + t)
        ws.write_formula(
            row,
            ACC_COLUMN,
            f'=IF(SUM({cells})>0,100*{diagonal}/SUM({cells}),"")',
            fmt["pct"],
            100 * int(counts[t, t]) / total if total else "",
        )
    matrix = xl_range(first, COUNT_COLUMN, last, COUNT_COLUMN + CLASSES - 1)
    ws.write_string(last + 1, LABEL_COLUMN, "All digits (predicted)", fmt["head"])
    for p in range(CLASSES):
        column = xl_range(first, COUNT_COLUMN + p, last, COUNT_COLUMN + p)
        ws.write_formula(last + 1, COUNT_COLUMN + p, f"=SUM({column})", fmt["total"], int(counts[:, p].sum()))
    diagonal = "+".join(xl_rowcol_to_cell(first + d, COUNT_COLUMN + d) for d in range(CLASSES))
    ws.write_formula(
        last + 1,
        ACC_COLUMN,
        f'=IF(SUM({matrix})>0,100*({diagonal})/SUM({matrix}),"")',
        fmt["pct_total"],
        100 * res.correct / res.test_images,
    )
    ws.write_string(last + 3, LABEL_COLUMN, "Test images", fmt["text"])
    ws.write_formula(last + 3, COUNT_COLUMN, f"=SUM({matrix})", fmt["int"], res.test_images)
    ws.write_string(last + 4, LABEL_COLUMN, "Right (the diagonal)", fmt["text"])
    ws.write_formula(last + 4, COUNT_COLUMN, f"={diagonal}", fmt["int"], res.correct)
    # Mistakes in red, the more the darker; the diagonal keeps its green.
    off_diagonal = " ".join(
        xl_range(r, c0, r, c1)
        for t in range(CLASSES)
        for r, c0, c1 in (
            (first + t, COUNT_COLUMN, COUNT_COLUMN + t - 1),
            (first + t, COUNT_COLUMN + t + 1, COUNT_COLUMN + CLASSES - 1),
        )
        if c0 <= c1
    )
    ws.conditional_format(
        first,
        COUNT_COLUMN,
        last,
        COUNT_COLUMN + CLASSES - 1,
        {
            "type": "2_color_scale",
            "min_type": "num",
            "min_value": 0,
            "min_color": WHITE,
            "max_type": "max",
            "max_color": MISTAKE_RED,
            "multi_range": off_diagonal,
        },
    )
    wb.define_name(
        CONFUSION_NAME,
        f"={quote_sheetname(sheet)}!{xl_range_abs(first, COUNT_COLUMN, last, COUNT_COLUMN + CLASSES - 1)}",
    )
    wb.define_name(
        CLASS_ACC_NAME, f"={quote_sheetname(sheet)}!{xl_range_abs(first, ACC_COLUMN, last, ACC_COLUMN)}"
    )
    return last + 4


def _mistake_table(ws: Any, fmt: dict, top: int, res: Results) -> int:
    """The mistakes drawn on the right, as numbers; returns the last row used."""
    ws.write_string(top, LABEL_COLUMN, "Most confident mistakes", fmt["bold"])
    if not res.mistakes:
        ws.write_string(top + 1, LABEL_COLUMN, "None: every test image is right.", fmt["text"])
        return top + 1
    for col, header in enumerate(("Picture's name", "Test image", "True digit", "Predicted", "Probability")):
        ws.write_string(top + 1, LABEL_COLUMN + col, header, fmt["head"])
    for k, m in enumerate(res.mistakes, start=1):
        row = top + 1 + k
        ws.write_string(row, LABEL_COLUMN, mistake_name(k), fmt["text"])
        ws.write_number(row, LABEL_COLUMN + 1, m.index, fmt["int"])
        ws.write_number(row, LABEL_COLUMN + 2, m.true, fmt["int"])
        ws.write_number(row, LABEL_COLUMN + 3, m.predicted, fmt["int"])
        ws.write_number(row, LABEL_COLUMN + 4, m.probability, fmt["prob"])
    ws.write_string(
        top + 2 + len(res.mistakes),
        LABEL_COLUMN,
        "Test image: its 0-based index in the MNIST test set.",
        fmt["caption"],
    )
    return top + 2 + len(res.mistakes)


def _kernels_caption(res: Results) -> str:
    out, _, kh, kw = res.kernels.shape
    return (
        f"First convolution (module {res.conv_name}): {out} kernels of {kh}x{kw}, "
        "red negative, white 0, blue positive"
    )


def _kernels(ws: Any, fmt: dict, top: int, res: Results) -> int:
    """Each output channel's kernel as a heatmap, labelled, KERNELS_PER_LINE to a line; returns the first
    free row below them."""
    weights = res.kernels[:, 0]
    out, kh, kw = weights.shape
    s = KERNEL_SCALE
    blocks = []
    for k in range(out):
        line, slot = divmod(k, KERNELS_PER_LINE)
        row, col = top + line * (kh * s + 2), GRID_COLUMN + slot * (kw * s + 1)
        _label(ws, row, col, kw * s, f"ch {k}", fmt["text"])
        for i in range(kh):
            for j in range(kw):
                # Every cell of the weight's square holds it: LibreOffice colours only the first row of
                # a merged range.
                for r in range(row + 1 + i * s, row + 1 + (i + 1) * s):
                    for c in range(col + j * s, col + (j + 1) * s):
                        ws.write_number(r, c, float(weights[k, i, j]), fmt["hidden"])
        blocks.append(xl_range(row + 1, col, row + kh * s, col + kw * s - 1))
    limit = float(np.abs(weights).max()) or 1.0  # symmetric, so that white is exactly 0
    ws.conditional_format(
        top + 1,
        GRID_COLUMN,
        top + kh * s,
        GRID_COLUMN + kw * s - 1,
        {
            "type": "3_color_scale",
            "min_type": "num",
            "min_value": -limit,
            "min_color": NEGATIVE,
            "mid_type": "num",
            "mid_value": 0,
            "mid_color": WHITE,
            "max_type": "num",
            "max_value": limit,
            "max_color": POSITIVE,
            "multi_range": " ".join(blocks),
        },
    )
    lines = -(-out // KERNELS_PER_LINE)
    return top + lines * (kh * s + 2)


def _gallery(
    wb: xlsxwriter.Workbook, ws: Any, fmt: dict, sheet: str, top: int, res: Results
) -> tuple[int, int]:
    """The mistakes as pictures, GALLERY_COLUMNS to a line, each labelled above and named mnist_mistake_k;
    returns the last row and the last column used."""
    ws.write_string(
        top,
        GRID_COLUMN,
        f"The {len(res.mistakes)} most confident mistakes of {res.test_images - res.correct:,}: "
        "true digit, prediction and its probability; pixels 0 white to 255 black",
        fmt["bold"],
    )
    last_column = GRID_COLUMN + GALLERY_COLUMNS * (IMAGE + 1) - 2
    blocks = []
    for k, m in enumerate(res.mistakes):
        line, slot = divmod(k, GALLERY_COLUMNS)
        row, col = top + 1 + line * (IMAGE + 2), GRID_COLUMN + slot * (IMAGE + 1)
        label = (
            f"#{k + 1}  true {m.true}, predicted {m.predicted} ({m.probability:.1%}), test image {m.index}"
        )
        _label(ws, row, col, IMAGE, label, fmt["text"])
        for i in range(IMAGE):
            for j in range(IMAGE):
                ws.write_number(row + 1 + i, col + j, int(m.pixels[i, j]), fmt["hidden"])
        block = xl_range_abs(row + 1, col, row + IMAGE, col + IMAGE - 1)
        wb.define_name(mistake_name(k + 1), f"={quote_sheetname(sheet)}!{block}")
        blocks.append(block.replace("$", ""))
    if not blocks:
        return top, last_column
    ws.conditional_format(
        top + 2,
        GRID_COLUMN,
        top + 1 + IMAGE,
        GRID_COLUMN + IMAGE - 1,
        {
            "type": "2_color_scale",
            "min_type": "num",
            "min_value": 0,
            "min_color": WHITE,
            "max_type": "num",
            "max_value": 255,
            "max_color": BLACK,
            "multi_range": " ".join(blocks),
        },
    )
    lines = -(-len(blocks) // GALLERY_COLUMNS)
    return top + lines * (IMAGE + 2) - 1, last_column


def _label(ws: Any, row: int, col: int, width: int, text: str, cell_format: Any) -> None:
    if width > 1:
        ws.merge_range(row, col, row, col + width - 1, "", cell_format)
    ws.write_string(row, col, text, cell_format)

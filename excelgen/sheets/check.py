"""The Check sheet: the workbook's own numbers beside numpy's, and one PASS / FAIL cell.

numpy's values are constants written by the generator; beside each sits a live reference to the workbook
cell that should equal it and their relative difference, a formula mirroring reference.rel_diff. The
reference belongs to the generated inputs, so the sheet also keeps those and says so when one was edited.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from xlsxwriter.worksheet import Worksheet

from ..model.config import Config
from ..model.reference import E_TOTAL_FLOOR, TOLERANCE
from . import layout
from .cells import Cells
from .fastsheet import write_cells
from .formats import Formats
from .formulas import rel_diff

EDITED_MESSAGE = (
    "INPUTS EDITED — the reference is for the generated inputs; "
    "run `make workbook` (or excelgen --config …) to regenerate"
)


# How to read the sheet, a short line each (one long line ran off the screen).
NOTE = (
    "numpy: constants excelgen computed for the generated inputs. workbook: live references to the sheets.",
    "relative difference = |a − b| / max(|a|, |b|), 0 when both are 0.",
    f"For E_total the scale is at least {E_TOTAL_FLOOR:g}: below it float64 holds only rounding noise.",
)


def status_formula() -> str:
    message = EDITED_MESSAGE.replace('"', '""')
    return (
        f'=IF({layout.CHECK_EDITED}>0,"{message}",'
        f'IF({layout.CHECK_MAX_REL_DIFF}>{layout.CHECK_TOLERANCE},"FAIL","PASS"))'
    )


def write_check(
    sheet: Worksheet,
    config: Config,
    runs: Mapping[float, Mapping[str, np.ndarray]],
    formats: Formats,
) -> None:
    tables = layout.table_sheets(config)
    n = config.training.iterations
    first = layout.CHECK_FIRST_DATA_ROW
    cells = Cells()  # everything but the per-iteration rows, which are written directly

    # The summary on top.
    cells.text(layout.TITLE_ROW, 0, "Check: this workbook against the numpy reference", formats.title)
    summary_labels = {
        layout.CHECK_STATUS: "status",
        layout.CHECK_MAX_REL_DIFF: "largest relative difference",
        layout.CHECK_TOLERANCE: "tolerance",
        layout.CHECK_EDITED: "inputs edited",
    }
    for name, label in summary_labels.items():
        row, col = layout.CHECK_CELLS[name]
        cells.text(row, col - 1, label, formats.label)
    for row, line in zip(layout.CHECK_NOTE_ROWS, NOTE, strict=True):
        cells.text(row, 0, line, formats.note)

    # Left: the generated inputs, then every table's final parameters.
    inputs = layout.check_inputs(config)
    cells.text(layout.CHECK_GROUP_ROW, 0, "What the reference was computed from", formats.heading)
    input_headers = ("input", "generated", "in the workbook", "edited (1 = yes)")
    for col, text in zip(layout.CHECK_INPUT_COLS, input_headers, strict=True):
        cells.text(layout.CHECK_HEADER_ROW, col, text, formats.header)
    name_col, generated_col, live_col, edited_col = layout.CHECK_INPUT_COLS
    for k, (label, live, value) in enumerate(inputs):
        row = layout.check_input_row(k)
        cells.text(row, name_col, label)
        cells.number(row, generated_col, value, formats.generated_input)
        cells.formula(row, live_col, "=" + live, None, value)
        generated, now = layout.a1(row, generated_col), layout.a1(row, live_col)
        cells.formula(row, edited_col, f"=IF({now}={generated},0,1)", None, 0)
    last_input = layout.check_input_row(len(inputs) - 1)
    edited_range = f"{layout.a1(layout.check_input_row(0), edited_col)}:{layout.a1(last_input, edited_col)}"

    params = layout.check_final_params(config)
    header = layout.check_final_header_row(config)
    sheet_col, param_col, numpy_col, wb_col, diff_col = layout.CHECK_FINAL_COLS
    final_headers = ("final values on", "parameter", "numpy", "workbook", "relative difference")
    for col, text in zip(layout.CHECK_FINAL_COLS, final_headers, strict=True):
        cells.text(header, col, text, formats.header)
    last_row = layout.last_data_row(config)
    for t, (sheet_name, lr) in enumerate(tables):
        for p, param in enumerate(params):
            row = layout.check_final_row(config, t, p)
            value = float(runs[lr][param][-1])
            cells.text(row, sheet_col, sheet_name)
            cells.text(row, param_col, param)
            cells.number(row, numpy_col, value, formats.constant)
            live = layout.ref(sheet_name, last_row, layout.column(config, param))
            cells.formula(row, wb_col, "=" + live, formats.value, value)
            numpy_cell, wb_cell = layout.a1(row, numpy_col), layout.a1(row, wb_col)
            cells.formula(row, diff_col, rel_diff(numpy_cell, wb_cell), formats.rel_diff, 0.0)
    final_range = (
        f"{layout.a1(layout.check_final_row(config, 0, 0), diff_col)}:"
        f"{layout.a1(layout.check_final_row(config, len(tables) - 1, len(params) - 1), diff_col)}"
    )

    # Right: E_total per iteration, a block of three columns per table sheet; its largest difference on top.
    block_max = []
    cells.text(layout.CHECK_HEADER_ROW, layout.CHECK_ITERATION_COL, "iteration", formats.header)
    for t, (sheet_name, _) in enumerate(tables):
        numpy_col, wb_col, diff_col = layout.check_etotal_cols(config, t)
        # The name over its block's three columns; on the row below, inside the block, its largest difference
        # (beside the name it read as the next block's: "0.0E+00 η=0.1").
        cells.text(layout.CHECK_GROUP_ROW, numpy_col, sheet_name, formats.heading)
        cells.blank(layout.CHECK_GROUP_ROW, wb_col, formats.heading)
        cells.blank(layout.CHECK_GROUP_ROW, diff_col, formats.heading)
        cells.text(layout.CHECK_LARGEST_ROW, wb_col, "largest rel. diff", formats.label)
        diffs = f"{layout.a1(first, diff_col)}:{layout.a1(first + n, diff_col)}"
        cells.formula(layout.CHECK_LARGEST_ROW, diff_col, f"=MAX({diffs})", formats.rel_diff, 0.0)
        block_max.append(layout.a1(layout.CHECK_LARGEST_ROW, diff_col))
        for col, text in zip(
            (numpy_col, wb_col, diff_col), ("numpy E_total", "workbook E_total", "rel. diff"), strict=True
        ):
            cells.text(layout.CHECK_HEADER_ROW, col, text, formats.header)

    # The summary formulas, now that the ranges are known.
    row, col = layout.CHECK_CELLS[layout.CHECK_STATUS]
    cells.formula(row, col, status_formula(), formats.status, "PASS")
    row, col = layout.CHECK_CELLS[layout.CHECK_MAX_REL_DIFF]
    cells.formula(row, col, f"=MAX({final_range},{','.join(block_max)})", formats.rel_diff, 0.0)
    row, col = layout.CHECK_CELLS[layout.CHECK_TOLERANCE]
    cells.number(row, col, TOLERANCE, formats.rel_diff)
    row, col = layout.CHECK_CELLS[layout.CHECK_EDITED]
    cells.formula(row, col, f"=SUM({edited_range})", None, 0)

    _write_rows(sheet, config, runs, formats, cells)
    _finish(sheet, config, formats)


def _write_rows(sheet, config, runs, formats, cells: Cells) -> None:
    """The small cells above and beside, interleaved row by row with E_total per iteration."""
    tables = layout.table_sheets(config)
    n = config.training.iterations
    first = layout.CHECK_FIRST_DATA_ROW
    cells.write_until(sheet, first)
    etotal_col = layout.column(config, "E_total")
    blocks = []
    for t, (sheet_name, lr) in enumerate(tables):
        numpy_col = layout.check_etotal_cols(config, t)[0]  # blocks of three follow one another
        values = runs[lr]["E_total"].tolist()
        blocks.append((numpy_col, layout.sheet_prefix(sheet_name), values))
    first_col = blocks[0][0]
    for k in range(n + 1):
        row = first + k
        cells.write_until(sheet, row + 1)
        write_cells(sheet, row, layout.CHECK_ITERATION_COL, [(None, formats.iteration, k)])
        source = layout.a1(layout.data_row(k), etotal_col)
        run = []
        for numpy_col, prefix, values in blocks:
            diff = rel_diff(layout.a1(row, numpy_col), layout.a1(row, numpy_col + 1), E_TOTAL_FLOOR)
            run += [
                (None, formats.constant_positive, values[k]),
                (f"={prefix}{source}", formats.positive, values[k]),
                (diff, formats.rel_diff, 0.0),
            ]
        write_cells(sheet, row, first_col, run)
    cells.write(sheet)


def _finish(sheet: Worksheet, config: Config, formats: Formats) -> None:
    row, col = layout.CHECK_CELLS[layout.CHECK_STATUS]
    status = layout.a1(row, col)
    sheet.conditional_format(
        status, {"type": "cell", "criteria": "==", "value": '"PASS"', "format": formats.pass_}
    )
    sheet.conditional_format(
        status, {"type": "cell", "criteria": "==", "value": '"FAIL"', "format": formats.fail}
    )
    sheet.conditional_format(
        status, {"type": "text", "criteria": "begins with", "value": "INPUTS", "format": formats.edited}
    )
    sheet.set_column(0, 0, 24)
    sheet.set_column(1, 4, 16)
    sheet.set_column(5, 5, 3)
    sheet.set_column(layout.CHECK_ITERATION_COL, layout.CHECK_ITERATION_COL, 9)
    last = layout.check_etotal_cols(config, len(layout.table_sheets(config)) - 1)[-1]
    sheet.set_column(layout.CHECK_ITERATION_COL + 1, last, 16)
    sheet.freeze_panes(layout.CHECK_FIRST_DATA_ROW, 0)

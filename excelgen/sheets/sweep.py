"""The LR sweep sheet: a title and a line saying what it shows, E_total of every learning rate side by side
by live reference (headers that are formulas on each rate's η cell), and two charts."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from ..model.config import Config
from . import layout
from .charts import sweep_chart
from .fastsheet import write_cells
from .formats import Formats

TITLE = "LR sweep: E_total per iteration at every learning rate"
WHAT = (
    "Each column reads E_total from its η sheet; its header, and the charts' legend, read that sheet's η "
    "cell. Edit an η there and its curve follows."
)


def write_sweep(
    book: Workbook,
    sheet: Worksheet,
    config: Config,
    runs: Mapping[float, Mapping[str, np.ndarray]],
    formats: Formats,
) -> None:
    rates = config.training.learning_rates
    n = config.training.iterations
    etotal_col = layout.column(config, "E_total")
    cols = [layout.sweep_column(config, lr) for lr in rates]
    prefixes = [layout.sheet_prefix(layout.lr_sheet_name(lr)) for lr in rates]
    values = [runs[lr]["E_total"].tolist() for lr in rates]

    header = layout.SWEEP_HEADER_ROW
    sheet.set_column(layout.SWEEP_ITERATION_COL, layout.SWEEP_ITERATION_COL, 9)
    sheet.set_column(cols[0], cols[-1], 13)
    title_row, what_row = layout.SWEEP_TITLE_ROWS
    sheet.write_string(title_row, 0, TITLE, formats.title)
    sheet.write_string(what_row, 0, WHAT, formats.note)
    sheet.write_string(header, layout.SWEEP_ITERATION_COL, "iteration", formats.header)
    for lr, col in zip(rates, cols, strict=True):
        sheet.write_formula(
            header, col, layout.sweep_header_formula(lr), formats.header_highlight, layout.sweep_header(lr)
        )
        sheet.write_comment(
            header, col, f"E_total of sheet {layout.lr_sheet_name(lr)}, by live reference.", {"x_scale": 1.5}
        )
    drawn = layout.sweep_chart_rates(config)
    if len(drawn) < len(rates):  # on the header row: constant-memory mode writes rows in order
        sheet.write_string(
            *layout.sweep_note_cell(config),
            f"The charts draw the first {len(drawn)} of {len(rates)} rates (Excel's limit per chart).",
            formats.note,
        )
    for k in range(n + 1):
        row = layout.SWEEP_FIRST_DATA_ROW + k
        source = layout.a1(layout.data_row(k), etotal_col)
        write_cells(sheet, row, layout.SWEEP_ITERATION_COL, [(None, formats.iteration, k)])
        cells = [
            (f"={prefix}{source}", formats.positive, v[k]) for prefix, v in zip(prefixes, values, strict=True)
        ]
        write_cells(sheet, row, cols[0], cells)
    sheet.freeze_panes(layout.SWEEP_FIRST_DATA_ROW, layout.SWEEP_ITERATION_COL + 1)

    linear, log = layout.sweep_chart_cells(config)
    sheet.insert_chart(*linear, sweep_chart(book, config, "E_total by learning rate"))
    sheet.insert_chart(*log, sweep_chart(book, config, "E_total by learning rate (log scale)", log=True))

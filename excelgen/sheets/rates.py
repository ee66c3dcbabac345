"""The learning-rate sheets ("η=0.5", …): the Backprop table trained with each rate's own η, a summary of
E_total and the two charts above it."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from ..model.config import Config
from . import layout, table
from .cells import Cells
from .charts import insert_charts
from .formats import Formats
from .table import eta_validation, legend


def write_lr_sheet(
    book: Workbook,
    sheet: Worksheet,
    config: Config,
    lr: float,
    run: Mapping[str, np.ndarray],
    formats: Formats,
) -> None:
    """One learning rate: its own η cell, a summary, the E_total chart, and the same live table."""
    name = layout.lr_sheet_name(lr)
    eta_row, eta_col = layout.LR_ETA_CELL
    etotal_col = layout.column(config, "E_total")
    first, last = layout.data_row(0), layout.last_data_row(config)
    eta = layout.a1(eta_row, eta_col, absolute=True)
    cells = Cells()
    cells.formula(*layout.LR_TITLE_CELL, f'="Learning rate η = "&{eta}', formats.title, title(lr))
    cells.text(layout.TITLE_ROW + 1, 0, "The Backprop table trained with this sheet's own η.", formats.note)
    cells.text(eta_row, eta_col - 1, "η", formats.label)
    cells.number(eta_row, eta_col, lr, formats.input)
    cells.comment(eta_row, eta_col, f"This sheet's learning rate, used by every update below ({name}).")
    sheet.data_validation(eta_row, eta_col, eta_row, eta_col, eta_validation(f"η of {name}"))
    for row, note in zip(layout.LR_ETA_NOTE_ROWS, eta_notes(lr), strict=True):
        cells.text(row, 0, note, formats.note)
    summary = (
        ("E_total at iteration 0", layout.a1(first, etotal_col), run["E_total"][0]),
        (
            f"E_total at iteration {config.training.iterations}",
            layout.a1(last, etotal_col),
            run["E_total"][-1],
        ),
        (
            "smallest E_total",
            f"MIN({layout.a1(first, etotal_col)}:{layout.a1(last, etotal_col)})",
            np.min(run["E_total"]),
        ),
    )
    for row, (label, formula, value) in enumerate(summary, start=layout.LR_SUMMARY_TOP):
        cells.text(row, 0, label)
        cells.formula(row, layout.LR_SUMMARY_COL, "=" + formula, formats.e_total, float(value))
    legend(cells, layout.LR_LEGEND_ROW, formats)
    cells.write(sheet)

    insert_charts(
        book, sheet, config, layout.LR_CHART_CELL, "E_total per iteration", name_cell=layout.LR_TITLE_CELL
    )
    table.write_table(sheet, config, run, eta, formats)


def title(lr: float) -> str:
    """The sheet's title as generated (its cell is a formula on the η cell, so it follows an edit)."""
    return f"Learning rate η = {lr:g}"


def eta_notes(lr: float) -> tuple[str, str]:
    """Two short lines under the η cell: what follows an edit, and the one label that cannot (the tab)."""
    return (
        "Edit η: this sheet, its charts and the LR sweep follow.",
        f"The tab keeps the name {layout.lr_sheet_name(lr)}; the next `make workbook` resets η.",
    )

"""The Backprop sheet, the documents' sheet: the inputs, the network diagram, the exercise switch, the
derivation, the gradient check and the charts above the live table."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from ...model.config import BIASES, Config
from ...model.notation import EDGES, derivation
from .. import layout, table
from ..cells import Cells
from ..charts import insert_charts
from ..formats import Formats
from ..table import eta_validation, legend
from . import diagram, exercise, gradcheck

_INPUT_NOTES = {
    "i1": "the first input",
    "i2": "the second input",
    "t1": "the target for output o1",
    "t2": "the target for output o2",
    "b1": "the bias into h1 and h2: it shifts both alike, and so everything after them",
    "b2": "the bias into o1 and o2: it shifts both alike, and so the outputs, errors and gradients",
}
_BIAS_TRAINING = (
    " Trained (train_biases = true in the config), it steps like a weight: b ← b − η·∂E_total/∂b."
)
_ANY_NUMBER = {"validate": "decimal", "criteria": "between", "minimum": -1e300, "maximum": 1e300}


def write_backprop(
    book: Workbook,
    sheet: Worksheet,
    config: Config,
    run: Mapping[str, np.ndarray],
    formats: Formats,
) -> None:
    """Inputs, the network diagram, the derivation and the E_total chart above the live table."""
    cells = Cells()
    cells.text(
        layout.TITLE_ROW,
        0,
        "Backpropagation, step by step: a 2-2-2 sigmoid network and one example",
        formats.title,
    )
    legend(cells, layout.LEGEND_ROW, formats, exercise=True)
    for title, (row, col) in layout.INPUT_HEADINGS.items():
        cells.text(row, col, title, formats.heading)
        cells.blank(row, col + 1, formats.heading)
    network = config.network
    for name, field in layout.NAMED_INPUTS.items():
        row, col = layout.INPUT_CELLS[name]
        cells.text(row, col - 1, field, formats.label)
        cells.number(row, col, getattr(network, field), formats.input)
        what = _INPUT_NOTES.get(field) or "the initial value of the weight {} → {}".format(*EDGES[field])
        cells.comment(row, col, f"{name}: {what}." + (_BIAS_TRAINING if field in BIASES else ""))
        sheet.data_validation(
            row, col, row, col, {**_ANY_NUMBER, "input_title": name, "input_message": what[:255]}
        )
    row, col = layout.ETA_CELL
    cells.text(row, col - 1, "η", formats.label)
    cells.number(row, col, layout.backprop_lr(config), formats.input)
    cells.comment(row, col, "eta: the learning rate of this sheet's table (the η sheets have their own).")
    sheet.data_validation(row, col, row, col, eta_validation(layout.ETA))

    diagram.add(cells, config, run, formats)
    exercise.add(cells, sheet, formats, config.exercise.show_answers)
    for block, col in zip(derivation(config), layout.DERIVATION_COLS, strict=True):
        assert layout.DERIVATION_TOP + len(block) < layout.GROUP_ROW, "the derivation runs into the table"
        for k, (line, heading) in enumerate(block):
            cells.text(layout.DERIVATION_TOP + k, col, line, formats.heading if heading else formats.equation)
    gradcheck.add(cells, sheet, config, formats)
    cells.write(sheet)

    insert_charts(book, sheet, config, layout.BACKPROP_CHART_CELL, "E_total per iteration (η: the cell eta)")
    exercise.hide_answers(sheet, config, formats)  # before the table's colour scales: it must win
    table.write_table(sheet, config, run, layout.ETA, formats, freeze_header=False)
    sheet.activate()

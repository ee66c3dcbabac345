"""The table sheets: Backprop (the documents' sheet) and one sheet per learning rate."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from . import diagram, exercise, gradcheck, layout, table
from .cells import Cells
from .config import BIASES, Config
from .formats import Formats
from .notation import EDGES, derivation

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
GRADIENT_NOTE = "Gradient colours: red < 0 < blue, scaled per column"
_ANY_NUMBER = {"validate": "decimal", "criteria": "between", "minimum": -1e300, "maximum": 1e300}


def eta_validation(cell_name: str) -> dict:
    return {
        "validate": "decimal",
        "criteria": ">",
        "value": 0,
        "input_title": "Learning rate η",
        "input_message": f"{cell_name}: any number > 0 (the documents try 0.1 to 1000)",
        "error_title": "η must be a number > 0",
        "error_message": "The learning rate must be a number greater than 0.",
    }


def line_chart(
    book: Workbook,
    config: Config,
    sheet: str,
    title: str,
    headers: list[str],
    *,
    y_name: str,
    line_width: float,
    legend: dict,
):
    """A native line chart of a table sheet's columns (by header) against the iteration, a series each named
    by its header; `legend` takes xlsxwriter's set_legend options."""
    first, last = layout.data_row(0), layout.last_data_row(config)
    chart = book.add_chart({"type": "line"})
    for header in headers:
        col = layout.column(config, header)
        chart.add_series(
            {
                "name": [sheet, layout.HEADER_ROW, col],
                "categories": [sheet, first, layout.ITERATION_COL, last, layout.ITERATION_COL],
                "values": [sheet, first, col, last, col],
                "line": {"width": line_width},
            }
        )
    chart.set_title({"name": title, "name_font": {"size": 12}})
    chart.set_x_axis(category_axis(config))
    chart.set_y_axis({"name": y_name, "major_gridlines": {"visible": True}})
    chart.set_legend(legend)
    chart.set_size({"width": layout.TOP_CHART_WIDTH, "height": layout.TOP_CHART_HEIGHT})
    return chart


def etotal_chart(book: Workbook, config: Config, sheet: str, title: str):
    """A native line chart of a table sheet's E_total against the iteration."""
    return line_chart(
        book, config, sheet, title, ["E_total"], y_name="E_total", line_width=2, legend={"none": True}
    )


def weights_chart(book: Workbook, config: Config, sheet: str, title: str):
    """A native line chart of w1…w8 (and b1, b2 when trained) against the iteration, a series per parameter
    named by its header: the documents' "track weight changes"."""
    return line_chart(
        book,
        config,
        sheet,
        title,
        list(layout.trained_params(config)),
        y_name="value",
        line_width=1.5,
        legend={"position": "right"},
    )


def insert_charts(book: Workbook, sheet: Worksheet, config: Config, cell: tuple[int, int], eta: str) -> None:
    """The E_total chart at `cell` and the weight chart to its right; `eta` says which η the sheet uses."""
    name = sheet.get_name()
    sheet.insert_chart(*cell, etotal_chart(book, config, name, f"E_total, {eta}"))
    what = "Weights and biases" if config.training.train_biases else "Weights"
    sheet.insert_chart(
        *cell, weights_chart(book, config, name, f"{what}, {eta}"), {"x_offset": layout.WEIGHT_CHART_X_OFFSET}
    )


def legend(cells: Cells, row: int, formats: Formats, exercise: bool = False) -> None:
    """The colours of a table sheet, one swatch each from column B, the exercise's grey too on Backprop, and
    a note: to the right of the swatches on Backprop, below them elsewhere (a chart covers the right)."""
    swatches = [
        ("input", formats.swatch_input),
        ("formula", formats.swatch_formula),
        ("E_total", formats.swatch_e_total),
        ("∂E/∂· < 0", formats.swatch_negative),
        ("∂E/∂· > 0", formats.swatch_positive),
    ]
    if exercise:
        swatches.append(("to work out", formats.swatch_hidden))
    cells.text(row, 0, "colours", formats.label)
    for k, (text, fmt) in enumerate(swatches):
        cells.text(row, layout.LEGEND_COL + k, text, fmt)
    if exercise:
        note = f"Edit an input and everything follows. {GRADIENT_NOTE}; red weights go up."
        cells.text(row, layout.LEGEND_COL + len(swatches), note, formats.note)
    else:
        cells.text(row + 1, 0, GRADIENT_NOTE + ".", formats.note)


def category_axis(config: Config) -> dict:
    """The iteration axis: about ten labels however many iterations."""
    step = max(1, config.training.iterations // 10)
    return {"name": "iteration", "interval_unit": step, "interval_tick": step}


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
    exercise.add(cells, sheet, formats)
    for block, col in zip(derivation(config), layout.DERIVATION_COLS, strict=True):
        assert layout.DERIVATION_TOP + len(block) < layout.GROUP_ROW, "the derivation runs into the table"
        for k, (line, heading) in enumerate(block):
            cells.text(layout.DERIVATION_TOP + k, col, line, formats.heading if heading else formats.equation)
    gradcheck.add(cells, sheet, config, formats)
    cells.write(sheet)

    insert_charts(book, sheet, config, layout.BACKPROP_CHART_CELL, "η from the cell eta")
    exercise.hide_answers(sheet, config, formats)  # before the table's colour scales: it must win
    table.write_table(sheet, config, run, layout.ETA, formats)
    sheet.activate()


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
    cells = Cells()
    cells.text(layout.TITLE_ROW, 0, f"Learning rate η = {lr:g}", formats.title)
    cells.text(
        layout.TITLE_ROW + 1,
        0,
        "The Backprop table trained with this sheet's own η; iteration 0 reads the named inputs.",
        formats.note,
    )
    cells.text(eta_row, eta_col - 1, "η", formats.label)
    cells.number(eta_row, eta_col, lr, formats.input)
    cells.comment(eta_row, eta_col, f"This sheet's learning rate, used by every update below ({name}).")
    sheet.data_validation(eta_row, eta_col, eta_row, eta_col, eta_validation(f"η of {name}"))
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

    insert_charts(book, sheet, config, layout.LR_CHART_CELL, f"η = {lr:g}")
    table.write_table(sheet, config, run, layout.a1(eta_row, eta_col, absolute=True), formats)

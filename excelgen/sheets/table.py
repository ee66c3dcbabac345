"""The iteration table: one row per iteration, every cell a live formula with its numpy value cached.

Each formula mirrors reference.evaluate operation for operation (the same sums and left-to-right products),
so a spreadsheet that recalculates lands on numpy's numbers to the last bit or two.

What every table sheet shows with its table lives here too: the legend of its colours and the validation of
the η cell its updates read.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from xlsxwriter.worksheet import Worksheet

from ..model.config import BIASES, WEIGHTS, Config
from ..model.notation import column_note
from . import layout
from .cells import Cells
from .fastsheet import write_cells
from .formats import GRADIENT_NEGATIVE, GRADIENT_POSITIVE, GRADIENT_ZERO, Formats
from .formulas import forward

GROUPS = (  # (first column of a group, its label)
    ("t1", "targets and inputs"),
    ("w1", "weights into the hidden layer"),
    ("h1", "hidden layer"),
    ("w5", "weights into the output layer"),
    ("o1", "output layer"),
    ("E1", "error"),
    ("dE/dw1", "gradients ∂E_total/∂·"),
)


def templates(config: Config, eta: str) -> tuple[dict[str, str], dict[str, str]]:
    """Formula templates of iteration 0 and of every later row, per column.

    `%(R)s` stands for this row's number, `%(P)s` for the row above; `eta` is the text of the η cell.
    """
    bias = config.has_biases
    col = {name: layout.col_name(layout.column(config, name)) for name in layout.columns(config)}

    def cur(name: str) -> str:
        return f"{col[name]}%(R)s"

    def prev(name: str) -> str:
        return f"{col[name]}%(P)s"

    d_o1 = f"({cur('a_o1')}-{cur('t1')})*{cur('a_o1')}*(1-{cur('a_o1')})"
    d_o2 = f"({cur('a_o2')}-{cur('t2')})*{cur('a_o2')}*(1-{cur('a_o2')})"
    d_h1 = f"({d_o1}*{cur('w5')}+{d_o2}*{cur('w7')})*{cur('a_h1')}*(1-{cur('a_h1')})"
    d_h2 = f"({d_o1}*{cur('w6')}+{d_o2}*{cur('w8')})*{cur('a_h2')}*(1-{cur('a_h2')})"
    computed = {
        **forward(lambda name: cur(name) if bias or name not in BIASES else layout.INPUT_NAME[name]),
        "dE/dw1": f"{d_h1}*{cur('i1')}",
        "dE/dw2": f"{d_h1}*{cur('i2')}",
        "dE/dw3": f"{d_h2}*{cur('i1')}",
        "dE/dw4": f"{d_h2}*{cur('i2')}",
        "dE/dw5": f"{d_o1}*{cur('a_h1')}",
        "dE/dw6": f"{d_o1}*{cur('a_h2')}",
        "dE/dw7": f"{d_o2}*{cur('a_h1')}",
        "dE/dw8": f"{d_o2}*{cur('a_h2')}",
        "dE/db1": f"{d_h1}+{d_h2}",
        "dE/db2": f"{d_o1}+{d_o2}",
    }
    trained = WEIGHTS + BIASES if config.training.train_biases else WEIGHTS
    first: dict[str, str] = {}
    later: dict[str, str] = {}
    for name in layout.columns(config):
        if name in computed:
            first[name] = later[name] = "=" + computed[name]
        else:  # an input or a parameter: iteration 0 reads its named cell
            first[name] = "=" + layout.INPUT_NAME[name]
            if name in trained:
                later[name] = f"={prev(name)}-{eta}*{prev('dE/d' + name)}"
            else:
                later[name] = f"={prev(name)}"
    return first, later


def column_format(name: str, formats: Formats):
    if name == "E_total":
        return formats.e_total
    if name.startswith("dE/d"):
        return formats.gradient
    if name.startswith("a_") or name in ("E1", "E2"):
        return formats.positive
    return formats.value


def write_header(sheet: Worksheet, config: Config, formats: Formats) -> None:
    """The group labels, then the column names, each with a note; the iteration column first."""
    names = layout.columns(config)
    starts = {layout.column(config, first): label for first, label in GROUPS}
    for col in range(layout.FIRST_TABLE_COL, layout.column(config, names[-1]) + 1):
        if col in starts:
            sheet.write_string(layout.GROUP_ROW, col, starts[col], formats.group)
        else:
            sheet.write_blank(layout.GROUP_ROW, col, None, formats.group)
    row = layout.HEADER_ROW
    sheet.write_string(row, layout.ITERATION_COL, "iteration", formats.header)
    sheet.write_comment(row, layout.ITERATION_COL, "Iteration k: row k holds the weights after k updates.")
    trained = config.training.train_biases
    for name in names:
        col = layout.column(config, name)
        header = formats.header_highlight if name == "E_total" else formats.header
        sheet.write_string(row, col, layout.header(name), header)
        sheet.write_comment(row, col, column_note(name, trained), {"x_scale": 2.2, "y_scale": 1.3})


def write_rows(
    sheet: Worksheet,
    config: Config,
    run: Mapping[str, np.ndarray],
    eta: str,
    formats: Formats,
) -> None:
    """Iteration 0…N in reading order (the sheet is written in constant-memory mode)."""
    first, later = templates(config, eta)
    names = layout.columns(config)
    first_col = layout.column(config, names[0])  # the columns follow one another from there
    fmts = [column_format(n, formats) for n in names]
    values = [run[n].tolist() for n in names]  # Python floats: their repr is the exact cached result
    row_templates = [first[n] for n in names], [later[n] for n in names]
    for k in range(config.training.iterations + 1):
        row = layout.data_row(k)
        numbers = {"R": row + 1, "P": row}
        write_cells(sheet, row, layout.ITERATION_COL, [(None, formats.iteration, k)])
        cells = zip(row_templates[k > 0], fmts, values, strict=True)
        write_cells(sheet, row, first_col, [(t % numbers, fmt, v[k]) for t, fmt, v in cells])


def write_table(
    sheet: Worksheet,
    config: Config,
    run: Mapping[str, np.ndarray],
    eta: str,
    formats: Formats,
    freeze_header: bool = True,
) -> None:
    """The whole table on a sheet whose rows above GROUP_ROW are written. Freezes the iteration column, and
    every row down to the header when `freeze_header` (not on Backprop, whose top would fill a laptop's
    screen: there the header scrolls away with the lesson above it)."""
    sheet.set_column(layout.ITERATION_COL, layout.ITERATION_COL, 9)
    for name in layout.columns(config):
        col = layout.column(config, name)
        sheet.set_column(col, col, 13 if name.startswith("dE/d") or name == "E_total" else 12)
    write_header(sheet, config, formats)
    write_rows(sheet, config, run, eta, formats)
    sheet.freeze_panes(layout.FIRST_DATA_ROW if freeze_header else 0, layout.FIRST_TABLE_COL)
    gradient_colours(sheet, config)


def gradient_colours(sheet: Worksheet, config: Config) -> None:
    """A diverging colour scale on each gradient column, so that sign and size read at a glance: red below 0,
    white at 0, blue above, as everywhere in the workbook (the MNIST kernels too). Its ends are
    ±max|∂E_total/∂w| of the column (formulas, so they follow every edit): symmetric, they keep 0 white and
    both signs on one scale even when a column never changes sign."""
    for first_row, col, last_row, _ in layout.gradient_areas(config):
        cells = f"{layout.a1(first_row, col, True)}:{layout.a1(last_row, col, True)}"
        largest = f"MAX(MAX({cells}),-MIN({cells}))"
        sheet.conditional_format(
            first_row,
            col,
            last_row,
            col,
            {
                "type": "3_color_scale",
                "min_type": "formula",
                "min_value": f"=-{largest}",
                "min_color": GRADIENT_NEGATIVE,
                "mid_type": "num",
                "mid_value": 0,
                "mid_color": GRADIENT_ZERO,
                "max_type": "formula",
                "max_value": f"={largest}",
                "max_color": GRADIENT_POSITIVE,
            },
        )


# --- What every table sheet shows with its table: the colours' legend, the η cell's validation. ---

# What the gradients' colours mean, in the one notation of the workbook (the documents' ∂E_total/∂w).
GRADIENT_NOTE_LINES = (
    "Gradient cells ∂E_total/∂w: red < 0 (w rises next row),",
    "blue > 0 (w falls), white 0; scaled per column.",
)
GRADIENT_NOTE = " ".join(GRADIENT_NOTE_LINES)


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


def legend(cells: Cells, row: int, formats: Formats, exercise: bool = False) -> None:
    """The colours of a table sheet, one swatch each from column B, the exercise's grey too on Backprop, and
    a note: to the right of the swatches on Backprop, below them elsewhere (a chart covers the right)."""
    swatches = [
        ("input", formats.swatch_input),
        ("formula", formats.swatch_formula),
        ("E_total", formats.swatch_e_total),
        ("gradient < 0", formats.swatch_negative),
        ("gradient > 0", formats.swatch_positive),
    ]
    if exercise:
        swatches.append(("to work out", formats.swatch_hidden))
    cells.text(row, 0, "colours", formats.label)
    for k, (text, fmt) in enumerate(swatches):
        cells.text(row, layout.LEGEND_COL + k, text, fmt)
    if exercise:
        note = f"Edit an input and everything follows. {GRADIENT_NOTE}"
        cells.text(row, layout.LEGEND_COL + len(swatches), note, formats.note)
    else:  # in two lines: a chart covers the right from column G
        for k, line in enumerate(GRADIENT_NOTE_LINES, start=1):
            cells.text(row + k, 0, line, formats.note)

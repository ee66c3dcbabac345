"""Where everything lives in the workbook: the one module that knows a sheet name or a cell position.

The sheet writers, the CLI and the tests ask this module; none of them computes a position itself.
Rows and columns are 0-based, as xlsxwriter counts them; `a1` turns them into the spreadsheet's A1 text.

Every iteration table (the Backprop sheet and each learning-rate sheet) has the same shape: the iteration
number in column A, then `columns(config)` from column B, the header on HEADER_ROW and iteration 0 on
FIRST_DATA_ROW. The rows above the header hold each sheet's own material (legend, inputs, diagram, exercise
switch, charts, derivation, gradient check on Backprop; the η cell and its notes, a summary, a legend and
charts on a learning-rate sheet).
"""

from __future__ import annotations

from xlsxwriter.utility import xl_col_to_name, xl_rowcol_to_cell

from ..model.config import BIASES, WEIGHTS, Config

# --- Sheets, in workbook order: Backprop, one per learning rate, LR sweep, Check. ---------------------------

BACKPROP = "Backprop"
SWEEP = "LR sweep"
CHECK = "Check"
# The note excelgen writes in the file's properties; it tells the workbooks written before excelgen recorded
# its sheets (see assemble.OWNER).
WRITTEN_BY = "Written by excelgen"

_FORBIDDEN_IN_SHEET_NAMES = set("[]:*?/\\'")


def lr_sheet_name(lr: float) -> str:
    """The sheet of one learning rate: "η=0.5", "η=1000", "η=1e-05".

    The number is `f"{lr:g}"` when that reads back as exactly `lr`, else the shortest exact repr, so two
    different rates never share a name; either way it fits Excel's 31 characters and uses no forbidden one.
    """
    text = f"{lr:g}"
    if float(text) != lr:
        text = repr(float(lr))
    name = f"η={text}"
    assert len(name) <= 31 and not (_FORBIDDEN_IN_SHEET_NAMES & set(name)), name
    return name


def sheet_names(config: Config) -> list[str]:
    return [BACKPROP, *(lr_sheet_name(lr) for lr in config.training.learning_rates), SWEEP, CHECK]


def is_sheet_name(name: str) -> bool:
    """Whether excelgen could have given a sheet this name (for workbooks that predate its records)."""
    if name in (BACKPROP, SWEEP, CHECK):
        return True
    if not name.startswith("η="):
        return False
    try:
        return lr_sheet_name(float(name[2:])) == name
    except (ValueError, AssertionError):
        return False


def backprop_lr(config: Config) -> float:
    """The η the Backprop sheet is generated with (its `eta` cell): the config's first learning rate."""
    return config.training.learning_rates[0]


def table_sheets(config: Config) -> list[tuple[str, float]]:
    """(sheet name, learning rate) of every sheet that holds an iteration table, in workbook order."""
    rates = config.training.learning_rates
    return [(BACKPROP, backprop_lr(config)), *((lr_sheet_name(lr), lr) for lr in rates)]


# --- A1 text. -----------------------------------------------------------------------------------------------


def a1(row: int, col: int, absolute: bool = False) -> str:
    """The A1 text of a cell: "B7" for (6, 1), "$B$7" when absolute."""
    return xl_rowcol_to_cell(row, col, row_abs=absolute, col_abs=absolute)


def col_name(col: int) -> str:
    return xl_col_to_name(col)


def sheet_prefix(sheet: str) -> str:
    """The quoted sheet part of a reference from another sheet: "'η=0.5'!"."""
    return "'" + sheet.replace("'", "''") + "'!"


def ref(sheet: str, row: int, col: int) -> str:
    """An absolute reference to a cell on another sheet: "'η=0.5'!$Y$20"."""
    return sheet_prefix(sheet) + a1(row, col, absolute=True)


def area(sheet: str, first_row: int, col: int, last_row: int, last_col: int | None = None) -> str:
    """An absolute range on a sheet: "'LR sweep'!$B$2:$B$102"."""
    last_col = col if last_col is None else last_col
    return f"{sheet_prefix(sheet)}{a1(first_row, col, True)}:{a1(last_row, last_col, True)}"


# --- The iteration table (Backprop and every learning-rate sheet). ------------------------------------------

TITLE_ROW = 0
HEADER_ROW = 13  # the table's column names (a note on each says what it is)
GROUP_ROW = HEADER_ROW - 1  # "inputs", "hidden layer", … above the column names
FIRST_DATA_ROW = HEADER_ROW + 1  # iteration 0: the initial weights
ITERATION_COL = 0  # column A: the iteration number 0…N
FIRST_TABLE_COL = 1  # column B: the first of columns(config)

# Excel, LibreOffice and Google Sheets all stop at 1,048,576 rows; the table needs its header rows above it.
SHEET_MAX_ROWS = 1_048_576
# The most updates a table can hold: the tables reach lowest of all the sheets' rows.
MAX_ITERATIONS = SHEET_MAX_ROWS - FIRST_DATA_ROW - 1
SHEET_MAX_COLS = 16_384  # Excel's, LibreOffice's and Google Sheets' last column is XFD

_FORWARD_HIDDEN = ["h1", "a_h1", "h2", "a_h2"]
_FORWARD_OUTPUT = ["o1", "a_o1", "o2", "a_o2"]
_ERRORS = ["E1", "E2", "E_total"]


def _table_columns(bias: bool) -> tuple[str, ...]:
    """The table's columns in order, named by reference.py's keys.

    The documents' order: t1, t2, i1, i2, w1…w4, h1, a_h1, h2, a_h2, w5…w8, o1, a_o1, o2, a_o2, E1, E2,
    E_total, dE/dw1…dE/dw8. With biases (config.has_biases) b1 joins the first layer's weights, b2 the
    second layer's, and dE/db1, dE/db2 follow the weight gradients.
    """
    return (
        "t1", "t2", "i1", "i2",
        *WEIGHTS[:4], *(["b1"] if bias else []),
        *_FORWARD_HIDDEN,
        *WEIGHTS[4:], *(["b2"] if bias else []),
        *_FORWARD_OUTPUT,
        *_ERRORS,
        *(f"dE/d{w}" for w in WEIGHTS),
        *((f"dE/d{b}" for b in BIASES) if bias else []),
    )  # fmt: skip


# A table's columns depend on one thing, whether it has bias columns: both shapes, built once.
_COLUMNS = {bias: _table_columns(bias) for bias in (False, True)}
_COLUMN = {
    bias: {name: FIRST_TABLE_COL + k for k, name in enumerate(names)} for bias, names in _COLUMNS.items()
}


def header(name: str) -> str:
    """The text of a table column's header: the name itself, but a gradient in the documents' notation,
    "∂E_total/∂w1" for reference.py's key "dE/dw1". Whoever finds a column by its header text asks here."""
    return f"∂E_total/∂{name.removeprefix('dE/d')}" if name.startswith("dE/d") else name


def columns(config: Config) -> list[str]:
    """The table's columns in order (see _table_columns), named by reference.py's keys."""
    return list(_COLUMNS[config.has_biases])


def column(config: Config, name: str) -> int:
    """The 0-based column of a table column on every table sheet."""
    try:
        return _COLUMN[config.has_biases][name]
    except KeyError:
        raise ValueError(f"{name!r} is not a column of this table") from None


def data_row(iteration: int) -> int:
    """The 0-based row of an iteration in every table."""
    return FIRST_DATA_ROW + iteration


def last_data_row(config: Config) -> int:
    return data_row(config.training.iterations)


# --- The named input cells (all on the Backprop sheet). -----------------------------------------------------

ETA = "eta"  # the Backprop sheet's η

NAMED_INPUTS: dict[str, str] = {
    "input_i1": "i1",
    "input_i2": "i2",
    "target_t1": "t1",
    "target_t2": "t2",
    **{f"init_{w}": w for w in WEIGHTS},
    "bias_b1": "b1",
    "bias_b2": "b2",
}
INPUT_NAME = {field: name for name, field in NAMED_INPUTS.items()}  # "w1" -> "init_w1"

# Two input blocks side by side, a label column then a value column each, under a heading.
INPUT_HEADER_ROW = 2
_INPUT_BLOCKS = (
    ("Inputs", 0, ("i1", "i2", "t1", "t2", "b1", "b2")),  # labels in column A, values in column B
    ("Initial weights", 3, WEIGHTS),  # labels in column D, values in column E
)
INPUT_HEADINGS = {title: (INPUT_HEADER_ROW, col) for title, col, _ in _INPUT_BLOCKS}
INPUT_CELLS: dict[str, tuple[int, int]] = {
    INPUT_NAME[field]: (INPUT_HEADER_ROW + 1 + k, label_col + 1)
    for _, label_col, fields in _INPUT_BLOCKS
    for k, field in enumerate(fields)
}
ETA_CELL = (INPUT_HEADER_ROW + 2 + len(_INPUT_BLOCKS[0][2]), 1)  # below i1…b2, one row apart
assert max(r for r, _ in [*INPUT_CELLS.values(), ETA_CELL]) < GROUP_ROW - 1

# --- The rest of the Backprop sheet's top area, left to right: the legend (row 1), the diagram and the
# exercise switch, the E_total and weight charts, the derivation, the gradient check. ------------------------

LEGEND_ROW = 1  # a label in column A, then one swatch per colour, then a note
LEGEND_COL = 1

DIAGRAM_TOP = 2  # the network diagram: rows DIAGRAM_TOP…, columns DIAGRAM_LEFT…
DIAGRAM_LEFT = 6
# The value cell of each node (its name sits in the cell to the left) and of each weight (its "w1: i1 → h1"
# label likewise): inputs in the first diagram column, hidden units in the third, outputs in the fifth.
DIAGRAM_NODE_CELLS: dict[str, tuple[int, int]] = {
    "i1": (DIAGRAM_TOP + 2, DIAGRAM_LEFT + 1),
    "i2": (DIAGRAM_TOP + 5, DIAGRAM_LEFT + 1),
    "a_h1": (DIAGRAM_TOP + 2, DIAGRAM_LEFT + 5),
    "a_h2": (DIAGRAM_TOP + 5, DIAGRAM_LEFT + 5),
    "a_o1": (DIAGRAM_TOP + 2, DIAGRAM_LEFT + 9),
    "a_o2": (DIAGRAM_TOP + 5, DIAGRAM_LEFT + 9),
    "E_total": (DIAGRAM_TOP + 6, DIAGRAM_LEFT + 9),
}
DIAGRAM_EDGE_CELLS: dict[str, tuple[int, int]] = {
    w: (DIAGRAM_TOP + 2 + k % 4, DIAGRAM_LEFT + (3 if k < 4 else 7)) for k, w in enumerate(WEIGHTS)
}

# Exercise mode: the switch under the diagram (its label to the left, a one-line instruction to the right).
SHOW_ANSWERS = "show_answers"
SHOW_ANSWERS_CELL = (DIAGRAM_TOP + 8, DIAGRAM_LEFT + 1)
EXERCISE_ITERATIONS = 2  # show_answers = FALSE blanks iterations 0 and 1 (and the weights their updates give)

# The E_total and weight charts, right of the diagram: the first thing beside it, within a wide screen of
# column A (tests/test_workbook.py holds every chart to SCREEN_PX).
BACKPROP_CHART_CELL = (1, DIAGRAM_LEFT + 11)  # top-left cell of the E_total chart (column R)
TOP_CHART_SIZE = (400, 20 * (GROUP_ROW - 2))  # pixels: a chart from row 1 ends above the group row
WEIGHT_CHART_X_OFFSET = TOP_CHART_SIZE[0] + 16  # pixels from the E_total chart's top-left cell
WEIGHT_CHART_WIDTH = 500  # the weight chart has a legend on its right
SCREEN_PX = 1920  # a chart starts within this many pixels of column A's left edge

DERIVATION_TOP = 1  # one line of the derivation per row, in two blocks side by side, right of the charts
DERIVATION_COLS = (30, 40)  # forward pass and output layer; hidden layer

# The gradient check: a label column, then one column per parameter (w1…w8, b1 and b2 when trained), right of
# the derivation, whose longest line runs over 11 columns from DERIVATION_COLS[1].
FD_STEP = "fd_step"  # the input h of the central differences
GRADCHECK_MAX = "gradcheck_max_rel_diff"
GRADCHECK_TOP = 1  # its heading
GRADCHECK_LABEL_COL = 52
FD_STEP_CELL = (GRADCHECK_TOP + 1, GRADCHECK_LABEL_COL + 1)
GRADCHECK_HEADER_ROW = GRADCHECK_TOP + 2  # the parameters' names
GRADCHECK_ROWS = ("value", "plus", "minus", "fd", "chain", "rel_diff")  # then one row each, in this order
GRADCHECK_MAX_CELL = (GRADCHECK_HEADER_ROW + len(GRADCHECK_ROWS) + 1, GRADCHECK_LABEL_COL + 1)


def trained_params(config: Config) -> list[str]:
    """The parameters gradient descent moves: w1…w8, and b1, b2 when train_biases is set."""
    return list(WEIGHTS + BIASES if config.training.train_biases else WEIGHTS)


def gradcheck_row(kind: str) -> int:
    return GRADCHECK_HEADER_ROW + 1 + GRADCHECK_ROWS.index(kind)


def gradcheck_col(config: Config, param: str) -> int:
    return GRADCHECK_LABEL_COL + 1 + trained_params(config).index(param)


def fd_name(param: str) -> str:
    """The defined name of a parameter's finite-difference estimate: "fd_w1"."""
    return f"fd_{param}"


GRADCHECK_LAST_COL = GRADCHECK_LABEL_COL + len(WEIGHTS + BIASES)
assert GRADCHECK_MAX_CELL[0] < GROUP_ROW - 1 and SHOW_ANSWERS_CELL[0] < GROUP_ROW - 1

# --- A learning-rate sheet's top area. ----------------------------------------------------------------------

LR_ETA_CELL = (2, 1)  # the sheet's own η, a constant its update formulas read
LR_ETA_NOTE_ROWS = (3, 4)  # below it: what follows an edit of η, and what cannot (the tab's name)
LR_SUMMARY_TOP = 5  # E_total at the start, at the end, and its smallest: labels in column A …
LR_SUMMARY_COL = 3  # … values in column D
LR_CHART_CELL = (1, 6)  # the E_total chart; the weight chart to its right (WEIGHT_CHART_X_OFFSET)
LR_LEGEND_ROW = LR_SUMMARY_TOP + 4  # the colour legend, below the summary
# "Learning rate η = 0.5", a formula on the η cell; it names the E_total chart's series too.
LR_TITLE_CELL = (TITLE_ROW, 0)
assert LR_LEGEND_ROW + 2 < GROUP_ROW  # the legend's swatches, then its note in two lines

# --- LR sweep. ----------------------------------------------------------------------------------------------

SWEEP_TITLE_ROWS = (0, 1)  # a title, and one line saying what the sheet shows
SWEEP_HEADER_ROW = 2  # "iteration", "η = 0.1", "η = 0.2", …
SWEEP_FIRST_DATA_ROW = SWEEP_HEADER_ROW + 1  # iteration 0
SWEEP_ITERATION_COL = 0


def sweep_header(lr: float) -> str:
    """The header of a rate's LR sweep column as generated (its cell is a formula on the rate's η cell)."""
    return f"η = {lr:g}"


def sweep_header_formula(lr: float) -> str:
    """The header cell's formula: it reads the η cell of the rate's sheet, so it follows an edit there."""
    return f'="η = "&{ref(lr_sheet_name(lr), *LR_ETA_CELL)}'


def sweep_column(config: Config, lr: float) -> int:
    """The LR sweep column holding E_total of one learning rate."""
    return SWEEP_ITERATION_COL + 1 + config.training.learning_rates.index(lr)


SWEEP_CHART_SIZE = (620, 420)  # pixels
DEFAULT_COLUMN_PX = 64  # a column no sheet widens: Excel's default 8.43 characters


def sweep_chart_cells(config: Config) -> tuple[tuple[int, int], tuple[int, int]]:
    """Top-left cells of the linear chart and, beside it with a column to spare, the log-scale chart."""
    left = sweep_column(config, config.training.learning_rates[-1]) + 2
    width = -(-SWEEP_CHART_SIZE[0] // DEFAULT_COLUMN_PX) + 1
    return (SWEEP_HEADER_ROW + 1, left), (SWEEP_HEADER_ROW + 1, left + width)


MAX_CHART_SERIES = 255  # Excel's limit for one chart


def sweep_chart_rates(config: Config) -> tuple[float, ...]:
    """The learning rates the sweep's charts draw: all of them, up to Excel's series limit."""
    return config.training.learning_rates[:MAX_CHART_SERIES]


def sweep_note_cell(config: Config) -> tuple[int, int]:
    """Above the charts: where the sheet says when they cannot draw every rate."""
    (row, col), _ = sweep_chart_cells(config)
    return row - 1, col


# --- Check. -------------------------------------------------------------------------------------------------

CHECK_STATUS = "check_status"  # the PASS / FAIL / INPUTS EDITED cell
CHECK_MAX_REL_DIFF = "check_max_rel_diff"
CHECK_TOLERANCE = "check_tolerance"
CHECK_EDITED = "check_inputs_edited"  # how many inputs differ from the generated ones
CHECK_CELLS: dict[str, tuple[int, int]] = {
    CHECK_STATUS: (1, 1),
    CHECK_MAX_REL_DIFF: (2, 1),
    CHECK_TOLERANCE: (3, 1),
    CHECK_EDITED: (4, 1),
}
CHECK_NOTE_ROWS = (5, 6, 7)  # how to read the sheet, in lines short enough for a screen
CHECK_GROUP_ROW = 8  # a sheet name over its three columns
CHECK_LARGEST_ROW = 9  # below it, in the block's own columns: that block's largest relative difference
CHECK_HEADER_ROW = 10
CHECK_FIRST_DATA_ROW = 11

# Left: what the numbers were generated from, then the final parameters of every table.
CHECK_INPUT_COLS = (0, 1, 2, 3)  # name, generated value, value in the workbook now, edited (0/1)
CHECK_FINAL_COLS = (0, 1, 2, 3, 4)  # sheet, parameter, numpy, workbook, relative difference
# Right: E_total per iteration, an iteration column then (numpy, workbook, rel. diff) per table sheet.
CHECK_ITERATION_COL = 6


def check_inputs(config: Config) -> list[tuple[str, str, float]]:
    """(label, formula text of the live cell, generated value) of every input the reference depends on.

    The named inputs, the Backprop sheet's `eta`, and each learning-rate sheet's own η cell.
    """
    network = config.network
    rows = [(name, name, float(getattr(network, field))) for name, field in NAMED_INPUTS.items()]
    rows.append((ETA, ETA, backprop_lr(config)))
    for lr in config.training.learning_rates:
        sheet = lr_sheet_name(lr)
        rows.append((f"η on {sheet}", ref(sheet, *LR_ETA_CELL), lr))
    return rows


def check_input_row(k: int) -> int:
    """Row of the k-th entry of check_inputs(config)."""
    return CHECK_FIRST_DATA_ROW + k


def check_final_params(config: Config) -> list[str]:
    return trained_params(config)


def check_input_count(config: Config) -> int:
    """len(check_inputs(config)), without building the list: the named inputs, eta, one η per rate sheet."""
    return len(NAMED_INPUTS) + 1 + len(config.training.learning_rates)


def check_final_header_row(config: Config) -> int:
    return check_input_row(check_input_count(config)) + 1


def check_final_row(config: Config, table: int, param: int) -> int:
    """Row of the final value of parameter `param` (index into check_final_params) of table sheet `table`."""
    return check_final_header_row(config) + 1 + table * len(check_final_params(config)) + param


# The most learning rates a workbook can hold: the Check sheet is the widest, three columns per table sheet.
MAX_LEARNING_RATES = (SHEET_MAX_COLS - CHECK_ITERATION_COL - 1) // 3 - 1


def defined_names() -> tuple[str, ...]:
    """Every workbook-level name excelgen may define, whatever the config (named_cells(config) holds those of
    one config): the named inputs, eta, show_answers, the gradient check's, the Check summary's."""
    gradcheck = (FD_STEP, *(fd_name(p) for p in WEIGHTS + BIASES), GRADCHECK_MAX)
    return (*NAMED_INPUTS, ETA, SHOW_ANSWERS, *gradcheck, *CHECK_CELLS)


def owns_name(name: str) -> bool:
    return name.lower() in {n.lower() for n in defined_names()}


def check_etotal_cols(config: Config, table: int) -> tuple[int, int, int]:
    """(numpy, workbook, rel. diff) columns of E_total for table sheet `table` (index into table_sheets)."""
    first = CHECK_ITERATION_COL + 1 + 3 * table
    return first, first + 1, first + 2


# --- Every defined name the workbook holds. -----------------------------------------------------------------


def named_cells(config: Config) -> dict[str, tuple[str, int, int]]:
    """Name -> (sheet, row, column) of its single cell: the workbook-level names excelgen defines for a config
    (the named inputs, eta, the exercise switch, the gradient check, the Check summary); assemble.py defines
    exactly these."""
    names = {name: (BACKPROP, *cell) for name, cell in INPUT_CELLS.items()}
    names[ETA] = (BACKPROP, *ETA_CELL)
    names[SHOW_ANSWERS] = (BACKPROP, *SHOW_ANSWERS_CELL)
    names[FD_STEP] = (BACKPROP, *FD_STEP_CELL)
    for param in trained_params(config):
        names[fd_name(param)] = (BACKPROP, gradcheck_row("fd"), gradcheck_col(config, param))
    names[GRADCHECK_MAX] = (BACKPROP, *GRADCHECK_MAX_CELL)
    names.update({name: (CHECK, *cell) for name, cell in CHECK_CELLS.items()})
    return names


# --- Exercise mode and the gradient colours: the areas their conditional formats cover. --------------------

Area = tuple[int, int, int, int]  # first row, first column, last row, last column


def _runs(cols: list[int]) -> list[tuple[int, int]]:
    """Sorted columns as (first, last) runs of neighbours: [3, 4, 5, 9] -> [(3, 5), (9, 9)]."""
    runs: list[tuple[int, int]] = []
    for col in sorted(cols):
        if runs and runs[-1][1] == col - 1:
            runs[-1] = (runs[-1][0], col)
        else:
            runs.append((col, col))
    return runs


def exercise_areas(config: Config) -> list[Area]:
    """What show_answers = FALSE blanks on the Backprop sheet, as areas in reading order.

    The table's computed cells of iterations 0 … EXERCISE_ITERATIONS-1 (forward pass, errors, gradients)
    and the parameters their updates give (the trained ones of rows 1 … EXERCISE_ITERATIONS); the diagram's
    activations and E_total; the gradient check but its inputs (fd_step and the parameters' values).
    Inputs (t1, t2, i1, i2, iteration 0's parameters, untrained biases) stay visible.
    """
    names = columns(config)
    trained = set(trained_params(config))
    computed = [column(config, n) for n in names if n not in NAMED_INPUTS.values()]
    params = [column(config, n) for n in names if n in trained]
    areas: list[Area] = []
    for k in range(EXERCISE_ITERATIONS + 1):
        cols = (computed if k < EXERCISE_ITERATIONS else []) + (params if k > 0 else [])
        areas += [(data_row(k), first, data_row(k), last) for first, last in _runs(cols)]
    diagram = [DIAGRAM_NODE_CELLS[n] for n in ("a_h1", "a_o1", "a_h2", "a_o2", "E_total")]
    areas += [(row, col, row, col) for row, col in diagram]
    first, last = (
        gradcheck_col(config, trained_params(config)[0]),
        gradcheck_col(config, trained_params(config)[-1]),
    )
    areas.append((gradcheck_row("plus"), first, gradcheck_row("rel_diff"), last))
    areas.append((*GRADCHECK_MAX_CELL, *GRADCHECK_MAX_CELL))
    return sorted(areas)


def exercise_areas_elsewhere(config: Config) -> dict[str, list[Area]]:
    """What show_answers = FALSE hides on the other sheets, where the same numbers stand: on every η sheet the
    table's part of exercise_areas (iteration 0 is every rate's alike, iteration 1 the Backprop η's sheet's)
    and its E_total summary; on LR sweep the rows of those iterations; on Check their E_total rows, and the
    final parameters when the run is no longer than the hidden iterations."""
    hidden = EXERCISE_ITERATIONS
    rates = config.training.learning_rates
    table = [area for area in exercise_areas(config) if area[0] >= FIRST_DATA_ROW]
    summary = (LR_SUMMARY_TOP, LR_SUMMARY_COL, LR_SUMMARY_TOP + 2, LR_SUMMARY_COL)
    out = {lr_sheet_name(lr): [*table, summary] for lr in rates}
    last_row = SWEEP_FIRST_DATA_ROW + hidden - 1
    out[SWEEP] = [(SWEEP_FIRST_DATA_ROW, SWEEP_ITERATION_COL + 1, last_row, sweep_column(config, rates[-1]))]
    n_tables = len(table_sheets(config))
    first_col, last_col = check_etotal_cols(config, 0)[0], check_etotal_cols(config, n_tables - 1)[1]
    out[CHECK] = [(CHECK_FIRST_DATA_ROW, first_col, CHECK_FIRST_DATA_ROW + hidden - 1, last_col)]
    if config.training.iterations <= hidden:
        last = check_final_row(config, n_tables - 1, len(check_final_params(config)) - 1)
        out[CHECK].append((check_final_row(config, 0, 0), CHECK_FINAL_COLS[2], last, CHECK_FINAL_COLS[3]))
    return out


def gradient_areas(config: Config) -> list[Area]:
    """Each gradient column of a table, iteration 0 to N: one diverging colour scale each."""
    names = [n for n in columns(config) if n.startswith("dE/d")]
    return [(data_row(0), column(config, n), last_data_row(config), column(config, n)) for n in names]


# --- A class set's student workbook (excelgen/classroom/student.py): the Backprop sheet's inputs, diagram,
# derivation and table header as above, its table's cells empty; whose it is on the legend's row. -----------

STUDENT_LABEL_CELL = (LEGEND_ROW, 0)  # "student"
STUDENT_ID_CELL = (LEGEND_ROW, 1)  # the id the grader reads (and the file's properties hold)
STUDENT_NAME_CELL = (LEGEND_ROW, 3)  # the name, as text
INSTRUCTIONS = "Instructions"  # the student workbook's second sheet

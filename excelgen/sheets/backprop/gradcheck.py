"""The Backprop sheet's gradient check: the sheet proves its own calculus, as fast.ai's gradient-descent
workbook does.

For each trained parameter p, at iteration 0: E_total recomputed by a live formula with p moved to p + h and
to p − h (h is the named input fd_step), the central difference (E₊ − E₋) / 2h (named fd_w1 …), the chain
rule's gradient from the table's row 0, and their relative difference; the largest is gradcheck_max_rel_diff.

Each E₊ / E₋ formula is the table's forward pass (formulas.forward) with p replaced by (p+fd_step) and every
quantity that does not depend on p read from row 0, so it does what reference.gradient_check does, operation
for operation, and the cached values are that function's.

    parameter                            w1                  …  w8
    the parameter at iteration 0         0.150000000            0.550000000
    E_total with the parameter + h       0.014181381107826      0.014181533161577
    E_total with the parameter − h       0.014181374767958      0.014181222715415
    finite difference (E+h − E−h) / 2h   3.169933957E-04        1.552230812E-02   <- fd_w1 … fd_w8
    chain rule: the table's ∂E_total/∂·  3.169933959E-04        1.552230812E-02
    relative difference                  7.2E-10                3.8E-11
    largest relative difference          7.2E-10                                  <- gradcheck_max_rel_diff
"""

from __future__ import annotations

from xlsxwriter.worksheet import Worksheet

from ...model.config import BIASES, Config
from ...model.reference import FD_STEP, FORWARD, gradient_check, initial_point
from .. import layout
from ..cells import Cells
from ..formats import Formats
from ..formulas import forward, rel_diff

ROW_LABELS = {
    "value": "the parameter at iteration 0",
    "plus": "E_total with the parameter + h",
    "minus": "E_total with the parameter − h",
    "fd": "finite difference (E+h − E−h) / 2h",
    "chain": "chain rule: the table's ∂E_total/∂·",
    "rel_diff": "relative difference",
}
STEP_NOTE = "Each E_total is the forward pass with one parameter moved by h; the rest is iteration 0."
MAX_NOTE = "= |fd − chain| / max(|fd|, |chain|). Far below 1e-6: the chain rule is right."


def _row0(config: Config, name: str) -> str:
    """Row 0's cell of a table column; without bias columns a bias is its named input, as in the table."""
    if name in BIASES and not config.has_biases:
        return layout.INPUT_NAME[name]
    return layout.a1(layout.data_row(0), layout.column(config, name))


def moved_etotal(config: Config, param: str, sign: str) -> str:
    """The formula of E_total at iteration 0 with `param` moved by +fd_step (sign "+") or −fd_step ("-")."""
    moved = f"({_row0(config, param)}{sign}{layout.FD_STEP})"
    expanded: dict[str, str] = {}  # the quantities that depend on param, as formula text

    def v(name: str) -> str:
        if name == param:
            return moved
        if name in expanded:
            return f"({expanded[name]})"
        return _row0(config, name)

    for name in FORWARD:  # in the order they are computed, so that each finds what it reads expanded
        text = forward(v)[name]
        if moved in text:
            expanded[name] = text
    return "=" + expanded["E_total"]


def add(cells: Cells, sheet: Worksheet, config: Config, formats: Formats) -> None:
    """The gradient check's cells, with numpy's values cached; its input's validation and note."""
    params = layout.trained_params(config)
    checked = gradient_check(initial_point(config.network), params, FD_STEP)
    label_col = layout.GRADCHECK_LABEL_COL
    top = layout.GRADCHECK_TOP
    cells.text(top, label_col, "Gradient check at iteration 0: the chain rule against finite differences",
               formats.heading)  # fmt: skip
    row, col = layout.FD_STEP_CELL
    cells.text(row, label_col, f"step h ({layout.FD_STEP})", formats.row_label)
    cells.number(row, col, FD_STEP, formats.input)
    cells.text(row, col + 1, STEP_NOTE, formats.note)
    cells.comment(
        row,
        col,
        f"{layout.FD_STEP}: the step h of the central differences. A larger h makes the truncation error "
        f"(∝ h²) grow, a smaller one the rounding of E+h − E−h (∝ 1/h). {FD_STEP:g} balances the two here.",
    )
    sheet.data_validation(
        row,
        col,
        row,
        col,
        {
            "validate": "decimal",
            "criteria": ">",
            "value": 0,
            "input_title": layout.FD_STEP,
            "input_message": "The finite-difference step h, a number > 0 (1e-3 and 1e-9 show both errors).",
            "error_title": "h must be a number > 0",
            "error_message": "The finite-difference step must be a number greater than 0.",
        },
    )

    cells.text(layout.GRADCHECK_HEADER_ROW, label_col, "parameter", formats.header)
    for kind, label in ROW_LABELS.items():
        cells.text(layout.gradcheck_row(kind), label_col, label, formats.row_label)
    for param in params:
        col = layout.gradcheck_col(config, param)
        values = checked[param]
        cells.text(layout.GRADCHECK_HEADER_ROW, col, param, formats.header)

        def cell(kind: str, col: int = col) -> str:
            return layout.a1(layout.gradcheck_row(kind), col)

        formulas = {
            "value": ("=" + _row0(config, param), formats.value, float(getattr(config.network, param))),
            "plus": (moved_etotal(config, param, "+"), formats.e_total_fine, values["plus"]),
            "minus": (moved_etotal(config, param, "-"), formats.e_total_fine, values["minus"]),
            "fd": (
                f"=({cell('plus')}-{cell('minus')})/(2*{layout.FD_STEP})",
                formats.gradient_fine,
                values["fd"],
            ),
            "chain": ("=" + _row0(config, f"dE/d{param}"), formats.gradient_fine, values["chain"]),
            "rel_diff": (rel_diff(cell("fd"), cell("chain")), formats.rel_diff, values["rel_diff"]),
        }
        for kind, (formula, fmt, value) in formulas.items():
            cells.formula(layout.gradcheck_row(kind), col, formula, fmt, value)

    row, col = layout.GRADCHECK_MAX_CELL
    first, last = (layout.gradcheck_col(config, p) for p in (params[0], params[-1]))
    diffs = layout.gradcheck_row("rel_diff")
    worst = max(checked[p]["rel_diff"] for p in params)
    cells.text(row, label_col, "largest relative difference", formats.row_label_bold)
    cells.formula(
        row, col, f"=MAX({layout.a1(diffs, first)}:{layout.a1(diffs, last)})", formats.rel_diff, worst
    )
    cells.text(row, col + 1, MAX_NOTE, formats.note)

    sheet.set_column(label_col, label_col, 40)
    sheet.set_column(label_col + 1, layout.GRADCHECK_LAST_COL, 18)

"""Exercise mode, as in Tom Yeh's "AI by hand" workbooks: the answers hide until the student has worked them.

A named input `show_answers` on the Backprop sheet (TRUE unless the config's [exercise] show_answers or
--hide-answers say otherwise; TRUE/FALSE or 1/0, validated). Set to FALSE, one conditional format paints the
computed cells of layout.exercise_areas (iterations 0 and 1 of the table, the weights their updates give, the
diagram's activations and E_total, the gradient check) as empty grey boxes: font and fill of one colour; the
same numbers on the other sheets (every η sheet's first rows, LR sweep's, Check's) hide with them
(hide_elsewhere). The inputs stay visible; nothing but the formatting changes, so every formula keeps working.
On the Backprop sheet a plain formula rule on an absolute address of the same sheet, NOT($H$11): the form
that Excel, LibreOffice and Google Sheets all read alike.
"""

from __future__ import annotations

from collections.abc import Mapping

from xlsxwriter.utility import xl_range
from xlsxwriter.worksheet import Worksheet

from ...model.config import Config
from .. import layout
from ..cells import Cells
from ..formats import Formats

INSTRUCTION = (
    "Exercise: set FALSE to blank iterations 0 and 1, the diagram's values and the gradient check; "
    "work them on paper, then set TRUE."
)


def switch_formula() -> str:
    """True while answers are hidden: FALSE and 0 hide, TRUE and 1 show (a blank cell counts as FALSE)."""
    return f"=NOT({layout.a1(*layout.SHOW_ANSWERS_CELL, absolute=True)})"


def validation() -> dict:
    """TRUE, FALSE, 1 or 0. Excel keeps TRUE and 1 apart (TRUE=1 is FALSE there), hence four comparisons."""
    cell = layout.a1(*layout.SHOW_ANSWERS_CELL)
    return {
        "validate": "custom",
        "value": f"=OR({cell}=TRUE,{cell}=FALSE,{cell}=1,{cell}=0)",
        "input_title": layout.SHOW_ANSWERS,
        "input_message": "TRUE shows every value; FALSE (or 0) blanks iterations 0 and 1 to work out.",
        "error_title": "TRUE or FALSE",
        "error_message": "show_answers takes TRUE or FALSE (or 1 or 0).",
    }


def add(cells: Cells, sheet: Worksheet, formats: Formats, show: bool = True) -> None:
    """The switch (TRUE or FALSE as `show`), its label, its instruction and its validation."""
    row, col = layout.SHOW_ANSWERS_CELL
    cells.text(row, col - 1, layout.SHOW_ANSWERS, formats.label)
    cells.boolean(row, col, show, formats.switch)
    cells.text(row, col + 1, INSTRUCTION, formats.note)
    cells.comment(
        row,
        col,
        f"{layout.SHOW_ANSWERS}: TRUE shows every number. FALSE (or 0) turns the computed cells of "
        "iterations 0 and 1, the diagram's activations and E_total, and the gradient check into empty grey "
        "boxes: compute them by hand from the inputs and the derivation, then set TRUE and compare. Only the "
        "colours change.",
        {"x_scale": 2, "y_scale": 1.4},
    )
    sheet.data_validation(row, col, row, col, validation())


def hide_elsewhere(sheets: Mapping[str, Worksheet], config: Config, formats: Formats) -> None:
    """The same switch on the other sheets, over layout.exercise_areas_elsewhere: the numbers hidden on the
    Backprop sheet hide wherever else they stand. Added before a sheet's own rules, so that it wins. The
    switch is read through INDIRECT: a rule that names another sheet directly is refused by Excel 2007
    and Google Sheets, INDIRECT is read alike by all three."""
    switch = f'=NOT(INDIRECT("{layout.ref(layout.BACKPROP, *layout.SHOW_ANSWERS_CELL)}"))'
    for name, areas in layout.exercise_areas_elsewhere(config).items():
        sheets[name].conditional_format(
            *areas[0],
            {
                "type": "formula",
                "criteria": switch,
                "format": formats.answer_hidden,
                "stop_if_true": True,
                "multi_range": " ".join(xl_range(*area) for area in areas),
            },
        )


def hide_answers(sheet: Worksheet, config: Config, formats: Formats) -> None:
    """The conditional format that blanks the answers; added before any other rule of the sheet, so that it
    takes precedence (and stops the gradients' colour scale) where both apply."""
    areas = layout.exercise_areas(config)
    sqref = " ".join(xl_range(*area) for area in areas)
    sheet.conditional_format(
        *areas[0],
        {
            "type": "formula",
            "criteria": switch_formula(),
            "format": formats.answer_hidden,
            "stop_if_true": True,
            "multi_range": sqref,
        },
    )

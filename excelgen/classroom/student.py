"""The student's workbook: their own inputs, filled in and named, the diagram, the derivation, the table's
header and its rows left empty to fill, and an Instructions sheet. No answer anywhere in the file.

What the file holds is only what the student is given: the inputs and η (their own variant), text, and the
diagram's formulas, whose cached results are what they are over an empty table (0), never a computed value;
no chart (a chart caches its data), no gradient check, no Check sheet, no exercise switch. The first `blank`
iterations are empty input cells; the rows after them have their iteration number and the columns' formats,
ready for a fill-down. Whose file it is shows on the sheet (layout.STUDENT_ID_CELL) and in the file's
properties (a custom property the grader reads), both written as text.

The bytes depend on nothing but the arguments: the created date is fixed (CREATED) and xlsxwriter dates the
zip's entries 1980-01-01 itself.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np
from xlsxwriter.workbook import Workbook

from ..model.config import BIASES, Config
from ..model.notation import EDGES, derivation
from ..sheets import formats as fmt
from ..sheets import layout, table
from ..sheets.backprop import diagram
from ..sheets.cells import Cells

# The date every class file's properties give (xlsxwriter would write the time of the run).
CREATED = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
STUDENT_PROPERTY = "excelgen_student_id"  # the custom property holding the student's id
DEFAULT_BLANK = 2


def instructions(student_id: str, name: str, blank: int, config: Config, eta: float) -> list[str]:
    n = config.training.iterations
    cols = ", ".join(layout.header(name) for name in layout.columns(config))
    return [
        "Backpropagation by hand: your own numbers",
        "",
        f"Student: {student_id}" + (f" ({name})" if name else ""),
        "",
        "1. Your inputs, targets, initial weights and learning rate η are on the Backprop sheet, in the blue "
        "cells at the top left, each with a name (input_i1, target_t1, init_w1, …, eta). They are yours: "
        "another student's are different. Do not change them.",
        f"2. Fill in the table: a row per iteration, from iteration 0 (the initial weights) to iteration "
        f"{n}. Columns: {cols}.",
        "3. Row 0: t1, t2, i1, i2 and w1…w8 are your inputs (type =input_i1 and so on); then the forward "
        "pass (h1, a_h1, …, a_o2), the errors E1, E2, E_total, and the gradients ∂E_total/∂w1 … "
        "∂E_total/∂w8.",
        "4. Each later row: the same t and i, and every weight updated from the row above: "
        "w ← w − η·∂E_total/∂w, with η from the cell eta.",
        f"5. The first {blank} iterations are empty blue cells: work them by hand or with formulas. The rows "
        "after them are ready: select your last finished row and fill down (Ctrl+D) to iteration "
        f"{n}.",
        "6. The derivation above the table gives every formula in the documents' notation; the diagram "
        "follows your row 0 as you fill it.",
        "7. Save as .xlsx (Excel or LibreOffice: they store the values the grader reads) and hand it in "
        "under its own name.",
        "",
        "The grader checks each cell from your own row above (one slip costs its own cells, not the rest "
        "of the table) and names the usual mistakes.",
    ]


def write_student(
    path: Path,
    config: Config,
    student_id: str,
    name: str = "",
    blank: int = DEFAULT_BLANK,
) -> None:
    """Write the student's workbook for `config` (their variant's config) at `path`."""
    network = config.network
    eta = layout.backprop_lr(config)
    options = {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False}
    book = Workbook(str(path), options)
    book.set_properties(
        {
            "title": f"Backpropagation by hand: {student_id}",
            "subject": "A 2-2-2 sigmoid network trained by gradient descent, worked by the student",
            "author": "excelgen",
            "keywords": student_id,
            "comments": "Written by excelgen for one student of a class set; the table is theirs to fill.",
            "created": CREATED.replace(tzinfo=None),
        }
    )
    book.set_custom_property(STUDENT_PROPERTY, student_id)
    formats = fmt.create(book)
    sheet = book.add_worksheet(layout.BACKPROP)
    notes = book.add_worksheet(layout.INSTRUCTIONS)

    cells = Cells()
    cells.text(
        layout.TITLE_ROW,
        0,
        "Backpropagation by hand: a 2-2-2 sigmoid network, your own numbers",
        formats.title,
    )
    cells.text(*layout.STUDENT_LABEL_CELL, "student", formats.label)
    cells.text(*layout.STUDENT_ID_CELL, student_id, formats.heading)
    if name:
        cells.text(*layout.STUDENT_NAME_CELL, name, formats.heading)
    for title, (row, col) in layout.INPUT_HEADINGS.items():
        cells.text(row, col, title, formats.heading)
        cells.blank(row, col + 1, formats.heading)
    for input_name, field in layout.NAMED_INPUTS.items():
        row, col = layout.INPUT_CELLS[input_name]
        cells.text(row, col - 1, field, formats.label)
        cells.number(row, col, getattr(network, field), formats.input)
        if field not in BIASES:
            what = {"i1": "input", "i2": "input", "t1": "target", "t2": "target"}.get(field)
            edge = "the initial weight {} → {}".format(*EDGES[field]) if what is None else f"your {what}"
            cells.comment(row, col, f"{input_name}: {edge}.")
    row, col = layout.ETA_CELL
    cells.text(row, col - 1, "η", formats.label)
    cells.number(row, col, eta, formats.input)
    cells.comment(row, col, "eta: your learning rate.")

    # The diagram's activations read the table's row 0, still empty: their cached results are 0.
    given = {**{f: getattr(network, f) for f in ("i1", "i2")}}
    run = {n: np.array([given.get(n, 0.0)]) for n in ("i1", "i2", "a_h1", "a_h2", "a_o1", "a_o2", "E_total")}
    diagram.add(cells, config, run, formats)
    for block, col in zip(derivation(config), layout.DERIVATION_COLS, strict=True):
        for k, (line, heading) in enumerate(block):
            cells.text(layout.DERIVATION_TOP + k, col, line, formats.heading if heading else formats.equation)
    cells.write(sheet)
    for input_name, (sheet_name, row, col) in layout.named_cells(config).items():
        if input_name in layout.NAMED_INPUTS or input_name == layout.ETA:
            book.define_name(input_name, "=" + layout.ref(sheet_name, row, col))

    _table(book, sheet, config, formats, blank)
    notes.set_column(0, 0, 120)
    wrap = book.add_format({"text_wrap": True, "valign": "top"})
    for k, line in enumerate(instructions(student_id, name, blank, config, eta)):
        notes.write_string(k, 0, line, formats.title if k == 0 else wrap)
    sheet.activate()
    book.close()


def _table(book: Workbook, sheet, config: Config, formats: fmt.Formats, blank: int) -> None:
    """The header, then iterations 0…N: the first `blank` as empty input cells, the rest empty in the
    columns' own formats."""
    names = layout.columns(config)
    sheet.set_column(layout.ITERATION_COL, layout.ITERATION_COL, 9)
    input_like = {}
    for name in names:
        col = layout.column(config, name)
        sheet.set_column(col, col, 13 if name.startswith("dE/d") or name == "E_total" else 12)
        number = fmt.GRADIENT if name.startswith("dE/d") else fmt.VALUE
        input_like[name] = book.add_format(
            {"num_format": number, "font_color": fmt.INPUT_BLUE, "bg_color": fmt.INPUT_FILL, "border": 1,
             "border_color": "#BFBFBF"}
        )  # fmt: skip
    table.write_header(sheet, config, formats)
    for k in range(config.training.iterations + 1):
        row = layout.data_row(k)
        sheet.write_number(row, layout.ITERATION_COL, k, formats.iteration)
        for name in names:
            style = input_like[name] if k < blank else table.column_format(name, formats)
            sheet.write_blank(row, layout.column(config, name), None, style)
    sheet.freeze_panes(layout.FIRST_DATA_ROW, layout.FIRST_TABLE_COL)

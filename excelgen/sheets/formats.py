"""Every cell format of the workbook, declared once and named for what it marks.

Conventions a spreadsheet user knows: blue text on a pale yellow fill is an input to edit; black is a
formula; E_total carries the one highlight of a table.
"""

from __future__ import annotations

from dataclasses import dataclass

from xlsxwriter.format import Format
from xlsxwriter.workbook import Workbook

VALUE = "0.000000000"  # the documents show nine decimals
# A quantity that is never negative (an activation, E1, E2, E_total) and may shrink to any size (E_total
# reaches 1e-30 on a long run): the documents' nine decimals from 1e-4 up, where they keep six significant
# digits or more, and six significant digits in scientific notation below, so nothing rounds to 0.000000000.
# One condition and no sign: LibreOffice drops the minus of a number in a conditional format's last section,
# so the signed columns (weights, net inputs) keep plain decimals and the gradients scientific notation.
NONNEGATIVE = "[<0.0001]0.00000E+00;0.000000000"
GRADIENT = "0.000E+00"  # gradients span decades, and pass through 0
REL_DIFF = "0.0E+00"
NODE_VALUE = "[<0.001]0.00E+00;0.0000"  # the diagram's activations and E_total, likewise
# The gradient check: E₊ and E₋ differ from the ninth decimal on, and the two gradients agree to ~10 digits.
E_TOTAL_FINE = "[<0.0001]0.000000000E+00;0.000000000000000"
GRADIENT_FINE = "0.000000000E+00"

INPUT_BLUE = "#0000FF"
INPUT_FILL = "#FFF2CC"
HEADER_FILL = "#D9E1F2"
HIGHLIGHT_FILL = "#FCE4D6"
INPUT_NODE_FILL = "#E2EFDA"
HIDDEN_NODE_FILL = "#DDEBF7"
OUTPUT_NODE_FILL = "#FCE4D6"
# The gradients' diverging scale, red-white-blue, light enough for black digits on either end. A negative
# gradient raises its weight (w − η·∂E/∂w), a positive one lowers it.
GRADIENT_NEGATIVE = "#F4A6A3"
GRADIENT_ZERO = "#FFFFFF"
GRADIENT_POSITIVE = "#9DC3E6"
# Exercise mode: a computed cell with show_answers off is an empty grey box, its digits the fill's colour.
EXERCISE_FILL = "#E4E4E4"


# Used only by conditional formats, which number their own.
_CONDITIONAL = {"pass_", "fail", "edited", "answer_hidden"}


@dataclass(frozen=True)
class Formats:
    title: Format
    note: Format
    heading: Format
    label: Format
    input: Format  # an input cell: edit it
    group: Format  # "hidden layer" over its columns
    header: Format  # a table column name
    header_highlight: Format  # E_total's column name
    iteration: Format
    value: Format
    positive: Format  # an activation or an error: see NONNEGATIVE
    gradient: Format
    e_total: Format
    equation: Format
    input_node: Format
    hidden_node: Format
    output_node: Format
    edge: Format  # "w1: i1 → h1"
    edge_value: Format
    node_value: Format
    constant: Format  # a numpy number written by the generator
    constant_positive: Format  # … of E_total
    generated_input: Format  # an input as generated, kept for comparison
    rel_diff: Format
    status: Format
    pass_: Format  # conditional formats of the Check status
    fail: Format
    edited: Format
    row_label: Format  # a row's name in the gradient check
    row_label_bold: Format
    e_total_fine: Format  # E_total to 15 decimals
    gradient_fine: Format  # a gradient to 10 significant digits
    switch: Format  # show_answers: an input, centred
    answer_hidden: Format  # conditional: a computed cell while show_answers is off
    swatch_input: Format  # the legend's swatches
    swatch_formula: Format
    swatch_e_total: Format
    swatch_negative: Format
    swatch_positive: Format
    swatch_hidden: Format


def create(book: Workbook) -> Formats:
    def fmt(**props) -> Format:
        return book.add_format(props)

    node = {"bold": True, "align": "center", "border": 1}
    swatch = {"align": "center", "border": 1, "border_color": "#BFBFBF"}
    input_ = {"font_color": INPUT_BLUE, "bg_color": INPUT_FILL, "border": 1, "border_color": "#BFBFBF"}
    header = {"bold": True, "align": "center", "valign": "vcenter", "bottom": 2, "bg_color": HEADER_FILL}
    formats = Formats(
        title=fmt(bold=True, font_size=14),
        note=fmt(italic=True, font_color="#595959"),
        heading=fmt(bold=True, bottom=1),
        label=fmt(bold=True, align="right"),
        input=fmt(**input_),
        group=fmt(italic=True, align="center", bg_color=HEADER_FILL, top=1),
        header=fmt(**header),
        header_highlight=fmt(**{**header, "bg_color": HIGHLIGHT_FILL}),
        iteration=fmt(num_format="0", align="center"),
        value=fmt(num_format=VALUE),
        positive=fmt(num_format=NONNEGATIVE),
        gradient=fmt(num_format=GRADIENT),
        e_total=fmt(num_format=NONNEGATIVE, bold=True, bg_color=HIGHLIGHT_FILL),
        equation=fmt(font_name="Cambria Math"),
        input_node=fmt(**node, bg_color=INPUT_NODE_FILL),
        hidden_node=fmt(**node, bg_color=HIDDEN_NODE_FILL),
        output_node=fmt(**node, bg_color=OUTPUT_NODE_FILL),
        edge=fmt(italic=True, align="right", font_color="#595959"),
        edge_value=fmt(num_format=NODE_VALUE, align="left", font_color="#595959"),
        node_value=fmt(num_format=NODE_VALUE, align="center", border=1),
        constant=fmt(num_format=VALUE, font_color="#595959"),
        constant_positive=fmt(num_format=NONNEGATIVE, font_color="#595959"),
        generated_input=fmt(font_color="#595959"),
        rel_diff=fmt(num_format=REL_DIFF),
        status=fmt(bold=True, font_size=13),
        pass_=fmt(font_color="#006100", bg_color="#C6EFCE"),
        fail=fmt(font_color="#9C0006", bg_color="#FFC7CE"),
        edited=fmt(font_color="#9C5700", bg_color="#FFEB9C"),
        row_label=fmt(),
        row_label_bold=fmt(bold=True),
        e_total_fine=fmt(num_format=E_TOTAL_FINE),
        gradient_fine=fmt(num_format=GRADIENT_FINE),
        switch=fmt(**input_, bold=True, align="center"),
        answer_hidden=fmt(font_color=EXERCISE_FILL, bg_color=EXERCISE_FILL),
        swatch_input=fmt(**{**input_, "align": "center"}),
        swatch_formula=fmt(**swatch),
        swatch_e_total=fmt(**swatch, bold=True, bg_color=HIGHLIGHT_FILL),
        swatch_negative=fmt(**swatch, bg_color=GRADIENT_NEGATIVE),
        swatch_positive=fmt(**swatch, bg_color=GRADIENT_POSITIVE),
        swatch_hidden=fmt(**swatch, bg_color=EXERCISE_FILL, font_color="#595959"),
    )
    # xlsxwriter numbers cell formats in the order the sheets first use them; number them here instead, so
    # styles.xml does not depend on which cell is written first (fastsheet renders cells early).
    for name in Formats.__dataclass_fields__:
        if name not in _CONDITIONAL:
            getattr(formats, name)._get_xf_index()
    return formats

"""Every cell format of the workbook, declared once and named for what it marks.

Conventions a spreadsheet user knows: blue text on a pale yellow fill is an input to edit; black is a
formula; E_total carries the one highlight of a table.
"""

from __future__ import annotations

from dataclasses import dataclass

from xlsxwriter.format import Format
from xlsxwriter.workbook import Workbook

VALUE = "0.000000000"  # the documents show nine decimals
GRADIENT = "0.000E+00"  # gradients span decades
REL_DIFF = "0.0E+00"
NODE_VALUE = "0.0000"

INPUT_BLUE = "#0000FF"
INPUT_FILL = "#FFF2CC"
HEADER_FILL = "#D9E1F2"
HIGHLIGHT_FILL = "#FCE4D6"
INPUT_NODE_FILL = "#E2EFDA"
HIDDEN_NODE_FILL = "#DDEBF7"
OUTPUT_NODE_FILL = "#FCE4D6"


_CONDITIONAL = {"pass_", "fail", "edited"}  # used only by conditional formats, which number their own


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
    generated_input: Format  # an input as generated, kept for comparison
    rel_diff: Format
    status: Format
    pass_: Format  # conditional formats of the Check status
    fail: Format
    edited: Format


def create(book: Workbook) -> Formats:
    def fmt(**props) -> Format:
        return book.add_format(props)

    node = {"bold": True, "align": "center", "border": 1}
    header = {"bold": True, "align": "center", "valign": "vcenter", "bottom": 2, "bg_color": HEADER_FILL}
    formats = Formats(
        title=fmt(bold=True, font_size=14),
        note=fmt(italic=True, font_color="#595959"),
        heading=fmt(bold=True, bottom=1),
        label=fmt(bold=True, align="right"),
        input=fmt(font_color=INPUT_BLUE, bg_color=INPUT_FILL, border=1, border_color="#BFBFBF"),
        group=fmt(italic=True, align="center", bg_color=HEADER_FILL, top=1),
        header=fmt(**header),
        header_highlight=fmt(**{**header, "bg_color": HIGHLIGHT_FILL}),
        iteration=fmt(num_format="0", align="center"),
        value=fmt(num_format=VALUE),
        gradient=fmt(num_format=GRADIENT),
        e_total=fmt(num_format=VALUE, bold=True, bg_color=HIGHLIGHT_FILL),
        equation=fmt(font_name="Cambria Math"),
        input_node=fmt(**node, bg_color=INPUT_NODE_FILL),
        hidden_node=fmt(**node, bg_color=HIDDEN_NODE_FILL),
        output_node=fmt(**node, bg_color=OUTPUT_NODE_FILL),
        edge=fmt(italic=True, align="right", font_color="#595959"),
        edge_value=fmt(num_format=NODE_VALUE, align="left", font_color="#595959"),
        node_value=fmt(num_format=NODE_VALUE, align="center", border=1),
        constant=fmt(num_format=VALUE, font_color="#595959"),
        generated_input=fmt(font_color="#595959"),
        rel_diff=fmt(num_format=REL_DIFF),
        status=fmt(bold=True, font_size=13),
        pass_=fmt(font_color="#006100", bg_color="#C6EFCE"),
        fail=fmt(font_color="#9C0006", bg_color="#FFC7CE"),
        edited=fmt(font_color="#9C5700", bg_color="#FFEB9C"),
    )
    # xlsxwriter numbers cell formats in the order the sheets first use them; number them here instead, so
    # styles.xml does not depend on which cell is written first (fastsheet renders cells early).
    for name in Formats.__dataclass_fields__:
        if name not in _CONDITIONAL:
            getattr(formats, name)._get_xf_index()
    return formats

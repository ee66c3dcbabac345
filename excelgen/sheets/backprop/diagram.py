"""The network diagram on the Backprop sheet, built from cells so every number on it is a live formula.

    input        weight              hidden        weight                output
    i1  0.05     w1: i1 → h1  0.15   a_h1  0.5933  w5: a_h1 → o1  0.40   a_o1  0.7514
                 w2: i2 → h1  0.20                 w6: a_h2 → o1  0.45
                 w3: i1 → h2  0.25                 w7: a_h1 → o2  0.50
    i2  0.10     w4: i2 → h2  0.30   a_h2  0.5969  w8: a_h2 → o2  0.55   a_o2  0.7729
                                                                         E_total 0.2984

Weights read their named cells; activations and E_total read the table's iteration 0. Cells, unlike
shapes, render alike in Excel, LibreOffice and Google Sheets.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ...model.config import Config
from ...model.notation import EDGES
from .. import layout
from ..cells import Cells
from ..formats import Formats


def add(cells: Cells, config: Config, run: Mapping[str, np.ndarray], formats: Formats) -> None:
    top, left = layout.DIAGRAM_TOP, layout.DIAGRAM_LEFT
    cells.text(top, left, "The network at iteration 0 (live: edit an input and it follows)", formats.heading)
    for offset, heading in ((0, "input"), (2, "weight"), (4, "hidden"), (6, "weight"), (8, "output")):
        cells.text(top + 1, left + offset, heading, formats.note)

    def node(name: str, fmt, formula: str) -> None:
        row, col = layout.DIAGRAM_NODE_CELLS[name]
        cells.text(row, col - 1, name, fmt)
        cells.formula(row, col, formula, formats.node_value, float(run[name][0]))

    def table_cell(name: str) -> str:
        return "=" + layout.a1(layout.data_row(0), layout.column(config, name))

    for name in ("i1", "i2"):
        node(name, formats.input_node, "=" + layout.INPUT_NAME[name])
    for name in ("a_h1", "a_h2"):
        node(name, formats.hidden_node, table_cell(name))
    for name in ("a_o1", "a_o2"):
        node(name, formats.output_node, table_cell(name))
    for weight, (src, dst) in EDGES.items():
        row, col = layout.DIAGRAM_EDGE_CELLS[weight]
        cells.text(row, col - 1, f"{weight}: {src} → {dst}", formats.edge)
        value = float(getattr(config.network, weight))
        cells.formula(row, col, "=" + layout.INPUT_NAME[weight], formats.edge_value, value)
    row, col = layout.DIAGRAM_NODE_CELLS["E_total"]
    cells.text(row, col - 1, "E_total", formats.label)
    cells.formula(row, col, table_cell("E_total"), formats.node_value, float(run["E_total"][0]))

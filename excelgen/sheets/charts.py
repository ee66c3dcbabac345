"""The workbook's native charts of a quantity against the iteration: one recipe (`iteration_chart`), drawn
from a table sheet (E_total, the weights) and from the LR sweep (E_total of every learning rate).

Every chart is an XY scatter with straight lines: its x axis is a numeric axis from 0 to the last iteration
with a round major unit (`major_unit`). A category axis (a "line" chart) asks each engine to skip labels,
which LibreOffice ignores, printing every third iteration's label jammed into the next.

Every series is a column of a sheet against the iteration column beside it, named by a cell (its header, or
a cell whose formula reads the η it was drawn with), so that a label follows an edit in every engine. Titles
are plain text that names no value: LibreOffice keeps a title linked to a cell as the text it had when the
file was written, which would go stale.
"""

from __future__ import annotations

from collections.abc import Sequence

from xlsxwriter.chart import Chart
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from ..model.config import Config
from . import layout

_ROUND_STEPS = (1, 2, 5)
MAX_X_LABELS = 10  # intervals on the iteration axis, at most


def major_unit(iterations: int) -> int:
    """The smallest round step (1, 2, 5 × 10^k) that labels 0…iterations in at most MAX_X_LABELS steps."""
    scale = 1
    while True:
        for step in _ROUND_STEPS:
            if iterations <= MAX_X_LABELS * step * scale:
                return step * scale
        scale *= 10


def iteration_axis(config: Config) -> dict:
    """The x axis: the iteration, 0 to the last, labelled every major_unit, its labels below the plot even
    where a y value crosses 0 (a weight that changes sign would put them inside it)."""
    n = config.training.iterations
    return {
        "name": "iteration",
        "min": 0,
        "max": n,
        "major_unit": major_unit(n),
        "label_position": "low",
        "num_format": "0",
    }


def iteration_chart(
    book: Workbook,
    config: Config,
    sheet: str,
    title: str,
    *,
    first_row: int,
    iteration_col: int,
    series: Sequence[tuple[list, int]],
    y_axis: dict,
    line_width: float,
    legend: dict,
    size: tuple[int, int],
) -> Chart:
    """A scatter chart with straight lines of columns of `sheet`, rows first_row … first_row + iterations,
    against the iteration column; `series` holds (the cell naming it as [sheet, row, col], its column);
    `y_axis` and `legend` take xlsxwriter's set_y_axis and set_legend options."""
    last = first_row + config.training.iterations
    chart = book.add_chart({"type": "scatter", "subtype": "straight"})
    for name, col in series:
        chart.add_series(
            {
                "name": name,
                "categories": [sheet, first_row, iteration_col, last, iteration_col],
                "values": [sheet, first_row, col, last, col],
                "line": {"width": line_width},
                "marker": {"type": "none"},
            }
        )
    chart.set_title({"name": title, "name_font": {"size": 12}})
    chart.set_x_axis(iteration_axis(config))
    chart.set_y_axis(y_axis)
    chart.set_legend(legend)
    width, height = size
    chart.set_size({"width": width, "height": height})
    return chart


def _table_chart(
    book: Workbook,
    config: Config,
    sheet: str,
    title: str,
    series: Sequence[tuple[list, int]],
    *,
    y_name: str,
    line_width: float,
    legend: dict,
    width: int,
) -> Chart:
    return iteration_chart(
        book,
        config,
        sheet,
        title,
        first_row=layout.data_row(0),
        iteration_col=layout.ITERATION_COL,
        series=series,
        y_axis={"name": y_name, "major_gridlines": {"visible": True}},
        line_width=line_width,
        legend=legend,
        size=(width, layout.TOP_CHART_SIZE[1]),
    )


def etotal_chart(
    book: Workbook, config: Config, sheet: str, title: str, name_cell: tuple[int, int] | None
) -> Chart:
    """E_total of a table sheet against the iteration. Its one series is named by the cell `name_cell` of the
    sheet, a formula on the η cell that says which η drew it, shown as the legend; without one, by the
    column's header, and no legend."""
    col = layout.column(config, "E_total")
    name = [sheet, *name_cell] if name_cell else [sheet, layout.HEADER_ROW, col]
    return _table_chart(
        book,
        config,
        sheet,
        title,
        [(name, col)],
        y_name="E_total",
        line_width=2,
        legend={"position": "top"} if name_cell else {"none": True},
        width=layout.TOP_CHART_SIZE[0],
    )


def weights_chart(book: Workbook, config: Config, sheet: str) -> Chart:
    """w1…w8 (and b1, b2 when trained) against the iteration, a series per parameter named by its header:
    the documents' "track weight changes"."""
    what = "Weights and biases" if config.training.train_biases else "Weights"
    params = layout.trained_params(config)
    return _table_chart(
        book,
        config,
        sheet,
        f"{what} per iteration",
        [([sheet, layout.HEADER_ROW, layout.column(config, p)], layout.column(config, p)) for p in params],
        y_name="value",
        line_width=1.5,
        legend={"position": "right"},
        width=layout.WEIGHT_CHART_WIDTH,
    )


def insert_charts(
    book: Workbook,
    sheet: Worksheet,
    config: Config,
    cell: tuple[int, int],
    etotal_title: str,
    name_cell: tuple[int, int] | None = None,
) -> None:
    """The E_total chart at `cell` and the weight chart to its right (see etotal_chart for `name_cell`)."""
    name = sheet.get_name()
    sheet.insert_chart(*cell, etotal_chart(book, config, name, etotal_title, name_cell))
    sheet.insert_chart(*cell, weights_chart(book, config, name), {"x_offset": layout.WEIGHT_CHART_X_OFFSET})


def sweep_chart(book: Workbook, config: Config, title: str, log: bool = False) -> Chart:
    """The LR sweep's chart: one series per learning rate, each named by its header cell (a formula on that
    rate's η cell)."""
    y_axis = {"name": "E_total", "major_gridlines": {"visible": True}}
    if log:
        y_axis.update(log_base=10, num_format="0.0E+00")
    cols = [layout.sweep_column(config, lr) for lr in layout.sweep_chart_rates(config)]
    return iteration_chart(
        book,
        config,
        layout.SWEEP,
        title,
        first_row=layout.SWEEP_FIRST_DATA_ROW,
        iteration_col=layout.SWEEP_ITERATION_COL,
        series=[([layout.SWEEP, layout.SWEEP_HEADER_ROW, col], col) for col in cols],
        y_axis=y_axis,
        line_width=1.75,
        # Below the plot: beside it, LibreOffice squeezes the plot and cuts the names to "η =".
        legend={"position": "bottom"},
        size=layout.SWEEP_CHART_SIZE,
    )

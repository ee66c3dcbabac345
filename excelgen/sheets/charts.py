"""The workbook's native line charts: one recipe (`line_chart`), drawn from a table sheet (E_total, the
weights) and from the LR sweep (E_total of every learning rate).

Every series is a column of a sheet against the iteration column beside it, named by its header cell.
"""

from __future__ import annotations

from collections.abc import Sequence

from xlsxwriter.chart import Chart
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from ..model.config import Config
from . import layout


def category_axis(config: Config) -> dict:
    """The iteration axis: about ten labels however many iterations."""
    step = max(1, config.training.iterations // 10)
    return {"name": "iteration", "interval_unit": step, "interval_tick": step}


def line_chart(
    book: Workbook,
    config: Config,
    sheet: str,
    title: str,
    *,
    header_row: int,
    first_row: int,
    iteration_col: int,
    cols: Sequence[int],
    y_axis: dict,
    line_width: float,
    legend: dict,
    size: tuple[int, int],
) -> Chart:
    """A line chart of `cols` of `sheet`, rows first_row … first_row + iterations, against the iteration
    column, a series each named by its cell on `header_row`; `y_axis` and `legend` take xlsxwriter's
    set_y_axis and set_legend options."""
    last = first_row + config.training.iterations
    chart = book.add_chart({"type": "line"})
    for col in cols:
        chart.add_series(
            {
                "name": [sheet, header_row, col],
                "categories": [sheet, first_row, iteration_col, last, iteration_col],
                "values": [sheet, first_row, col, last, col],
                "line": {"width": line_width},
            }
        )
    chart.set_title({"name": title, "name_font": {"size": 12}})
    chart.set_x_axis(category_axis(config))
    chart.set_y_axis(y_axis)
    chart.set_legend(legend)
    width, height = size
    chart.set_size({"width": width, "height": height})
    return chart


def table_chart(
    book: Workbook,
    config: Config,
    sheet: str,
    title: str,
    headers: list[str],
    *,
    y_name: str,
    line_width: float,
    legend: dict,
) -> Chart:
    """A line chart of a table sheet's columns (by header) against the iteration."""
    return line_chart(
        book,
        config,
        sheet,
        title,
        header_row=layout.HEADER_ROW,
        first_row=layout.data_row(0),
        iteration_col=layout.ITERATION_COL,
        cols=[layout.column(config, header) for header in headers],
        y_axis={"name": y_name, "major_gridlines": {"visible": True}},
        line_width=line_width,
        legend=legend,
        size=(layout.TOP_CHART_WIDTH, layout.TOP_CHART_HEIGHT),
    )


def etotal_chart(book: Workbook, config: Config, sheet: str, title: str) -> Chart:
    """A native line chart of a table sheet's E_total against the iteration."""
    return table_chart(
        book, config, sheet, title, ["E_total"], y_name="E_total", line_width=2, legend={"none": True}
    )


def weights_chart(book: Workbook, config: Config, sheet: str, title: str) -> Chart:
    """A native line chart of w1…w8 (and b1, b2 when trained) against the iteration, a series per parameter
    named by its header: the documents' "track weight changes"."""
    return table_chart(
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


def sweep_chart(book: Workbook, config: Config, title: str, log: bool = False) -> Chart:
    """The LR sweep's chart: one series per learning rate, each named by its header cell."""
    y_axis = {"name": "E_total", "major_gridlines": {"visible": True}}
    if log:
        y_axis.update(log_base=10, num_format="0.0E+00")
    return line_chart(
        book,
        config,
        layout.SWEEP,
        title,
        header_row=layout.SWEEP_HEADER_ROW,
        first_row=layout.SWEEP_FIRST_DATA_ROW,
        iteration_col=layout.SWEEP_ITERATION_COL,
        cols=[layout.sweep_column(config, lr) for lr in layout.sweep_chart_rates(config)],
        y_axis=y_axis,
        line_width=1.75,
        # Below the plot: beside it, LibreOffice squeezes the plot and cuts the names to "η =".
        legend={"position": "bottom"},
        size=layout.SWEEP_CHART_SIZE,
    )

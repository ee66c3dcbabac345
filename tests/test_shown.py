"""What a student sees in LibreOffice: every cell as shown (its number format applied, after a recalculation),
read from LibreOffice's own CSV export of each sheet.

One LibreOffice start serves the module: a workbook whose η on one sheet was edited as the issue's student
did ('η=0.1'!B3 set to 5), and a small book of the workbook's own number formats holding the magnitudes the
sheets produce (E_total down to 1e-30, gradients near 0 of either sign).
"""

from __future__ import annotations

import math

import pytest
import xlsxwriter
from openpyxl import load_workbook

from excelgen.assemble import write_workbook
from excelgen.model.config import Config, Training
from excelgen.model.reference import run_all
from excelgen.sheets import formats, layout, rates
from excelgen.tools.libreoffice import shown

CONFIG = Config(training=Training(learning_rates=(0.1, 2.0), iterations=100))
EDITED_LR, NEW_ETA = 0.1, 5.0  # the edit: at η = 5 E_total ends below 1e-9, which showed 0.000000000
# (format field, values it must show with their significant digits)
MAGNITUDES = {
    "positive": [0.298371109, 0.0001, 9.87654321e-5, 2.546800e-08, 1e-30, 3.2e-300],
    "e_total": [0.0142, 2.5e-8, 1e-30],
    "constant_positive": [1.23456789e-12],
    "node_value": [0.5933, 0.000712, 2.5e-12],
    "e_total_fine": [0.014181381107826, 3.4e-21],
    "gradient": [0.0123, -3.0e-12, 2.0e-20, -0.25],
    "gradient_fine": [3.169933957e-4, -1.5e-25],
}


@pytest.fixture(scope="module")
def seen(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict]:
    folder = tmp_path_factory.mktemp("shown")
    written, edited = folder / "written.xlsx", folder / "edited.xlsx"
    write_workbook(CONFIG, written)
    book = load_workbook(written)  # openpyxl drops every cached value: only a recalculation fills them
    book[layout.lr_sheet_name(EDITED_LR)].cell(*(k + 1 for k in layout.LR_ETA_CELL)).value = NEW_ETA
    book.save(edited)

    magnitudes = folder / "magnitudes.xlsx"
    wb = xlsxwriter.Workbook(str(magnitudes))
    fmts = formats.create(wb)
    ws = wb.add_worksheet("formats")
    for col, (field, values) in enumerate(MAGNITUDES.items()):
        ws.write_string(0, col, field)
        for row, value in enumerate(values, start=1):
            ws.write_number(row, col, value, getattr(fmts, field))
    wb.close()
    book_shown, formats_shown = shown([edited, magnitudes], folder)
    return book_shown, formats_shown["formats"]


def number(text: str) -> float:
    return float(text.replace(",", ""))


@pytest.mark.libreoffice
def test_every_magnitude_shows_significant_digits(seen) -> None:
    _, table = seen
    for col, (field, values) in enumerate(MAGNITUDES.items()):
        assert table[0][col] == field
        for row, value in enumerate(values, start=1):
            text = table[row][col]
            digits = 3 if field in ("node_value", "gradient") else 6
            assert math.isclose(number(text), value, rel_tol=10 ** (1 - digits)), (field, value, text)
            assert (text.startswith("-")) == (value < 0), (field, value, text)


@pytest.mark.libreoffice
def test_labels_follow_an_edited_eta_and_small_losses_keep_their_digits(seen) -> None:
    book, _ = seen
    sheet = layout.lr_sheet_name(EDITED_LR)
    page = book[sheet]
    assert page[layout.TITLE_ROW][0] == f"Learning rate η = {NEW_ETA:g}"  # it said 0.1 when edited
    sweep = book[layout.SWEEP]
    headers = sweep[layout.SWEEP_HEADER_ROW]
    for lr in CONFIG.training.learning_rates:
        expected = NEW_ETA if lr == EDITED_LR else lr
        assert headers[layout.sweep_column(CONFIG, lr)] == f"η = {expected:g}"

    etotal = run_all(Config(training=Training(learning_rates=(NEW_ETA,), iterations=100)))[NEW_ETA]["E_total"]
    assert etotal[-1] < 1e-9  # the case the fixed nine decimals showed as 0.000000000
    col = layout.column(CONFIG, "E_total")
    for k in range(CONFIG.training.iterations + 1):
        in_table = number(page[layout.data_row(k)][col])
        in_sweep = number(sweep[layout.SWEEP_FIRST_DATA_ROW + k][layout.sweep_column(CONFIG, EDITED_LR)])
        assert math.isclose(in_table, etotal[k], rel_tol=1e-5), (k, page[layout.data_row(k)][col])
        assert math.isclose(in_sweep, etotal[k], rel_tol=1e-5), k
    summary = [number(page[layout.LR_SUMMARY_TOP + k][layout.LR_SUMMARY_COL]) for k in range(3)]
    expected = [etotal[0], etotal[-1], min(etotal)]
    assert all(math.isclose(a, b, rel_tol=1e-5) for a, b in zip(summary, expected, strict=True)), summary
    # The tab cannot follow; the note under the η cell says so.
    notes = [page[row][0] for row in layout.LR_ETA_NOTE_ROWS]
    assert notes == list(rates.eta_notes(EDITED_LR))

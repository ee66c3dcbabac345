"""The generated workbook as a file: cached values, formulas, names, charts, sheets, layout.

No spreadsheet engine runs here (tests/test_recalc.py does that); these read the .xlsx as it was written:
openpyxl for cells and names, the zip's XML for charts. Small configs keep the module quick.
"""

from __future__ import annotations

import math
import re
import zipfile
from dataclasses import replace
from pathlib import Path, PurePosixPath
from xml.etree import ElementTree

import pytest
from openpyxl import load_workbook
from spreadsheet import named_cell

from excelgen import assemble
from excelgen.assemble import write_workbook
from excelgen.model.config import Config, Network, Training
from excelgen.model.reference import FD_STEP, FORWARD, TOLERANCE, gradient_check, initial_point, run_all
from excelgen.sheets import charts, formats, layout
from excelgen.sheets.backprop import exercise
from xlsxedit.package import Package

SMALL = Config(training=Training(learning_rates=(0.1, 0.5, 2.0), iterations=12))
BIASES = Config(
    network=Network(b1=0.35, b2=-0.6, t1=0.01, t2=0.99),
    training=Training(learning_rates=(0.5, 1.0), iterations=8, train_biases=True),
)
FIXED_BIAS = Config(network=Network(b2=0.25), training=Training(learning_rates=(1.0,), iterations=4))
EXTREME = Config(training=Training(learning_rates=(1000.0, 10000.0), iterations=60))
CONFIGS = {"small": SMALL, "biases": BIASES, "fixed-bias": FIXED_BIAS, "extreme": EXTREME}

# Functions Excel, LibreOffice and Google Sheets evaluate alike; nothing volatile, nothing array-only.
# INDIRECT: exercise mode's rule on the other sheets reads Backprop's switch through it (a rule naming another
# sheet directly is refused by Excel 2007 and Google Sheets); its text is a constant reference in this file.
ALLOWED_FUNCTIONS = {
    *("EXP", "IF", "ABS", "MAX", "MIN", "SUM", "AND", "OR", "COUNTIF", "NOT", "LEFT", "INDIRECT"),
}
FUNCTION = re.compile(r"([A-Za-z_][A-Za-z0-9_.]*)\s*\(")
STRING = re.compile(r'"(?:[^"]|"")*"')
CHART_NS = {"c": "http://schemas.openxmlformats.org/drawingml/2006/chart"}
REL_NS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
DOC_REL_NS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
MAIN_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
XDR_NS = "{http://schemas.openxmlformats.org/drawingml/2006/spreadsheetDrawing}"


@pytest.fixture(scope="module")
def books(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("books")
    paths = {}
    for name, config in CONFIGS.items():
        paths[name] = folder / f"{name}.xlsx"
        write_workbook(config, paths[name])
    return paths


def cached(path: Path):
    return load_workbook(path, data_only=True)


def formulas(path: Path):
    return load_workbook(path)


# --- Cached values: what a viewer that does not recalculate shows. ------------------------------------------


@pytest.mark.parametrize("name", CONFIGS)
def test_cached_table_values_are_numpy(name: str, books: dict[str, Path]) -> None:
    config = CONFIGS[name]
    runs = run_all(config)
    book = cached(books[name])
    for sheet, lr in layout.table_sheets(config):
        ws = book[sheet]
        for column in layout.columns(config):
            col = layout.column(config, column)
            got = [
                ws.cell(layout.data_row(k) + 1, col + 1).value for k in range(config.training.iterations + 1)
            ]
            # The cached result is written as the float's exact repr: equal, not merely close.
            assert got == runs[lr][column].tolist(), (sheet, column)
        iterations = [ws.cell(layout.data_row(k) + 1, layout.ITERATION_COL + 1).value for k in range(3)]
        assert iterations == [0, 1, 2]
        assert ws.cell(layout.HEADER_ROW + 1, layout.column(config, "E_total") + 1).value == "E_total"


@pytest.mark.parametrize("name", CONFIGS)
def test_cached_sweep_and_check_are_numpy(name: str, books: dict[str, Path]) -> None:
    config = CONFIGS[name]
    runs = run_all(config)
    book = cached(books[name])
    sweep = book[layout.SWEEP]
    n = config.training.iterations
    assert [sweep.cell(layout.SWEEP_FIRST_DATA_ROW + k + 1, 1).value for k in range(n + 1)] == list(
        range(n + 1)
    )
    for lr in config.training.learning_rates:
        col = layout.sweep_column(config, lr) + 1
        assert sweep.cell(layout.SWEEP_HEADER_ROW + 1, col).value == layout.sweep_header(lr)
        got = [sweep.cell(layout.SWEEP_FIRST_DATA_ROW + k + 1, col).value for k in range(n + 1)]
        assert got == runs[lr]["E_total"].tolist()

    check = book[layout.CHECK]
    for t, (sheet, lr) in enumerate(layout.table_sheets(config)):
        numpy_col, wb_col, diff_col = layout.check_etotal_cols(config, t)
        for k in range(n + 1):
            row = layout.CHECK_FIRST_DATA_ROW + k + 1
            assert check.cell(row, numpy_col + 1).value == runs[lr]["E_total"][k]
            assert check.cell(row, wb_col + 1).value == runs[lr]["E_total"][k]
            assert check.cell(row, diff_col + 1).value == 0
        for p, param in enumerate(layout.check_final_params(config)):
            row = layout.check_final_row(config, t, p) + 1
            assert check.cell(row, layout.CHECK_FINAL_COLS[0] + 1).value == sheet
            assert check.cell(row, layout.CHECK_FINAL_COLS[1] + 1).value == param
            assert check.cell(row, layout.CHECK_FINAL_COLS[2] + 1).value == runs[lr][param][-1]
    assert named_cell(book, layout.CHECK_STATUS).value == "PASS"
    assert named_cell(book, layout.CHECK_EDITED).value == 0
    assert named_cell(book, layout.CHECK_TOLERANCE).value == TOLERANCE


def test_extreme_rates_settle_near_a_quarter_without_overflow(books: dict[str, Path]) -> None:
    # A naive 1/(1+EXP(-x)) overflows at once here; the documents report E_total stuck near 0.25.
    book = cached(books["extreme"])
    col = layout.column(EXTREME, "E_total") + 1
    for lr in EXTREME.training.learning_rates:
        ws = book[layout.lr_sheet_name(lr)]
        tail = [
            ws.cell(layout.data_row(k) + 1, col).value for k in range(20, EXTREME.training.iterations + 1)
        ]
        assert all(abs(e - 0.25) < 1e-3 for e in tail), (lr, min(tail), max(tail))


@pytest.mark.parametrize("name", CONFIGS)
def test_no_cached_value_is_nan_inf_or_an_error(name: str, books: dict[str, Path]) -> None:
    for ws in cached(books[name]).worksheets:
        for row in ws.iter_rows():
            for cell in row:
                value = cell.value
                assert cell.data_type != "e", (ws.title, cell.coordinate, value)
                if isinstance(value, float):
                    assert math.isfinite(value), (ws.title, cell.coordinate, value)


def test_inputs_are_stored_exactly(tmp_path: Path) -> None:
    # 0.1 + 0.2 needs 17 digits; xlsxwriter's write_number keeps 16, which would read back as 0.3.
    w1 = 0.1 + 0.2
    config = replace(
        SMALL, network=replace(SMALL.network, w1=w1), training=replace(SMALL.training, iterations=2)
    )
    path = tmp_path / "exact.xlsx"
    write_workbook(config, path)
    book = cached(path)
    assert named_cell(book, "init_w1").value == w1
    assert book[layout.BACKPROP].cell(layout.data_row(0) + 1, layout.column(config, "w1") + 1).value == w1


# --- Formulas: portable, and the tables live. ---------------------------------------------------------------


def all_formulas(path: Path):
    for ws in formulas(path).worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if isinstance(cell.value, str) and cell.value.startswith("="):
                    yield ws.title, cell.coordinate, cell.value


@pytest.mark.parametrize("name", CONFIGS)
def test_formulas_use_only_portable_functions(name: str, books: dict[str, Path]) -> None:
    used = set()
    for sheet, where, formula in all_formulas(books[name]):
        code = STRING.sub('""', formula)
        used |= {f.upper() for f in FUNCTION.findall(code)}
        assert "[" not in code, f"{sheet}!{where} refers to another workbook: {formula}"
    assert used <= ALLOWED_FUNCTIONS, used - ALLOWED_FUNCTIONS
    assert {"EXP", "MIN", "ABS", "MAX", "IF", "SUM"} <= used

    # The formulas of conditional formats and data validation, too: plain formulas, the same functions.
    rules = set()
    for sheet, formula in rule_formulas(books[name]):
        rules |= {f.upper() for f in FUNCTION.findall(STRING.sub('""', formula))}
        assert "[" not in formula, f"{sheet}: {formula}"
    assert rules <= ALLOWED_FUNCTIONS, rules - ALLOWED_FUNCTIONS
    assert {"NOT", "OR", "MAX", "MIN"} <= rules

    with zipfile.ZipFile(books[name]) as z:
        names = z.namelist()
        assert not [n for n in names if "vba" in n.lower() or "externalLink" in n]
        for part in names:
            if part.startswith("xl/worksheets/sheet"):
                assert b't="array"' not in z.read(part), part
        # No shapes: a drawing holds charts only.
        for part in names:
            if part.startswith("xl/drawings/drawing"):
                assert b"<xdr:sp>" not in z.read(part) and b"<xdr:sp " not in z.read(part), part


def rule_formulas(path: Path):
    """(sheet, formula) of every conditional format rule, colour-scale end and data validation."""
    for ws in formulas(path).worksheets:
        for cf in ws.conditional_formatting:
            for rule in cf.rules:
                for formula in rule.formula or []:
                    yield ws.title, formula
                if rule.colorScale is not None:
                    yield from ((ws.title, v.val) for v in rule.colorScale.cfvo if v.type == "formula")
        for dv in ws.data_validations.dataValidation:
            yield from ((ws.title, f) for f in (dv.formula1, dv.formula2) if f is not None)


@pytest.mark.parametrize("name", CONFIGS)
def test_every_table_cell_is_a_formula(name: str, books: dict[str, Path]) -> None:
    config = CONFIGS[name]
    book = formulas(books[name])
    for sheet, _ in layout.table_sheets(config):
        ws = book[sheet]
        for k in (0, 1, config.training.iterations):
            for column in layout.columns(config):
                value = ws.cell(layout.data_row(k) + 1, layout.column(config, column) + 1).value
                assert isinstance(value, str) and value.startswith("="), (sheet, k, column, value)


def test_iteration_zero_reads_the_named_inputs_and_updates_read_the_sheets_eta(
    books: dict[str, Path],
) -> None:
    config = BIASES
    book = formulas(books["biases"])
    for sheet, _ in layout.table_sheets(config):
        ws = book[sheet]

        def formula(column: str, k: int, ws=ws) -> str:
            return ws.cell(layout.data_row(k) + 1, layout.column(config, column) + 1).value

        for name, field in layout.NAMED_INPUTS.items():
            assert formula(field, 0) == f"={name}", (sheet, field)
        eta = layout.ETA if sheet == layout.BACKPROP else layout.a1(*layout.LR_ETA_CELL, absolute=True)
        w1, g1 = (
            layout.col_name(layout.column(config, "w1")),
            layout.col_name(layout.column(config, "dE/dw1")),
        )
        row = layout.data_row(0) + 1
        assert formula("w1", 1) == f"={w1}{row}-{eta}*{g1}{row}"
        assert "EXP(MIN(" in formula("a_o2", 3) and "EXP(-ABS(" in formula("a_o2", 3)


def test_untrained_biases_without_columns_still_read_their_named_cells(books: dict[str, Path]) -> None:
    # Editing bias_b1 must change the tables even where the config left the biases at 0.
    ws = formulas(books["small"])[layout.BACKPROP]
    h1 = ws.cell(layout.data_row(2) + 1, layout.column(SMALL, "h1") + 1).value
    o2 = ws.cell(layout.data_row(2) + 1, layout.column(SMALL, "o2") + 1).value
    assert h1.endswith("+bias_b1") and o2.endswith("+bias_b2")


# --- Names, sheets, layout. ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["small", "biases"])
def test_named_cells(name: str, books: dict[str, Path]) -> None:
    config = CONFIGS[name]
    book = cached(books[name])
    for cell_name, field in layout.NAMED_INPUTS.items():
        defined = book.defined_names[cell_name]
        (sheet, ref), *rest = list(defined.destinations)
        assert not rest and sheet == layout.BACKPROP
        assert ref.replace("$", "") == layout.a1(*layout.INPUT_CELLS[cell_name])
        assert named_cell(book, cell_name).value == getattr(config.network, field)
    assert named_cell(book, layout.ETA).value == layout.backprop_lr(config)
    for check_name in layout.CHECK_CELLS:
        (sheet, _), *_ = list(book.defined_names[check_name].destinations)
        assert sheet == layout.CHECK


def test_eta_cells_are_validated_positive(books: dict[str, Path]) -> None:
    ws = formulas(books["small"])[layout.BACKPROP]
    eta = layout.a1(*layout.ETA_CELL)
    rules = [dv for dv in ws.data_validations.dataValidation if eta in str(dv.sqref)]
    assert len(rules) == 1 and rules[0].type == "decimal" and rules[0].operator == "greaterThan"
    assert float(rules[0].formula1) == 0


@pytest.mark.parametrize("name", CONFIGS)
def test_sheet_names_and_order(name: str, books: dict[str, Path]) -> None:
    config = CONFIGS[name]
    names = formulas(books[name]).sheetnames
    rates = [layout.lr_sheet_name(lr) for lr in config.training.learning_rates]
    assert names == [layout.BACKPROP, *rates, layout.SWEEP, layout.CHECK] == layout.sheet_names(config)


def test_lr_sheet_names_are_legal_readable_and_unique() -> None:
    assert layout.lr_sheet_name(0.5) == "η=0.5"
    assert layout.lr_sheet_name(1.0) == "η=1"
    assert layout.lr_sheet_name(10000.0) == "η=10000"
    rates = [
        0.1,
        0.2,
        1e-5,
        1.5e300,
        5e-324,
        0.1 + 0.2,
        0.30000000000000004,
        0.3,
        0.123456,
        0.1234567,
        123456789.0,
    ]
    names = [layout.lr_sheet_name(lr) for lr in rates]
    assert len({n.lower() for n in names}) == len(set(rates))
    for lr, n in zip(rates, names, strict=True):
        assert len(n) <= 31 and not set("[]:*?/\\'") & set(n), n
        assert float(n.removeprefix("η=")) == lr


def test_columns_follow_the_documents_and_biases_appear_only_with_biases() -> None:
    documents = [
        "t1", "t2", "i1", "i2", "w1", "w2", "w3", "w4", "h1", "a_h1", "h2", "a_h2",
        "w5", "w6", "w7", "w8", "o1", "a_o1", "o2", "a_o2", "E1", "E2", "E_total",
        "dE/dw1", "dE/dw2", "dE/dw3", "dE/dw4", "dE/dw5", "dE/dw6", "dE/dw7", "dE/dw8",
    ]  # fmt: skip
    assert layout.columns(SMALL) == documents
    with_biases = layout.columns(BIASES)
    assert [c for c in with_biases if c not in ("b1", "b2", "dE/db1", "dE/db2")] == documents
    assert {"b1", "b2", "dE/db1", "dE/db2"} <= set(with_biases)
    assert layout.columns(FIXED_BIAS) == with_biases  # a non-zero bias shows, trained or not
    assert [layout.column(SMALL, c) for c in documents] == list(range(1, len(documents) + 1))


def test_bias_columns_in_the_file(books: dict[str, Path]) -> None:
    def header(name: str) -> list[str]:
        ws = formulas(books[name])[layout.BACKPROP]
        return [c.value for c in ws[layout.HEADER_ROW + 1] if c.value is not None]

    assert "b1" not in header("small") and "∂E_total/∂b1" not in header("small")
    assert header("biases") == ["iteration", *map(layout.header, layout.columns(BIASES))]


def test_gradient_headers_use_the_documents_notation(books: dict[str, Path]) -> None:
    """The headers said dE/dw1 while the derivation said ∂E_total/∂w1 and the legend ∂E/∂·."""
    ws = formulas(books["biases"])[layout.BACKPROP]
    texts = [c.value for c in ws[layout.HEADER_ROW + 1] if isinstance(c.value, str)]
    gradients = [t for t in texts if "∂" in t or "dE/d" in t]
    params = ("w1", "w2", "w3", "w4", "w5", "w6", "w7", "w8", "b1", "b2")
    assert gradients == [f"∂E_total/∂{p}" for p in params]
    top = ws.iter_rows(max_row=layout.GROUP_ROW)
    everything = " ".join(str(c.value) for row in top for c in row if c.value)
    assert "∂E/∂" not in everything and "dE/d" not in everything


def test_max_iterations_fit_every_sheet() -> None:
    sheet_rows = 1_048_576
    assert layout.data_row(layout.MAX_ITERATIONS) == sheet_rows - 1
    assert layout.CHECK_FIRST_DATA_ROW <= layout.FIRST_DATA_ROW
    assert layout.SWEEP_FIRST_DATA_ROW <= layout.FIRST_DATA_ROW


# --- Charts. ------------------------------------------------------------------------------------------------


def drawings_by_sheet(z: zipfile.ZipFile) -> dict[str, list[tuple[str, list[str]]]]:
    """Sheet name -> (drawing part, its chart parts) of each drawing on it, following the relationships."""

    def targets(part: str) -> dict[str, tuple[str, str]]:
        """Relationship id -> (type, resolved part name), for every relationship of a part."""
        p = PurePosixPath(part)
        rel_part = f"{p.parent}/_rels/{p.name}.rels"
        if rel_part not in z.namelist():
            return {}
        out = {}
        for r in ElementTree.fromstring(z.read(rel_part)).iter(f"{REL_NS}Relationship"):
            pieces: list[str] = []
            for piece in f"{p.parent}/{r.get('Target')}".split("/"):
                if piece == "..":
                    pieces.pop()
                else:
                    pieces.append(piece)
            out[r.get("Id")] = (r.get("Type").rsplit("/", 1)[-1], "/".join(pieces))
        return out

    book = ElementTree.fromstring(z.read("xl/workbook.xml"))
    parts = targets("xl/workbook.xml")
    result = {}
    for sheet in book.iter(f"{MAIN_NS}sheet"):
        _, part = parts[sheet.get(f"{DOC_REL_NS}id")]
        drawings = [t for k, t in targets(part).values() if k == "drawing"]
        result[sheet.get("name")] = [
            (d, [t for k, t in targets(d).values() if k == "chart"]) for d in drawings
        ]
    return result


def charts_by_sheet(path: Path) -> dict[str, list[ElementTree.Element]]:
    """Sheet name -> the chart XML trees drawn on it, in the order they were inserted."""
    with zipfile.ZipFile(path) as z:
        return {
            sheet: [ElementTree.fromstring(z.read(c)) for _, charts in drawings for c in charts]
            for sheet, drawings in drawings_by_sheet(z).items()
        }


def series(chart: ElementTree.Element) -> list[dict[str, str]]:
    """Each series' name and values references, sheet names unquoted (quotes are optional there)."""
    return [
        {
            "name": s.findtext("c:tx/c:strRef/c:f", namespaces=CHART_NS).replace("'", ""),
            "values": s.findtext("c:yVal/c:numRef/c:f", namespaces=CHART_NS).replace("'", ""),
        }
        for s in chart.iter(f"{{{CHART_NS['c']}}}ser")
    ]


def unquoted(reference: str) -> str:
    return reference.replace("'", "")


def test_sweep_charts_have_one_series_per_rate_named_by_its_header(books: dict[str, Path]) -> None:
    config = SMALL
    charts = charts_by_sheet(books["small"])[layout.SWEEP]
    assert len(charts) == 2  # linear and log scale
    last = layout.SWEEP_FIRST_DATA_ROW + config.training.iterations
    for chart in charts:
        assert chart.find(".//c:scatterChart", CHART_NS) is not None
        expected = []
        for lr in config.training.learning_rates:
            col = layout.sweep_column(config, lr)
            expected.append(
                {
                    "name": unquoted(layout.ref(layout.SWEEP, layout.SWEEP_HEADER_ROW, col)),
                    "values": unquoted(layout.area(layout.SWEEP, layout.SWEEP_FIRST_DATA_ROW, col, last)),
                }
            )
        assert series(chart) == expected
    log_bases = [c.find(".//c:valAx/c:scaling/c:logBase", CHART_NS) for c in charts]
    assert [b is not None and float(b.get("val")) == 10 for b in log_bases] == [False, True]


@pytest.mark.parametrize("name", ["small", "biases"])
def test_every_table_sheet_has_its_etotal_chart_and_weight_chart(name: str, books: dict[str, Path]) -> None:
    config = CONFIGS[name]
    charts = charts_by_sheet(books[name])
    first, last = layout.data_row(0), layout.last_data_row(config)
    col = layout.column(config, "E_total")
    trained = ["w1", "w2", "w3", "w4", "w5", "w6", "w7", "w8"] + (["b1", "b2"] if name == "biases" else [])
    for sheet, _ in layout.table_sheets(config):
        etotal, weights = charts[sheet]
        assert etotal.find(".//c:scatterChart", CHART_NS) is not None
        values = unquoted(layout.area(sheet, first, col, last))
        # Named by a cell that says which η drew it (the sheet's title, a formula on its η), or on Backprop,
        # whose title names the cell eta, by the header.
        name = layout.LR_TITLE_CELL if sheet != layout.BACKPROP else (layout.HEADER_ROW, col)
        assert series(etotal) == [{"name": unquoted(layout.ref(sheet, *name)), "values": values}]
        # A series per parameter, named by its header cell.
        assert weights.find(".//c:scatterChart", CHART_NS) is not None
        expected = [
            {
                "name": unquoted(layout.ref(sheet, layout.HEADER_ROW, layout.column(config, p))),
                "values": unquoted(layout.area(sheet, first, layout.column(config, p), last)),
            }
            for p in trained
        ]
        assert series(weights) == expected


def test_weight_chart_sits_right_of_the_etotal_chart(books: dict[str, Path]) -> None:
    def corner(anchor: ElementTree.Element, which: str) -> tuple[int, int]:
        return tuple(int(anchor.findtext(f"{XDR_NS}{which}/{XDR_NS}{k}")) for k in ("col", "colOff"))

    with zipfile.ZipFile(books["small"]) as z:
        drawings = drawings_by_sheet(z)
        for sheet, _ in layout.table_sheets(SMALL):
            ((part, _),) = drawings[sheet]
            etotal, weights = ElementTree.fromstring(z.read(part)).iter(f"{XDR_NS}twoCellAnchor")
            assert corner(weights, "from") >= corner(etotal, "to"), sheet  # beside it, not over it


# --- The fast worksheet writes what xlsxwriter itself would. ------------------------------------------------


def test_fast_worksheet_matches_plain_xlsxwriter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fast, plain = tmp_path / "fast.xlsx", tmp_path / "plain.xlsx"
    monkeypatch.setattr(assemble, "new_token", lambda: "5eed")  # the ownership token is new on every write
    write_workbook(BIASES, fast)
    monkeypatch.setattr(assemble, "FormulaWorksheet", assemble.Worksheet)
    write_workbook(BIASES, plain)
    with zipfile.ZipFile(fast) as a, zipfile.ZipFile(plain) as b:
        assert a.namelist() == b.namelist()
        for part in a.namelist():
            if part != "docProps/core.xml":  # holds the creation time
                assert a.read(part) == b.read(part), part


def test_check_rel_diff_formula_mirrors_the_reference() -> None:
    from excelgen.sheets.formulas import rel_diff

    assert rel_diff("C9", "D9") == "=IF(MAX(ABS(C9),ABS(D9))=0,0,ABS(C9-D9)/MAX(ABS(C9),ABS(D9)))"
    assert rel_diff("C9", "D9", 1e-20) == "=ABS(C9-D9)/MAX(ABS(C9),ABS(D9),1E-20)"


def test_check_input_count_is_the_length_of_check_inputs() -> None:
    for rates in ((0.5,), (0.1, 0.2, 0.5, 0.8, 1.0, 2.0)):
        config = Config(training=Training(learning_rates=rates))
        assert layout.check_input_count(config) == len(layout.check_inputs(config))


# --- Exercise mode: the switch, its validation, its rule. ---------------------------------------------------


def cells_of(sqref) -> set[tuple[int, int]]:
    """The 0-based (row, column) of every cell of an openpyxl MultiCellRange."""
    return {(row - 1, col - 1) for rng in sqref.ranges for row, col in rng.cells}


def test_show_answers_is_a_validated_named_switch_on_by_default(books: dict[str, Path]) -> None:
    book = formulas(books["small"])
    assert named_cell(cached(books["small"]), layout.SHOW_ANSWERS).value is True
    sheet, ref = (lambda d: (d[0], d[1].replace("$", "")))(
        list(book.defined_names[layout.SHOW_ANSWERS].destinations)[0]
    )
    assert sheet == layout.BACKPROP
    (rule,) = [dv for dv in book[sheet].data_validations.dataValidation if ref in str(dv.sqref)]
    assert rule.type == "custom" and rule.showErrorMessage
    assert rule.formula1 == f"OR({ref}=TRUE,{ref}=FALSE,{ref}=1,{ref}=0)"
    # The one-line instruction beside it.
    row, col = layout.SHOW_ANSWERS_CELL
    assert book[sheet].cell(row + 1, col + 2).value == exercise.INSTRUCTION


@pytest.mark.parametrize("name", ["small", "biases", "fixed-bias"])
def test_show_answers_off_blanks_the_answers_and_only_them(name: str, books: dict[str, Path]) -> None:
    config = CONFIGS[name]
    ws = formulas(books[name])[layout.BACKPROP]
    switch = layout.a1(*layout.SHOW_ANSWERS_CELL, absolute=True)
    rules = [(cf.sqref, r) for cf in ws.conditional_formatting for r in cf.rules]
    hiding = [(sqref, r) for sqref, r in rules if r.type == "expression" and r.formula == [f"NOT({switch})"]]
    ((sqref, rule),) = hiding
    # It comes first and stops the gradients' colour scale; font and fill one colour: the digits vanish.
    assert rule.priority == min(r.priority for _, r in rules) and rule.stopIfTrue
    assert rule.dxf.font.color.rgb == rule.dxf.fill.bgColor.rgb == "FF" + formats.EXERCISE_FILL.lstrip("#")

    # What it covers, from first principles: every formula of iterations 0 and 1 that computes something,
    # the parameters their updates give, the diagram's and the gradient check's computed cells.
    trained = layout.trained_params(config)
    computed = [n for n in layout.columns(config) if n in FORWARD or n.startswith("dE/d")]
    expected = {(layout.data_row(k), layout.column(config, n)) for k in (0, 1) for n in computed}
    expected |= {(layout.data_row(k), layout.column(config, p)) for k in (1, 2) for p in trained}
    expected |= {layout.DIAGRAM_NODE_CELLS[n] for n in ("a_h1", "a_h2", "a_o1", "a_o2", "E_total")}
    for kind in ("plus", "minus", "fd", "chain", "rel_diff"):
        expected |= {(layout.gradcheck_row(kind), layout.gradcheck_col(config, p)) for p in trained}
    expected.add(layout.GRADCHECK_MAX_CELL)
    assert cells_of(sqref) == expected
    for row, col in expected:  # each one a formula
        assert str(ws.cell(row + 1, col + 1).value).startswith("="), layout.a1(row, col)

    # Inputs stay visible: the named inputs, the table's inputs and iteration 0's parameters, fd_step.
    inputs = {
        (row, col) for sheet, row, col in layout.named_cells(config).values() if sheet == layout.BACKPROP
    }
    inputs |= {
        (layout.data_row(k), layout.column(config, n)) for k in (0, 1) for n in ("t1", "t2", "i1", "i2")
    }
    inputs |= {(layout.data_row(0), layout.column(config, p)) for p in trained}
    answers = {(layout.gradcheck_row("fd"), layout.gradcheck_col(config, p)) for p in trained}
    answers.add(layout.GRADCHECK_MAX_CELL)  # named, but computed: hidden
    assert not (inputs - answers) & cells_of(sqref)
    assert inputs - answers >= {layout.SHOW_ANSWERS_CELL, layout.FD_STEP_CELL, layout.ETA_CELL}


# --- Colour: the gradients' diverging scale. ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["small", "biases"])
def test_every_gradient_column_has_a_diverging_scale_centred_on_zero(
    name: str, books: dict[str, Path]
) -> None:
    config = CONFIGS[name]
    book = formulas(books[name])
    gradients = [n for n in layout.columns(config) if n.startswith("dE/d")]
    colours = [formats.GRADIENT_NEGATIVE, formats.GRADIENT_ZERO, formats.GRADIENT_POSITIVE]
    for sheet, _ in layout.table_sheets(config):
        scales = {
            str(cf.sqref): r.colorScale
            for cf in book[sheet].conditional_formatting
            for r in cf.rules
            if r.colorScale
        }
        expected = {}
        for n in gradients:
            col = layout.column(config, n)
            expected[
                f"{layout.a1(layout.data_row(0), col)}:{layout.a1(layout.last_data_row(config), col)}"
            ] = col
        assert set(scales) == set(expected), sheet
        for sqref, scale in scales.items():
            cells = (
                layout.a1(layout.data_row(0), expected[sqref], True)
                + ":"
                + layout.a1(layout.last_data_row(config), expected[sqref], True)
            )
            largest = f"MAX(MAX({cells}),-MIN({cells}))"
            assert [(v.type, v.val) for v in scale.cfvo] == [
                ("formula", f"-{largest}"),
                ("num", 0),
                ("formula", largest),
            ]
            assert [c.rgb for c in scale.color] == ["FF" + c.lstrip("#") for c in colours]


# --- The gradient check. ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["small", "biases", "fixed-bias"])
def test_gradient_check_caches_numpys_finite_differences(name: str, books: dict[str, Path]) -> None:
    config = CONFIGS[name]
    book = cached(books[name])
    trained = layout.trained_params(config)
    assert trained == (
        ["w1", "w2", "w3", "w4", "w5", "w6", "w7", "w8"] + (["b1", "b2"] if name == "biases" else [])
    )
    expected = gradient_check(initial_point(config.network), trained, FD_STEP)
    assert named_cell(book, layout.FD_STEP).value == FD_STEP
    for p in trained:
        assert named_cell(book, layout.fd_name(p)).value == expected[p]["fd"]
        assert abs(expected[p]["fd"] - expected[p]["chain"]) <= 1e-6 * abs(expected[p]["chain"])
    worst = max(v["rel_diff"] for v in expected.values())
    assert named_cell(book, layout.GRADCHECK_MAX).value == worst < 1e-6
    assert "fd_b1" not in book.defined_names or name == "biases"


def test_gradient_check_formulas_move_one_parameter_and_read_the_rest_from_iteration_0(
    books: dict[str, Path],
) -> None:
    config = BIASES
    ws = formulas(books["biases"])[layout.BACKPROP]
    row0 = layout.data_row(0) + 1

    def cell(kind: str, param: str) -> str:
        return ws.cell(layout.gradcheck_row(kind) + 1, layout.gradcheck_col(config, param) + 1).value

    def table(name: str) -> str:
        return f"{layout.col_name(layout.column(config, name))}{row0}"

    for p in layout.trained_params(config):
        assert cell("plus", p).count(f"({table(p)}+{layout.FD_STEP})") >= 1, p
        assert cell("minus", p).count(f"({table(p)}-{layout.FD_STEP})") >= 1, p
        plus, minus = (
            layout.a1(layout.gradcheck_row(k), layout.gradcheck_col(config, p)) for k in ("plus", "minus")
        )
        assert cell("fd", p) == f"=({plus}-{minus})/(2*{layout.FD_STEP})"
        assert cell("chain", p) == f"={table('dE/d' + p)}"
    # w5 feeds o1 only: the hidden layer and E2 are read from iteration 0, not recomputed.
    w5 = cell("plus", "w5")
    assert w5.endswith(f"+{table('E2')}") and table("a_h1") in w5 and "w1" not in w5
    assert w5.count("EXP(MIN(") == 1  # a_o1 only
    # b1 feeds both hidden units: everything after it is recomputed, nothing read from iteration 0.
    for name in FORWARD:
        assert not re.search(rf"(?<![A-Z$]){table(name)}(?!\d)", cell("plus", "b1")), name


# --- Names. -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CONFIGS)
def test_the_workbook_defines_exactly_layouts_names(name: str, books: dict[str, Path]) -> None:
    config = CONFIGS[name]
    book = formulas(books[name])
    wanted = layout.named_cells(config)
    assert set(book.defined_names) == set(wanted)
    assert set(wanted) <= set(layout.defined_names())  # the config-free list (for rewriting old workbooks)
    for defined, (sheet, row, col) in wanted.items():
        assert list(book.defined_names[defined].destinations) == [(sheet, layout.a1(row, col, absolute=True))]


def test_defined_names_lists_every_name_of_every_config() -> None:
    trained = Config(training=Training(train_biases=True))
    assert set(layout.defined_names()) == set(layout.named_cells(trained))
    assert len(set(layout.defined_names())) == len(layout.defined_names())


def test_the_sweep_charts_do_not_overlap(books: dict[str, Path]) -> None:
    xdr = "{http://schemas.openxmlformats.org/drawingml/2006/spreadsheetDrawing}"
    with Package(books["small"]) as package:
        sheet = package.sheet_part(layout.SWEEP)
        (drawing,) = [r.target for r in package.rels(sheet) if r.type.endswith("/drawing")]
        root = ElementTree.fromstring(package.parts[drawing])
    spans = sorted(
        (int(a.findtext(f"{xdr}from/{xdr}col")), int(a.findtext(f"{xdr}to/{xdr}col")))
        for a in root.iter(f"{xdr}twoCellAnchor")
    )
    assert len(spans) == 2 and spans[0][1] < spans[1][0], spans


# --- Charts that read in every engine: a numeric iteration axis, in view, labels that follow the cells. -----


@pytest.mark.parametrize(
    ("iterations", "unit"),
    [(3, 1), (10, 1), (12, 2), (60, 10), (100, 10), (101, 20), (500, 50), (10_000, 1000)]
    + [(10**6, 100_000), (1_000_001, 200_000)],
)
def test_the_iteration_axis_is_labelled_in_round_steps(iterations: int, unit: int) -> None:
    assert charts.major_unit(iterations) == unit
    assert iterations / unit <= charts.MAX_X_LABELS


@pytest.mark.parametrize("name", ["small", "extreme"])
def test_every_iteration_chart_is_a_scatter_on_a_numeric_axis_with_round_labels_below_the_plot(
    name: str, books: dict[str, Path]
) -> None:
    """A category axis ("line" chart) made LibreOffice print a label per third iteration, run together."""
    config = CONFIGS[name]
    n = config.training.iterations
    by_sheet = charts_by_sheet(books[name])
    assert set(by_sheet) >= {s for s, _ in layout.table_sheets(config)} | {layout.SWEEP}
    for sheet, drawn in by_sheet.items():
        assert bool(drawn) == (sheet != layout.CHECK), sheet
        for chart in drawn:
            assert chart.find(".//c:lineChart", CHART_NS) is None
            assert chart.find(".//c:catAx", CHART_NS) is None
            assert chart.find(".//c:scatterChart/c:scatterStyle", CHART_NS).get("val") == "lineMarker"
            x_axis, _ = chart.findall(".//c:valAx", CHART_NS)
            assert x_axis.find("c:axPos", CHART_NS).get("val") == "b", sheet

            def val(path: str, axis: ElementTree.Element = x_axis) -> float:
                return float(axis.find(path, CHART_NS).get("val"))

            assert (val("c:scaling/c:min"), val("c:scaling/c:max")) == (0, n)
            assert val("c:majorUnit") == charts.major_unit(n)
            # Labels at the bottom even when a weight crosses 0 (η = 2's weights put them inside the plot).
            assert x_axis.find("c:tickLblPos", CHART_NS).get("val") == "low"
            for ser in chart.iter(f"{{{CHART_NS['c']}}}ser"):
                assert ser.find("c:xVal/c:numRef/c:f", CHART_NS) is not None  # the iteration column


def column_px(book, sheet: str, col: int) -> int:
    """A column's width in pixels as Excel counts it: the file stores characters + 0.71 (xlsxwriter's
    padding; 64 px for a column no sheet sized)."""
    for d in book[sheet].column_dimensions.values():
        if d.min and d.max and d.min <= col + 1 <= d.max and d.width:
            return int((d.width - 0.7109375) * 7 + 0.5) + 5
    return layout.DEFAULT_COLUMN_PX


@pytest.mark.parametrize("name", ["small", "biases"])
def test_every_chart_is_in_view_from_where_its_data_starts(name: str, books: dict[str, Path]) -> None:
    """Each chart starts within a screen's width of column A and above its table's first row: the Backprop
    sheet's used to sit at AW1, past the derivation and the gradient check, where no student found them."""
    book = formulas(books[name])
    with zipfile.ZipFile(books[name]) as z:
        for sheet, drawings in drawings_by_sheet(z).items():
            for part, _ in drawings:
                for anchor in ElementTree.fromstring(z.read(part)).iter(f"{XDR_NS}twoCellAnchor"):
                    col, off, row = (
                        int(anchor.findtext(f"{XDR_NS}from/{XDR_NS}{k}")) for k in ("col", "colOff", "row")
                    )
                    left = sum(column_px(book, sheet, c) for c in range(col)) + off / 9525
                    assert left < layout.SCREEN_PX, (sheet, col, left)
                    first = layout.SWEEP_FIRST_DATA_ROW if sheet == layout.SWEEP else layout.FIRST_DATA_ROW
                    assert row <= first, (sheet, row)
    first_chart = drawings_by_sheet(zipfile.ZipFile(books[name]))[layout.BACKPROP]
    assert first_chart
    assert layout.BACKPROP_CHART_CELL[1] < layout.DERIVATION_COLS[0] < layout.GRADCHECK_LABEL_COL


@pytest.mark.parametrize("name", ["small", "biases"])
def test_no_chart_title_names_a_value_that_an_edit_could_change(name: str, books: dict[str, Path]) -> None:
    """A title is plain text that LibreOffice never updates, so it names no rate; what names one (a series)
    is a link to a cell whose formula reads the η cell."""
    for sheet, drawn in charts_by_sheet(books[name]).items():
        for chart in drawn:
            title = "".join(
                t.text or "" for t in chart.iter("{http://schemas.openxmlformats.org/drawingml/2006/main}t")
            )
            assert title and not re.search(r"\d", title), (sheet, title)
            for ser in chart.iter(f"{{{CHART_NS['c']}}}ser"):
                assert ser.find("c:tx/c:strRef/c:f", CHART_NS) is not None, sheet


def test_labels_that_name_a_rate_are_formulas_on_its_eta_cell(books: dict[str, Path]) -> None:
    config = SMALL
    book, values = formulas(books["small"]), cached(books["small"])
    for lr in config.training.learning_rates:
        sheet = layout.lr_sheet_name(lr)
        eta = layout.a1(*layout.LR_ETA_CELL, absolute=True)
        title = book[sheet].cell(*(k + 1 for k in layout.LR_TITLE_CELL))
        assert title.value == f'="Learning rate η = "&{eta}'
        assert values[sheet].cell(*(k + 1 for k in layout.LR_TITLE_CELL)).value == f"Learning rate η = {lr:g}"
        col = layout.sweep_column(config, lr)
        header = book[layout.SWEEP].cell(layout.SWEEP_HEADER_ROW + 1, col + 1).value
        assert header == f'="η = "&{layout.ref(sheet, *layout.LR_ETA_CELL)}'
        # The tab cannot follow: a note under the η cell says so, and what regenerating does.
        notes = [book[sheet].cell(r + 1, 1).value for r in layout.LR_ETA_NOTE_ROWS]
        assert any(sheet in n and "make workbook" in n for n in notes), notes


def test_check_sheet_reads_block_by_block_and_its_note_fits_a_screen(books: dict[str, Path]) -> None:
    """Each block's largest difference sat beside the next block's name ("0.0E+00 η=0.1"), and the note was
    one line of 230 characters."""
    config = SMALL
    sheet = formulas(books["small"])[layout.CHECK]

    def at(row: int, col: int):
        return sheet.cell(row + 1, col + 1).value

    for t, (name, _) in enumerate(layout.table_sheets(config)):
        numpy_col, wb_col, diff_col = layout.check_etotal_cols(config, t)
        assert at(layout.CHECK_GROUP_ROW, numpy_col) == name
        # Nothing else on the name's row; the largest difference on the next, inside the block.
        assert at(layout.CHECK_GROUP_ROW, wb_col) is None and at(layout.CHECK_GROUP_ROW, diff_col) is None
        assert at(layout.CHECK_LARGEST_ROW, numpy_col) is None
        assert str(at(layout.CHECK_LARGEST_ROW, diff_col)).startswith("=MAX(")
    notes = [at(row, 0) for row in layout.CHECK_NOTE_ROWS]
    assert all(note and len(note) <= 105 for note in notes), notes

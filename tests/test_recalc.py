"""A real engine recalculates the generated workbook and gets numpy's numbers, also after edits.

The generated file is copied with openpyxl and some named inputs changed; openpyxl keeps the formulas but
drops every cached value, so the numbers that come back can only come from the engine's recalculation.
One more copy changes only the input cells' XML and keeps every cached value, now stale: it passes only
if LibreOffice really recalculates on load (a setting it does not have by default).
Every table cell of every table sheet, every LR sweep column, the Backprop sheet's gradient check and the
Check status are then compared with the numpy reference run on the changed inputs. LibreOffice (headless,
forced to recalculate on load) is the engine where it is installed; the pure-Python `formulas` package is
the engine everywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
import xlsxwriter
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter
from spreadsheet import (
    ERROR_VALUES,
    error_cells,
    libreoffice_recalc_many,
    named_cell,
    named_ref,
    set_named_cells,
    set_named_cells_keep_cache,
)

from excelgen.cli import generate
from excelgen.model.config import Config, Network, Training, load
from excelgen.model.reference import FD_STEP, TOLERANCE, gradient_check, initial_point, rel_diff, trajectory
from excelgen.sheets import layout

EDITS = {"init_w1": 0.9, "target_t1": 0.05, layout.ETA: 3.0}
# Inputs that are no inputs of the numpy reference: the exercise switch changes formatting only, the step
# changes the gradient check only. The Check sheet does not count them as edits.
TEACHING = {layout.SHOW_ANSWERS: False, layout.FD_STEP: 3e-5}


@dataclass(frozen=True)
class Case:
    config: Config  # what the file is generated from
    edits: dict[str, float | bool]  # named cell -> new value, set before the engine runs
    # False: edited with openpyxl, which drops every cached value. True: only the input cells' XML is
    # rewritten, so every formula still caches the old numbers, and only a forced recalculation fixes them.
    keep_cache: bool = False

    def edited(self) -> tuple[Config, float]:
        """The config the edited file now describes, and its Backprop sheet's η."""
        changes = {layout.NAMED_INPUTS[k]: v for k, v in self.edits.items() if k in layout.NAMED_INPUTS}
        eta = self.edits.get(layout.ETA, layout.backprop_lr(self.config))
        return replace(self.config, network=replace(self.config.network, **changes)), eta

    def check_edits(self) -> int:
        """How many of the edits the Check sheet counts: those of the numpy reference's inputs."""
        return sum(1 for name in self.edits if name in layout.NAMED_INPUTS or name == layout.ETA)


# Small, and with the rates where a naive sigmoid overflows.
LO_CONFIG = Config(training=Training(learning_rates=(0.5, 2.0, 1000.0, 10000.0), iterations=6))
LO_CASES = {
    "plain": Case(LO_CONFIG, {}),
    "edited": Case(LO_CONFIG, EDITS),
    "biases": Case(
        Config(
            network=Network(b1=0.35, b2=-0.6),
            training=Training(learning_rates=(1.0, 10000.0), iterations=5, train_biases=True),
        ),
        {**EDITS, "bias_b2": 0.2, **TEACHING},
    ),
    "stale": Case(LO_CONFIG, EDITS, keep_cache=True),
    # What `make workbook` writes, edited as a user would.
    "default": Case(load(Path(__file__).parents[1] / "templates" / "default.toml"), EDITS),
}
# The pure-Python engine builds a graph node per cell: keep its workbook tiny. Both cases share it.
FORMULAS_CONFIG = Config(training=Training(learning_rates=(0.5, 1000.0), iterations=3))
FORMULAS_CASES = {"plain": Case(FORMULAS_CONFIG, {}), "edited": Case(FORMULAS_CONFIG, {**EDITS, **TEACHING})}


class Values:
    """Read access to a recalculated workbook by sheet and 0-based (row, column), or by defined name."""

    def cell(self, sheet: str, row: int, col: int) -> object:
        raise NotImplementedError

    def named(self, name: str) -> object:
        raise NotImplementedError


class OpenpyxlValues(Values):
    """The values an engine saved into a file."""

    def __init__(self, path: Path) -> None:
        self.book = load_workbook(path, data_only=True)

    def cell(self, sheet: str, row: int, col: int) -> object:
        return self.book[sheet].cell(row + 1, col + 1).value

    def named(self, name: str) -> object:
        return named_cell(self.book, name).value


class FormulasValues(Values):
    """One solution of the pure-Python `formulas` engine, which keys cells "'[book.xlsx]SHEET'!B7".

    Loading a workbook is the slow part, so one loaded model serves every case: a case's edits go in as
    new values of the named cells, and the engine recalculates everything that depends on them.
    """

    KEY = re.compile(r"'\[(?P<book>[^\]]+)\](?P<sheet>.+)'!(?P<cell>[A-Z]+[0-9]+)")

    def __init__(self, model, path: Path, edits: dict[str, float]) -> None:
        self.book = load_workbook(path)  # to resolve defined names
        inputs = {}
        for name, value in edits.items():
            sheet, ref = named_ref(self.book, name)
            inputs[f"'[{path.name}]{sheet.upper()}'!{ref}"] = value
        self.values: dict[tuple[str, str], object] = {}
        for key, value in model.calculate(inputs=inputs).items():
            match = self.KEY.fullmatch(key)
            if match:
                self.values[match["sheet"], match["cell"]] = np.asarray(value.value).item()

    def cell(self, sheet: str, row: int, col: int) -> object:
        return self.values.get((sheet.upper(), f"{get_column_letter(col + 1)}{row + 1}"))

    def named(self, name: str) -> object:
        sheet, ref = named_ref(self.book, name)
        return self.values.get((sheet.upper(), ref))


def expected_tables(case: Case) -> dict[str, dict[str, np.ndarray]]:
    """Sheet name -> the numpy table it must show, on the edited inputs."""
    config, eta = case.edited()
    t = config.training
    tables = {}
    for sheet, lr in layout.table_sheets(config):
        rate = eta if sheet == layout.BACKPROP else lr
        tables[sheet] = trajectory(config.network, rate, t.iterations, t.train_biases)
    return tables


def assert_matches_numpy(values: Values, case: Case) -> None:
    config, _ = case.edited()
    n = config.training.iterations
    worst = (0.0, "")
    tables = expected_tables(case)
    for sheet, table in tables.items():
        for k in range(n + 1):
            assert values.cell(sheet, layout.data_row(k), layout.ITERATION_COL) == k, (sheet, k)
        for name in layout.columns(config):
            col = layout.column(config, name)
            for k in range(n + 1):
                got = values.cell(sheet, layout.data_row(k), col)
                where = f"{sheet}!{layout.a1(layout.data_row(k), col)} ({name}, iteration {k})"
                assert isinstance(got, (int, float)), f"{where} holds {got!r}"
                diff = float(rel_diff(got, table[name][k]))
                worst = max(worst, (diff, f"{where}: {got!r} vs numpy {table[name][k]!r}"))
    for lr in config.training.learning_rates:
        col = layout.sweep_column(config, lr)
        assert values.cell(layout.SWEEP, layout.SWEEP_HEADER_ROW, col) == layout.sweep_header(lr)
        for k in range(n + 1):
            got = values.cell(layout.SWEEP, layout.SWEEP_FIRST_DATA_ROW + k, col)
            expected = tables[layout.lr_sheet_name(lr)]["E_total"][k]
            assert isinstance(got, (int, float)), f"sweep η={lr} iteration {k} holds {got!r}"
            worst = max(worst, (float(rel_diff(got, expected)), f"sweep η={lr} iteration {k}"))
    assert worst[0] <= TOLERANCE, f"largest relative difference {worst[0]:.3g} at {worst[1]}"


def assert_gradient_check(values: Values, case: Case) -> None:
    """The sheet's finite differences equal numpy's chain-rule gradients on the edited inputs within 1e-6,
    and its largest relative difference agrees with numpy's gradient check at the same step."""
    config, _ = case.edited()
    step = case.edits.get(layout.FD_STEP, FD_STEP)
    assert values.named(layout.FD_STEP) == step
    params = layout.trained_params(config)
    expected = gradient_check(initial_point(config.network), params, step)
    diffs = []
    for param in params:
        fd = values.named(layout.fd_name(param))
        assert isinstance(fd, float), (param, fd)
        assert rel_diff(fd, expected[param]["chain"]) <= 1e-6, (param, fd, expected[param]["chain"])
        assert rel_diff(fd, expected[param]["fd"]) <= 1e-6, (param, fd, expected[param]["fd"])
        diffs.append(
            values.cell(
                layout.BACKPROP, layout.gradcheck_row("rel_diff"), layout.gradcheck_col(config, param)
            )
        )
    worst = values.named(layout.GRADCHECK_MAX)
    assert worst == max(diffs) <= 1e-6
    # Both are rounding-level numbers (~1e-9) whose last digits depend on the engine's EXP: agree to 1e-8.
    assert abs(worst - max(v["rel_diff"] for v in expected.values())) <= 1e-8, worst


def assert_check_status(values: Values, case: Case) -> None:
    status = values.named(layout.CHECK_STATUS)
    if case.check_edits():
        # The reference numbers belong to the generated inputs: the sheet must say so, not a bare FAIL.
        assert isinstance(status, str) and "EDIT" in status.upper(), status
        assert values.named(layout.CHECK_EDITED) == case.check_edits()
    else:
        assert status == "PASS"
        assert values.named(layout.CHECK_MAX_REL_DIFF) <= TOLERANCE


def write_cases(cases: dict[str, Case], folder: Path) -> dict[str, Path]:
    """Generate each case's workbook and save its edited copy (even with no edit, openpyxl's copy has no
    cached values); the copies' paths, to recalculate."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, case in cases.items():
        generated = folder / f"{name}-generated.xlsx"
        generate(case.config, generated)
        paths[name] = folder / f"{name}.xlsx"
        edit = set_named_cells_keep_cache if case.keep_cache else set_named_cells
        edit(generated, paths[name], case.edits)
    return paths


# --- LibreOffice. -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def libreoffice_sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("sources")
    return {**write_cases(LO_CASES, folder), "broken": write_broken(folder / "broken.xlsx")}


# Formulas LibreOffice must turn into error cells, each with a cached value that hides it until recalculated.
BROKEN = {
    "A1": "=1/0",
    "A2": "=1/(1+EXP(-(-1000)))",  # the naive sigmoid at x = -1000: EXP overflows
    "A3": "=SQRT(-1)",
    "A4": '=1+"one"',
    "A5": "=NO_SUCH_FUNCTION(1)",
}


def write_broken(path: Path) -> Path:
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("Broken")
    for cell, formula in BROKEN.items():
        sheet.write_formula(cell, formula, None, 0.5)
    sheet.write_formula("B1", "=EXP(MIN(-1000,0))/(1+EXP(-ABS(-1000)))", None, 0.5)  # the safe sigmoid
    book.close()
    return path


@pytest.fixture(scope="module")
def libreoffice_books(
    libreoffice_sources: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """Every LibreOffice case and the broken workbook, recalculated by one LibreOffice start."""
    done = libreoffice_recalc_many(list(libreoffice_sources.values()), tmp_path_factory.mktemp("libreoffice"))
    return dict(zip(libreoffice_sources, done, strict=True))


def test_stale_source_really_shows_the_old_numbers(libreoffice_sources: dict[str, Path]) -> None:
    # What a viewer that does not recalculate shows: the generated inputs' numbers beside the edited inputs.
    case = LO_CASES["stale"]
    stale = OpenpyxlValues(libreoffice_sources["stale"])
    assert [stale.named(name) for name in case.edits] == list(case.edits.values())
    generated = Case(case.config, {})
    assert_matches_numpy(stale, generated)
    with pytest.raises(AssertionError, match="largest relative difference"):
        assert_matches_numpy(stale, case)


@pytest.mark.slow
@pytest.mark.libreoffice
@pytest.mark.parametrize("name", LO_CASES)
def test_libreoffice_recalculates_to_numpy(name: str, libreoffice_books: dict[str, Path]) -> None:
    values = OpenpyxlValues(libreoffice_books[name])
    assert_matches_numpy(values, LO_CASES[name])
    assert_gradient_check(values, LO_CASES[name])
    assert_check_status(values, LO_CASES[name])


@pytest.mark.libreoffice
@pytest.mark.parametrize("name", LO_CASES)
def test_libreoffice_finds_no_error_cell(name: str, libreoffice_books: dict[str, Path]) -> None:
    # The cases include η = 1000 and 10000, where a naive sigmoid's EXP overflows to #NUM!.
    assert error_cells(libreoffice_books[name]) == []


@pytest.mark.libreoffice
def test_error_cells_reports_every_error_libreoffice_writes(libreoffice_books: dict[str, Path]) -> None:
    found = error_cells(libreoffice_books["broken"])
    assert sorted(cell for _, cell, _ in found) == sorted(BROKEN), found
    assert {value for _, _, value in found} <= ERROR_VALUES
    assert OpenpyxlValues(libreoffice_books["broken"]).cell("Broken", 0, 1) == 0.0


# --- The pure-Python engine. --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def formulas_values(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Values]:
    import formulas

    # Saved through openpyxl, so the file holds formulas and no cached value: every number is the engine's.
    generated = tmp_path_factory.mktemp("formulas") / "generated.xlsx"
    generate(FORMULAS_CONFIG, generated)
    path = generated.with_name("book.xlsx")
    set_named_cells(generated, path, {})
    model = formulas.ExcelModel().loads(str(path)).finish()
    return {name: FormulasValues(model, path, case.edits) for name, case in FORMULAS_CASES.items()}


@pytest.mark.slow
@pytest.mark.parametrize("name", FORMULAS_CASES)
def test_formulas_engine_recalculates_to_numpy(name: str, formulas_values: dict[str, Values]) -> None:
    assert_matches_numpy(formulas_values[name], FORMULAS_CASES[name])
    assert_gradient_check(formulas_values[name], FORMULAS_CASES[name])
    assert_check_status(formulas_values[name], FORMULAS_CASES[name])


@pytest.mark.parametrize("name", FORMULAS_CASES)
def test_formulas_engine_finds_no_error_value(name: str, formulas_values: dict[str, Values]) -> None:
    from formulas import XlError

    errors = {k: v for k, v in formulas_values[name].values.items() if isinstance(v, XlError)}
    assert errors == {}


@pytest.mark.libreoffice
@pytest.mark.parametrize("name", ["plain", "edited"])
def test_bench_reads_the_check_status_libreoffice_computed(
    name: str, libreoffice_books: dict[str, Path]
) -> None:
    # `python -m excelgen.tools.bench` reports this for its large case; it must read the very cells the
    # sheet names.
    from excelgen.tools.bench import check_status

    values = OpenpyxlValues(libreoffice_books[name])
    status, max_rel = check_status(libreoffice_books[name])
    assert status == values.named(layout.CHECK_STATUS)
    assert max_rel == values.named(layout.CHECK_MAX_REL_DIFF)
    assert (status == "PASS") == (name == "plain")

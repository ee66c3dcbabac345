"""Exercise mode is honest: with show_answers FALSE the numbers hidden on the Backprop sheet stand in no cell
of any sheet that is not hidden with them; and the switch is set from the config or the command line."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet

from excelgen.cli import generate
from excelgen.cli import main as excelgen_main
from excelgen.model import config as cfg
from excelgen.sheets import layout

SWITCH = layout.a1(*layout.SHOW_ANSWERS_CELL, absolute=True)


def under_switch(sheet: Worksheet) -> set[tuple[int, int]]:
    """(row, column), 1-based, of the cells a show_answers rule of this sheet covers."""
    out = set()
    for cf in sheet.conditional_formatting:
        if any(rule.formula and SWITCH in rule.formula[0] for rule in cf.rules):
            for rng in cf.sqref.ranges:
                out |= {
                    (r, c)
                    for r in range(rng.min_row, rng.max_row + 1)
                    for c in range(rng.min_col, rng.max_col + 1)
                }
    return out


def copies(path: Path, honour_rules: bool) -> list[str]:
    """Cells outside the switch's rules whose cached number is one the Backprop sheet hides."""
    values, rules = load_workbook(path, data_only=True), load_workbook(path)
    backprop = values[layout.BACKPROP]
    hidden = {backprop.cell(r, c).value for r, c in under_switch(rules[layout.BACKPROP])}
    hidden = {v for v in hidden if isinstance(v, float) and v != 0 and round(v, 2) != v}  # not an input
    found = []
    for name in values.sheetnames:
        covered = under_switch(rules[name]) if honour_rules else set()
        for row in values[name].iter_rows():
            for cell in row:
                v = cell.value
                visible = isinstance(v, float) and (cell.row, cell.column) not in covered
                if visible and any(math.isclose(v, h, rel_tol=1e-12) for h in hidden):
                    found.append(f"{name}!{cell.coordinate}")
    return found


@pytest.mark.parametrize("iterations", [2, 12])
def test_hidden_numbers_stand_in_no_visible_cell_of_any_sheet(tmp_path, iterations):
    config = cfg.from_dict({"training": {"iterations": iterations}, "exercise": {"show_answers": False}})
    path = tmp_path / "exercise.xlsx"
    generate(config, path)
    assert load_workbook(path)[layout.BACKPROP][SWITCH.replace("$", "")].value is False
    assert len(copies(path, honour_rules=False)) > 20  # the numbers do stand elsewhere: the test can fail
    assert copies(path, honour_rules=True) == []


def test_show_answers_from_the_config_and_the_command_line(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text("[exercise]\nshow_answers = false\n")
    assert cfg.load(toml).exercise.show_answers is False
    toml.write_text("[exercise]\nshow_answers = 'no'\n")
    with pytest.raises(cfg.ConfigError, match="exercise.show_answers: expected true or false"):
        cfg.load(toml)
    out = tmp_path / "w.xlsx"
    assert excelgen_main(["--hide-answers", "--iterations", "3", "--out", str(out)]) == 0
    assert load_workbook(out)[layout.BACKPROP][SWITCH.replace("$", "")].value is False
    assert excelgen_main(["--iterations", "3", "--out", str(out)]) == 0
    assert load_workbook(out)[layout.BACKPROP][SWITCH.replace("$", "")].value is True

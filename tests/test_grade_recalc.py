"""The grader on sheets built the way students build them (openpyxl formulas, tests/student_sheets.py) and
recalculated by LibreOffice, so that every cached value is a real engine's: right sheets grade 100% in any
place and spelling, each planted mistake is named, a typed value costs only its own cell, our own workbook
recalculated grades 100%, and --recalc grades a sheet saved without values. One soffice run builds them all.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from spreadsheet import libreoffice_recalc_many
from student_sheets import ORDER, OTHER_SPELLINGS, PLANTED, build

from excelgen import cli
from excelgen.grade import grade_file, grade_many, mistakes
from excelgen.model.config import Config, Training
from excelgen.sheets import layout

pytestmark = [pytest.mark.libreoffice, pytest.mark.slow]

CONFIG = Config(training=Training(learning_rates=(0.1, 2.0), iterations=30))
TYPED = {("h1", 3): 0.03, ("w1", 3): 0.1499}


@pytest.fixture(scope="module")
def sheets(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("students")
    shuffled = list(ORDER)
    random.Random(15).shuffle(shuffled)
    srcs = {
        "right": build(folder / "right.xlsx", spellings=OTHER_SPELLINGS, top=6, left=2),
        "shuffled": build(folder / "shuffled.xlsx", order=tuple(shuffled), eta_label=None, top=0, left=0),
        "typed": build(folder / "typed.xlsx", typed=TYPED, iterations=8),
        # η = 0.8: at 0.5 the course's i2 = 2·i1 makes two update slips give the same numbers (tested below)
        **{key: build(folder / f"{key}.xlsx", mistake=key, eta=0.8) for key in PLANTED},
        "no_eta at 0.5": build(folder / "no_eta-0.5.xlsx", mistake="no_eta", eta=0.5),
    }
    ours = folder / "ours.xlsx"
    cli.generate(CONFIG, ours)
    srcs["ours"] = ours
    outs = libreoffice_recalc_many(list(srcs.values()), folder)
    return dict(zip(srcs, outs, strict=True))


def test_the_catalogue_is_planted_whole() -> None:
    assert set(PLANTED) == set(mistakes.KEYS)


def test_a_right_sheet_in_other_spellings_and_another_place_grades_100(sheets) -> None:
    report = grade_file(sheets["right"])
    assert (report.status, report.score, report.sheet, report.header_row) == (
        "graded",
        100.0,
        "Assignment",
        7,
    )
    assert report.eta == 0.5 and report.iterations == 10 and report.trajectory_matches
    assert not report.missing_columns and not report.diagnoses and not report.notes


def test_columns_in_any_order_and_eta_from_the_first_update(sheets) -> None:
    report = grade_file(sheets["shuffled"])
    assert report.score == 100.0 and report.header_row == 1
    assert report.eta == pytest.approx(0.5, rel=1e-12)


@pytest.mark.parametrize("key", sorted(PLANTED))
def test_each_planted_mistake_is_named(sheets, key: str) -> None:
    report = grade_file(sheets[key])
    assert set(report.wrong_columns) == set(PLANTED[key]), [d.text for d in report.diagnoses]
    named = {d.column: d.mistake for d in report.diagnoses}
    assert named == dict.fromkeys(PLANTED[key], key), [d.text for d in report.diagnoses]
    assert report.trajectory_matches is False


def test_numbers_that_fit_two_mistakes_name_both(sheets) -> None:
    (diagnosis,) = grade_file(sheets["no_eta at 0.5"]).diagnoses
    assert diagnosis.mistake == "no_eta"
    assert diagnosis.text == (
        "w1 is updated without η: w1 ← w1 − η·∂E_total/∂w1; "
        "the numbers fit this too: w1 is updated with ∂E/∂w2 where ∂E/∂w1 belongs"
    )


def test_the_course_sheets_slip_is_said_in_the_documents_notation(sheets) -> None:
    texts = [d.text for d in grade_file(sheets["sigma_mixup"]).diagnoses]
    assert texts[0].startswith("∂E/∂w3 uses a_h1·(1 − a_h1) where a_h2·(1 − a_h2) belongs")


def test_a_typed_value_at_iteration_3_costs_only_its_own_cell(sheets) -> None:
    report = grade_file(sheets["typed"])
    wrong = {n: (c.wrong, c.first_wrong) for n, c in report.columns.items() if c.wrong}
    assert wrong == {"h1": (1, 3), "w1": (1, 3)}
    assert report.trajectory_matches is False and report.first_divergence == 3
    texts = {d.column: d.text for d in report.diagnoses}
    assert texts["h1"].startswith("h1 at iteration 3 (cell K11): expected 0.027")
    assert "found 0.03" in texts["h1"]


def test_our_workbook_recalculated_by_libreoffice_grades_100(sheets) -> None:
    for sheet, lr in layout.table_sheets(CONFIG):
        report = grade_file(sheets["ours"], sheet=sheet)
        assert (report.score, report.eta, report.iterations) == (100.0, lr, 30), [
            d.text for d in report.diagnoses
        ]


def test_recalc_grades_a_sheet_saved_without_values(tmp_path: Path) -> None:
    path = build(tmp_path / "never-opened.xlsx", mistake="sigma_mixup")
    (plain,) = grade_many([path])
    assert plain.status == "refused" and plain.not_calculated
    (report,) = grade_many([path], recalc=True)
    assert report.status == "graded" and report.file == str(path)
    assert {d.mistake for d in report.diagnoses} == {"sigma_mixup"}
    assert "recalculated with LibreOffice" in report.notes[-1]

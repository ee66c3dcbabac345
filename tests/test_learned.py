"""The MNIST sheet's "what the network learned" section (trainer/export/learned.py): the confusion matrix,
per-class accuracy as live formulas, the mistakes as named 28x28 pixel blocks, the kernels; the export
carries it into the user's workbook; a run without results.json, or with a tampered one, still exports and
says why the section is empty."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from openpyxl import load_workbook
from openpyxl.utils import range_boundaries
from spreadsheet import error_cells, libreoffice_recalc_many, named_ref
from test_export import _sheet_part, feature_workbook, runs_rows, write_run, zip_parts
from test_results import fake_results

from excelgen.sheets import formats, table
from trainer import results
from trainer.export import MNIST_SHEET, export_run, learned, load_log
from trainer.export.run import scratch_workbook

NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
ACCS = [97.9, 98.8, 99.45, 99.41]  # the last epoch: 9,941 of 10,000 right
OUR_FORMULA = re.compile(
    r"=(IF\(SUM\([A-L]\d+:[A-L]\d+\)>0,100\*(\(?[A-K]\d+\+?)+\)?/SUM\(|SUM\(|[A-K]\d+\+)"
)


@pytest.fixture
def run(tmp_path: Path) -> tuple[Path, dict]:
    folder = write_run(tmp_path / "runs" / "default-1", ACCS)
    return folder, fake_results(folder, wrong=59, epoch=len(ACCS))


def scratch(folder: Path):
    data = scratch_workbook(load_log(folder), folder, 2, datetime(2026, 11, 21, tzinfo=timezone.utc))
    return load_workbook(io.BytesIO(data)), data


def block(book, name: str) -> np.ndarray:
    sheet, ref = named_ref(book, name)
    return np.array([[c.value for c in row] for row in book[sheet][ref]], dtype=object)


def test_the_section_holds_the_results(run: tuple[Path, dict]) -> None:
    folder, content = run
    book, data = scratch(folder)
    confusion = np.array(content["confusion"])
    assert block(book, learned.CONFUSION_NAME).tolist() == confusion.tolist()
    assert confusion.sum() == 10_000 and np.trace(confusion) == 9941
    acc = block(book, learned.CLASS_ACC_NAME)
    assert acc.shape == (10, 1) and all(OUR_FORMULA.match(f) for f in acc[:, 0])
    cached = block(load_workbook(io.BytesIO(data), data_only=True), learned.CLASS_ACC_NAME)[:, 0]
    assert cached.tolist() == pytest.approx((100 * np.diag(confusion) / confusion.sum(1)).tolist())

    n = len(content["mistakes"])
    assert n == results.MISTAKES
    for k, mistake in enumerate(content["mistakes"], start=1):
        pixels = block(book, learned.mistake_name(k))
        assert pixels.shape == (28, 28)
        assert (
            pixels.astype(int).tolist() == content["_images"][mistake["index"]].tolist() == mistake["pixels"]
        )
    assert learned.mistake_name(n + 1) not in book.defined_names
    assert learned.SECTION_NAME in book.defined_names

    sheet = book[MNIST_SHEET]
    values = [c.value for row in sheet.iter_rows() for c in row if c.value is not None]
    assert len(values) < 100_000
    formulas = [v for v in values if isinstance(v, str) and v.startswith("=")]
    assert formulas and all(OUR_FORMULA.match(f) for f in formulas), "a formula that is not the section's"
    labels = [v for v in values if isinstance(v, str) and v.startswith("#1 ")]
    m = content["mistakes"][0]
    assert labels == [
        f"#1  true {m['true']}, predicted {m['predicted']} ({m['probability']:.1%}), test image {m['index']}"
    ]


def colour_scales(sheet_xml: bytes) -> list[tuple[str, list[str], list[str]]]:
    """(sqref, cfvo values, colours) of each colour-scale rule; asserts none needs a dxf format."""
    out = []
    for cf in ET.fromstring(sheet_xml).iter(f"{NS}conditionalFormatting"):
        for rule in cf.iter(f"{NS}cfRule"):
            assert rule.get("type") == "colorScale" and rule.get("dxfId") is None
            out.append(
                (
                    cf.get("sqref"),
                    [v.get("val") for v in rule.iter(f"{NS}cfvo")],
                    [c.get("rgb") for c in rule.iter(f"{NS}color")],
                )
            )
    return out


def test_export_carries_the_section_and_its_colour_scales(run: tuple[Path, dict], tmp_path: Path) -> None:
    folder, content = run
    workbook = feature_workbook(tmp_path / "backprop.xlsx")
    export_run(folder, workbook)
    exported_book = load_workbook(workbook)
    exported = exported_book[MNIST_SHEET]
    book, _ = scratch(folder)
    names = [learned.CONFUSION_NAME, learned.CLASS_ACC_NAME, learned.SECTION_NAME]
    for name in names + [learned.mistake_name(k) for k in range(1, len(content["mistakes"]) + 1)]:
        assert named_ref(exported_book, name) == named_ref(book, name)  # the names came with the sheet
    for k, mistake in enumerate(content["mistakes"], start=1):
        _, ref = named_ref(exported_book, learned.mistake_name(k))
        pixels = [[c.value for c in row] for row in exported[ref]]
        assert pixels == mistake["pixels"]
    _, ref = named_ref(book, learned.CONFUSION_NAME)
    assert [[c.value for c in row] for row in exported[ref]] == content["confusion"]

    parts = zip_parts(workbook)
    scales = colour_scales(parts[_sheet_part(parts, MNIST_SHEET)])
    by_colours = {tuple(colours): (sqref, values) for sqref, values, colours in scales}
    pixels = by_colours[("FFFFFFFF", "FF000000")]
    assert pixels[1] == ["0", "255"] and len(pixels[0].split()) == results.MISTAKES
    limit = max(abs(w) for w in np.ravel(content["first_conv"]["weights"]))
    kernels = by_colours[("FF" + learned.NEGATIVE[1:], "FFFFFFFF", "FF" + learned.POSITIVE[1:])]
    assert [float(v) for v in kernels[1]] == pytest.approx([-limit, 0, limit]) and len(
        kernels[0].split()
    ) == 8
    mistakes = by_colours[("FFFFFFFF", "FFF8696B")]
    first_row, first_col = exported[ref.split(":")[0]].row, exported[ref.split(":")[0]].column
    covered = {
        (r - first_row, c - first_col)
        for part in mistakes[0].split()
        for c0, r0, c1, r1 in [range_boundaries(part)]
        for r in range(r0, r1 + 1)
        for c in range(c0, c1 + 1)
    }
    assert covered == {(t, p) for t in range(10) for p in range(10) if t != p}  # the diagonal stays green
    assert len(runs_rows(workbook)) == 1


def test_a_run_without_results_still_exports(tmp_path: Path) -> None:
    folder = write_run(tmp_path / "runs" / "old", ACCS)
    workbook = feature_workbook(tmp_path / "backprop.xlsx")
    export_run(folder, workbook)
    texts = [c.value for row in load_workbook(workbook)[MNIST_SHEET].iter_rows() for c in row]
    assert learned.TITLE in texts
    (reason,) = [t for t in texts if isinstance(t, str) and t.startswith("Nothing to draw")]
    assert "no results.json" in reason and "--resume" in reason
    book, _ = scratch(folder)
    assert not [n for n in book.defined_names if n.startswith("mnist_")]


@pytest.mark.parametrize(
    ("tamper", "fragment"),
    [
        (lambda c: c["mistakes"][0]["pixels"][0].__setitem__(0, 300), "values 0..255"),
        (lambda c: c["first_conv"].__setitem__("name", '=HYPERLINK("http://evil","click")'), "module name"),
        (lambda c: c["confusion"][3].__setitem__(3, 10**6), "confusion"),
    ],
    ids=["pixel", "formula-name", "count"],
)
def test_a_tampered_results_file_empties_the_section(run, tmp_path: Path, tamper, fragment: str) -> None:
    import json

    folder, _ = run
    path = folder / results.RESULTS
    content = json.loads(path.read_text())
    tamper(content)
    path.write_text(json.dumps(content))
    workbook = feature_workbook(tmp_path / "backprop.xlsx")
    export_run(folder, workbook)
    book = load_workbook(workbook)
    texts = [c.value for row in book[MNIST_SHEET].iter_rows() for c in row if isinstance(c.value, str)]
    (reason,) = [t for t in texts if t.startswith("Nothing to draw")]
    assert fragment in reason and "\n" not in reason
    assert not [t for t in texts if "HYPERLINK" in t or "evil" in t]
    assert len(runs_rows(workbook)) == 1  # the rest of the export went on


@pytest.mark.libreoffice
def test_libreoffice_recalculates_the_section_without_errors(run, tmp_path: Path) -> None:
    """The per-class accuracy is live: after a count is edited (by openpyxl, which drops every cached value),
    LibreOffice's recalculation gives the new ratios. One LibreOffice start serves the three files."""
    folder, content = run
    book, _ = scratch(folder)
    _, counts_ref = named_ref(book, learned.CONFUSION_NAME)
    _, acc_ref = named_ref(book, learned.CLASS_ACC_NAME)
    exported = feature_workbook(tmp_path / "exported.xlsx")
    export_run(folder, exported)
    without = feature_workbook(tmp_path / "without.xlsx")
    export_run(write_run(tmp_path / "runs" / "old", ACCS), without)
    edited = load_workbook(exported)
    cell = edited[MNIST_SHEET][counts_ref][3][5]  # true 3, predicted 5
    cell.value += 100
    edited.save(tmp_path / "edited.xlsx")
    confusion = np.array(content["confusion"])
    confusion[3, 5] += 100

    recalculated = libreoffice_recalc_many([exported, without, tmp_path / "edited.xlsx"], tmp_path / "lo")
    assert [error_cells(path) for path in recalculated[:2]] == [[], []]
    sheet = load_workbook(recalculated[2], data_only=True)[MNIST_SHEET]
    acc = [row[0].value for row in sheet[acc_ref]]
    assert acc == pytest.approx((100 * np.diag(confusion) / confusion.sum(1)).tolist(), rel=1e-12)
    last, first_column = sheet[counts_ref.split(":")[1]].row, sheet[counts_ref.split(":")[0]].column
    totals = [sheet.cell(last + 1, first_column + p).value for p in range(10)]
    assert totals == confusion.sum(0).tolist()
    overall = sheet.cell(last + 1, first_column + 10).value
    assert overall == pytest.approx(100 * 9941 / 10_100, rel=1e-12)
    labelled = {sheet.cell(r, 1).value: sheet.cell(r, 2).value for r in range(last + 2, last + 6)}
    assert labelled["Test images"] == 10_100 and labelled["Right (the diagonal)"] == 9941


def _hue(colour: str) -> str:
    """ "red" or "blue": which end of a diverging scale a #RRGGBB colour is."""
    r, _, b = (int(colour[k : k + 2], 16) for k in (1, 3, 5))
    assert abs(r - b) > 60, colour  # clearly one or the other
    return "red" if r > b else "blue"


def test_one_sign_language_across_the_workbook() -> None:
    """The Backprop sheet's gradients were red below 0 and the kernels blue: now red < 0 < blue in both, and
    each legend says what is coloured."""
    assert [_hue(formats.GRADIENT_NEGATIVE), _hue(formats.GRADIENT_POSITIVE)] == ["red", "blue"]
    assert [_hue(learned.NEGATIVE), _hue(learned.POSITIVE)] == ["red", "blue"]
    assert "Gradient cells ∂E_total/∂w: red < 0" in table.GRADIENT_NOTE and "blue > 0" in table.GRADIENT_NOTE
    assert "red weights go up" not in table.GRADIENT_NOTE  # it was the gradient cell that was red

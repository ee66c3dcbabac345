"""The MNIST export into the user's workbook: the new sheets arrive, and nothing else in the file changes."""

from __future__ import annotations

import importlib.util
import io
import json
import posixpath
import re
import shutil
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest
import xlsxwriter
from openpyxl import load_workbook
from spreadsheet import error_cells, libreoffice_recalc, named_cell, set_named_cells

from trainer.config import TARGET_ACC
from trainer.errors import UserError
from trainer.export import MNIST_SHEET, RUNS_SHEET, export_run
from trainer.export import runs as runs_module
from trainer.export.mnist import CHART_COLUMN, EPOCH_TABLE_ROW, accuracy_axis
from xlsxedit import package as xlsx_parts

ROOT = Path(__file__).resolve().parents[1]
NS_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
NS_CHART = "{http://schemas.openxmlformats.org/drawingml/2006/chart}"
NS_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"
R_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
# The parts a graft must edit; every other part of the user's file keeps its exact bytes.
EDITED_PARTS = {
    "[Content_Types].xml",
    "_rels/.rels",  # when the file had no custom properties yet
    "xl/workbook.xml",
    "xl/_rels/workbook.xml.rels",
    "xl/styles.xml",
    "docProps/app.xml",
    "docProps/custom.xml",  # which sheets are the trainer's
}


# -- workbooks and runs to export ------------------------------------------------------------------------


def feature_workbook(path: Path) -> Path:
    """A small workbook with every feature excelgen's has: a named input, formulas with cached values, a
    note, data validation, a textbox, styles and native charts on two sheets."""
    wb = xlsxwriter.Workbook(path)
    ws = wb.add_worksheet("Backprop")
    ws.write("A1", "w1")
    ws.write("B1", 0.15, wb.add_format({"bg_color": "#FFF2CC", "num_format": "0.000"}))
    wb.define_name("init_w1", "=Backprop!$B$1")
    ws.write("A2", "plain")
    ws.write("B2", 7)
    for r in range(3, 13):
        ws.write_formula(r, 1, f"=init_w1*{r}", None, 0.15 * r)
    ws.write_comment("A1", "the first weight")
    ws.data_validation("B1", {"validate": "decimal", "criteria": ">", "value": 0})
    ws.insert_textbox("D2", "i1 -> h1 -> o1", {"width": 200, "height": 60})
    chart = wb.add_chart({"type": "line"})
    chart.add_series({"values": "=Backprop!$B$4:$B$13", "name": "E_total"})
    ws.insert_chart("D8", chart)
    sweep = wb.add_worksheet("LR sweep")
    for r in range(10):
        sweep.write_formula(r, 0, f"=Backprop!B{r + 4}*2", None, 0.3 * (r + 3))
    chart = wb.add_chart({"type": "line"})
    chart.add_series({"values": "='LR sweep'!$A$1:$A$10", "name": "η = 1"})
    sweep.insert_chart("C2", chart)
    wb.close()
    return path


def excelgen_workbook(path: Path) -> Path:
    from excelgen.cli import generate
    from excelgen.model.config import Config, Training

    generate(Config(training=Training(learning_rates=(0.5, 1.0), iterations=8)), path)
    return path


@pytest.fixture(params=["features", "excelgen"])
def workbook(request, tmp_path: Path) -> Path:
    make = feature_workbook if request.param == "features" else excelgen_workbook
    return make(tmp_path / "backprop.xlsx")


def write_run(folder: Path, accs: list[float], model: str = "default") -> Path:
    """A run folder as `trainer train` writes it, with made-up numbers."""
    folder.mkdir(parents=True)
    epochs = [
        {
            "epoch": i + 1,
            "train_loss": 0.5 / (i + 1),
            "train_acc": 90.0 + i,
            "test_loss": 0.1 / (i + 1),
            "test_correct": round(acc * 100),
            "test_acc": acc,
            "lr": 0.01 / (i + 1),
            "seconds": 10.0 + i,
        }
        for i, acc in enumerate(accs)
    ]
    best = max(epochs, key=lambda e: e["test_acc"])
    log = {
        "model": model,
        "params": 17_234,
        "seed": 1,
        "device": "cpu",
        "hyperparameters": {
            "epochs": len(accs),
            "batch_size": 128,
            "lr": 0.01,
            "schedule": "onecycle",
            "pct_start": 0.25,
            "momentum": 0.9,
            "nesterov": True,
            "label_smoothing": 0.1,
        },
        "epochs": epochs,
        "best_test_acc": best["test_acc"],
        "best_epoch": best["epoch"],
        "started_at": "2026-11-21T04:00:00+00:00",
        "layers": [
            {"layer": "Conv2d: 1-1", "output_shape": [-1, 8, 26, 26], "params": 80},
            {"layer": "BatchNorm2d: 1-2", "output_shape": [-1, 8, 26, 26], "params": 16},
        ],
    }
    (folder / "log.json").write_text(json.dumps(log), encoding="utf-8")
    return folder


@pytest.fixture
def run(tmp_path: Path) -> Path:
    return write_run(tmp_path / "runs" / "default-1", [97.9, 98.8, 99.45, 99.41])


# -- reading a workbook back, independently of trainer.xlsx_parts ----------------------------------------


def zip_parts(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name) for name in z.namelist()}


def _resolve(source: str, target: str) -> str:
    if target.startswith("/"):
        return target[1:]
    return posixpath.normpath(posixpath.join(posixpath.dirname(source), target))


def _targets(parts: dict[str, bytes], part: str) -> list[tuple[str, str]]:
    """(type, part name) of a part's internal relationships."""
    folder, name = posixpath.split(part)
    rels = posixpath.join(folder, "_rels", name + ".rels")
    if rels not in parts:
        return []
    return [
        (r.get("Type"), _resolve(part, r.get("Target")))
        for r in ET.fromstring(parts[rels]).iter(f"{NS_REL}Relationship")
        if r.get("TargetMode") != "External"
    ]


def _sheet_part(parts: dict[str, bytes], name: str) -> str:
    book = ET.fromstring(parts["xl/workbook.xml"])
    rid = next(s.get(R_ID) for s in book.iter(f"{NS_MAIN}sheet") if s.get("name") == name)
    rels = ET.fromstring(parts["xl/_rels/workbook.xml.rels"]).iter(f"{NS_REL}Relationship")
    return _resolve("xl/workbook.xml", next(r.get("Target") for r in rels if r.get("Id") == rid))


def charts_per_sheet(path: Path) -> dict[str, int]:
    """How many distinct chart parts each sheet's drawing shows."""
    parts = zip_parts(path)
    counts = {}
    for sheet in ET.fromstring(parts["xl/workbook.xml"]).iter(f"{NS_MAIN}sheet"):
        part = _sheet_part(parts, sheet.get("name"))
        drawings = [t for kind, t in _targets(parts, part) if kind.endswith("/drawing")]
        counts[sheet.get("name")] = len(
            {t for d in drawings for kind, t in _targets(parts, d) if kind.endswith("/chart")}
        )
    return counts


def cells(path: Path, sheets: list[str], data_only: bool) -> dict[tuple[str, str], object]:
    """Every non-empty cell's formula or constant (data_only=False), or cached value (True)."""
    book = load_workbook(path, data_only=data_only)
    return {
        (name, c.coordinate): c.value
        for name in sheets
        for row in book[name].iter_rows()
        for c in row
        if c.value is not None
    }


def runs_rows(path: Path) -> list[tuple]:
    return list(load_workbook(path)[RUNS_SHEET].iter_rows(min_row=2, values_only=True))


def runs_records(path: Path) -> list[dict]:
    """Each Runs row as header -> value, by the sheet's own header row."""
    header, *rows = load_workbook(path)[RUNS_SHEET].iter_rows(values_only=True)
    return [{h: v for h, v in zip(header, row, strict=False) if h is not None} for row in rows]


# -- the tests -----------------------------------------------------------------------------------------


def test_export_touches_only_the_parts_it_must(workbook: Path, run: Path) -> None:
    before = zip_parts(workbook)
    export_run(run, workbook)
    after = zip_parts(workbook)
    changed = {p for p in before if before[p] != after.get(p)}
    assert changed <= EDITED_PARTS, f"parts changed that belong to other sheets: {changed - EDITED_PARTS}"
    new = set(after) - set(before)
    assert any(p.startswith("xl/charts/") for p in new) and any(p.startswith("xl/worksheets/") for p in new)
    assert "sharedStrings" not in " ".join(changed)  # the new sheets' strings are inline
    # One selected tab, as before: two would be a group in Excel, and an edit would go to both sheets.
    selected = [p for p in after if p.startswith("xl/worksheets/") and b'tabSelected="1"' in after[p]]
    assert len(selected) == 1 and selected[0] in before


def test_backup_holds_the_previous_version(workbook: Path, run: Path) -> None:
    before = workbook.read_bytes()
    export_run(run, workbook)
    assert workbook.with_name("backprop.bak.1.xlsx").read_bytes() == before
    assert sorted(p.name for p in workbook.parent.glob("*.xlsx")) == ["backprop.bak.1.xlsx", "backprop.xlsx"]
    assert not [p for p in workbook.parent.iterdir() if p.name.startswith(".")]  # no temporary file left


def test_user_edits_and_other_sheets_survive(workbook: Path, run: Path) -> None:
    book = load_workbook(workbook)
    named_cell(book, "init_w1").value = 0.3
    book["Backprop"]["A2"] = "edited by hand"
    book.save(workbook)  # openpyxl's own round trip: the user's file as it is before the export
    sheets = load_workbook(workbook).sheetnames
    formulas, cached, charts = (
        cells(workbook, sheets, False),
        cells(workbook, sheets, True),
        charts_per_sheet(workbook),
    )

    export_run(run, workbook)

    book = load_workbook(workbook)
    assert named_cell(book, "init_w1").value == 0.3
    assert book["Backprop"]["A2"].value == "edited by hand"
    assert book.sheetnames == [*sheets, MNIST_SHEET, RUNS_SHEET]
    assert cells(workbook, sheets, False) == formulas
    assert cells(workbook, sheets, True) == cached
    after = charts_per_sheet(workbook)
    assert {s: after[s] for s in sheets} == charts
    assert after[MNIST_SHEET] == 2


def test_mnist_sheet_holds_the_epochs_and_charts(workbook: Path, run: Path) -> None:
    export_run(run, workbook)
    log = json.loads((run / "log.json").read_text())
    sheet = load_workbook(workbook)[MNIST_SHEET]
    rows = list(sheet.iter_rows(values_only=True))
    header = next(i for i, r in enumerate(rows) if r[:2] == ("Epoch", "Train loss"))
    table = rows[header + 1 : header + 1 + len(log["epochs"])]
    keys = ("epoch", "train_loss", "train_acc", "test_loss", "test_correct", "test_acc")
    # xlsxwriter writes numbers with 16 significant digits ("%.16G"), so the last bit may round.
    assert [r[:6] for r in table] == [
        pytest.approx(tuple(e[k] for k in keys), rel=1e-15) for e in log["epochs"]
    ]
    assert {r[6] for r in table} == {TARGET_ACC}
    fills = [sheet.cell(header + 2 + i, 1).fill.fgColor.rgb for i in range(len(table))]
    best = log["best_epoch"] - 1
    assert len({fills[best]} | {f for i, f in enumerate(fills) if i != best}) == 2, fills
    assert fills.count(fills[best]) == 1
    labels = {r[0]: r[1] for r in rows if r[0] in ("Model", "Parameters", "Batch size", "Seed", "Device")}
    assert labels == {"Model": "default", "Parameters": 17_234, "Batch size": 128, "Seed": 1, "Device": "cpu"}
    # Every setting under a label, none under its raw log.json key; the loss gap explained.
    settings = [r[0] for r in rows[rows.index(next(r for r in rows if r[0] == "Settings")) + 1 :]]
    assert not {"pct_start", "momentum", "nesterov", "label_smoothing"} & set(settings)
    assert {
        "Warm-up (share of steps)",
        "Momentum (start and end)",
        "Nesterov momentum",
        "Label smoothing",
    } <= set(settings)
    assert dict((r[0], r[1]) for r in rows)["Nesterov momentum"] == "yes"
    note = " ".join(r[0] for r in rows[header + 1 + len(table) : header + 5 + len(table)] if r[0])
    assert "label-smoothed" in note and "cannot fall below 0.50" in note, note
    assert ("Conv2d: 1-1", "[-1, 8, 26, 26]", 80) in {(r[0], r[1], r[3]) for r in rows}

    series = {name: values for chart in mnist_charts(workbook) for name, values in chart.items()}
    assert series[f"Target {TARGET_ACC}%"] == pytest.approx([TARGET_ACC] * len(table))
    assert series["Test accuracy (%)"] == pytest.approx([e["test_acc"] for e in log["epochs"]])
    assert series["Train loss (label-smoothed)"] == pytest.approx([e["train_loss"] for e in log["epochs"]])
    assert series["Test loss"] == pytest.approx([e["test_loss"] for e in log["epochs"]])


def mnist_charts(path: Path) -> list[dict[str, list[float]]]:
    """Each chart on the MNIST sheet as {series name: cached values}."""
    parts = zip_parts(path)
    sheet = _sheet_part(parts, MNIST_SHEET)
    drawings = [t for kind, t in _targets(parts, sheet) if kind.endswith("/drawing")]
    charts = {t for d in drawings for kind, t in _targets(parts, d) if kind.endswith("/chart")}
    out = []
    for chart in sorted(charts):
        root = ET.fromstring(parts[chart])
        out.append(
            {
                ser.find(f"{NS_CHART}tx").findtext(f".//{NS_CHART}v"): [
                    float(v.text) for v in ser.find(f"{NS_CHART}val").iter(f"{NS_CHART}v")
                ]
                for ser in root.iter(f"{NS_CHART}ser")
            }
        )
    return out


@pytest.mark.parametrize("accs", [[96.76, 99.29], [62.35, 94.99], [99.45, 99.6], [9.8], [0.0, 100.0]])
def test_accuracy_axis_shows_every_point_and_the_target(accs: list[float]) -> None:
    bottom, step = accuracy_axis(accs)
    assert 0 <= bottom <= min([*accs, TARGET_ACC]) and (100 - bottom) / step <= 8
    assert bottom / step == pytest.approx(round(bottom / step))  # a round number of steps


def test_exporting_twice_replaces_mnist_and_appends_a_run(workbook: Path, run: Path, tmp_path: Path) -> None:
    export_run(run, workbook)
    first_parts = zip_parts(workbook)
    first_rows = runs_rows(workbook)
    second = write_run(tmp_path / "runs" / "tiny-2", [98.0, 99.0], model="tiny")
    export_run(second, workbook)

    book = load_workbook(workbook)
    assert book.sheetnames.count(MNIST_SHEET) == 1
    assert book[MNIST_SHEET]["A1"].value.startswith("MNIST: tiny")
    rows = runs_rows(workbook)
    assert rows[: len(first_rows)] == first_rows and len(rows) == len(first_rows) + 1
    runs = _sheet_part(first_parts, RUNS_SHEET)
    first_row_xml = re.search(rb'<row r="2".*?</row>', first_parts[runs]).group(0)
    assert first_row_xml in zip_parts(workbook)[runs]  # appended, never rewritten: the old row's bytes stay
    last = runs_records(workbook)[-1]
    assert (last["Run folder"], last["Model"], last["Best test acc (%)"], last["Best epoch"]) == (
        second.as_posix(),
        "tiny",
        99.0,
        2,
    )
    parts = zip_parts(workbook)
    # The old MNIST parts are gone, not orphaned: as many charts and drawings as after the first export, and
    # styles.xml did not grow (the second export reuses the formats the first appended).
    assert sorted(p for p in parts if "/charts/" in p or "/drawings/" in p) == sorted(
        p for p in first_parts if "/charts/" in p or "/drawings/" in p
    )
    assert parts["xl/styles.xml"] == first_parts["xl/styles.xml"]
    assert_no_orphans(parts)
    assert app_sheet_titles(parts) in ([], book.sheetnames)


def app_sheet_titles(parts: dict[str, bytes]) -> list[str]:
    """The worksheet titles docProps/app.xml lists (Excel shows them as the file's contents), if any."""
    if "docProps/app.xml" not in parts:
        return []
    vt = "{http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes}"
    ep = "{http://schemas.openxmlformats.org/officeDocument/2006/extended-properties}"
    root = ET.fromstring(parts["docProps/app.xml"])
    pairs = root.find(f"{ep}HeadingPairs")
    if pairs is None:
        return []
    values = [v[0].text for v in pairs.iter(f"{vt}variant")]  # heading, count, heading, count, ...
    if "Worksheets" not in values:
        return []
    at = values.index("Worksheets")
    start, count = sum(int(n) for n in values[1:at:2]), int(values[at + 1])
    titles = [t.text for t in root.find(f"{ep}TitlesOfParts").iter(f"{vt}lpstr")]
    return titles[start : start + count]


def assert_no_orphans(parts: dict[str, bytes]) -> None:
    """Every part is reachable from the package root, and every relationship target exists."""
    seen, stack = set(), [""]
    while stack:
        part = stack.pop()
        if part in seen:
            continue
        seen.add(part)
        rels = "_rels/.rels" if part == "" else None
        targets = (
            _targets(parts, part)
            if rels is None
            else [
                (r.get("Type"), r.get("Target").lstrip("/"))
                for r in ET.fromstring(parts[rels]).iter(f"{NS_REL}Relationship")
            ]
        )
        for _, target in targets:
            assert target in parts, f"{part} points at missing {target}"
            stack.append(target)
    unreachable = {p for p in parts if not p.endswith(".rels") and p != "[Content_Types].xml"} - seen
    assert not unreachable, unreachable


@pytest.mark.parametrize("lock", ["~$backprop.xlsx", ".~lock.backprop.xlsx#"])
def test_open_workbook_is_refused_and_left_alone(workbook: Path, run: Path, lock: str) -> None:
    (workbook.parent / lock).write_text("someone")
    before = workbook.read_bytes()
    with pytest.raises(UserError, match="close it") as refused:
        export_run(run, workbook)
    assert "\n" not in str(refused.value)
    assert workbook.read_bytes() == before
    assert not workbook.with_name("backprop.bak.1.xlsx").exists()


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: b"this is not a spreadsheet",
        lambda data: data[: len(data) // 2],  # a truncated download or copy
        lambda data: _replace_part(data, "xl/workbook.xml", b"<workbook"),  # a zip, but broken inside
        lambda data: _flip_bytes(data, "xl/styles.xml"),  # a damaged compressed stream
    ],
    ids=["text", "truncated", "bad-xml", "bad-deflate"],
)
def test_corrupt_workbook_is_refused_and_left_alone(tmp_path: Path, run: Path, damage) -> None:
    workbook = tmp_path / "backprop.xlsx"
    workbook.write_bytes(damage(feature_workbook(tmp_path / "good.xlsx").read_bytes()))
    before = workbook.read_bytes()
    with pytest.raises(UserError, match="not a workbook this tool can edit") as refused:
        export_run(run, workbook)
    assert "\n" not in str(refused.value)
    assert workbook.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backprop.xlsx", "good.xlsx", "runs"]


def _flip_bytes(data: bytes, name: str) -> bytes:
    info = zipfile.ZipFile(io.BytesIO(data)).getinfo(name)
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra) + 4
    return data[:start] + bytes(b ^ 0xFF for b in data[start : start + 16]) + data[start + 16 :]


def _replace_part(data: bytes, name: str, new: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            dst.writestr(item, new if item.filename == name else src.read(item))
    return out.getvalue()


def test_an_older_run_with_few_keys_is_exported(tmp_path: Path) -> None:
    workbook = feature_workbook(tmp_path / "backprop.xlsx")
    old = tmp_path / "seed001-old"
    old.mkdir()
    epochs = [{"epoch": 1, "test_acc": 98.5}, {"epoch": 2, "test_acc": 99.1, "test_loss": 0.03}]
    (old / "log.json").write_text(json.dumps({"model": "seed001", "epochs": epochs}))
    export_run(old, workbook)
    book = load_workbook(workbook)
    assert book[MNIST_SHEET]["A1"].value == "MNIST: seed001, ? parameters"
    (record,) = runs_records(workbook)
    expected = {"Run folder": old.as_posix(), "Model": "seed001", "Parameters": None}
    expected["Best test acc (%)"] = 99.1
    assert {k: record[k] for k in expected} == expected and record["Best epoch"] == 2


def test_a_run_without_log_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty-run").mkdir()
    with pytest.raises(UserError, match="log.json"):
        export_run(tmp_path / "empty-run", tmp_path / "backprop.xlsx")
    assert not (tmp_path / "backprop.xlsx").exists()


def test_missing_workbook_is_generated_first(tmp_path: Path, run: Path) -> None:
    workbook = tmp_path / "backprop.xlsx"
    export_run(run, workbook)
    names = load_workbook(workbook, read_only=True).sheetnames
    assert names[0] == "Backprop" and "LR sweep" in names and names[-2:] == [MNIST_SHEET, RUNS_SHEET]
    with pytest.raises(UserError, match="does not exist"):
        export_run(run, tmp_path / "no-such-folder" / "backprop.xlsx")


def test_appended_run_goes_above_formatting_only_rows(workbook: Path, run: Path) -> None:
    """A spreadsheet program may keep empty rows that carry only a height or a style below the last value;
    the new row goes in row order, not after them."""
    export_run(run, workbook)
    package = xlsx_parts.Package(workbook.read_bytes())
    part = package.sheet_part(RUNS_SHEET)
    xml = package.parts[part].replace(
        b"</sheetData>",
        b'<row r="3" ht="30" customHeight="1"/><row r="9" ht="30" customHeight="1"/></sheetData>',
    )
    workbook.write_bytes(_replace_part(workbook.read_bytes(), part, xml))
    export_run(run, workbook)
    rows = [int(r.get("r")) for r in ET.fromstring(zip_parts(workbook)[part]).iter(f"{NS_MAIN}row")]
    assert rows == [1, 2, 3, 9]
    assert [r["Model"] for r in runs_records(workbook)][:2] == ["default", "default"]


def test_grafting_into_a_prefixed_stylesheet(tmp_path: Path, run: Path) -> None:
    """Some writers (the Open XML SDK) put SpreadsheetML under a prefix (x:); appended styles use it."""
    path = feature_workbook(tmp_path / "backprop.xlsx")
    styles = zip_parts(path)["xl/styles.xml"].decode()
    prefixed = styles.replace(' xmlns="', ' xmlns:x="').replace("<", "<x:").replace("<x:/", "</x:")
    prefixed = prefixed.replace("<x:?xml", "<?xml")
    path.write_bytes(_replace_part(path.read_bytes(), "xl/styles.xml", prefixed.encode()))
    export_run(run, path)
    book = load_workbook(path)
    assert book[MNIST_SHEET]["A1"].font.b and book["Backprop"]["B1"].number_format == "0.000"


def test_absolute_relationship_targets(tmp_path: Path, run: Path) -> None:
    """Excel Online and some libraries write rels targets as absolute part names ("/xl/worksheets/…")."""
    path = feature_workbook(tmp_path / "backprop.xlsx")
    rels = zip_parts(path)["xl/_rels/workbook.xml.rels"].replace(b'Target="', b'Target="/xl/')
    path.write_bytes(_replace_part(path.read_bytes(), "xl/_rels/workbook.xml.rels", rels))
    export_run(run, path)
    export_run(run, path)
    assert charts_per_sheet(path) == {"Backprop": 1, "LR sweep": 1, MNIST_SHEET: 2, RUNS_SHEET: 0}
    assert_no_orphans(zip_parts(path))


def test_calc_chain_listing_the_replaced_sheet_is_dropped(tmp_path: Path, run: Path) -> None:
    path = feature_workbook(tmp_path / "backprop.xlsx")
    export_run(run, path)
    package = xlsx_parts.Package(path.read_bytes())
    sheet_id = next(
        s.get("sheetId")
        for s in ET.fromstring(package.parts["xl/workbook.xml"]).iter(f"{NS_MAIN}sheet")
        if s.get("name") == MNIST_SHEET
    )
    # What Excel writes after a user adds a formula to the MNIST sheet.
    chain = f'<calcChain xmlns="{NS_MAIN[1:-1]}"><c r="B4" i="1"/><c r="A1" i="{sheet_id}"/></calcChain>'
    data = _add_part(path.read_bytes(), "xl/calcChain.xml", chain.encode(), "calcChain")
    path.write_bytes(data)
    export_run(run, path)
    parts = zip_parts(path)
    assert "xl/calcChain.xml" not in parts and b"calcChain" not in parts["[Content_Types].xml"]
    assert b"calcChain" not in parts["xl/_rels/workbook.xml.rels"]
    assert_no_orphans(parts)


def _add_part(data: bytes, name: str, content: bytes, kind: str) -> bytes:
    parts = {}
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    parts[name] = content
    rel = (
        f'<Relationship Id="rId99" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
        f'{kind}" Target="{posixpath.basename(name)}"/></Relationships>'
    )
    parts["xl/_rels/workbook.xml.rels"] = parts["xl/_rels/workbook.xml.rels"].replace(
        b"</Relationships>", rel.encode()
    )
    override = (
        f'<Override PartName="/{name}" ContentType="application/vnd.openxmlformats-officedocument.'
        f'spreadsheetml.{kind}+xml"/></Types>'
    )
    parts["[Content_Types].xml"] = parts["[Content_Types].xml"].replace(b"</Types>", override.encode())
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for n, content in parts.items():
            z.writestr(n, content)
    return out.getvalue()


def test_a_copy_that_prints_only_the_mnist_charts(workbook: Path, run: Path, tmp_path: Path) -> None:
    """What docs/render.py prints: every other sheet hidden, a print area over the charts, one page."""
    spec = importlib.util.spec_from_file_location("render", ROOT / "docs" / "render.py")
    render = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(render)
    export_run(run, workbook)
    package = xlsx_parts.Package(workbook.read_bytes())
    area = render.chart_area(package, MNIST_SHEET)
    render.print_only(package, MNIST_SHEET, area)
    copy = tmp_path / "print.xlsx"
    copy.write_bytes(package.to_bytes())
    book = load_workbook(copy)
    assert [s.title for s in book.worksheets if s.sheet_state == "visible"] == [MNIST_SHEET]
    sheet = book[MNIST_SHEET]
    assert sheet.print_area == f"'{MNIST_SHEET}'!{area}"
    assert sheet.sheet_properties.pageSetUpPr.fitToPage and sheet.page_setup.orientation == "landscape"
    top_left = area.split(":")[0].replace("$", "")
    assert sheet[top_left].column == CHART_COLUMN + 1 and sheet[top_left].row == EPOCH_TABLE_ROW + 1


@pytest.mark.libreoffice
def test_edit_a_weight_then_export_then_libreoffice(tmp_path: Path, run: Path) -> None:
    """The issue's "done when": a generated workbook, a weight edited, a run exported; LibreOffice
    recalculates it with no error cell, the edit flows through the sheets, and the MNIST charts are there."""
    generated = excelgen_workbook(tmp_path / "generated.xlsx")
    workbook = tmp_path / "backprop.xlsx"
    set_named_cells(generated, workbook, {"init_w1": 0.3})
    export_run(run, workbook)
    recalculated = libreoffice_recalc(workbook, tmp_path / "lo")
    assert error_cells(recalculated) == []
    book = load_workbook(recalculated, data_only=True)
    assert named_cell(book, "init_w1").value == 0.3
    assert book.sheetnames[-2:] == [MNIST_SHEET, RUNS_SHEET]
    assert runs_records(recalculated)[0]["Model"] == "default"
    assert charts_per_sheet(recalculated)[MNIST_SHEET] == 2
    sweep = cells(recalculated, ["LR sweep"], True)
    assert sweep and sweep != cells(generated, ["LR sweep"], True)  # the losses follow the new weight


@pytest.mark.libreoffice
def test_a_workbook_saved_by_libreoffice_can_be_exported_into(tmp_path: Path, run: Path) -> None:
    # What a user's file looks like after they opened and saved it in LibreOffice before `make train`.
    saved = libreoffice_recalc(feature_workbook(tmp_path / "backprop.xlsx"), tmp_path / "lo")
    workbook = tmp_path / "user" / "backprop.xlsx"
    workbook.parent.mkdir()
    shutil.copy(saved, workbook)
    before = zip_parts(workbook)
    export_run(run, workbook)
    export_run(run, workbook)
    after = zip_parts(workbook)
    assert {p for p in before if before[p] != after.get(p)} <= EDITED_PARTS
    assert len(runs_rows(workbook)) == 2
    assert_no_orphans(after)
    assert error_cells(libreoffice_recalc(workbook, tmp_path / "lo2")) == []


def test_the_result_is_the_last_epoch_with_the_best_beside_it(workbook: Path, tmp_path: Path) -> None:
    run = write_run(tmp_path / "runs" / "default-1", [98.5, 99.46, 99.42])  # the best is not the last
    export_run(run, workbook)
    book = load_workbook(workbook)
    line = book[MNIST_SHEET]["A2"].value
    assert line.startswith("Result: 99.42% test accuracy after epoch 3, the last")
    assert "best 99.46% at epoch 2 of 3" in line
    header = [c.value for c in book[RUNS_SHEET][1]]
    row = runs_rows(workbook)[-1]
    assert row[header.index("Last epoch's test acc (%)")] == 99.42
    assert row[header.index("Best test acc (%)")] == 99.46


def test_runs_leads_with_the_headline_and_an_older_sheet_keeps_its_columns(
    workbook: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last epoch's accuracy is the first column; a Runs sheet written in the old order (run folder
    first, the last epoch's accuracy last) gets each new value under its own header."""
    first = write_run(tmp_path / "runs" / "default-1", [98.5, 99.46, 99.42])
    new_order = runs_module.RUNS_COLUMNS
    old_order = (*new_order[-1:], *new_order[4:6], *new_order[1:4], *new_order[6:8], new_order[0])
    monkeypatch.setattr(runs_module, "RUNS_COLUMNS", old_order)
    export_run(first, workbook)
    old_header = [c.value for c in load_workbook(workbook)[RUNS_SHEET][1]]
    assert old_header[0] == "Run folder" and old_header[-1] == runs_module.LAST_ACC
    monkeypatch.setattr(runs_module, "RUNS_COLUMNS", new_order)
    second = write_run(tmp_path / "runs" / "default-2", [98.0, 99.3], model="tiny")
    export_run(second, workbook)
    assert [c.value for c in load_workbook(workbook)[RUNS_SHEET][1]] == old_header  # untouched
    records = runs_records(workbook)
    assert [r["Run folder"] for r in records] == [first.as_posix(), second.as_posix()]
    assert [r[runs_module.LAST_ACC] for r in records] == [99.42, 99.3]
    assert [r["Model"] for r in records] == ["default", "tiny"]
    assert [r["Epochs"] for r in records] == [3, 2]

    fresh = feature_workbook(tmp_path / "fresh.xlsx")
    export_run(second, fresh)
    header = [c.value for c in load_workbook(fresh)[RUNS_SHEET][1]]
    assert header == [h for h, _, _ in new_order] and header[0] == runs_module.LAST_ACC


def test_a_one_epoch_run_still_draws_its_point_and_the_target(workbook: Path, tmp_path: Path) -> None:
    """One epoch is one point: the accuracy has a marker and the target, which a line cannot draw from one
    point, a wide dash."""
    run = write_run(tmp_path / "runs" / "default-1", [97.2])
    export_run(run, workbook)
    parts = zip_parts(workbook)
    sheet = _sheet_part(parts, MNIST_SHEET)
    drawings = [t for kind, t in _targets(parts, sheet) if kind.endswith("/drawing")]
    charts = sorted(t for d in drawings for kind, t in _targets(parts, d) if kind.endswith("/chart"))
    markers = {}
    for chart in charts:
        for ser in ET.fromstring(parts[chart]).iter(f"{NS_CHART}ser"):
            name = ser.find(f"{NS_CHART}tx").findtext(f".//{NS_CHART}v")
            markers[name] = ser.find(f"{NS_CHART}marker/{NS_CHART}symbol").get("val")
    assert markers[f"Target {TARGET_ACC}%"] == "dash" and markers["Test accuracy (%)"] == "circle"
    assert markers["Test loss"] == "circle"


@pytest.mark.parametrize("alone", [None, 99.37])
def test_the_result_line_says_when_the_last_test_pass_used_shifts(
    tmp_path: Path, alone: float | None
) -> None:
    """A run with test shifts (`trainer train --test-shift-px`) logs the image alone's accuracy too."""
    run_dir = write_run(tmp_path / "runs" / "default-1", [98.9, 99.44])
    if alone is not None:
        log = json.loads((run_dir / "log.json").read_text())
        log["epochs"][-1] |= {"plain_test_acc": alone, "plain_test_correct": 9937}
        (run_dir / "log.json").write_text(json.dumps(log), encoding="utf-8")
    book = tmp_path / "book.xlsx"
    export_run(run_dir, book)
    result = load_workbook(book)[MNIST_SHEET]["A2"].value
    assert result.startswith("Result: 99.44% test accuracy after epoch 2")
    assert ("(with its test shifts; the image alone 99.37%)" in result) is (alone is not None)

"""The grader without a spreadsheet engine: header spellings, our own workbooks, typed-value sheets, every
hostile submission refused in one gradebook line while the batch goes on, the gradebook's text staying text,
the JSON's shape. The LibreOffice-recalculated student sheets are in test_grade_recalc.py."""

from __future__ import annotations

import csv
import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from openpyxl import Workbook, load_workbook
from student_sheets import build, build_typed

from excelgen import cli
from excelgen.grade import columns, grade_file, grade_many, gradebook, reading
from excelgen.grade.report import ColumnResult, Diagnosis, Report
from excelgen.model import reference
from excelgen.model.config import Config, Network, Training
from excelgen.sheets import layout


def course_run(iterations: int = 10, eta: float = 0.5) -> dict[str, np.ndarray]:
    return reference.trajectory(Network(), eta, iterations)


# -- header spellings ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("E_total", "E_total"),
        ("E_tot", "E_total"),
        ("Etotal", "E_total"),
        ("E total", "E_total"),
        ("Eₜₒₜₐₗ", "E_total"),
        ("∂E/∂w1", "dE/dw1"),
        ("dE/dw1", "dE/dw1"),
        ("∂E_total/∂w1", "dE/dw1"),
        ("dEtotal/dw1", "dE/dw1"),
        ("∂E/∂w₇", "dE/dw7"),
        ("DE/DW8", "dE/dw8"),
        ("a_h1", "a_h1"),
        ("out_h1", "a_h1"),
        ("σ(o2)", "a_o2"),
        ("a_{o1}", "a_o1"),
        ("net h2", "h2"),
        ("W5", "w5"),
        (" t1 ", "t1"),
        ("E₁", "E1"),
    ],
)
def test_header_spellings(text: str, name: str) -> None:
    assert columns.column_name(text) == name


@pytest.mark.parametrize("text", ["iteration", "w9", "dE/dw9", "error", "targets and inputs", "x" * 300, ""])
def test_other_text_is_no_column(text: str) -> None:
    assert columns.column_name(text) is None


# -- our own workbooks ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "config",
    [
        Config(training=Training(learning_rates=(0.1, 0.5, 2.0), iterations=100)),
        # Bias columns: b1 and b2 fixed beside their gradients, and trained.
        Config(network=Network(b1=0.35, b2=0.6), training=Training(learning_rates=(0.8,), iterations=40)),
        Config(
            network=Network(b1=0.35, b2=0.6),
            training=Training(learning_rates=(0.8,), iterations=40, train_biases=True),
        ),
    ],
    ids=["course", "fixed biases", "trained biases"],
)
def test_our_generated_workbook_grades_100_on_every_table_sheet(config: Config, tmp_path: Path) -> None:
    out = tmp_path / "backprop.xlsx"
    cli.generate(config, out)
    for sheet, lr in layout.table_sheets(config):
        report = grade_file(out, sheet=sheet)
        assert report.status == "graded", report.reason
        assert (report.score, report.eta) == (100.0, lr), (sheet, report.diagnoses)
        assert report.iterations == config.training.iterations
        assert report.trajectory_matches and not report.missing_columns and not report.notes
        assert set(report.columns) == set(layout.columns(config))
    assert grade_file(out).sheet == layout.BACKPROP  # the first table in the workbook


# -- typed-value sheets ---------------------------------------------------------------------------------


def test_typed_true_run_grades_100_anywhere_on_the_sheet(tmp_path: Path) -> None:
    path = build_typed(tmp_path / "typed.xlsx", course_run(), top=20, left=7)
    report = grade_file(path)
    assert (report.status, report.score, report.header_row, report.iterations) == ("graded", 100.0, 21, 10)
    assert report.eta == 0.5 and report.trajectory_matches


def test_eta_is_inferred_without_a_label_and_a_disagreeing_label_is_said(tmp_path: Path) -> None:
    run = course_run(eta=0.8)
    inferred = grade_file(build_typed(tmp_path / "a.xlsx", run, eta=None))
    assert inferred.score == 100.0 and inferred.eta == pytest.approx(0.8, rel=1e-12)
    disagree = grade_file(build_typed(tmp_path / "b.xlsx", run, eta=0.5))
    assert disagree.eta == 0.5
    assert any("the η cell says 0.5 but the first update used η = 0.8" in n for n in disagree.notes)
    assert set(disagree.wrong_columns) == set(reference.WEIGHTS)


def test_text_and_error_values_where_numbers_belong_are_wrong_cells(tmp_path: Path) -> None:
    edits = {("h1", 3): "#DIV/0!", ("dE/dw2", 5): "see above"}
    report = grade_file(build_typed(tmp_path / "t.xlsx", course_run(), edits=edits))
    assert report.status == "graded"
    assert report.columns["h1"].first_wrong == 3 and report.columns["dE/dw2"].first_wrong == 5
    texts = {d.column: d.text for d in report.diagnoses}
    assert "holds #DIV/0! where a number belongs" in texts["h1"]
    assert "holds the text 'see above' where a number belongs" in texts["dE/dw2"]
    # The carried values stand in for the missing number: nothing after it in the row or below is wrong.
    assert {n for n, c in report.columns.items() if c.wrong} == {"h1", "dE/dw2"}
    assert report.columns["h1"].wrong == 1 and report.columns["dE/dw2"].wrong == 1


def test_a_subset_of_columns_is_graded_and_the_rest_reported_missing(tmp_path: Path) -> None:
    run = course_run()
    keep = ("w1", "w2", "w3", "w4", "w5", "w6", "w7", "w8", "E_total", "dE/dw1", "dE/dw5")
    report = grade_file(build_typed(tmp_path / "s.xlsx", {k: run[k] for k in keep}))
    assert report.score == 100.0
    assert "a_h1" in report.missing_columns and "dE/dw8" in report.missing_columns
    assert "w1" not in report.missing_columns


def test_expected_inputs_check_row_0_against_an_assigned_start(tmp_path: Path) -> None:
    path = build_typed(tmp_path / "s.xlsx", course_run())
    assigned = {**reference.initial_point(Network(w1=0.16)), "eta": 0.5}
    report = grade_file(path, expected_inputs=assigned)
    assert report.columns["w1"].first_wrong == 0 and report.columns["w1"].wrong == 1
    assert grade_file(path, expected_inputs=reference.initial_point(Network())).score == 100.0


def test_a_sheet_written_without_values_names_its_cells(tmp_path: Path) -> None:
    report = grade_file(build(tmp_path / "never-opened.xlsx"))  # openpyxl saves formulas, no values
    assert report.status == "refused" and report.not_calculated
    assert "formulas in the table have no saved values (K8, L8, M8 …" in report.reason
    assert "--recalc" in report.reason


# -- hostile submissions --------------------------------------------------------------------------------


def _minimal_xlsx(path: Path, sheet_xml: bytes, extra_rels: str = "", **parts: bytes) -> Path:
    content_types = (
        '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/></Types>'
    )
    rels = (
        '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
        'officeDocument" Target="xl/workbook.xml"/></Relationships>'
    )
    book = (
        '<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
        '<sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
    )
    book_rels = (
        '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
        f'worksheet" Target="worksheets/sheet1.xml"/>{extra_rels}</Relationships>'
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", content_types)
        z.writestr("_rels/.rels", rels)
        z.writestr("xl/workbook.xml", book)
        z.writestr("xl/_rels/workbook.xml.rels", book_rels)
        z.writestr("xl/worksheets/sheet1.xml", sheet_xml)
        for name, data in parts.items():
            z.writestr(name.replace("__", "/"), data)
    return path


def _sheet_xml(rows: str, doctype: str = "") -> bytes:
    return (
        f'<?xml version="1.0"?>{doctype}<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/'
        f'main"><sheetData>{rows}</sheetData></worksheet>'
    ).encode()


def _header_row() -> str:
    cells = "".join(
        f'<c r="{chr(65 + k)}1" t="inlineStr"><is><t>{n}</t></is></c>'
        for k, n in enumerate(("w1", "w2", "w3", "w4", "w5", "w6", "w7", "w8"))
    )
    return f'<row r="1">{cells}</row>'


def hostile_files(folder: Path) -> dict[str, tuple[Path, str]]:
    """name -> (file, a phrase its refusal must hold)."""
    folder.mkdir(exist_ok=True)
    out = {}

    def add(name: str, path: Path, phrase: str) -> None:
        out[name] = (path, phrase)

    bomb = folder / "bomb.xlsx"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z, z.open("xl/worksheets/sheet1.xml", "w") as f:
        for _ in range(64):
            f.write(bytes(2**20))  # 64 MiB of zeros: ~64 KB compressed
    add("zip bomb", bomb, "zip bomb")
    (folder / "notes.xlsx").write_text("just some text, renamed\n")
    add("not a workbook", folder / "notes.xlsx", "not a zip file")
    cfb = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500)  # an OLE compound file's signature
    encrypted = folder / "locked.xlsx"  # with the stream an encrypted .xlsx keeps its key information in
    encrypted.write_bytes(cfb + "EncryptionInfo".encode("utf-16-le"))
    add("encrypted", encrypted, "encrypted")
    xls = folder / "old.xls"
    xls.write_bytes(cfb + "Workbook".encode("utf-16-le"))
    add(".xls", xls, "save it as .xlsx")
    ods = folder / "calc.ods"
    with zipfile.ZipFile(ods, "w") as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        z.writestr("content.xml", "<office:document-content/>")
    add(".ods", ods, "OpenDocument (.ods) spreadsheet; save it as .xlsx")
    huge = folder / "huge.xlsx"
    with open(huge, "wb") as f:
        f.write(b"PK\x03\x04")
        f.truncate(200 * 2**20)  # sparse: 200 MB on paper, nothing on disk
    add("200 MB", huge, "200 MiB, more than the 64 MiB")
    ext_rel = (
        '<Relationship Id="rId9" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
        'externalLink" Target="externalLinks/externalLink1.xml"/>'
    )
    add(
        "external links",
        _minimal_xlsx(folder / "linked.xlsx", _sheet_xml(_header_row()), ext_rel,
                      xl__externalLinks__externalLink1__xml=b"<externalLink/>"),
        "external links",
    )  # fmt: skip
    for fn in ("WEBSERVICE", "HYPERLINK"):
        book = Workbook()
        book.active["A1"] = (
            f'={fn}("http://example.com/")' if fn == "WEBSERVICE" else '=HYPERLINK("http://x", "x")'
        )
        book.save(folder / f"{fn.lower()}.xlsx")
        add(fn, folder / f"{fn.lower()}.xlsx", f"a {fn} formula")
    # One number a row under the header: 45 MB of XML, read only down to reading.MAX_ROWS.
    rows = "".join(f'<row r="{r}"><c r="A{r}"><v>0.1</v></c></row>' for r in range(2, 1_000_002))
    add(
        "a million rows",
        _minimal_xlsx(folder / "million.xlsx", _sheet_xml(_header_row() + rows)),
        "runs past",
    )
    book = Workbook()
    book.active["A1"] = "My backprop homework (see the picture)"
    book.save(folder / "no-table.xlsx")
    add("no table", folder / "no-table.xlsx", "no table found")
    laughs = (
        '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
        '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
    )
    entity = _sheet_xml('<row r="1"><c r="A1" t="inlineStr"><is><t>&lol3;</t></is></c></row>', laughs)
    add("entity declarations", _minimal_xlsx(folder / "laughs.xlsx", entity), "declares entities")
    broken = _sheet_xml('<row r="1"><c r="A1"><v>1</v></row>')
    add("damaged XML", _minimal_xlsx(folder / "broken.xlsx", broken), "is not well-formed XML")
    return out


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> dict[str, tuple[Path, str]]:
    return hostile_files(tmp_path_factory.mktemp("hostile"))


def test_every_hostile_submission_is_one_refused_line_and_the_batch_goes_on(hostile, tmp_path: Path) -> None:
    good = build_typed(tmp_path / "zz-good.xlsx", course_run())
    paths = [p for p, _ in hostile.values()] + [good]
    reports = grade_many(paths)
    assert len(reports) == len(paths)
    for (name, (path, phrase)), report in zip(hostile.items(), reports, strict=False):
        assert report.file == str(path)
        assert report.status == "refused", name
        assert phrase in report.reason, (name, report.reason)
        assert "\n" not in report.reason
    assert reports[-1].status == "graded" and reports[-1].score == 100.0


def test_the_command_grades_a_folder_and_writes_the_gradebook(hostile, tmp_path: Path, capsys) -> None:
    folder = tmp_path / "class"
    folder.mkdir()
    for path, _ in hostile.values():
        (folder / path.name).symlink_to(path)
    build_typed(folder / "good.xlsx", course_run())
    out, out_csv = tmp_path / "gradebook.xlsx", tmp_path / "gradebook.csv"
    code = cli.main(["grade", str(folder), "--out", str(out), "--csv", str(out_csv), "--json"])
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    objects = [json.loads(line) for line in lines]
    assert len(objects) == len(os.listdir(folder))
    assert {o["status"] for o in objects} == {"graded", "refused"}
    with open(out_csv, encoding="utf-8-sig", newline="") as f:
        assert len(list(csv.reader(f))) == len(objects) + 1
    book = load_workbook(out, read_only=True)
    assert book.sheetnames == [gradebook.GRADES, gradebook.COLUMNS, gradebook.SCORES]
    assert len(list(book[gradebook.GRADES].iter_rows())) == len(objects) + 1


def test_command_mistakes_are_one_line_and_exit_2(tmp_path: Path, capsys) -> None:
    assert cli.main(["grade", str(tmp_path), "--out", str(tmp_path / "missing" / "g.xlsx")]) == 2
    assert cli.main(["grade", str(tmp_path), "--csv", str(tmp_path / "g.txt")]) == 2
    assert cli.main(["grade", str(tmp_path), "--tolerance", "-1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("excelgen grade: error: ") for line in err)


# -- the gradebook ---------------------------------------------------------------------------------------


def _hostile_report() -> Report:
    report = Report(file='=HYPERLINK("http://evil.example","click")', sheet="+cmd|' /C calc'!A0", score=50.0)
    report.diagnoses = [Diagnosis("h1", "=1+1 and @SUM(A1)"), Diagnosis("w1", "-2+3")]
    report.columns = {"h1": ColumnResult(10, 2, 3), "w1": ColumnResult(10, 1, 4), "E1": ColumnResult(10)}
    return report


def test_gradebook_text_stays_text(tmp_path: Path) -> None:
    reports = [_hostile_report(), Report.refused("@evil.xlsx", "=WEBSERVICE(x)")]
    out = tmp_path / "g.xlsx"
    gradebook.write_xlsx(reports, out)
    with zipfile.ZipFile(out) as z:
        sheet = z.read("xl/worksheets/sheet1.xml").decode()
        assert "<f>" not in sheet and "hyperlink" not in sheet.lower().replace("=hyperlink(", "")
        assert not [n for n in z.namelist() if "hyperlink" in n.lower()]
        assert any(n.startswith("xl/charts/chart") for n in z.namelist())  # the score distribution
        assert "colorScale" in z.read("xl/worksheets/sheet2.xml").decode()  # the columns' colour scale
    cells = {c.value: c.data_type for row in load_workbook(out)[gradebook.GRADES].iter_rows() for c in row}
    for text in ('=HYPERLINK("http://evil.example","click")', "=WEBSERVICE(x)", "@evil.xlsx"):
        assert cells[text] == "s"
    assert cells[50.0] == "n"


def test_csv_cells_that_would_be_formulas_get_an_apostrophe() -> None:
    rows = list(csv.reader(io.StringIO(gradebook.csv_text([_hostile_report()]))))
    assert rows[0][0] == "file"
    assert rows[1][0] == '\'=HYPERLINK("http://evil.example","click")'
    assert rows[1][4] == "'+cmd|' /C calc'!A0"
    assert rows[1][2] == "50.0"
    assert gradebook.safe_cell("-2+3") == "'-2+3" and gradebook.safe_cell(-2.0) == -2.0


def test_json_has_the_issue_fields(tmp_path: Path) -> None:
    report = grade_file(build_typed(tmp_path / "s.xlsx", course_run(), edits={("w3", 4): 0.3}))
    obj = json.loads(json.dumps(report.to_json()))
    assert {"file", "status", "reason", "sheet", "header_row", "eta", "iterations", "score", "columns",
            "missing_columns", "diagnoses"} <= set(obj)  # fmt: skip
    assert set(obj["columns"]) <= set(columns.NAMES)
    assert obj["columns"]["w3"] == {"checked": 10, "wrong": 2, "first_wrong": 4}
    assert {"column", "text"} <= set(obj["diagnoses"][0])


def test_reading_stops_at_its_row_limit(tmp_path: Path) -> None:
    rows = "".join(f'<row r="{r}"><c r="A{r}"><v>{r}</v></c></row>' for r in range(1, reading.MAX_ROWS + 50))
    path = _minimal_xlsx(tmp_path / "long.xlsx", _sheet_xml(rows))
    with reading.open_book(path) as book:
        (name, part), *_ = reading.worksheets(book)
        sheet = reading.read_sheet(book, name, part, [])
    assert sheet.truncated and max(sheet.cells) == reading.MAX_ROWS - 1


def test_an_inline_string_is_read_as_a_shared_one(tmp_path: Path) -> None:
    """Excel keeps the reading of Japanese text as phonetic hints (<rPh>) beside the text, in a shared
    string or an inline one: the grader reads the text alone, whichever way the sheet stores it."""
    kanji = '<t>漢字</t><rPh sb="0" eb="2"><t>かんじ</t></rPh>'
    rows = (
        f'<row r="1"><c r="A1" t="inlineStr"><is>{kanji}</is></c>'
        '<c r="B1" t="inlineStr"><is><r><t>w</t></r><r><t>1</t></r></is></c><c r="C1" t="inlineStr"/></row>'
    )
    path = _minimal_xlsx(tmp_path / "inline.xlsx", _sheet_xml(rows))
    with reading.open_book(path) as book:
        (name, part), *_ = reading.worksheets(book)
        sheet = reading.read_sheet(book, name, part, [])
    assert sheet.cells[0] == {0: "漢字", 1: "w1", 2: ""}


def test_the_bench_runs(capsys) -> None:
    from excelgen.grade import bench

    assert bench.main(["--files", "2", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    assert "student sheet, two wrong columns" in out and "class of 2" in out and "2 graded" in out


def test_evaluate_carries_given_values_forward_and_is_unchanged_without_them() -> None:
    point = reference.initial_point(Network())
    plain = reference.evaluate(point)
    assert reference.evaluate(point, {}) == plain
    carried = reference.evaluate(point, {"h1": 0.03})
    assert carried["h1"] == plain["h1"]  # still the formula's value: the given one is what is checked
    assert carried["a_h1"] == reference.sigmoid(0.03)  # computed from the carried h1
    assert carried["h2"] == plain["h2"] and carried["a_h2"] == plain["a_h2"]
    assert carried["dE/dw1"] != plain["dE/dw1"]

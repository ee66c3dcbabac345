"""Class sets (excelgen/classroom/): variants, the folder's bytes, no answer in a student's file, hostile
rosters, and grading a class whose students filled their files (the LibreOffice test at the end)."""

from __future__ import annotations

import json
import re
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest
from class_sheets import fill
from openpyxl import load_workbook

from excelgen.classroom import build, classfile, grading, roster, variants
from excelgen.classroom.cli import main as class_main
from excelgen.classroom.roster import RosterError, Student
from excelgen.cli import main as excelgen_main
from excelgen.model import reference
from excelgen.model.config import WEIGHTS, Config, Training
from excelgen.sheets import layout

ITERATIONS = 6
BASE = Config(training=Training(iterations=ITERATIONS))
ROSTER = [Student("s001", "Ada Lovelace", "ada@uni.example"), Student("s002", "=HYPERLINK(\"http://x\")"),
          Student("s003", "Grace Hopper")]  # fmt: skip


def _write(students, out: Path, seed: str = "2026", **kw) -> classfile.ClassSet:
    cs = build.plan(students, seed, kw.pop("base", BASE), **kw)
    build.write_class(cs, out)
    return cs


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> tuple[Path, classfile.ClassSet]:
    out = tmp_path_factory.mktemp("class") / "class"
    return out, _write(ROSTER, out)


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --- Variants. ----------------------------------------------------------------------------------------------


def test_a_variant_depends_on_the_seed_and_the_id_alone():
    a = variants.draw("2026", "s001", 100)
    assert variants.draw("2026", "s001", 100) == a
    assert variants.draw("2027", "s001", 100) != a
    drawn = [variants.draw("2026", f"s{k:03d}", 100) for k in range(200)]
    assert len({tuple(v.to_json().values()) for v in drawn}) == 200  # different students, different numbers


def test_every_variant_has_two_decimals_and_suits_the_lesson():
    for k in range(100):
        v = variants.draw("x", f"id{k}", 100)
        for value in v.to_json().values():
            assert round(value * 100) == pytest.approx(value * 100, abs=1e-9)
        assert variants.usable(v, 100)
        run = reference.trajectory(v.network, v.eta, 100)
        assert (run["E_total"][1:] < run["E_total"][:-1]).all()
        assert min(run[a].min() for a in ("a_h1", "a_h2", "a_o1", "a_o2")) >= variants.SATURATION
    # and the checks do reject: η so large that the loss cannot fall at every step
    assert not variants.usable(replace(v, eta=50.0), 100)


def test_a_key_is_the_variants_config():
    v = variants.draw("2026", "s001", ITERATIONS)
    config = v.config(BASE)
    assert config.network == v.network and config.training.learning_rates == (v.eta,)
    swept = v.config(BASE, sweep=True)
    assert swept.training.learning_rates[0] == v.eta and set(BASE.training.learning_rates) <= set(
        swept.training.learning_rates
    )


# --- The folder. --------------------------------------------------------------------------------------------


def test_the_folder_holds_a_student_file_a_key_and_class_json(made):
    out, cs = made
    assert sorted(p.name for p in (out / "students").iterdir()) == ["s001.xlsx", "s002.xlsx", "s003.xlsx"]
    assert sorted(p.name for p in (out / "keys").iterdir()) == ["s001.xlsx", "s002.xlsx", "s003.xlsx"]
    again = classfile.read(out)
    assert replace(again, base=replace(again.base, source=cs.base.source)) == cs


def test_same_roster_and_seed_same_bytes_and_a_new_student_changes_nobody_elses(made, tmp_path):
    out, _ = made
    _write(ROSTER, tmp_path / "again")
    assert _tree(tmp_path / "again") == _tree(out)
    _write([*ROSTER, Student("s004", "Late Comer")], tmp_path / "again")
    after = _tree(tmp_path / "again")
    before = _tree(out)
    for name in before:
        if name != "class.json":
            assert after[name] == before[name], name
    assert "students/s004.xlsx" in after and "keys/s004.xlsx" in after


def test_worker_processes_write_the_same_bytes(tmp_path, monkeypatch):
    students = [Student(f"p{k}") for k in range(9)]
    monkeypatch.setattr(build, "_cores", lambda: 2)
    _write(students, tmp_path / "two")
    monkeypatch.setattr(build, "_cores", lambda: 1)
    _write(students, tmp_path / "one")
    assert _tree(tmp_path / "two") == _tree(tmp_path / "one")


def test_another_seed_is_refused_and_the_folder_is_unchanged(made, tmp_path):
    out = tmp_path / "c"
    _write(ROSTER[:1], out)
    (out / "gradebook.csv").write_text("kept")
    before = _tree(out)
    with pytest.raises(classfile.ClassError, match="seed '2026', not '7'"):
        _write(ROSTER[:1], out, seed="7")
    assert _tree(out) == before
    _write(ROSTER[:2], out)  # the same seed updates it, and keeps what else the folder holds
    assert (out / "gradebook.csv").read_text() == "kept" and (out / "students" / "s002.xlsx").exists()


def test_a_folder_of_other_files_is_refused(tmp_path, capsys):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.docx").write_text("x")
    csv = tmp_path / "r.csv"
    csv.write_text("id\ns1\n")
    assert class_main([str(csv), "--out", str(tmp_path / "mine"), "--seed", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert "not a class folder" in err and "\n" not in err
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["thesis.docx"]


# --- No answer in a student's file. ---------------------------------------------------------------------


def renderings(x: float) -> set[str]:
    """How a number may be written in a part: Python's and xlsxwriter's shortest and 15-17 digit forms, the
    documents' nine decimals, and shorter significant forms down to 8 digits."""
    forms = {repr(x), f"{x:.17g}", f"{x:.16g}", f"{x:.15g}", f"{x:.12g}", f"{x:.10g}", f"{x:.9f}", f"{x:.8g}"}
    return {f for f in forms if len(f.lstrip("-0.")) >= 6}  # long enough not to occur by chance


def answers(cs: classfile.ClassSet, student_id: str) -> set[str]:
    """The numbers a student must compute: every forward value, error and gradient of every iteration, and
    every updated weight, as the key caches them."""
    v = cs.variants[student_id]
    run = reference.trajectory(v.network, v.eta, ITERATIONS)
    out: set[str] = set()
    for name, values in run.items():
        first = 1 if name in (*WEIGHTS, "b1", "b2") else 0
        if name in ("t1", "t2", "i1", "i2", "b1", "b2"):
            continue
        for x in values[first:].tolist():
            out |= renderings(x)
    return out


def parts_text(path: Path) -> dict[str, str]:
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name).decode("utf-8", "replace") for name in z.namelist()}


def found_answers(path: Path, numbers: set[str]) -> list[tuple[str, str]]:
    pattern = re.compile(
        r"(?<![0-9.])("
        + "|".join(re.escape(n) for n in sorted(numbers, key=len, reverse=True))
        + r")(?![0-9])"
    )
    return [(part, m.group(1)) for part, text in parts_text(path).items() for m in pattern.finditer(text)]


def test_no_answer_in_any_part_of_a_student_file(made):
    out, cs = made
    for s in cs.students:
        numbers = answers(cs, s.id)
        # The search finds them where they are: the key caches every one.
        assert len({n for _, n in found_answers(out / "keys" / f"{s.id}.xlsx", numbers)}) > 100
        assert found_answers(out / "students" / f"{s.id}.xlsx", numbers) == [], s.id


def test_a_student_file_holds_its_inputs_named_its_id_and_nothing_computed(made):
    out, cs = made
    path = out / "students" / "s002.xlsx"
    parts = parts_text(path)
    assert "xl/charts/chart1.xml" not in parts and not any("calcChain" in p for p in parts)
    assert 'name="excelgen_student_id"><vt:lpwstr>s002<' in parts["docProps/custom.xml"]
    book = load_workbook(path)
    assert book.sheetnames == [layout.BACKPROP, layout.INSTRUCTIONS]
    sheet = book[layout.BACKPROP]
    assert sheet.cell(layout.STUDENT_ID_CELL[0] + 1, layout.STUDENT_ID_CELL[1] + 1).value == "s002"
    name_cell = sheet.cell(layout.STUDENT_NAME_CELL[0] + 1, layout.STUDENT_NAME_CELL[1] + 1)
    assert name_cell.value == '=HYPERLINK("http://x")' and name_cell.data_type == "s"  # text stays text
    v = cs.variants["s002"]
    wanted = {**{f"input_{n}": getattr(v.network, n) for n in ("i1", "i2")}, "eta": v.eta}
    wanted |= {f"target_{n}": getattr(v.network, n) for n in ("t1", "t2")}
    wanted |= {f"init_{w}": getattr(v.network, w) for w in WEIGHTS} | {"bias_b1": 0.0, "bias_b2": 0.0}
    assert set(book.defined_names) == set(wanted)
    for name, value in wanted.items():
        ((title, ref),) = book.defined_names[name].destinations
        assert book[title][ref.replace("$", "")].value == value
    # The table: its header, iteration numbers, and not one value in its cells.
    header = [
        sheet.cell(layout.HEADER_ROW + 1, layout.column(BASE, n) + 1).value for n in layout.columns(BASE)
    ]
    assert header == [layout.header(n) for n in layout.columns(BASE)]
    for k in range(ITERATIONS + 1):
        row = layout.data_row(k) + 1
        assert sheet.cell(row, 1).value == k
        assert all(sheet.cell(row, layout.column(BASE, n) + 1).value is None for n in layout.columns(BASE))


# --- Hostile rosters. -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"id,name\ns1,A\nS1,B\n", "already on line 2"),
        (b"id,name\n,A\n", "empty"),
        (b"id\n../etc\n", "cannot be a file name"),
        (b"id\na/b\n", "cannot be a file name"),
        (b"id\na\x07b\n", "cannot be a file name"),
        (b"id\n" + b"x" * 300 + b"\n", "longer than 64"),
        (b"id\nCON\n", "Windows reserves"),
        (b"id,name\ns1,Andr\xe9\n", "not UTF-8"),
        (b"id\n" + b"".join(b"s%d\n" % k for k in range(10_000)), "more than 1,000 students"),
        (b"name,email\nA,a@x\n", "no student id column"),
        (b"", "empty"),
        (b"id\n\n", "no students"),
        (b"id\ns1\x00\n", "NUL"),
    ],
)
def test_a_hostile_roster_is_refused_in_one_line(tmp_path, capsys, data, message):
    csv = tmp_path / "roster.csv"
    csv.write_bytes(data)
    with pytest.raises(RosterError, match=re.escape(message)):
        roster.read(csv)
    assert class_main([str(csv), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("excelgen class: error: ") and message in err
    assert not (tmp_path / "out").exists()


def test_roster_headers_are_tolerant():
    text = "\ufeffStudent;SIS User ID;Email Address\nLovelace, Ada;ada1;ada@x\n"
    assert roster.parse(text) == [Student("ada1", "Lovelace, Ada", "ada@x")]
    text = "First Name,Last Name,Username\nGrace,Hopper,gh\n"
    assert roster.parse(text) == [Student("gh", "Grace Hopper", "")]


# --- Grading a class. -----------------------------------------------------------------------------------


@pytest.mark.libreoffice
def test_a_class_graded_filled_files_get_their_grades_and_flags(made, tmp_path, capsys):
    out, cs = made
    subs = tmp_path / "submissions"
    subs.mkdir()
    students = out / "students"
    fill(students / "s001.xlsx", subs / "s001.xlsx")  # right, with formulas
    v2 = cs.variants["s002"].network
    fill(students / "s002.xlsx", subs / "Hopper_s002_attempt.xlsx", typed=v2)  # right, typed values
    fill(students / "s003.xlsx", subs / "s003.xlsx", mistake="no_half")  # E1, E2 without the ½
    folder = tmp_path / "class"
    import shutil

    shutil.copytree(out, folder)
    code = excelgen_main(["grade", "--class", str(folder), "--recalc", *map(str, sorted(subs.iterdir()))])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    grades = grading.load_grades(folder)
    assert grades["s001"][0].score == 100 and grades["s001"][1] == []
    assert grades["s002"][0].score == 100 and grades["s002"][1] == []
    report = grades["s003"][0]
    assert report.score < 100 and {d.mistake for d in report.diagnoses} == {"no_half"}
    rows = list((folder / "gradebook.csv").read_text(encoding="utf-8-sig").splitlines())
    assert rows[0].startswith("student,name,flags,file,status,score")
    assert [r.split(",")[0] for r in rows[1:]] == ["s001", "s002", "s003"]
    assert "'=HYPERLINK" in rows[2]  # the CSV's injection guard on the roster's name

    # A copy of s001's work handed in as s003's: flagged, graded against s003's numbers; it replaces s003's
    # row. A file whose name has no id is known by the id the workbook carries; one with no id anywhere (a
    # key, renamed) is listed after the roster, flagged.
    shutil.copy(subs / "s001.xlsx", subs / "s003.xlsx")
    shutil.copy(subs / "s001.xlsx", subs / "my work.xlsx")
    shutil.copy(out / "keys" / "s002.xlsx", subs / "stranger.xlsx")
    paths = [str(subs / name) for name in ("s003.xlsx", "my work.xlsx", "stranger.xlsx")]
    code = excelgen_main(["grade", "--class", str(folder), "--recalc", *paths])
    assert code == 0
    grades = grading.load_grades(folder)
    assert grades["s001"][0].score == 100 and grades["s001"][0].file.endswith("my work.xlsx")
    flags = " ".join(grades["s003"][1])
    assert "the workbook names 's001' as its student" in flags
    assert "its inputs are those of 's001', not of 's003': a copied file?" in flags
    book = load_workbook(folder / "gradebook.xlsx")
    sheet = book["Gradebook"]
    ids = [sheet.cell(r, 1).value for r in range(2, sheet.max_row + 1)]
    assert ids == ["s001", "s002", "s003", "?"]
    assert sheet.cell(3, 2).value == '=HYPERLINK("http://x")' and sheet.cell(3, 2).data_type == "s"


def test_a_class_with_missing_and_unknown_submissions(made, tmp_path):
    out, cs = made
    folder = tmp_path / "class"
    import shutil

    shutil.copytree(out, folder)
    (tmp_path / "notes.xlsx").write_bytes((out / "keys" / "s002.xlsx").read_bytes())
    (tmp_path / "s002.xlsx").write_bytes((out / "keys" / "s002.xlsx").read_bytes())
    entries = grading.grade_submissions(cs, [tmp_path / "s002.xlsx", tmp_path / "notes.xlsx"])
    assert entries[0].student.id == "s002" and entries[0].report.score == 100 and entries[0].flags == []
    assert entries[1].student is None and "no roster id" in entries[1].flags[0]
    rows = grading.record(cs, folder, entries)
    assert [(r.student.id if r.student else "?", r.report.status) for r in rows] == [
        ("s001", "missing"), ("s002", "graded"), ("s003", "missing"), ("?", "graded")
    ]  # fmt: skip
    data = json.loads((folder / "grades.json").read_text())
    assert sorted(data["grades"]) == ["s002"]


def test_a_file_handed_back_blank_is_refused_as_empty(made, tmp_path):
    out, cs = made
    blank = tmp_path / "s001.xlsx"
    blank.write_bytes((out / "students" / "s001.xlsx").read_bytes())
    (entry,) = grading.grade_submissions(cs, [blank])
    assert entry.student.id == "s001" and entry.flags == []
    assert entry.report.status == "refused" and entry.report.reason.startswith("the table is empty")


@pytest.mark.parametrize(
    "damage",
    [
        lambda text: text[: len(text) // 2],
        lambda text: text.replace('"i1": 0', '"i1": NaN', 1),
        lambda text: text.replace('"id": "s001"', '"id": "../s001"', 1),
        lambda text: text.replace('"version": 1', '"version": 9', 1),
    ],
)
def test_a_damaged_class_json_is_refused_in_one_line(made, tmp_path, capsys, damage):
    out, _ = made
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "class.json").write_text(damage((out / "class.json").read_text()))
    assert excelgen_main(["grade", "--class", str(folder), str(out / "keys" / "s001.xlsx")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "class.json" in err and "rebuild it with `excelgen class`" in err

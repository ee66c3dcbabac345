"""What is the user's stays the user's (issue 20; issue 17, point 10): a program replaces only the sheets and
defined names it wrote, whatever the workbook went through since (custom properties stripped, a LibreOffice or
Gnumeric round trip); a name or a sheet it needs that is the user's, a locked structure and a Strict OOXML
file are one-line refusals with the file byte-identical; edited inputs are reported; backups rotate, whole.

Users' workbooks are built as users make them: excelgen and `trainer export`, then openpyxl or xlsxwriter for
the user's own edits, then saved by LibreOffice or Gnumeric."""

from __future__ import annotations

import functools
import io
import os
import re
import shutil
import zipfile
from pathlib import Path

import pytest
import xlsxwriter
from openpyxl import load_workbook
from openpyxl.packaging.custom import StringProperty
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.workbook.protection import WorkbookProtection
from spreadsheet import (
    error_cells,
    gnumeric_convert,
    libreoffice_recalc,
    libreoffice_recalc_many,
    set_named_cells_keep_cache,
)
from test_export import write_run

from excelgen import cli
from excelgen.assemble import OWNER as EXCELGEN
from excelgen.model.config import Config, ConfigError, Training
from excelgen.sheets import layout
from trainer.errors import UserError
from trainer.export import export_run
from trainer.export.run import OWNER as TRAINER
from xlsxedit import files, ownership, writer
from xlsxedit.package import Package

SMALL = Config(training=Training(learning_rates=(0.1, 0.5), iterations=5))
OTHER = Config(training=Training(learning_rates=(0.3,), iterations=5))


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith((".tmp", ".lock")))


def backups(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".bak" in p.name)


def course_workbook(path: Path, run: Path) -> Path:
    """excelgen's workbook with one run exported into it."""
    cli.generate(SMALL, path)
    export_run(write_run(run, [97.0, 98.0]), path)
    return path


def names(path: Path) -> dict[tuple[str, int | None], str]:
    """(name, localSheetId) -> text of every defined name, as the file holds them."""
    with Package(path) as book:
        return {(d.name, d.local_sheet): d.text for d in book.defined_names()}


def owners(path: Path) -> tuple[list[str], list[str]]:
    """(excelgen's sheets, the trainer's sheets), as each program tells them (legacy rules included)."""
    with Package(path) as book:
        return EXCELGEN.sheets(book), TRAINER.sheets(book)


def strip_custom_properties(src: Path, dst: Path) -> Path:
    """A copy without docProps/custom.xml, its relationship and content type: what an export through a
    program that does not keep custom document properties leaves."""
    with zipfile.ZipFile(src) as old, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as new:
        for info in old.infolist():
            if info.filename == "docProps/custom.xml":
                continue
            data = old.read(info)
            if info.filename in ("_rels/.rels", "[Content_Types].xml"):
                data = re.sub(rb"<(?:Relationship|Override)\b[^>]*custom[^>]*/>", b"", data)
            new.writestr(info, data)
    with Package(dst) as book:
        assert ownership.custom_property_names(book) == []
    return dst


def expect_refusal(refused: pytest.ExceptionInfo, *fragments: str) -> None:
    message = str(refused.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


# -- 1. names: a program claims only the names it wrote ------------------------------------------------------


def users_model(path: Path) -> Path:
    """A user's own workbook whose names `eta` and `init_w1` point at their sheet 'My model'."""
    book = xlsxwriter.Workbook(path)
    sheet = book.add_worksheet("My model")
    sheet.write("A2", "eta")
    sheet.write("B2", 0.01)
    sheet.write("B3", 0.9)
    sheet.write_formula("C2", "=eta*100", None, 1.0)
    book.define_name("eta", "='My model'!$B$2")
    book.define_name("init_w1", "='My model'!$B$3")
    book.close()
    return path


@pytest.mark.libreoffice
def test_excelgen_refuses_a_users_name_it_needs_and_leaves_the_file(tmp_path: Path) -> None:
    saved = libreoffice_recalc(users_model(tmp_path / "mine.xlsx"), tmp_path / "lo")
    book = shutil.copy(saved, tmp_path / "book.xlsx")
    before = book.read_bytes()
    with pytest.raises(ConfigError) as refused:
        cli.generate(SMALL, book)
    # Both names are in the one line: the user's (where it points) and the one excelgen needs.
    expect_refusal(refused, "'eta' (= 'My model'!$B$2) that excelgen did not write", "needs the name 'eta'")
    assert "Backprop" in str(refused.value)
    assert book.read_bytes() == before
    assert leftovers(tmp_path) == [] and backups(tmp_path) == []


@pytest.mark.libreoffice
def test_the_trainer_keeps_a_users_mnist_names_and_their_formulas_work(tmp_path: Path) -> None:
    book = course_workbook(tmp_path / "book.xlsx", tmp_path / "runs" / "a")
    wb = load_workbook(book)  # the user's edit: a sheet of goals, a name of theirs, formulas on both
    goals = wb.create_sheet("Goals")
    goals["A1"] = 0.99
    goals["B1"] = "=mnist_goal*2"
    goals["C1"] = "=mnist_best"
    wb.defined_names["mnist_goal"] = DefinedName("mnist_goal", attr_text="Goals!$A$1")
    wb.defined_names["mnist_best"] = DefinedName("mnist_best", attr_text="MNIST!$A$1")  # into the trainer's
    wb.save(book)
    saved = libreoffice_recalc(book, tmp_path / "lo")
    shutil.copy(saved, book)
    theirs = {k: v for k, v in names(book).items() if k[0] in ("mnist_goal", "mnist_best")}
    assert len(theirs) == 2

    export_run(write_run(tmp_path / "runs" / "b", [98.5]), book)
    export_run(write_run(tmp_path / "runs" / "c", [99.0]), book)

    assert {k: v for k, v in names(book).items() if k[0] in ("mnist_goal", "mnist_best")} == theirs
    assert owners(book)[1] == ["MNIST", "Runs"]
    values = load_workbook(libreoffice_recalc(book, tmp_path / "lo2"), data_only=True)["Goals"]
    assert values["B1"].value == pytest.approx(1.98)
    assert str(values["C1"].value).startswith("MNIST: ")


def test_a_users_constant_name_survives_a_regeneration_that_could_write_a_new_file(tmp_path: Path) -> None:
    book = tmp_path / "book.xlsx"
    cli.generate(SMALL, book)
    wb = load_workbook(book)  # every sheet is still excelgen's: only a name is the user's
    wb.defined_names["tax"] = DefinedName("tax", attr_text="0.2")
    wb.save(book)
    cli.generate(OTHER, book)
    assert names(book)[("tax", None)] == "0.2"
    assert owners(book)[0] == ["Backprop", "η=0.3", "LR sweep", "Check"]


def test_a_users_custom_property_survives_even_when_it_looks_like_a_record(tmp_path: Path) -> None:
    book = tmp_path / "book.xlsx"
    cli.generate(SMALL, book)
    wb = load_workbook(book)  # every sheet and name is still excelgen's: only a property is the user's
    wb.custom_doc_props.append(StringProperty(name="Balance sheet 1", value="Q3"))
    wb.save(book)
    cli.generate(OTHER, book)
    with Package(book) as package:
        assert ownership.custom_properties(package)["Balance sheet 1"] == "Q3"
    assert owners(book)[0] == ["Backprop", "η=0.3", "LR sweep", "Check"]


def test_every_name_excelgen_defines_is_one_it_claims() -> None:
    # A name it writes but does not claim would be taken for the user's at the next regeneration (a refusal).
    for config in (SMALL, OTHER, Config()):
        assert [n for n in layout.named_cells(config) if not EXCELGEN.owns_name(n)] == []


# -- 2. sheets: only the very sheet the program wrote --------------------------------------------------------


@pytest.mark.libreoffice
def test_a_deleted_and_re_created_sheet_is_the_users(tmp_path: Path) -> None:
    book = course_workbook(tmp_path / "book.xlsx", tmp_path / "runs" / "a")
    wb = load_workbook(book)
    for name, text in (("Check", "my own check"), ("MNIST", "MNIST: my notes on the run")):
        index = wb.sheetnames.index(name)
        wb.remove(wb[name])
        wb.create_sheet(name, index)["A1"] = text
    wb.save(book)
    shutil.copy(libreoffice_recalc(book, tmp_path / "lo"), book)
    # The custom properties still list Check and MNIST; the sheets themselves carry no mark.
    with Package(book) as package:
        assert "Check" in ownership.recorded_sheets(package, "excelgen")
        assert "MNIST" in ownership.recorded_sheets(package, "trainer")
    assert owners(book) == (["Backprop", "η=0.1", "η=0.5", "LR sweep"], ["Runs"])
    before, kept = book.read_bytes(), backups(tmp_path)

    with pytest.raises(ConfigError) as refused:
        cli.generate(SMALL, book)
    expect_refusal(refused, "has a sheet 'Check' that excelgen did not write")
    with pytest.raises(UserError) as refused:
        export_run(write_run(tmp_path / "runs" / "b", [98.5]), book)
    expect_refusal(refused, "has a sheet 'MNIST' that trainer did not write")
    assert book.read_bytes() == before
    assert leftovers(tmp_path) == [] and backups(tmp_path) == kept


def with_mark(path: Path, sheet: str, mark: ownership.Mark) -> None:
    """Put `mark` in the scope of `sheet` (replacing its own), as a copy of a marked sheet carries one."""
    with Package(path) as book:
        index = book.sheet_names().index(sheet)
        elements = [
            d.span.xml
            for d in book.defined_names()
            if (d.name, d.local_sheet) != (ownership.MARK_NAME, index)
        ]
        value = ownership.mark_formula(mark.owner, mark.token, mark.sheet).replace('"', "&quot;")
        elements.append(
            f'<definedName name="{ownership.MARK_NAME}" localSheetId="{index}">{value}</definedName>'
        )
        book.write_defined_names(elements)
        data = book.to_bytes()
    path.write_bytes(data)


def test_a_copy_of_a_sheet_or_a_sheet_from_another_workbook_is_not_the_programs(tmp_path: Path) -> None:
    book = tmp_path / "book.xlsx"
    cli.generate(SMALL, book)
    with Package(book) as package:
        check = ownership.sheet_marks(package)["Check"]
    wb = load_workbook(book)
    wb.create_sheet("Check (2)")["A1"] = "my copy, edited"
    wb.save(book)
    with_mark(book, "Check (2)", check)  # Excel's Move or Copy keeps the sheet's local names
    assert owners(book)[0] == ["Backprop", "η=0.1", "η=0.5", "LR sweep", "Check"]
    cli.generate(OTHER, book)
    assert load_workbook(book)["Check (2)"]["A1"].value == "my copy, edited"

    with_mark(book, "Check", ownership.Mark("excelgen", "0123456789ab", "Check"))  # another workbook's Check
    assert "Check" not in owners(book)[0]
    with pytest.raises(ConfigError) as refused:
        cli.generate(OTHER, book)
    expect_refusal(refused, "has a sheet 'Check' that excelgen did not write")


def test_the_trainers_a1_rule_is_not_applied_to_a_workbook_with_records(tmp_path: Path) -> None:
    book = tmp_path / "book.xlsx"
    cli.generate(SMALL, book)  # excelgen's records, none of the trainer's yet
    wb = load_workbook(book)
    wb.create_sheet("MNIST")["A1"] = "MNIST: my notes, not a run"
    wb.save(book)
    before = book.read_bytes()
    with pytest.raises(UserError) as refused:
        export_run(write_run(tmp_path / "runs" / "a", [98.0]), book)
    expect_refusal(refused, "has a sheet 'MNIST' that trainer did not write")
    assert book.read_bytes() == before


# -- issue 17, point 10: ownership survives round trips that drop custom properties --------------------------


def user_notes(book: Path) -> None:
    """The user's own sheet with formulas into excelgen's and the trainer's sheets, and a name of theirs."""
    wb = load_workbook(book)
    notes = wb.create_sheet("Notes")
    notes["A1"] = 0.25
    notes["B1"] = "=Backprop!E4*2"
    notes["C1"] = "=init_w1+my_rate"
    notes["D1"] = "=MNIST!A1"
    wb.defined_names["my_rate"] = DefinedName("my_rate", attr_text="Notes!$A$1")
    wb.save(book)


ROUND_TRIPS = {
    "custom properties stripped": lambda src, dst: strip_custom_properties(src, dst),
    "libreoffice": lambda src, dst: shutil.copy(libreoffice_recalc(src, dst.parent / "lo"), dst),
    "gnumeric": lambda src, dst: gnumeric_convert(src, dst),
}


@pytest.mark.libreoffice
@pytest.mark.parametrize(
    "trip",
    [
        "custom properties stripped",
        "libreoffice",
        pytest.param("gnumeric", marks=pytest.mark.gnumeric),
    ],
)
def test_ownership_survives_a_round_trip_and_the_users_sheet_stays(tmp_path: Path, trip: str) -> None:
    book = course_workbook(tmp_path / "book.xlsx", tmp_path / "runs" / "a")
    user_notes(book)
    travelled = Path(ROUND_TRIPS[trip](book, tmp_path / "travelled.xlsx"))
    assert owners(travelled) == (["Backprop", "η=0.1", "η=0.5", "LR sweep", "Check"], ["MNIST", "Runs"])
    formulas = [c.value for c in load_workbook(travelled)["Notes"][1]]

    cli.generate(OTHER, travelled)
    export_run(write_run(tmp_path / "runs" / "b", [98.5]), travelled)

    assert owners(travelled) == (["Backprop", "η=0.3", "LR sweep", "Check"], ["MNIST", "Runs"])
    wb = load_workbook(travelled)
    assert wb.sheetnames == ["Backprop", "η=0.3", "LR sweep", "Check", "MNIST", "Runs", "Notes"]
    assert (
        [c.value for c in wb["Notes"][1]]
        == formulas
        == [0.25, "=Backprop!E4*2", "=init_w1+my_rate", "=MNIST!A1"]
    )
    assert names(travelled)[("my_rate", None)] == "Notes!$A$1"
    assert len(list(wb["Runs"].values)) == 3  # the first run's row kept, the second appended
    recalculated = libreoffice_recalc(travelled, tmp_path / "lo2")
    assert error_cells(recalculated) == []
    values = [c.value for c in load_workbook(recalculated, data_only=True)["Notes"][1]]
    assert values[:3] == pytest.approx([0.25, 0.3, 0.4])
    assert values[3].startswith("MNIST: ")


def test_workbooks_with_no_record_at_all_are_still_recognised(tmp_path: Path) -> None:
    book = course_workbook(tmp_path / "book.xlsx", tmp_path / "runs" / "a")
    old = strip_custom_properties(book, tmp_path / "old.xlsx")
    with Package(old) as package:  # and the marks: a workbook from before any record
        elements = [d.span.xml for d in package.defined_names() if d.name != ownership.MARK_NAME]
        package.write_defined_names(elements)
        package.save(tmp_path / "older.xlsx")
    older = tmp_path / "older.xlsx"
    with Package(older) as package:
        assert not ownership.has_records(package)
    assert owners(older) == (["Backprop", "η=0.1", "η=0.5", "LR sweep", "Check"], ["MNIST", "Runs"])
    cli.generate(OTHER, older)
    export_run(write_run(tmp_path / "runs" / "b", [99.0]), older)
    assert owners(older) == (["Backprop", "η=0.3", "LR sweep", "Check"], ["MNIST", "Runs"])


# -- 3, 4. what the writer cannot edit: a locked structure, Strict OOXML -------------------------------------


def test_a_locked_structure_is_refused_and_the_file_unchanged(tmp_path: Path) -> None:
    book = course_workbook(tmp_path / "book.xlsx", tmp_path / "runs" / "a")
    wb = load_workbook(book)
    wb.security = WorkbookProtection(lockStructure=True)
    wb.save(book)
    before, kept = book.read_bytes(), backups(tmp_path)
    with pytest.raises(ConfigError) as refused:
        cli.generate(SMALL, book)
    expect_refusal(refused, "structure is locked", "Review ▸ Protect Workbook", "Tools ▸ Protect Spreadsheet")
    with pytest.raises(UserError) as refused:
        export_run(write_run(tmp_path / "runs" / "b", [98.5]), book)
    expect_refusal(refused, "structure is locked", "Review ▸ Protect Workbook")
    assert book.read_bytes() == before
    assert leftovers(tmp_path) == [] and backups(tmp_path) == kept


def strict(src: bytes) -> bytes:
    """An ISO Strict workbook: the transitional namespaces and relationship types swapped for Strict ones,
    as Excel writes "Strict Open XML Spreadsheet"."""
    swaps = {
        b"http://schemas.openxmlformats.org/spreadsheetml/2006/main": b"http://purl.oclc.org/ooxml/spreadsheetml/main",
        b"http://schemas.openxmlformats.org/officeDocument/2006/relationships": (
            b"http://purl.oclc.org/ooxml/officeDocument/relationships"
        ),
    }
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(src)) as old, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as new:
        for info in old.infolist():
            data = old.read(info)
            for a, b in swaps.items():
                data = data.replace(a, b)
            new.writestr(info, data)
    return out.getvalue()


def test_a_strict_ooxml_workbook_gets_a_message_that_says_what_to_do(tmp_path: Path) -> None:
    source = tmp_path / "mine.xlsx"
    users_model(source)
    book = tmp_path / "book.xlsx"
    book.write_bytes(strict(source.read_bytes()))
    before = book.read_bytes()
    with pytest.raises(ConfigError) as refused:
        cli.generate(SMALL, book)
    expect_refusal(refused, "Strict Open XML", 'save it as an ordinary .xlsx ("Excel Workbook")')
    assert "no workbook part" not in str(refused.value)
    with pytest.raises(UserError) as refused:
        export_run(write_run(tmp_path / "runs" / "a", [98.0]), book)
    expect_refusal(refused, "Strict Open XML")
    assert book.read_bytes() == before and backups(tmp_path) == []


# -- 5. edited inputs are named when regenerating replaces them ----------------------------------------------


def test_regenerating_over_edited_inputs_says_which_and_where_the_previous_file_is(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    book = tmp_path / "book.xlsx"
    argv = ["--out", str(book), "--lr", "0.1", "0.5", "--iterations", "5"]
    assert cli.main(argv) == 0
    assert "previous file" not in capsys.readouterr().out  # a new file replaces nothing

    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert f"the previous file is {tmp_path / 'book.bak.1.xlsx'}" in out and "replaced inputs" not in out

    edited = tmp_path / "edited.xlsx"
    set_named_cells_keep_cache(book, edited, {"init_w1": 0.2, "eta": 5.0})
    os.replace(edited, book)
    edited_bytes = book.read_bytes()
    assert cli.main(argv) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if "replaced inputs" in line)
    assert "init_w1 0.2 → 0.15" in line and "eta 5 → 0.1" in line
    assert f"(the previous file is {tmp_path / 'book.bak.1.xlsx'})" in line
    assert (tmp_path / "book.bak.1.xlsx").read_bytes() == edited_bytes


def test_the_trainer_says_where_the_previous_file_is(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from trainer import cli as trainer_cli

    book = tmp_path / "book.xlsx"
    cli.generate(SMALL, book)
    run = write_run(tmp_path / "runs" / "a", [98.0])
    assert trainer_cli.main(["export", "--run", str(run), "--workbook", str(book)]) == 0
    assert (
        capsys.readouterr().out.strip()
        == f"Added {run} to {book} (the previous file is {tmp_path / 'book.bak.1.xlsx'})"
    )


# -- 6. backups: the last five versions, each whole ----------------------------------------------------------


@functools.cache  # xlsxwriter stamps the time: one file per version
def version(k: int) -> bytes:
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    book.add_worksheet(f"Version {k}").write(0, 0, k)
    book.close()
    return out.getvalue()


def write_version(target: Path, k: int) -> None:
    def change(existing: Package | None, folder: Path) -> Path:
        new = folder / "new.xlsx"
        new.write_bytes(version(k))
        return new

    writer.update_workbook(target, change)


def test_backups_keep_the_last_five_versions_newest_first(tmp_path: Path) -> None:
    target = tmp_path / "book.xlsx"
    for k in range(8):
        write_version(target, k)
        kept = [p for p in writer.backup_paths(target) if p.exists()]
        assert [p.read_bytes() for p in kept] == [version(j) for j in range(k - 1, max(k - 6, -1), -1)]
    assert target.read_bytes() == version(7)
    assert backups(tmp_path) == [f"book.bak.{k}.xlsx" for k in range(1, 6)]
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("fail_at", [1, 3, 5])
def test_a_rotation_stopped_midway_leaves_only_whole_versions(
    tmp_path: Path, monkeypatch, fail_at: int
) -> None:
    target = tmp_path / "book.xlsx"
    for k in range(6):
        write_version(target, k)
    calls = {"n": 0}
    real_replace = os.replace

    def replace(src, dst):  # Ctrl-C arrives before the fail_at-th rename of the write
        calls["n"] += 1
        if calls["n"] == fail_at:
            raise KeyboardInterrupt
        real_replace(src, dst)

    monkeypatch.setattr(files.os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        write_version(target, 6)
    monkeypatch.setattr(files.os, "replace", real_replace)
    assert target.read_bytes() == version(5)
    earlier = {version(k) for k in range(6)}
    assert all(p.read_bytes() in earlier for p in writer.backup_paths(target) if p.exists())
    assert leftovers(tmp_path) == []
    write_version(target, 6)  # the next write rotates on
    assert target.read_bytes() == version(6) and writer.backup_path(target).read_bytes() == version(5)


@pytest.mark.libreoffice
def test_backups_open_in_libreoffice(tmp_path: Path) -> None:
    target = tmp_path / "book.xlsx"
    for k in range(3):
        write_version(target, k)
    reopened = libreoffice_recalc_many([p for p in writer.backup_paths(target) if p.exists()], tmp_path)
    assert [load_workbook(p).sheetnames for p in reopened] == [["Version 1"], ["Version 0"]]

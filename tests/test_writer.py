"""The one workbook writer (xlsxedit/writer.py) and what it promises every user's file: concurrent writers all
land, a symlink stays a link, an interrupted write (Ctrl-C, SIGTERM, kill -9) leaves the old file and no
temporary file, regenerating keeps every sheet that is not excelgen's, and a hostile file is refused."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import time
import tracemalloc
import zipfile
from pathlib import Path

import pytest
import xlsxwriter
from openpyxl import load_workbook
from spreadsheet import _sheet_parts, error_cells, libreoffice_recalc, set_named_cells_keep_cache
from test_export import write_run

from excelgen import cli
from excelgen.model.config import Config, ConfigError, Training
from excelgen.sheets import layout
from trainer.errors import UserError
from trainer.export import MNIST_SHEET, RUNS_SHEET, export_run
from trainer.export.runs import existing_headers
from xlsxedit import files, writer
from xlsxedit.graft import put_sheet
from xlsxedit.ownership import has_records, recorded_sheets
from xlsxedit.package import Limits, Package, PackageError

ROOT = Path(__file__).resolve().parents[1]
SMALL = Config(training=Training(learning_rates=(0.1, 0.5), iterations=5))


def generate(path: Path, config: Config = SMALL) -> Path:
    cli.generate(config, path)
    return path


def user_sheet_workbook(name: str, text: str) -> bytes:
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    sheet = book.add_worksheet(name)
    sheet.write_string(0, 0, text)
    sheet.write_formula(1, 0, "=LEN(A1)", None, len(text))
    book.close()
    return out.getvalue()


def add_user_sheet(path: Path, name: str, text: str = "my own notes") -> None:
    """A sheet the user added (as Excel or LibreOffice would): no program records it as its own."""
    with Package(path) as book, Package(user_sheet_workbook(name, text)) as scratch:
        put_sheet(book, name, scratch)
        data = book.to_bytes()
    path.write_bytes(data)


def sheet_xml(path: Path) -> dict[str, bytes]:
    """Sheet name -> the bytes of its worksheet part."""
    with zipfile.ZipFile(path) as z:
        return {name: z.read(part) for name, part in _sheet_parts(z).items()}


def sheet_names(path: Path) -> list[str]:
    book = load_workbook(path, read_only=True)
    try:
        return book.sheetnames
    finally:
        book.close()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith((".tmp", ".lock")))


# -- regenerating keeps what is not excelgen's ---------------------------------------------------------


def test_regenerating_keeps_mnist_runs_and_the_users_sheets(tmp_path: Path) -> None:
    book = generate(tmp_path / "backprop.xlsx")
    edited = tmp_path / "edited.xlsx"
    set_named_cells_keep_cache(book, edited, {"init_w1": 0.9})
    os.replace(edited, book)
    export_run(write_run(tmp_path / "runs" / "a", [98.0, 99.5]), book)
    add_user_sheet(book, "My notes")
    add_user_sheet(book, "η=9", "a user's sheet that only looks like excelgen's")
    before = sheet_xml(book)
    previous = book.read_bytes()

    generate(book, Config(training=Training(learning_rates=(0.2,), iterations=5)))

    assert sheet_names(book) == [
        layout.BACKPROP,
        "η=0.2",
        layout.SWEEP,
        layout.CHECK,
        MNIST_SHEET,
        RUNS_SHEET,
        "My notes",
        "η=9",
    ]
    after = sheet_xml(book)
    for kept in (MNIST_SHEET, RUNS_SHEET, "My notes", "η=9"):
        assert after[kept] == before[kept], f"{kept} changed"
    assert (tmp_path / "backprop.bak.1.xlsx").read_bytes() == previous
    values = load_workbook(book, data_only=True)
    cell = layout.INPUT_CELLS["init_w1"]
    assert values.defined_names["init_w1"].attr_text == layout.ref(layout.BACKPROP, *cell)
    assert values[layout.BACKPROP][layout.a1(*cell)].value == 0.15  # the regeneration replaced the edit
    assert values[layout.CHECK]["B2"].value == "PASS"
    assert leftovers(tmp_path) == []


def test_a_second_export_after_regenerating_still_appends_runs(tmp_path: Path) -> None:
    book = generate(tmp_path / "backprop.xlsx")
    export_run(write_run(tmp_path / "runs" / "a", [98.0]), book)
    generate(book)
    export_run(write_run(tmp_path / "runs" / "b", [99.0]), book)
    header, *rows = list(load_workbook(book, read_only=True)[RUNS_SHEET].values)
    folder = header.index("Run folder")
    assert [r[folder] for r in rows] == [(tmp_path / "runs" / n).as_posix() for n in "ab"]


@pytest.mark.libreoffice
def test_regenerated_workbook_opens_in_libreoffice_without_error_cells(tmp_path: Path) -> None:
    book = generate(tmp_path / "backprop.xlsx")
    export_run(write_run(tmp_path / "runs" / "a", [98.0, 99.5]), book)
    add_user_sheet(book, "My notes")
    generate(book, Config(training=Training(learning_rates=(0.2, 2.0), iterations=5)))
    recalculated = libreoffice_recalc(book, tmp_path / "lo")
    assert error_cells(recalculated) == []
    assert sheet_names(recalculated)[-3:] == [MNIST_SHEET, RUNS_SHEET, "My notes"]


@pytest.mark.libreoffice
def test_regenerating_a_workbook_libreoffice_saved_remaps_its_formats(tmp_path: Path) -> None:
    # LibreOffice rewrites styles.xml when it saves: the new sheets' cell and conditional formats must be
    # appended and renumbered, not assumed to be where excelgen put them.
    book = generate(tmp_path / "backprop.xlsx")
    export_run(write_run(tmp_path / "runs" / "a", [98.0, 99.5]), book)
    saved = libreoffice_recalc(book, tmp_path / "lo")
    user = tmp_path / "user" / "backprop.xlsx"
    user.parent.mkdir()
    user.write_bytes(saved.read_bytes())
    generate(user, Config(training=Training(learning_rates=(0.2,), iterations=5)))

    expected = [layout.BACKPROP, "η=0.2", layout.SWEEP, layout.CHECK, MNIST_SHEET, RUNS_SHEET]
    assert sheet_names(user) == expected
    sheet = load_workbook(user)[layout.BACKPROP]
    switch = layout.a1(*layout.SHOW_ANSWERS_CELL, absolute=True)
    (hide,) = [r for cf in sheet.conditional_formatting for r in cf.rules if r.formula == [f"NOT({switch})"]]
    assert hide.dxf.font.color.rgb == hide.dxf.fill.bgColor.rgb  # the exercise rule kept its own format
    fresh = load_workbook(generate(tmp_path / "fresh.xlsx", Config(training=Training((0.2,), 5))))
    for ref in ("A1", layout.a1(*layout.INPUT_CELLS["init_w1"]), layout.a1(layout.data_row(0), 1)):
        ours, theirs = sheet[ref], fresh[layout.BACKPROP][ref]
        assert (ours.font.b, ours.fill.fgColor.rgb, ours.number_format) == (
            theirs.font.b,
            theirs.fill.fgColor.rgb,
            theirs.number_format,
        ), ref
    assert error_cells(libreoffice_recalc(user, tmp_path / "lo2")) == []


def test_a_users_sheet_with_an_excelgen_name_is_refused(tmp_path: Path) -> None:
    book = generate(tmp_path / "backprop.xlsx")
    add_user_sheet(book, "η=9")
    before = book.read_bytes()
    with pytest.raises(ConfigError, match="has a sheet 'η=9' that excelgen did not write"):
        generate(book, Config(training=Training(learning_rates=(9.0,), iterations=5)))
    assert book.read_bytes() == before
    assert leftovers(tmp_path) == [] and not (tmp_path / "backprop.bak.1.xlsx").exists()


def test_a_users_sheet_named_like_the_trainers_is_not_replaced(tmp_path: Path) -> None:
    book = generate(tmp_path / "backprop.xlsx")
    add_user_sheet(book, "mnist")
    before = book.read_bytes()
    with pytest.raises(UserError, match="has a sheet 'mnist' that trainer did not write") as refused:
        export_run(write_run(tmp_path / "runs" / "a", [98.0]), book)
    assert "\n" not in str(refused.value)
    assert book.read_bytes() == before


def test_a_file_that_is_not_a_workbook_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "backprop.xlsx"
    path.write_bytes(b"my thesis, saved under the wrong name")
    with pytest.raises(ConfigError, match="not a workbook this tool can edit") as refused:
        generate(path)
    assert "\n" not in str(refused.value)
    assert path.read_bytes() == b"my thesis, saved under the wrong name"


def test_workbooks_from_before_the_records_are_still_recognised(tmp_path: Path) -> None:
    # An older excelgen wrote no custom properties; its note in the core properties tells its workbooks.
    book = generate(tmp_path / "backprop.xlsx")
    export_run(write_run(tmp_path / "runs" / "a", [98.0]), book)
    unrecorded = tmp_path / "old.xlsx"
    with zipfile.ZipFile(book) as old, zipfile.ZipFile(unrecorded, "w", zipfile.ZIP_DEFLATED) as new:
        for info in old.infolist():
            data = old.read(info)
            if info.filename == "docProps/custom.xml":
                data = data.split(b"<property")[0] + b"</Properties>"
            if info.filename == "xl/workbook.xml":  # nor the marks on the sheets (xlsxedit/ownership.py)
                data = re.sub(rb'<definedName name="_xlsxedit_owner"[^>]*>[^<]*</definedName>', b"", data)
            new.writestr(info, data)
    with Package(unrecorded) as package:
        assert recorded_sheets(package, "excelgen") is None and recorded_sheets(package, "trainer") is None
        assert not has_records(package)
    generate(unrecorded, Config(training=Training(learning_rates=(0.3,), iterations=5)))
    export_run(write_run(tmp_path / "runs" / "b", [99.0]), unrecorded)
    assert sheet_names(unrecorded) == [layout.BACKPROP, "η=0.3", layout.SWEEP, layout.CHECK, "MNIST", "Runs"]
    assert len(list(load_workbook(unrecorded, read_only=True)[RUNS_SHEET].values)) == 3


# -- writers take turns ------------------------------------------------------------------------------------


def test_concurrent_exports_all_land(tmp_path: Path) -> None:
    book = generate(tmp_path / "backprop.xlsx")
    runs = [write_run(tmp_path / "runs" / f"r{k}", [97.0 + k / 10]) for k in range(5)]
    script = "import sys; from trainer.export import export_run; export_run(sys.argv[1], sys.argv[2])"
    argv = [sys.executable, "-c", script]
    procs = [subprocess.Popen([*argv, str(r), str(book)], cwd=ROOT, stderr=subprocess.PIPE) for r in runs]
    for proc in procs:
        assert proc.wait(timeout=120) == 0, proc.stderr.read().decode()
    header, *rows = list(load_workbook(book, read_only=True)[RUNS_SHEET].values)
    folder = header.index("Run folder")
    assert sorted(r[folder] for r in rows) == sorted(run.as_posix() for run in runs)
    assert leftovers(tmp_path) == []


def test_a_writer_that_waits_too_long_gets_one_line(tmp_path: Path, monkeypatch) -> None:
    book = generate(tmp_path / "backprop.xlsx")
    monkeypatch.setattr(files, "LOCK_WAIT_S", 0.2)
    busy = pytest.raises(ConfigError, match="another excelgen or trainer is writing it")
    with files.exclusive_lock(book), busy:  # another writer holds the lock all along
        cli.generate(SMALL, book)
    assert leftovers(tmp_path) == []


# -- links and names ---------------------------------------------------------------------------------------


def test_a_symlinked_workbook_is_written_through_and_stays_a_link(tmp_path: Path) -> None:
    real = generate((tmp_path / "synced").mkdir() or tmp_path / "synced" / "backprop.xlsx")
    link = tmp_path / "backprop.xlsx"
    link.symlink_to(real)
    previous = real.read_bytes()
    export_run(write_run(tmp_path / "runs" / "a", [98.0]), link)
    generate(link)
    assert link.is_symlink() and link.resolve() == real.resolve()
    assert MNIST_SHEET in sheet_names(real)
    assert (tmp_path / "synced" / "backprop.bak.1.xlsx").is_file()
    assert not (tmp_path / "backprop.bak.1.xlsx").exists()
    assert real.read_bytes() != previous


def test_temporary_names_are_unpredictable_so_a_planted_link_is_not_followed(tmp_path: Path) -> None:
    book = generate(tmp_path / "backprop.xlsx")
    victim = tmp_path / "victim.txt"
    victim.write_text("do not overwrite")
    for name in (f".backprop.xlsx.{os.getpid()}.tmp", "backprop.xlsx.tmp", ".backprop.xlsx.tmp"):
        (tmp_path / name).symlink_to(victim)
    export_run(write_run(tmp_path / "runs" / "a", [98.0]), book)
    assert victim.read_text() == "do not overwrite"


def test_an_overlong_name_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="the file name is too long"):
        generate(tmp_path / ("a" * 250 + ".xlsx"))
    assert list(tmp_path.iterdir()) == []


# -- interrupted writes ------------------------------------------------------------------------------------


def _start_slow_excelgen(out: Path, tmpdir: Path) -> subprocess.Popen:
    env = {**os.environ, "TMPDIR": str(tmpdir)}
    return subprocess.Popen(
        [sys.executable, "-m", "excelgen", "--iterations", "20000", "--lr", "0.1", "0.5", "--out", str(out)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_temp(folder: Path, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while not any(p.name.endswith(".tmp") and p.is_dir() for p in folder.iterdir()):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the writer never started"
        time.sleep(0.02)
    time.sleep(0.3)  # well into writing the sheets


def _interrupted_write(tmp_path: Path, stop) -> tuple[Path, Path, bytes, subprocess.Popen, str]:
    """excelgen rewriting a workbook, stopped by `stop(proc)` in the middle: (folder, TMPDIR, the workbook's
    bytes before, the process, its stderr)."""
    folder, tmpdir = tmp_path / "out", tmp_path / "tmpdir"
    folder.mkdir(), tmpdir.mkdir()
    book = generate(folder / "backprop.xlsx")
    before = book.read_bytes()
    proc = _start_slow_excelgen(book, tmpdir)
    _wait_for_temp(folder, proc)
    stop(proc)
    _, err = proc.communicate(timeout=60)
    assert book.read_bytes() == before
    return folder, tmpdir, before, proc, err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_interrupted_write_leaves_the_old_file_and_nothing_else(tmp_path: Path, sig: int) -> None:
    folder, tmpdir, _, proc, err = _interrupted_write(tmp_path, lambda proc: proc.send_signal(sig))
    assert proc.returncode == 130, err
    assert err.strip() == f"excelgen: interrupted; {folder / 'backprop.xlsx'} is unchanged"
    assert sorted(p.name for p in folder.iterdir()) == ["backprop.xlsx"]
    assert list(tmpdir.iterdir()) == []


def test_after_kill_9_the_next_write_removes_the_leftover(tmp_path: Path) -> None:
    folder, _, _, _, _ = _interrupted_write(tmp_path, lambda proc: proc.kill())
    assert any(p.name.endswith(".tmp") for p in folder.iterdir())  # what kill -9 leaves
    generate(folder / "backprop.xlsx")
    assert sorted(p.name for p in folder.iterdir()) == ["backprop.bak.1.xlsx", "backprop.xlsx"]


# -- a hostile file ----------------------------------------------------------------------------------------


def _with_part(src: Path, name: str, write) -> Path:
    out = src.with_name("crafted.xlsx")
    with zipfile.ZipFile(src) as old, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as new:
        for info in old.infolist():
            new.writestr(info, old.read(info))
        with new.open(name, "w", force_zip64=True) as part:
            write(part)
    return out


def test_a_zip_bomb_is_refused_before_anything_is_inflated_with_bounded_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def zeros(part) -> None:
        chunk = bytes(1 << 20)
        for _ in range(400):  # 400 MiB that deflate to ~0.4 MiB
            part.write(chunk)

    bomb = _with_part(generate(tmp_path / "backprop.xlsx"), "xl/media/image1.png", zeros)
    assert bomb.stat().st_size < 2 * 2**20
    # "Quickly" as a property, not a timing: the refusal comes from the zip directory, before any part is
    # opened for inflating (a timing would fail by chance on a busy machine).
    opened: list[str] = []
    real_open = zipfile.ZipFile.open

    def spy(self, name, mode="r", *args, **kwargs):
        if mode == "r":
            opened.append(getattr(name, "filename", name))
        return real_open(self, name, mode, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", spy)
    tracemalloc.start()
    with pytest.raises(PackageError, match="zip bomb"):
        Package(bomb)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    monkeypatch.undo()
    assert opened == [] and peak < 16 * 2**20
    with pytest.raises(ConfigError, match="zip bomb"):
        generate(bomb)


def test_a_part_that_lies_about_its_size_is_refused(tmp_path: Path) -> None:
    # Declared smaller than it is: zipfile inflates no more than declared, and the CRC then fails.
    book = generate(tmp_path / "backprop.xlsx")
    data = bytearray(book.read_bytes())
    info = zipfile.ZipFile(book).getinfo("xl/workbook.xml")
    small = (info.file_size // 2).to_bytes(4, "little")
    data[info.header_offset + 22 : info.header_offset + 26] = small  # in the local header
    name = info.filename.encode()
    central = data.index(b"PK\x01\x02" + data[info.header_offset + 4 : info.header_offset + 4][:0])
    while data[central + 46 : central + 46 + len(name)] != name:
        central = data.index(b"PK\x01\x02", central + 4)
    data[central + 24 : central + 28] = small  # and in the central directory
    book.write_bytes(bytes(data))
    with pytest.raises(PackageError, match="damaged"):
        Package(book)


def test_too_many_parts_are_refused_before_reading(tmp_path: Path) -> None:
    book = generate(tmp_path / "backprop.xlsx")
    with pytest.raises(PackageError, match="more than the 5 a workbook may have"):
        Package(book, Limits(entries=5))


def test_a_part_too_large_to_edit_is_refused_not_read(tmp_path: Path) -> None:
    book = generate(tmp_path / "backprop.xlsx")
    with pytest.raises(PackageError, match="more than the 0 MiB this tool edits"):
        Package(book, Limits(parse_bytes=100))


def test_a_row_is_read_as_other_programs_save_it(tmp_path: Path) -> None:
    """Excel and LibreOffice keep text in the shared-strings table, rich text as runs, and Japanese text with
    phonetic hints (<rPh>); the Runs sheet's headers and a sheet's first cell are read through all of them."""
    path = tmp_path / "saved.xlsx"
    wb = xlsxwriter.Workbook(path)
    ws = wb.add_worksheet("Runs")
    ws.write_string("A1", "Run folder")  # xlsxwriter writes shared strings, as Excel does
    ws.write_number("B1", 3)
    ws.write_rich_string("C1", "Last ", wb.add_format({"bold": True}), "epoch")
    ws.write_string("D1", "漢字")
    ws.write_string("E1", "past the limit")
    ws.write_string("B2", "second row")
    wb.close()
    with zipfile.ZipFile(path) as z:
        parts = {i.filename: z.read(i) for i in z.infolist()}
    parts["xl/sharedStrings.xml"] = parts["xl/sharedStrings.xml"].replace(
        "<t>漢字</t>".encode(), '<t>漢字</t><rPh sb="0" eb="2"><t>かんじ</t></rPh>'.encode()
    )
    with zipfile.ZipFile(path, "w") as z:
        for name, data in parts.items():
            z.writestr(name, data)
    with Package(path) as book:
        assert book.row_texts("runs", 1, 4) == {0: "Run folder", 2: "Last epoch", 3: "漢字"}
        assert book.row_texts("Runs", 2, 4) == {1: "second row"}
        assert book.row_texts("Runs", 3, 4) == {}
        assert book.row_texts("Elsewhere", 1, 4) is None
        assert book.first_cell_text("Runs") == "Run folder"
        assert book.first_cell_text("Elsewhere") is None
        assert existing_headers(book) == ["Run folder", None, "Last epoch", "漢字", "past the limit"]


def test_a_grafted_sheet_gets_the_same_part_names_whatever_the_set_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The parts a sheet brings (drawing, chart, note) are named in one order, not the hash seed's: the same
    inputs give the same file."""
    out = io.BytesIO()
    wb = xlsxwriter.Workbook(out, {"in_memory": True})
    ws = wb.add_worksheet("Theirs")
    ws.write_column("A1", [1, 2, 3])
    ws.write_comment("B1", "a note")
    for _ in range(2):
        chart = wb.add_chart({"type": "line"})
        chart.add_series({"values": "=Theirs!$A$1:$A$3"})
        ws.insert_chart("C1", chart)
    wb.close()
    real = Package.reachable

    def graft(backwards: bool) -> dict[str, bytes]:
        def reachable(self: Package, *args, **kwargs) -> list[str]:
            return sorted(real(self, *args, **kwargs), reverse=backwards)

        monkeypatch.setattr(Package, "reachable", reachable)
        with Package(user_sheet_workbook("Base", "mine")) as book, Package(out.getvalue()) as scratch:
            put_sheet(book, "Theirs", scratch)
            return dict(book.parts)

    one, other = graft(False), graft(True)
    assert len([p for p in one if p.startswith("xl/charts/")]) == 2
    assert list(one) == list(other) and one == other


def test_check_target_refuses_what_cannot_be_written(tmp_path: Path) -> None:
    (tmp_path / "dangling.xlsx").symlink_to(tmp_path / "nowhere" / "x.xlsx")
    with pytest.raises(writer.WorkbookError, match="symbolic link to nothing"):
        writer.check_target(tmp_path / "dangling.xlsx")
    with pytest.raises(writer.WorkbookError, match="must end in .xlsx"):
        writer.check_target(tmp_path / "book.xls")


def _conditional_book(sheet: str, colour: str, missing_dxfs: bool = False) -> bytes:
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    ws = book.add_worksheet(sheet)
    ws.write_number(0, 0, 1)
    if not missing_dxfs:
        rule = {"type": "cell", "criteria": ">", "value": 0, "format": book.add_format({"bg_color": colour})}
        ws.conditional_format("A1", rule)
    book.close()
    return out.getvalue()


@pytest.mark.parametrize("target_has_dxfs", [True, False], ids=["appended", "created"])
def test_a_grafted_conditional_format_keeps_its_own_colour(tmp_path: Path, target_has_dxfs: bool) -> None:
    path = tmp_path / "book.xlsx"
    path.write_bytes(_conditional_book("Mine", "#FF0000", missing_dxfs=not target_has_dxfs))
    with Package(path) as book, Package(_conditional_book("Theirs", "#00FF00")) as scratch:
        put_sheet(book, "Theirs", scratch)
        data = book.to_bytes()
    path.write_bytes(data)
    values = load_workbook(path)
    ((rule,),) = [cf.rules for cf in values["Theirs"].conditional_formatting]
    assert rule.dxf.fill.bgColor.rgb == "FF00FF00"
    if target_has_dxfs:
        ((mine,),) = [cf.rules for cf in values["Mine"].conditional_formatting]
        assert mine.dxf.fill.bgColor.rgb == "FFFF0000" and rule.dxfId == 1


def test_a_pipe_under_the_workbooks_name_is_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "backprop.xlsx")
    with pytest.raises(ConfigError, match="is not a regular file"):
        generate(tmp_path / "backprop.xlsx")

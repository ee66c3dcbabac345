"""`trainer sweep` on tiny synthetic data (tests/sweep_data.py; one epoch or two of 256 images): the
local pool's 2×2 grid gives ordinary runs (bit for bit what `train.fit` gives) and a table, sweep.json and
sheet that match the runs' own logs; a repeated sweep skips its finished runs; a worker killed with SIGKILL
costs its run one epoch and the run still ends bit for bit as an uninterrupted one; Ctrl-C stops and the next
call continues, and SIGTERM stops the workers of a sweep started with SIGINT ignored; bad input is one line,
exit status 2, nothing started or overwritten. The Ray path: see test_sweep_ray.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import openpyxl
import pytest
import sweep_data
import torch

from trainer import cli, config, grid, sweep, sweep_ray, train
from trainer.export import sweep as sweep_sheet

HERE = Path(__file__).parent
COMMON = ["--model", "tiny", "--batch-size", "32", "--limit-train", "256", "--threads", "1"]
DRIVER = """
import sys
sys.path.insert(0, {tests!r})
import sweep_data
from trainer import cli, sweep
if __name__ == "__main__":
    sweep.LOAD = getattr(sweep_data, sys.argv[1])
    sys.exit(cli.main(sys.argv[2:]))
"""


@pytest.fixture
def synthetic(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sweep, "LOAD", sweep_data.load)


def sweep_args(out: Path, *extra: str, epochs: int = 1) -> list[str]:
    return ["sweep", *COMMON, "--epochs", str(epochs), "--out", str(out), *extra]


def driver(tmp_path: Path, load: str, argv: list[str], **kw) -> subprocess.Popen:
    """`trainer sweep` in a process of its own (its workers then have a real parent to lose)."""
    script = tmp_path / "driver.py"
    script.write_text(DRIVER.format(tests=str(HERE)))
    return subprocess.Popen(
        [sys.executable, str(script), load, *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kw,
    )


def state(run_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(run_dir / train.FINAL, weights_only=True)


def same_weights(a: Path, b: Path) -> bool:
    wa, wb = state(a), state(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def epochs_without_time(run_dir: Path) -> list[dict]:
    log = json.loads((run_dir / train.LOG).read_text())
    return [{k: v for k, v in row.items() if k != "seconds"} for row in log["epochs"]]


def uninterrupted(tmp_path: Path, lr: float, seed: int, epochs: int) -> Path:
    """The same run through `trainer train`'s own function, in one go."""
    torch.set_num_threads(1)
    hp = config.for_model("tiny", epochs=epochs, batch_size=32, lr=lr, limit_train=256)
    data = sweep_data.load(Path("unused"), torch.device("cpu"), 256)
    return train.fit(data, hp, model_name="tiny", seed=seed, out=tmp_path / "direct")


# --- the grid ------------------------------------------------------------------------------------------


def test_the_grid_crosses_settings_and_seeds_and_names_each_run() -> None:
    axes = grid.parse_sets(["lr=0.2,0.4", "batch-size=64,128"], {})
    assert axes == [("lr", [0.2, 0.4]), ("batch_size", [64, 128])]
    assert grid.parse_seeds("1-3,42") == [1, 2, 3, 42]
    runs = grid.runs("default", config.for_model("default"), axes, [1, 2])
    assert len(runs) == 8 and len({r.name for r in runs}) == 8
    assert runs[0].name == "default_lr=0.2_batch_size=64_seed=1" and runs[0].label == "lr=0.2, batch_size=64"
    assert (runs[-1].hp.lr, runs[-1].hp.batch_size, runs[-1].seed) == (0.4, 128, 2)
    assert grid.parse_sets(["nesterov=false", "precision=float32,bfloat16"], {})[0] == ("nesterov", [False])
    assert grid.runs("tiny", config.for_model("tiny"), [], [5])[0].name == "tiny_seed=5"


# --- bad input ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--set", "learning_rate=0.1"], "unknown key 'learning_rate'"),
        (["--set", "threads=1,2"], "--threads applies to every run"),
        (["--set", "lr=0"], "lr must be a positive number"),
        (["--set", "lr=fast"], "lr takes a number"),
        (["--set", "test_batch_size=2.5"], "test_batch_size takes a whole number"),
        (["--set", "momentum=1.2"], "momentum must be in [0, 1)"),
        (["--set", "precision=float16"], "precision must be one of"),
        (["--set", "lr=0.1,0.1"], "a value is listed twice"),
        (["--set", "lr="], "the grid would be empty"),
        (["--set", "lr"], "write KEY=V1,V2"),
        (["--set", "batch_size=16"], "--batch-size both given"),
        (["--seeds", "3-1"], "the range is empty"),
        (["--seeds", "one"], "write seeds as"),
        (["--seeds", "1-101"], "add --yes"),
        (["--workers", "0"], "--workers must be at least 1"),
        (["--ray", "127.0.0.1:1"], "--ray 127.0.0.1:1"),
        (["--ray", "nowhere"], "HOST:PORT"),
        (["--workers", "2", "--ray", "auto"], "--workers is for the local pool"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_starts_nothing(
    extra: list[str], fragment: str, tmp_path: Path, synthetic: None, capsys: pytest.CaptureFixture[str]
) -> None:
    book = tmp_path / "book.xlsx"
    assert cli.main(sweep_args(tmp_path / "out", "--workbook", str(book), *extra)) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("trainer: error: ") and fragment in lines[0], err
    assert not (tmp_path / "out").exists() and not book.exists()


def test_ray_missing_says_how_to_install(
    tmp_path: Path, synthetic: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    assert cli.main(sweep_args(tmp_path / "out", "--ray", "auto", "--no-workbook")) == 2
    assert "pip install -e '.[sweep]'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_ray_version_mismatch_is_one_line_naming_both_versions() -> None:
    ray_utils = pytest.importorskip("ray._private.utils")
    with pytest.raises(RuntimeError) as raised:  # Ray's own check, with a cluster of another version
        ray_utils.check_version_info({"ray_version": "2.0.0", "python_version": "3.9.1"}, "this node")
    message = sweep_ray.mismatch_message("10.0.0.5:6379", raised.value)
    assert (
        "\n" not in message and "Ray 2.0.0 on Python 3.9.1" in message and "pip install ray==2.0.0" in message
    )


# --- the local pool -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """One 2×2 sweep (lr × seeds), two single-threaded workers, for the tests below to read."""
    tmp = tmp_path_factory.mktemp("sweep")
    out, book = tmp / "out", tmp / "book.xlsx"
    args = sweep_args(out, "--set", "lr=0.1,0.2", "--seeds", "1-2", "--workers", "2", "--workbook", str(book))
    done = driver(tmp, "load", args)
    stdout, _ = done.communicate(timeout=600)
    assert done.returncode == 0, stdout
    return out, book, stdout


def test_the_local_pool_trains_ordinary_runs(swept: tuple[Path, Path, str], tmp_path: Path) -> None:
    out, _, stdout = swept
    names = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert names == [f"tiny_lr={lr}_seed={s}" for lr in (0.1, 0.2) for s in (1, 2)]
    for name in names:
        assert {"log.json", "checkpoint.pt", "model.pt", "results.json", "summary.txt"} <= {
            p.name for p in (out / name).iterdir()
        }
        assert grid.finished(out / name)
    # Bit for bit what `trainer train`'s fit makes of the same settings in one go.
    direct = uninterrupted(tmp_path, 0.2, 2, 1)
    assert same_weights(out / "tiny_lr=0.2_seed=2", direct)
    assert epochs_without_time(out / "tiny_lr=0.2_seed=2") == epochs_without_time(direct)
    assert "2 local worker process(es), 1 thread(s) per run" in stdout


def expected_table(out: Path) -> dict[str, dict]:
    rows: dict[str, dict] = {}
    for lr in ("0.1", "0.2"):
        lasts = [
            json.loads((out / f"tiny_lr={lr}_seed={s}/log.json").read_text())["epochs"][-1] for s in (1, 2)
        ]
        accs = [row["test_acc"] for row in lasts]
        rows[f"lr={lr}"] = {
            "mean": sum(accs) / 2,
            "min": min(accs),
            "max": max(accs),
            "seconds": sum(row["seconds"] for row in lasts) / 2,
            "per_seed": accs,
        }
    return rows


def test_table_and_sweep_json_match_the_runs_logs(swept: tuple[Path, Path, str]) -> None:
    out, _, stdout = swept
    want = expected_table(out)
    saved = json.loads((out / "sweep.json").read_text())
    assert [row["setting"] for row in saved["table"]] == ["lr=0.1", "lr=0.2"]
    for row in saved["table"]:
        w = want[row["setting"]]
        assert (row["mean"], row["min"], row["max"]) == pytest.approx((w["mean"], w["min"], w["max"]))
        assert row["seconds"] == pytest.approx(w["seconds"])
        assert [row["per_seed"]["1"], row["per_seed"]["2"]] == w["per_seed"]
        assert row["finished"] == row["seeds"] == 2 and row["epoch_means"] == pytest.approx([w["mean"]])
        printed = next(line for line in stdout.splitlines() if line.startswith(row["setting"] + " "))
        assert printed.split()[1:5] == ["2/2", f"{w['mean']:.2f}", f"{w['min']:.2f}", f"{w['max']:.2f}"]


def test_the_sheet_holds_the_table_and_two_native_charts(swept: tuple[Path, Path, str]) -> None:
    out, book, _ = swept
    want = expected_table(out)
    ws = openpyxl.load_workbook(book)[sweep_sheet.SHEET]
    cells = {(c.row, c.column): c.value for row in ws.iter_rows() for c in row if c.value is not None}
    top = sweep_sheet.TABLE_ROW + 1  # 1-based header row
    assert cells[(top, 1)] == "Setting"
    for i, label in enumerate(("lr=0.1", "lr=0.2"), start=top + 1):
        w = want[label]
        assert cells[(i, 1)] == label and cells[(i, 2)] == 2
        assert (cells[(i, 3)], cells[(i, 4)], cells[(i, 5)]) == pytest.approx((w["mean"], w["min"], w["max"]))
    # The per-seed table: each seed's last-epoch accuracy as its log has it.
    seed_head = next(r for (r, c), v in cells.items() if c == 1 and v == "Setting" and r > top)
    assert [cells[(seed_head, c)] for c in range(5, 7)] == ["Seed 1", "Seed 2"]
    assert [cells[(seed_head + 1, c)] for c in range(5, 7)] == want["lr=0.1"]["per_seed"]
    with zipfile.ZipFile(book) as z:
        charts = sorted(n for n in z.namelist() if n.startswith("xl/charts/chart"))
        xml = [z.read(n).decode() for n in charts]
        props = z.read("docProps/custom.xml").decode()
    sweep_charts = [x for x in xml if "MNIST sweep" in x]
    assert len(sweep_charts) == 2
    by_title = {("per epoch" in x): x for x in sweep_charts}
    assert by_title[True].count("<c:ser>") == 3  # a series per setting and the target
    assert (
        by_title[False].count("<c:ser>") == 5 and "<c:hiLowLines>" in by_title[False]
    )  # min, mean, max, 2 seeds
    assert "trainer-sweep sheet 1" in props  # recorded as the trainer's sweep sheet


def test_a_repeated_sweep_skips_finished_runs(swept: tuple[Path, Path, str], tmp_path: Path) -> None:
    out, book, _ = swept
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file() and p.name != "sweep.json"}
    args = sweep_args(out, "--set", "lr=0.1,0.2", "--seeds", "1-2", "--workbook", str(book))
    again = driver(tmp_path, "load", args)
    stdout, _ = again.communicate(timeout=300)
    assert again.returncode == 0, stdout
    assert "4 of 4 runs finished before: skipped" in stdout
    assert {p: p.stat().st_mtime_ns for p in before} == before


def test_a_folder_of_another_sweep_is_refused_untouched(
    swept: tuple[Path, Path, str], synthetic: None, capsys: pytest.CaptureFixture[str]
) -> None:
    out, _, _ = swept
    before = {p: p.read_bytes() for p in out.rglob("*.json")}
    args = sweep_args(out, "--set", "lr=0.1,0.2", "--seeds", "1-2", "--no-workbook", epochs=2)
    assert cli.main(args) == 2
    err = capsys.readouterr().err.strip()
    assert (
        err.startswith("trainer: error: --out") and "from another sweep" in err and "epochs 1, not 2" in err
    )
    assert {p: p.read_bytes() for p in out.rglob("*.json")} == before


def test_a_worker_killed_mid_run_costs_one_epoch_and_the_run_ends_as_uninterrupted(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / sweep_data.KILL_ARMED).touch()  # the first worker kills itself with SIGKILL after epoch 1
    args = sweep_args(out, "--set", "lr=0.2", "--seeds", "3", "--workers", "1", "--no-workbook", epochs=2)
    done = driver(tmp_path, "load_then_die", [*args, "--data-dir", str(out)])
    stdout, _ = done.communicate(timeout=600)
    assert done.returncode == 0, stdout
    assert "tiny_lr=0.2_seed=3: its worker process was killed by SIGKILL; resuming" in stdout
    run = out / "tiny_lr=0.2_seed=3"
    direct = uninterrupted(tmp_path, 0.2, 3, 2)
    assert same_weights(run, direct) and epochs_without_time(run) == epochs_without_time(direct)


def test_ctrl_c_stops_cleanly_and_the_same_command_continues(tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = sweep_args(out, "--set", "lr=0.1,0.2", "--seeds", "1", "--workers", "1", "--no-workbook", epochs=2)
    first = driver(tmp_path, "load", args, start_new_session=True)
    deadline = time.monotonic() + 300
    while not list(out.glob("*/log.json")) and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(first.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the driver and its workers
    stdout, _ = first.communicate(timeout=300)
    assert first.returncode == 130, stdout
    assert "Run the same command again to continue" in stdout and "Traceback" not in stdout
    again = driver(tmp_path, "load", args)
    stdout, _ = again.communicate(timeout=600)
    assert again.returncode == 0, stdout
    assert all(grid.finished(out / f"tiny_lr={lr}_seed=1") for lr in (0.1, 0.2))


def test_sigterm_stops_the_workers_of_a_sweep_started_in_the_background(tmp_path: Path) -> None:
    """`nohup trainer sweep ... &` from a shell without job control starts it with SIGINT ignored, and its
    workers inherited that: a SIGTERM to the driver said "stopping the workers" while they trained on."""
    out = tmp_path / "out"
    args = sweep_args(out, "--set", "lr=0.1", "--seeds", "1", "--workers", "1", "--no-workbook", epochs=300)
    first = driver(tmp_path, "load", args, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    log = out / "tiny_lr=0.1_seed=1" / train.LOG
    deadline = time.monotonic() + 300
    while not log.is_file() and time.monotonic() < deadline:
        time.sleep(0.05)
    first.send_signal(signal.SIGTERM)  # the driver alone, as `kill PID` does
    stdout, _ = first.communicate(timeout=600)
    assert first.returncode == 130, stdout
    # An epoch of 256 images takes a fraction of a second: a worker that kept training would end all 300.
    assert len(json.loads(log.read_text())["epochs"]) < 30, stdout

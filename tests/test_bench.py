"""`python -m trainer.bench` on synthetic data: its per-seed lines, its summary and the README's table (its
figures are for people; these tests only keep the code that prints them working)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import sweep_data

from trainer import bench, config, sweep
from trainer.errors import UserError


def test_part_b_prints_every_seed_and_the_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sweep, "LOAD", sweep_data.load)  # the sweep's worker gets synthetic data
    epochs = config.for_model("default").epochs
    row = bench.part_b(tmp_path / "no-data", [1, 2], threads=1, out=tmp_path, precision="float32")
    out = capsys.readouterr().out
    line = rf"^\(b\) seed (\d): test acc per epoch ((?:\d+\.\d\d ?){{{epochs}}}); last (\d+\.\d\d)%"
    seeds = re.findall(line, out, re.M)
    assert [s[0] for s in seeds] == ["1", "2"]
    assert "threads " + "/".join(["1"] * epochs) in out
    assert re.search(r"^\(b\) 2 seeds: last-epoch test accuracy: mean \d+\.\d\d%, min", out, re.M)
    assert row["lasts"] == [float(s[2]) for s in seeds] and row["precision"] == "float32"
    table = bench.results_table(tmp_path / "default-float32")  # a folder per recipe and precision
    rows = table.splitlines()[2:]
    assert len(rows) == 2 and all(row.startswith("| default | ") for row in rows)
    assert {row.split(" | ")[1] for row in rows} == {"1", "2"}


def test_part_b_tells_an_epoch_at_the_target_from_a_last_epoch_at_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A seed can pass 99.40% at some epoch and end below it: the summary counts both."""
    monkeypatch.setattr(sweep, "LOAD", sweep_data.load)
    monkeypatch.setattr(bench.train, "first_at_target", lambda epochs: (1, 1.5))  # as if epoch 1 got there
    bench.part_b(tmp_path / "no-data", [1], threads=1, out=tmp_path, precision="float32")
    out = capsys.readouterr().out
    assert "(b) 1 of 1 seeds had an epoch at >= 99.40% (0 of 1 at the last); " in out  # synthetic: far below


def test_summary_table_gives_accuracy_over_seeds_and_multiples_of_the_documents_epoch() -> None:
    row = {"model": "default", "params": 19434, "epochs": 2, "precision": "float32"}
    rows = [
        row | {"lasts": [99.40, 99.50, 99.36], "seconds": [10.0, 20.0, 30.0], "documents_seconds": 40.0},
        row | {"lasts": [99.50], "seconds": [10.0], "documents_seconds": None},
    ]
    table = bench.summary_table(rows).splitlines()
    assert table[2] == (
        "| default | 19,434 | 2 | float32 | 3 | 99.42% | 99.36% | 99.50% | 2 of 3 "
        "| 20.0 (30.0) | 0.50x (0.75x) |"
    )
    assert table[3].endswith("| 1 of 1 | 10.0 (10.0) | not measured |")


def test_precisions_measures_bfloat16_only_where_native(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench.runtime, "precision", lambda device: "float32")
    assert bench.precisions("both") == ["float32"] and bench.precisions("auto") == ["float32"]
    assert bench.precisions("bfloat16") == ["bfloat16"]
    monkeypatch.setattr(bench.runtime, "precision", lambda device: "bfloat16")
    assert bench.precisions("both") == ["bfloat16", "float32"]


def test_the_documents_model_is_plain_torch_nn() -> None:
    import torch

    torch.manual_seed(0)
    model = bench.documents_model("seed002")
    # Net: the stack that ends in log_softmax, as theirs does
    layers = {type(m) for m in model.modules()} - {bench.models.Net}
    assert all(kind.__module__.startswith("torch.nn") for kind in layers), layers
    assert {torch.nn.Conv2d, torch.nn.BatchNorm2d, torch.nn.Dropout, torch.nn.MaxPool2d} <= layers
    torch.manual_seed(0)
    ours = bench.models.build("seed002")
    x = torch.randn(2, 1, 28, 28)
    torch.testing.assert_close(model.eval()(x), ours.eval()(x))  # the same weights, as initialised


def test_a_candidate_recipe_trains_its_model_with_its_departures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sweep, "LOAD", sweep_data.load)  # the sweep's worker gets synthetic data
    model, overrides = bench.recipe("four-epochs")  # departs from the default in four settings
    assert model in bench.models.MODELS and bench.recipe("tiny") == ("tiny", {})
    row = bench.part_b(tmp_path / "no-data", [3], threads=1, out=tmp_path, name="four-epochs")
    log = json.loads(next(tmp_path.glob("four-epochs-*/*/log.json")).read_text())
    assert row["model"] == "four-epochs" and row["epochs"] == overrides["epochs"] == len(log["epochs"])
    assert {k: log["hyperparameters"][k] for k in overrides} == overrides and log["model"] == model


def test_two_recipes_of_one_model_keep_their_own_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both train `default16_seed=1`; the second must not report the first's finished run as its own."""
    monkeypatch.setattr(sweep, "LOAD", sweep_data.load)
    args = {"threads": 1, "precision": "float32"}
    two = bench.part_b(tmp_path / "no-data", [1], out=tmp_path, name="default16-two-epochs", **args)
    four = bench.part_b(tmp_path / "no-data", [1], out=tmp_path, name="four-epochs", **args)
    assert (two["epochs"], four["epochs"]) == (2, 4)
    assert bench.recipe("default16-two-epochs")[0] == bench.recipe("four-epochs")[0] == "default16"
    logs = sorted(tmp_path.glob("*/default16_seed=1/log.json"))
    assert [len(json.loads(p.read_text())["epochs"]) for p in logs] == [2, 4]  # default16-two-*, four-*
    (tmp_path / "clash").mkdir()
    (tmp_path / "default16-two-epochs-float32").rename(tmp_path / "clash" / "four-epochs-float32")
    with pytest.raises(UserError, match="holds another run"):  # and a clash is refused, not resumed
        bench.part_b(tmp_path / "no-data", [1], out=tmp_path / "clash", name="four-epochs", **args)


def test_part_compile_weighs_the_compile_against_what_it_saves(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """torch.compile itself is not run here (a C++ toolchain and a minute of compiling): an identity stands in
    for it, and a compiler that fails is one line, not a crash."""
    monkeypatch.setattr(bench.torch, "compile", lambda model: model)
    bench.part_compile(("tiny",))
    line = capsys.readouterr().out.strip()
    assert re.fullmatch(
        r"\(compile\) tiny: first compiled step \d+\.\d s; a step eager \d+\.\d ms, compiled \d+\.\d ms "
        r"\(medians, interleaved\): [+-]\d+\.\d s over two epochs \(938 steps\) against \d+\.\d s of "
        r"compiling; load average .*",
        line,
    ), line

    def no_compiler(model):
        raise RuntimeError("InvalidCxxCompiler: No working C++ compiler found\nlong details")

    monkeypatch.setattr(bench.torch, "compile", no_compiler)
    bench.part_compile(("tiny",))
    assert capsys.readouterr().out == (
        "(compile) tiny: torch.compile failed here (RuntimeError: InvalidCxxCompiler: No working C++ "
        "compiler found long details)\n"
    )


def test_the_results_table_orders_seeds_as_numbers(tmp_path: Path) -> None:
    epoch = {"epoch": 1, "test_acc": 99.5, "seconds": 10.0}
    for seed in (10, 2, 1):
        run = tmp_path / f"default_seed={seed}"
        run.mkdir()
        log = {"model": "default", "seed": seed, "params": 19538, "epochs": [epoch], "finished_at": "now"}
        (run / "log.json").write_text(json.dumps(log | {"best_test_acc": 99.5, "best_epoch": 1}))
    rows = bench.results_table(tmp_path).splitlines()[2:]
    assert [row.split(" | ")[1] for row in rows] == ["1", "2", "10"]

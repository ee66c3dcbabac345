"""`python -m trainer.bench` on synthetic data: its per-seed lines, its summary and the README's table (its
figures are for people; these tests only keep the code that prints them working)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sweep_data

from trainer import bench, sweep


def test_part_b_prints_every_seed_and_the_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sweep, "LOAD", sweep_data.load)  # the sweep's worker gets synthetic data
    bench.part_b(tmp_path / "no-data", [1, 2], threads=1, out=tmp_path)
    out = capsys.readouterr().out
    line = r"^\(b\) seed (\d): test acc per epoch ((?:\d+\.\d\d ?){4}); last (\d+\.\d\d)%"
    seeds = re.findall(line, out, re.M)
    assert [s[0] for s in seeds] == ["1", "2"]
    assert "threads 1/1/1/1" in out
    assert re.search(r"^\(b\) 2 seeds: last-epoch test accuracy: mean \d+\.\d\d%, min", out, re.M)
    table = bench.results_table(tmp_path)
    rows = table.splitlines()[2:]
    assert len(rows) == 2 and all(row.startswith("| default | ") for row in rows)
    assert {row.split(" | ")[1] for row in rows} == {"1", "2"}


def test_the_documents_model_is_plain_torch_nn() -> None:
    import torch

    model = bench.documents_model("seed002")
    pools = [m for m in model.modules() if isinstance(m, torch.nn.MaxPool2d)]
    assert len(pools) == 2 and all(type(m) is torch.nn.MaxPool2d for m in pools)

"""The CPU settings: the thread count follows the load, the allocator keeps its memory, bfloat16 only where it
is native."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from test_train import small, tensors

from trainer import runtime, train


@pytest.mark.parametrize(
    ("cores", "load", "threads"),
    [(2, 0.0, 2), (2, 0.4, 2), (2, 0.7, 1), (2, 1.0, 1), (2, 6.0, 1), (8, 1.0, 7), (8, 0.0, 8), (1, 0.0, 1)],
)
def test_threads_are_the_free_cores(cores: int, load: float, threads: int) -> None:
    assert runtime.choose_threads(cores, load) == threads


def test_the_load_is_a_count_of_busy_cores() -> None:
    assert 0 <= runtime.running_others(samples=2, interval=0) < 100_000
    assert 1 <= runtime.free_cores() <= runtime.cores()


def test_an_auto_run_follows_the_load_before_every_epoch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = torch.get_num_threads()
    monkeypatch.setattr(runtime, "cores", lambda: 2)
    monkeypatch.setattr(runtime, "running_others", lambda: 5.0)  # another job starts after epoch 1
    try:
        torch.set_num_threads(2)
        run_dir = train.fit(tensors(), small(threads=None), model_name="tiny", seed=1, out=tmp_path)
    finally:
        torch.set_num_threads(before)
    log = json.loads((run_dir / "log.json").read_text())
    assert [row["threads"] for row in log["epochs"]] == [2, 1, 1]
    assert log["hyperparameters"]["threads"] is None  # "auto" is what the run was asked for


def test_a_pinned_thread_count_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = torch.get_num_threads()
    monkeypatch.setattr(runtime, "cores", lambda: 2)
    monkeypatch.setattr(runtime, "running_others", lambda: 0.0)  # auto would take both cores
    try:
        runtime.configure(1)  # as the CLI does with --threads 1
        run_dir = train.fit(tensors(), small(threads=1), model_name="tiny", seed=1, out=tmp_path)
    finally:
        torch.set_num_threads(before)
    assert [row["threads"] for row in json.loads((run_dir / "log.json").read_text())["epochs"]] == [1, 1, 1]


ALLOCATOR = """
import ctypes, ctypes.util, json, sys
from trainer import runtime

class Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
        "keepcost")]

libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
libc.mallinfo2.restype = Mallinfo2
if sys.argv[1] == "tuned":
    assert runtime.tune_allocator()
size = 8 << 20  # a step's activations: above glibc's default mmap threshold, below the tuned one
before = libc.mallinfo2()
block = libc.malloc(size)
ctypes.memset(block, 1, size)
held = libc.mallinfo2()
libc.free(block)
freed = libc.mallinfo2()
again = libc.malloc(size)
print(json.dumps({"size": size, "mapped": [before.hblkhd, held.hblkhd, freed.hblkhd],
                  "heap": [held.arena, freed.arena], "same_block": block == again}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt and mallinfo2 are glibc's")
def test_the_tuned_allocator_keeps_a_freed_block_for_reuse_instead_of_handing_it_back() -> None:
    # What the tuning changes, read from glibc's own accounting (mallinfo2) in a fresh process each: no fault
    # counts, whose level depends on the machine and its load (bench/allocator_faults.py measures those).
    def allocator(mode: str) -> dict:
        done = subprocess.run(
            [sys.executable, "-c", ALLOCATOR, mode], capture_output=True, text=True, timeout=120, check=True
        )
        return json.loads(done.stdout.splitlines()[-1])

    plain, tuned = allocator("plain"), allocator("tuned")
    size = plain["size"]
    # As glibc comes: the block is mapped on its own and unmapped on free, so the next step pages it in again.
    before, held, freed = plain["mapped"]
    assert held - before >= size and freed == before
    # Tuned: the block comes from the heap, stays there after free and is handed out again.
    before, held, freed = tuned["mapped"]
    assert held == before == freed
    assert tuned["heap"][1] == tuned["heap"][0] >= size
    assert tuned["same_block"]


def test_precision_is_bfloat16_only_where_it_is_native(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "cpu_flags", lambda: {"avx2", "fma"})
    assert runtime.precision("cpu") == "float32"
    monkeypatch.setattr(runtime, "cpu_flags", lambda: {"avx512f", "avx512_bf16"})
    assert runtime.precision("cpu") == ("bfloat16" if torch.backends.mkldnn.is_available() else "float32")
    assert runtime.precision("mps") == "float32"


def test_the_cli_sets_threads_before_torch_does_any_work(monkeypatch: pytest.MonkeyPatch) -> None:
    # OpenMP sizes its pool at the first parallel op: the thread count must come before the data and model.
    from trainer import cli

    calls: list[str] = []

    def configure(threads):
        calls.append(f"configure {threads}")
        return threads

    def load_mnist(*args, **kwargs):
        calls.append("load_mnist")
        raise KeyboardInterrupt  # stop here: what came first is the point

    monkeypatch.setattr(runtime, "configure", configure)
    monkeypatch.setattr(train, "load_mnist", load_mnist)
    assert cli.main(["train", "--threads", "1", "--no-workbook"]) == 130
    assert calls == ["configure 1", "load_mnist"]

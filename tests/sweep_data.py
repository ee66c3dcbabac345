"""Synthetic 'MNIST' for the sweep's workers (tests never need the real one): tests put `load` in
trainer.sweep.LOAD, and worker processes and Ray tasks call it instead of train.load_mnist. Self-contained
(no pytest, no other test module), so that a Ray worker can receive it by value."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from trainer import train


def synthetic(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 'digits' a small CNN learns in an epoch or two: class k is a bright block at the k-th place."""
    y = torch.randint(0, 10, (n,), generator=g)
    x = torch.randint(0, 60, (n, 28, 28), generator=g, dtype=torch.uint8)
    for i, k in enumerate(y.tolist()):
        r, c = 3 + 11 * (k // 5), 2 + 5 * (k % 5)
        x[i, r : r + 10, c : c + 4] = 250
    return x, y


def load(data_dir: Path, device: torch.device, limit_train: int | None, log=print) -> train.Tensors:
    g = torch.Generator().manual_seed(0)
    train_x, train_y = synthetic(512, g)
    test_x, test_y = synthetic(200, g)
    return train.to_tensors(train_x, train_y, test_x, test_y, device, limit_train)


KILL_ARMED = "kill-armed"  # in the data folder: the next worker to load kills itself once an epoch is saved


def load_then_die(data_dir: Path, device: torch.device, limit_train: int | None, log=print) -> train.Tensors:
    """`load`; and, when `data_dir` holds KILL_ARMED (claimed by one worker only), a watcher that sends this
    worker SIGKILL as soon as a run folder under `data_dir` has saved its first epoch: a kill -9 mid-run."""
    import os
    import signal
    import threading
    import time

    try:
        os.rename(data_dir / KILL_ARMED, data_dir / (KILL_ARMED + ".taken"))
    except OSError:
        return load(data_dir, device, limit_train, log)

    def watch() -> None:
        while True:
            for path in data_dir.glob("*/log.json"):
                try:
                    if json.loads(path.read_text())["epochs"]:
                        os.kill(os.getpid(), signal.SIGKILL)
                except (OSError, ValueError, KeyError):
                    pass
            time.sleep(0.01)

    threading.Thread(target=watch, daemon=True).start()
    return load(data_dir, device, limit_train, log)

"""`python -m trainer.bench`: the trainer's speed, measured, with the machine's own yardstick beside it.

(a) One epoch (training + test pass) of the seed002 network at batch 128 through the trainer's in-memory
    pipeline, and then through the documents' own loop (torchvision dataset, per-sample ToTensor/Normalize,
    DataLoader with num_workers=0, SGD), back to back; the ratio is the speed-up.
(b) Seconds of training (train + test passes) until the default model's first epoch at >= 99.40%.

Each prints images/s, epoch seconds, peak memory and effective GFLOP/s (FLOPs counted from the model by
torch.utils.flop_counter, not estimated) against a float32 GEMM measured in the same run. Also: the cost of
the two augmentations per batch. Run it on an otherwise idle machine; it prints the load average it saw.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode
from tqdm import tqdm

from . import augment, config, models, train


def gemm_gflops(n: int = 1024, repeats: int = 20) -> float:
    """The float32 matrix-multiply rate of this machine with the current thread setting."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n**3 * repeats / (time.perf_counter() - start) / 1e9


def train_flops_per_image(name: str, batch: int = 128) -> float:
    """Forward + backward FLOPs of one training step, per image, counted from the model's operators."""
    model = models.build(name).train()
    x, y = torch.randn(batch, 1, 28, 28), torch.randint(0, 10, (batch,))
    with FlopCounterMode(display=False) as counter:
        F.nll_loss(model(x), y).backward()
    return counter.get_total_flops() / batch


def test_flops_per_image(name: str) -> float:
    model = models.build(name).eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.randn(100, 1, 28, 28))
    return counter.get_total_flops() / 100


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def report(label: str, seconds: float, name: str, n_train: int, n_test: int, gemm: float) -> None:
    flops = train_flops_per_image(name) * n_train + test_flops_per_image(name) * n_test
    gflops = flops / seconds / 1e9
    print(
        f"{label}: {seconds:.2f} s/epoch, {n_train / seconds:,.0f} train images/s (incl. the test pass), "
        f"{gflops:.1f} effective GFLOP/s = {gflops / gemm:.0%} of GEMM, peak RSS {peak_rss_mib():.0f} MiB"
    )


def trainer_epoch(data: train.Tensors, name: str, hp: config.Hyper) -> float:
    steps = train.steps_per_epoch(len(data.train_y), hp.batch_size)
    state = train.make_state(name, hp, 1, data.train_x.device, steps)
    return train.run_epoch(state, data, hp, 1)["seconds"]


def documents_epoch(data_dir: Path, name: str, batch_size: int) -> float:
    """The documents' loop, as their notebooks wrote it (examples/mnist/main.py with a DataLoader)."""
    from torchvision import datasets, transforms

    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((config.MEAN,), (config.STD,))])
    train_loader = torch.utils.data.DataLoader(
        datasets.MNIST(data_dir, train=True, download=False, transform=tf),
        batch_size=batch_size,
        shuffle=True,
        num_workers=0,
    )
    test_loader = torch.utils.data.DataLoader(
        datasets.MNIST(data_dir, train=False, download=False, transform=tf), batch_size=batch_size
    )
    torch.manual_seed(1)
    model = models.build(name)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    start = time.perf_counter()
    model.train()
    pbar = tqdm(train_loader, file=sys.stdout)
    for batch_idx, (x, target) in enumerate(pbar):
        optimizer.zero_grad()
        loss = F.nll_loss(model(x), target)
        loss.backward()
        optimizer.step()
        pbar.set_description(desc=f"loss={loss.item()} batch_id={batch_idx}")
    model.eval()
    test_loss, correct = 0.0, 0
    with torch.no_grad():
        for x, target in test_loader:
            output = model(x)
            test_loss += F.nll_loss(output, target, reduction="sum").item()
            correct += output.argmax(1).eq(target).sum().item()
    n = len(test_loader.dataset)
    print(
        f"Test set: Average loss: {test_loss / n:.4f}, Accuracy: {correct}/{n} ({100.0 * correct / n:.2f}%)"
    )
    return time.perf_counter() - start


def augment_costs(batch: int = 128, repeats: int = 50) -> None:
    x, g = torch.randn(batch, 1, 28, 28), torch.Generator().manual_seed(0)
    for label, fn in (
        ("affine (rotation + shift, bilinear)", lambda: augment.affine(x, 8.0, 2.0, g, 0.0)),
        ("integer shift (pad + gather)", lambda: augment.shift(x, 2, g, 0.0)),
    ):
        fn()
        start = time.perf_counter()
        for _ in range(repeats):
            fn()
        ms = (time.perf_counter() - start) / repeats * 1e3
        print(f"augmentation {label}: {ms:.2f} ms per batch of {batch}")


def part_a(data_dir: Path, data: train.Tensors, gemm: float) -> None:
    name = "seed002"
    hp = config.for_model(name, batch_size=128)
    ours = trainer_epoch(data, name, hp)
    theirs = documents_epoch(data_dir, name, 128)
    n_train, n_test = len(data.train_y), len(data.test_y)
    report("(a) trainer, seed002, batch 128", ours, name, n_train, n_test, gemm)
    report("(a) documents' loop, seed002, batch 128", theirs, name, n_train, n_test, gemm)
    print(f"(a) speed-up: {theirs / ours:.2f}x (target >= 1.5x)")


def part_b(data: train.Tensors, gemm: float, seed: int) -> None:
    name = "default"
    hp = config.for_model(name)
    steps = train.steps_per_epoch(len(data.train_y), hp.batch_size)
    state = train.make_state(name, hp, seed, data.train_x.device, steps)
    elapsed = 0.0
    for epoch in range(1, hp.epochs + 1):
        row = train.run_epoch(state, data, hp, epoch)
        elapsed += row["seconds"]
        report(f"(b) default, epoch {epoch}", row["seconds"], name, len(data.train_y), len(data.test_y), gemm)
        if row["test_acc"] >= train.TARGET_ACC:
            target = f"{train.TARGET_ACC:.2f}%"
            print(
                f"(b) first epoch at >= {target}: {epoch}, after {elapsed:.1f} s of training (target <= 90 s)"
            )
            return
    print(f"(b) no epoch reached {train.TARGET_ACC:.2f}% in {hp.epochs} epochs ({elapsed:.1f} s)")


def results_table(runs: Path) -> str:
    """The README's table, in Markdown, from the finished runs under `runs` (e.g. output/mnist)."""
    rows = [
        "| model | seed | params | best test acc (epoch) | first epoch >= 99.40% | s to it | s total | run |",
        "|---|---:|---:|---|---:|---:|---:|---|",
    ]
    for log_path in sorted(runs.glob("*/log.json")):
        log = json.loads(log_path.read_text())
        if not log.get("finished_at"):
            continue
        first, seconds = train.first_at_target(log["epochs"])
        total = sum(row["seconds"] for row in log["epochs"])
        rows.append(
            f"| {log['model']} | {log['seed']} | {log['params']:,} | {log['best_test_acc']:.2f}% "
            f"({log['best_epoch']}) | {first or '-'} | {f'{seconds:.0f}' if seconds else '-'} | {total:.0f} "
            f"| {log_path.parent.name} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m trainer.bench", description=__doc__.splitlines()[0])
    p.add_argument("--part", choices=("a", "b", "all"), default="all")
    p.add_argument("--data-dir", type=Path, default=Path("data"))
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--seed", type=int, default=1, help="seed of the (b) run")
    p.add_argument("--table", type=Path, metavar="RUNS", help="only print the results table of RUNS/*/")
    args = p.parse_args(argv)
    if args.table is not None:
        print(results_table(args.table))
        return 0
    torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {args.threads} threads, load average {os.getloadavg()[0]:.2f} at start"
    )
    data = train.load_mnist(args.data_dir, torch.device("cpu"), None)
    gemm = gemm_gflops()
    print(f"float32 GEMM (1024^3): {gemm:.1f} GFLOP/s")
    augment_costs()
    if args.part in ("a", "all"):
        part_a(args.data_dir, data, gemm)
    if args.part in ("b", "all"):
        part_b(data, gemm, args.seed)
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

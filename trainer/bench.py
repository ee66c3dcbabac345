"""`python -m trainer.bench`: the trainer's speed and its recipe's results, measured, with the machine named.

(a) One epoch (training + test pass) of the documents' seed002 network at batch 128 through this trainer, and
    then through the documents' own loop (torchvision dataset, per-sample ToTensor/Normalize, DataLoader with
    num_workers=0, SGD, their nn.MaxPool2d), back to back, each in a fresh interpreter: the documents' one
    with torch's defaults (threads, OpenMP, allocator) as they ran it, ours with trainer/runtime.py's. The
    ratio of the two is the speed-up.
(b) Each recipe (`--recipes default,tiny,two-epochs`: a preset's shipped settings, `trainer train --model
    NAME`, or a candidate of trainer/config.py) in each precision (`--precision both`: bfloat16 where the
    CPU has it natively, and float32) for seeds 1..N, run through `trainer sweep`'s code with one worker
    (trainer/sweep.py), so that each run's seconds are those of `trainer train` alone on this machine: every
    epoch's test accuracy, the last epoch's (the result), the first epoch at >= 99.40% and the training
    seconds (train + test passes, as log.json records them); then, airbench's way, one table: per recipe the
    mean, min and max of the last epoch over the seeds, the seconds to the result and, when (a) ran in the
    same invocation, those seconds as a multiple of the documents' epoch.

(compile) Whether torch.compile pays for itself here (`--part compile`, not in `all`): for the default and
    seed002, float32, batch 128, random data, the seconds of the first compiled training step (the compile;
    inductor keeps its code in an on-disk cache, so a second invocation pays less), then the step eager
    (trainer/layers.py's layers) and compiled (torch.nn's, which dynamo traces whole), interleaved, and what
    the difference buys over a two-epoch run against what the compile cost.

It prints the machine (CPU model, cores, threads, torch version) and the load average before and after each
measurement: timings taken while other jobs share the CPU are not comparable with idle ones.
`--table RUNS` prints the README's results table from finished run folders instead (e.g. output/mnist).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from . import augment, config, layers, models, runtime, train
from .errors import one_line

PART_A_MODEL = "seed002"


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (5 min {five:.2f})"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(cores: int, threads: int) -> str:
    return (
        f"{cpu_model()}, {os.cpu_count()} logical CPUs, {cores} cores for torch "
        f"(capability {torch.backends.cpu.get_cpu_capability()}); torch {torch.__version__}, "
        f"Python {platform.python_version()}; the trainer uses {threads} thread(s)"
    )


def gemm_gflops(n: int = 1024, repeats: int = 20) -> float:
    """The float32 matrix-multiply rate of this machine with the current thread setting."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n**3 * repeats / (time.perf_counter() - start) / 1e9


def flops_per_epoch(name: str, n_train: int, n_test: int, batch: int = 128) -> float:
    """Forward + backward FLOPs of the training images plus forward FLOPs of the test images, counted from
    the model's operators by torch.utils.flop_counter."""
    model = models.build(name).train()
    x, y = torch.randn(batch, 1, 28, 28), torch.randint(0, 10, (batch,))
    with FlopCounterMode(display=False) as counter:
        F.nll_loss(model(x), y).backward()
    per_train = counter.get_total_flops() / batch
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model.eval()(x)
    return per_train * n_train + counter.get_total_flops() / batch * n_test


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


# --- (a) one epoch, ours and the documents' ---------------------------------------------------------------


def documents_model(name: str) -> torch.nn.Module:
    """The network as the documents built it, from torch.nn's layers: each of trainer/layers.py's faster
    subclasses becomes its torch.nn base class (they add no state, so the weights stay as initialised)."""
    model = models.build(name)
    for module in model.modules():
        if type(module).__module__ == layers.__name__:
            module.__class__ = type(module).__mro__[1]
    return model


def documents_epoch(data_dir: Path, name: str, batch_size: int) -> dict:
    """The documents' loop, as their notebooks wrote it (examples/mnist/main.py with a DataLoader), with
    torch's default thread count."""
    from torchvision import datasets, transforms
    from tqdm import tqdm

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
    model = documents_model(name)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    start, cpu = time.perf_counter(), time.process_time()
    model.train()
    pbar = tqdm(train_loader, file=sys.stderr)
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
        f"Test set: Average loss: {test_loss / n:.4f}, Accuracy: {correct}/{n} ({100.0 * correct / n:.2f}%)",
        file=sys.stderr,
    )
    return {
        "seconds": time.perf_counter() - start,
        "cpu_seconds": time.process_time() - cpu,
        "threads": torch.get_num_threads(),
    }


def trainer_epoch(data_dir: Path, name: str, threads: int | None, precision: str = "auto") -> dict:
    """One epoch of `trainer train --model NAME --batch-size 128 [--precision P]`: its seconds as log.json
    records them."""
    threads = runtime.configure(threads)
    device = torch.device("cpu")
    hp = config.for_model(name, batch_size=128, threads=threads, precision=precision)
    hp = train.resolve_precision(hp, device)
    data = train.load_mnist(data_dir, device, None, log=lambda line: None)
    state = train.make_state(name, hp, 1, data.train_x.device, train.steps_per_epoch(60_000, hp.batch_size))
    cpu = time.process_time()
    with contextlib.redirect_stdout(sys.stderr):
        seconds = train.run_epoch(state, data, hp, 1)["seconds"]
    cpu = time.process_time() - cpu
    return {"seconds": seconds, "cpu_seconds": cpu, "threads": threads, "precision": hp.precision}


# Each side in a fresh interpreter: the documents' with torch's defaults, as they ran it.
CHILD = {
    "documents": "import torch, sys, json\nfrom trainer import bench\n"
    "if sys.argv[3] != 'auto':\n    torch.set_num_threads(int(sys.argv[3]))\n"
    "print(json.dumps(bench.documents_epoch(bench.Path(sys.argv[1]), sys.argv[2], 128)))",
    "trainer": "import sys, json\nfrom trainer import bench\n"
    "t = None if sys.argv[3] == 'auto' else int(sys.argv[3])\n"
    "print(json.dumps(bench.trainer_epoch(bench.Path(sys.argv[1]), sys.argv[2], t, sys.argv[4])))",
}


def child_epoch(side: str, data_dir: Path, name: str, threads: int | None, precision: str = "auto") -> dict:
    thread_arg = "auto" if threads is None else str(threads)
    done = subprocess.run(
        [sys.executable, "-c", CHILD[side], str(data_dir), name, thread_arg, precision],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.splitlines()[-1])


def part_a(
    data_dir: Path, threads: int, gemm: float, precisions: list[str], documents_threads: int | None = None
) -> float:
    """One seed002 epoch through this trainer in each of `precisions`, then through the documents' loop
    (torch's default threads unless `documents_threads`); prints each and the speed-ups; returns the
    documents' epoch in seconds (part (b)'s unit)."""
    flops = flops_per_epoch(PART_A_MODEL, 60_000, 10_000)
    runs = [("trainer", "trainer", p) for p in precisions] + [("documents", "documents' loop", "float32")]
    results = {}
    for side, label, precision in runs:
        before = load()
        n = threads if side == "trainer" else documents_threads
        result = results[side, precision] = child_epoch(side, data_dir, PART_A_MODEL, n, precision)
        gflops = flops / result["seconds"] / 1e9
        print(
            f"(a) {label}, {PART_A_MODEL}, batch 128, {result['threads']} thread(s), "
            f"{result.get('precision', 'float32')}: "
            f"{result['seconds']:.2f} s/epoch (CPU time {result['cpu_seconds']:.1f} s), "
            f"{60_000 / result['seconds']:,.0f} train images/s incl. the test pass, "
            f"{gflops:.1f} effective GFLOP/s = {gflops / gemm:.0%} of GEMM; {before} before, {load()} after"
        )
    documents = results["documents", "float32"]
    for precision in precisions:
        ours = results["trainer", precision]
        print(
            f"(a) speed-up, {ours['precision']}: {documents['seconds'] / ours['seconds']:.2f}x "
            f"(target >= 2.0x); in CPU time {documents['cpu_seconds'] / ours['cpu_seconds']:.2f}x"
        )
    return documents["seconds"]


# --- (compile) torch.compile's cost and gain ---------------------------------------------------------------


def _train_step(
    model: torch.nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor
) -> None:
    optimizer.zero_grad(set_to_none=True)
    F.cross_entropy(model(x), y, label_smoothing=0.1).backward()
    optimizer.step()


def compile_gain(name: str, rounds: int = 8, steps: int = 10) -> dict:
    """Seconds of the first compiled step, and the median ms of a step eager and compiled over `rounds`
    interleaved rounds of `steps` (float32, batch 128, random data, the trainer's SGD)."""
    x, y = torch.randn(128, 1, 28, 28), torch.randint(0, 10, (128,))

    def make(plain: bool) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
        torch.manual_seed(0)
        model = (documents_model(name) if plain else models.build(name)).train()
        return model, torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, foreach=True)

    eager = make(plain=False)
    model, optimizer = make(plain=True)
    start = time.perf_counter()
    compiled = (torch.compile(model), optimizer)
    _train_step(*compiled, x, y)
    first = time.perf_counter() - start
    for _ in range(3):
        _train_step(*eager, x, y)
        _train_step(*compiled, x, y)
    times: dict[str, list[float]] = {"eager": [], "compiled": []}
    for _ in range(rounds):
        for label, (m, o) in (("eager", eager), ("compiled", compiled)):
            start = time.perf_counter()
            for _ in range(steps):
                _train_step(m, o, x, y)
            times[label].append((time.perf_counter() - start) / steps * 1e3)
    return {"compile_s": first} | {label: statistics.median(ms) for label, ms in times.items()}


def part_compile(names: tuple[str, ...] = ("default", PART_A_MODEL)) -> None:
    steps = 2 * train.steps_per_epoch(60_000, 128)
    for name in names:
        try:
            r = compile_gain(name)
        except Exception as e:  # no C++ compiler, an unsupported platform: a finding, not a crash
            print(f"(compile) {name}: torch.compile failed here ({type(e).__name__}: {one_line(e, 200)})")
            continue
        saved = (r["eager"] - r["compiled"]) * steps / 1e3
        print(
            f"(compile) {name}: first compiled step {r['compile_s']:.1f} s; a step eager {r['eager']:.1f} "
            f"ms, compiled {r['compiled']:.1f} ms (medians, interleaved): {saved:+.1f} s over two epochs "
            f"({steps} steps) against {r['compile_s']:.1f} s of compiling; {load()}"
        )


# --- (b) the shipped recipe over seeds -------------------------------------------------------------------


# The recipes part (b) can train: the presets' shipped settings (`trainer train --model NAME`) and the
# candidates of trainer/config.py.
RECIPES = ("default", "tiny", "default16", *config.CANDIDATES)


def recipe(name: str) -> tuple[str, dict]:
    """(model, overrides of its shipped settings) for a name of RECIPES."""
    return config.CANDIDATES.get(name, (name, {}))


def summary_line(label: str, values: list[float], unit: str, digits: int) -> str:
    return (
        f"{label}: mean {statistics.mean(values):.{digits}f}{unit}, min {min(values):.{digits}f}{unit}, "
        f"max {max(values):.{digits}f}{unit}"
    )


def passed(lasts: list[float]) -> int:
    """How many runs ended (their last epoch) at the documents' goal or above."""
    return sum(acc >= train.TARGET_ACC for acc in lasts)


def part_b(
    data_dir: Path,
    seeds: list[int],
    threads: int | None,
    out: Path | None,
    name: str = "default",
    precision: str = "auto",
    documents_seconds: float | None = None,
) -> dict:
    """`trainer train --model MODEL --precision PRECISION --seed S` for every seed, as a sweep of one setting
    with one worker, MODEL and its settings from the recipe `name` (RECIPES): a line per seed and a summary;
    returns the summary row (`summary_table` prints them). `documents_seconds` (part (a)'s documents' epoch,
    same bench run) turns the seconds into multiples of it."""
    from . import grid, sweep, sweep_cli

    model, overrides = recipe(name)
    # threads None: as `trainer train`
    hp = config.for_model(model, threads=threads, precision=precision, **overrides)
    runtime.configure(threads)
    hp = train.resolve_precision(hp, torch.device("cpu"))
    print(
        f"(b) {name}: `trainer train --model {model} --precision {hp.precision}`"
        f"{' with ' + str(overrides) if overrides else ''}: {hp.epochs} epochs, {hp.batch_size} a batch, "
        f"{hp.schedule}, {hp.optimizer}, weight decay {hp.weight_decay:g}, label smoothing "
        f"{hp.label_smoothing:g}, {hp.augmentation}; test pass float32, {hp.testing}"
    )
    firsts, lasts, totals = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        # A folder per recipe and precision: runs of two recipes share their names (default_seed=1).
        folder, before = (out or Path(tmp)) / f"{name}-{hp.precision}", load()
        runs = grid.runs(model, hp, [], seeds)
        pool = sweep.LocalPool(workers=1)
        sweep_cli.run_grid(runs, folder, pool, device="cpu", data_dir=data_dir, threads=threads, say=print)
        for seed, run in zip(seeds, runs, strict=True):
            log = json.loads((folder / run.name / train.LOG).read_text())
            accs = " ".join(f"{row['test_acc']:.2f}" for row in log["epochs"])
            first, seconds = train.first_at_target(log["epochs"])
            last = log["epochs"][-1]["test_acc"]
            total = sum(row["seconds"] for row in log["epochs"])
            reached = f"epoch {first} after {seconds:.1f} s" if first else "not reached"
            threads_used = "/".join(str(row["threads"]) for row in log["epochs"])
            print(
                f"(b) seed {seed}: test acc per epoch {accs}; last {last:.2f}%; >= 99.40%: {reached}; "
                f"best {log['best_test_acc']:.2f}% (epoch {log['best_epoch']}); {total:.1f} s in all; "
                f"threads {threads_used}; {before} before"
            )
            lasts.append(last)
            totals.append(total)
            if first:
                firsts.append(seconds)
    print(f"(b) {len(seeds)} seeds: " + summary_line("last-epoch test accuracy", lasts, "%", 2))
    print(f"(b) {len(seeds)} seeds: " + summary_line("seconds to the result (all epochs)", totals, " s", 1))
    if firsts:
        print(
            f"(b) {len(firsts)} of {len(seeds)} seeds had an epoch at >= 99.40% "
            f"({passed(lasts)} of {len(seeds)} at the last); "
            + summary_line("seconds to the first epoch >= 99.40%", firsts, " s", 1)
        )
    else:
        print("(b) no seed reached 99.40%")
    return {
        "model": name,
        "params": log["params"],
        "epochs": hp.epochs,
        "precision": hp.precision,
        "lasts": lasts,
        "seconds": totals,
        "documents_seconds": documents_seconds,
    }


def summary_table(rows: list[dict]) -> str:
    """Part (b)'s recipes side by side, airbench's way: the last epoch's accuracy over the seeds and the
    seconds to it, also as a multiple of the documents' epoch measured in the same bench run."""
    lines = [
        "| recipe | params | epochs | precision | seeds | mean | min | max | >= 99.40% "
        "| s to the result: mean (max) | x documents' epoch: mean (max) |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lasts, seconds, unit = row["lasts"], row["seconds"], row["documents_seconds"]
        multiple = (
            f"{statistics.mean(seconds) / unit:.2f}x ({max(seconds) / unit:.2f}x)" if unit else "not measured"
        )
        lines.append(
            f"| {row['model']} | {row['params']:,} | {row['epochs']} | {row['precision']} | {len(lasts)} "
            f"| {statistics.mean(lasts):.2f}% | {min(lasts):.2f}% | {max(lasts):.2f}% "
            f"| {passed(lasts)} of {len(lasts)} "
            f"| {statistics.mean(seconds):.1f} ({max(seconds):.1f}) | {multiple} |"
        )
    return "\n".join(lines)


def precisions(choice: str) -> list[str]:
    """The precisions a bench run measures: `auto` what `trainer train` picks here, `both` bfloat16 (only
    where native: emulated, it is several times slower and says nothing about a real run) and float32."""
    native = runtime.precision("cpu")
    if choice == "auto":
        return [native]
    if choice == "both":
        if native != "bfloat16":
            print("bfloat16 skipped: this CPU has no native bfloat16 (no AVX512-BF16 or AMX)")
        return ["bfloat16", "float32"] if native == "bfloat16" else ["float32"]
    return [choice]


# --- the README's table -----------------------------------------------------------------------------------


def results_table(runs: Path) -> str:
    """The README's table, in Markdown, from the finished runs under `runs` (e.g. output/mnist)."""
    rows = [
        "| model | seed | params | epochs | last epoch | first >= 99.40% (s) | best (epoch) | s | run |",
        "|---|---:|---:|---:|---:|---|---|---:|---|",
    ]
    logs = [(json.loads(path.read_text()), path) for path in runs.glob("*/log.json")]
    # By model, then seed as a number (a sweep's folders `default_seed=10` sort before `default_seed=2`).
    logs.sort(key=lambda item: (str(item[0].get("model")), str(item[0].get("seed")).zfill(12), item[1].name))
    for log, log_path in logs:
        if not log.get("finished_at"):
            continue
        first, seconds = train.first_at_target(log["epochs"])
        total = sum(row["seconds"] for row in log["epochs"])
        reached = f"{first} ({seconds:.0f} s)" if first else "-"
        rows.append(
            f"| {log['model']} | {log['seed']} | {log['params']:,} | {len(log['epochs'])} "
            f"| {log['epochs'][-1]['test_acc']:.2f}% | {reached} | {log['best_test_acc']:.2f}% "
            f"({log['best_epoch']}) | {total:.0f} | {log_path.parent.name} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m trainer.bench", description=__doc__.splitlines()[0])
    p.add_argument("--part", choices=("a", "b", "all", "compile"), default="all", help="all: (a) and (b)")
    p.add_argument("--data-dir", type=Path, default=Path("data"))
    p.add_argument("--threads", type=int, help="default: as `trainer train` decides (trainer/runtime.py)")
    p.add_argument(
        "--precision",
        choices=("auto", "float32", "bfloat16", "both"),
        default="auto",
        help="of the training passes in (a) and (b): auto (as `trainer train`), or both (bfloat16 if native)",
    )
    p.add_argument(
        "--documents-threads",
        type=int,
        help="(a) pins the documents' loop's threads (default torch's, as they ran it; on a busy machine its "
        "two OpenMP threads wait for each other, and 1 is the fairer comparison)",
    )
    p.add_argument("--seeds", type=int, default=10, help="(b) trains seeds 1..N (default 10)")
    p.add_argument("--recipes", default="default", help=f"(b) comma-separated, among {', '.join(RECIPES)}")
    p.add_argument(
        "--out",
        type=Path,
        help="(b) keeps its run folders here, in OUT/RECIPE-PRECISION/ (default: a temporary folder)",
    )
    p.add_argument("--table", type=Path, metavar="RUNS", help="only print the results table of RUNS/*/")
    args = p.parse_args(argv)
    if args.table is not None:
        print(results_table(args.table))
        return 0
    print(f"{load()} at the start")
    cores = torch.get_num_threads()  # torch's default: the physical cores
    threads = runtime.configure(args.threads)
    print(f"machine: {machine(cores, threads)}")
    gemm = gemm_gflops()
    print(f"float32 GEMM (1024^3): {gemm:.1f} GFLOP/s with {threads} thread(s)")
    augment_costs()
    recipes = args.recipes.split(",")
    if not set(recipes) <= set(RECIPES):
        p.error(f"--recipes: choose among {', '.join(RECIPES)}")
    chosen = precisions(args.precision)
    documents = (
        part_a(args.data_dir, threads, gemm, chosen, args.documents_threads)
        if args.part in ("a", "all")
        else None
    )
    if args.part == "compile":
        part_compile()
    if args.part in ("b", "all"):
        seeds = list(range(1, args.seeds + 1))
        rows = [
            part_b(args.data_dir, seeds, args.threads, args.out, name, precision, documents)
            for name in recipes
            for precision in chosen
        ]
        print(f"(b) summary, documents' epoch {documents:.1f} s:" if documents else "(b) summary:")
        print(summary_table(rows))
    print(f"{load()} at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

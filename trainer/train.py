"""The training loop, in the shape of PyTorch's examples/mnist/main.py: `train()` one epoch, `test()` one
pass, and `fit()` around them, which owns the run folder, the checkpoints and resuming.

The whole data set lives on the model's device as normalized float tensors (converted once); batches are
index slices of a seeded permutation; augmentation runs on whole batches. After every epoch `checkpoint.pt`
and `log.json` are replaced atomically, so a killed run resumes from its last finished epoch and, on a CPU
with the same seed, ends with exactly the weights an uninterrupted run would have.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import torch
import torch.nn.functional as F
import torchinfo
from torch import nn
from tqdm import tqdm

from xlsxedit import files
from xlsxedit.files import remove_leftovers, write_atomic

from . import augment, config, evaluate, grid, models, runtime
from .config import TARGET_ACC
from .errors import UserError, one_line

LOG = "log.json"
CHECKPOINT = "checkpoint.pt"
FINAL = "model.pt"
SUMMARY = "summary.txt"


@dataclass
class Tensors:
    """Normalized images [N, 1, 28, 28] float32 and int64 labels, already on the training device."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor


def to_tensors(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    test_x: torch.Tensor,
    test_y: torch.Tensor,
    device: torch.device,
    limit_train: int | None = None,
) -> Tensors:
    """uint8 [N, 28, 28] images to normalized float, once, on `device`; `limit_train` keeps the first N."""

    def images(x: torch.Tensor) -> torch.Tensor:
        return ((x.to(device).float().div_(255) - config.MEAN) / config.STD).unsqueeze(1).contiguous()

    if limit_train is not None:
        train_x, train_y = train_x[:limit_train], train_y[:limit_train]
    return Tensors(images(train_x), train_y.to(device), images(test_x), test_y.to(device))


def load_mnist(
    data_dir: Path, device: torch.device, limit_train: int | None, log: Callable[[str], None] = print
) -> Tensors:
    from . import data  # torchvision's import is slow; only training needs it

    mnist = data.load(data_dir, log)
    return to_tensors(mnist.train_x, mnist.train_y, mnist.test_x, mnist.test_y, device, limit_train)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    available = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available()}
    if not available[name]:
        raise UserError(f"--device {name} is not available on this machine; use --device auto or cpu")
    return torch.device(name)


@dataclass
class State:
    """Everything an epoch changes, so that a checkpoint can restore it exactly."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    shuffle: torch.Generator  # on the CPU: permutations are made there and moved
    augment: torch.Generator  # on the model's device
    log: dict = field(default_factory=dict)
    # The last test pass's answers (evaluate.answer per image), for results.json; not part of a checkpoint.
    answers: tuple[torch.Tensor, torch.Tensor] | None = None

    def checkpoint(self) -> dict:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            "shuffle_rng": self.shuffle.get_state(),
            "augment_rng": self.augment.get_state(),
            "epoch": len(self.log["epochs"]),
            "log": self.log,
        }

    def restore(self, saved: dict) -> None:
        self.model.load_state_dict(saved["model"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.scheduler.load_state_dict(saved["scheduler"])
        torch.set_rng_state(saved["torch_rng"])
        if saved["cuda_rng"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(saved["cuda_rng"])
        self.shuffle.set_state(saved["shuffle_rng"])
        self.augment.set_state(saved["augment_rng"])
        self.log = saved["log"]


def steps_per_epoch(n: int, batch_size: int) -> int:
    return math.ceil(n / batch_size)  # the last, smaller batch is kept, as a DataLoader does


def make_state(name: str, hp: config.Hyper, seed: int, device: torch.device, steps_per_epoch: int) -> State:
    total = hp.epochs * steps_per_epoch
    if total * hp.pct_start <= 1:  # OneCycleLR divides by the warm-up's length in steps
        raise UserError(
            f"{total} training steps are too few for the OneCycle schedule; "
            "raise --epochs or --limit-train, or lower --batch-size"
        )
    torch.manual_seed(seed)
    model = models.build(name).to(device)
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=hp.lr,
        momentum=hp.momentum,
        nesterov=hp.nesterov,
        weight_decay=hp.weight_decay,
        foreach=True,  # one multi-tensor update for all parameters: 0.34 against 0.51 ms a step here
    )
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=hp.lr,
        epochs=hp.epochs,
        steps_per_epoch=steps_per_epoch,
        pct_start=hp.pct_start,
        base_momentum=hp.base_momentum,
        max_momentum=hp.momentum,
    )
    shuffle = torch.Generator().manual_seed(seed)
    aug = torch.Generator(device=device).manual_seed(seed + 1)
    return State(model, optimizer, scheduler, shuffle, aug)


def resolve_precision(hp: config.Hyper, device: torch.device) -> config.Hyper:
    """`precision="auto"` made concrete for `device` (runtime.precision); explicit choices are kept."""
    if hp.precision == "auto":
        return dataclasses.replace(hp, precision=runtime.precision(device.type))
    return hp


def train(state: State, data: Tensors, hp: config.Hyper, epoch: int) -> tuple[float, float]:
    """One epoch over a fresh permutation; returns (mean loss, accuracy %)."""
    model, device = state.model, data.train_x.device
    model.train()
    n = len(data.train_y)
    order = torch.randperm(n, generator=state.shuffle).to(device, non_blocking=True)
    batches = steps_per_epoch(n, hp.batch_size)
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), dtype=torch.long, device=device)
    bar = tqdm(range(batches), leave=True, file=sys.stdout, dynamic_ncols=True)
    for batch_id in bar:
        index = order[batch_id * hp.batch_size : (batch_id + 1) * hp.batch_size]
        x, y = data.train_x[index], data.train_y[index]
        if hp.augments:
            x = augment.affine(x, hp.degrees, hp.shift_px, state.augment, config.BACKGROUND)
        state.optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=hp.bf16):
            output = model(x).float()
        loss = F.cross_entropy(output, y, label_smoothing=hp.label_smoothing)
        loss.backward()
        state.optimizer.step()
        state.scheduler.step()
        loss_sum += loss.detach() * len(y)
        correct += (output.argmax(1) == y).sum()
        # .item() waits for the device; on a GPU, asking every batch would serialize the loop.
        if device.type == "cpu" or batch_id % 20 == 0 or batch_id == batches - 1:
            bar.set_description(f"loss={loss.item()} batch_id={batch_id}", refresh=False)
    return loss_sum.item() / n, 100.0 * correct.item() / n


@torch.no_grad()
def test(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int, shift_px: int = 0) -> dict:
    """The test pass, printed the documents' way (the image alone). With `shift_px` the recipe's answer is
    evaluate.log_probs's (the mean over an image and its four shifted copies where the net is unsure of the
    image alone), printed on a second line. Returns the answer's mean loss and number correct, the image
    alone's, and each image's answer (evaluate.answer).
    """
    model.eval()
    sums = torch.zeros(4, device=x.device)  # loss, correct: of the answer, then of the image alone
    digits, probs = [], []
    for start in range(0, len(y), batch_size):
        plain, answer = evaluate.log_probs(model, x[start : start + batch_size], shift_px)
        target = y[start : start + batch_size]
        digit, prob = evaluate.answer(answer)
        digits.append(digit)
        probs.append(prob)
        sums[0] += F.nll_loss(answer, target, reduction="sum")
        sums[1] += (digit == target).sum()  # float32 counts are exact to 2^24
        if shift_px:
            sums[2] += F.nll_loss(plain, target, reduction="sum")
            sums[3] += (plain.argmax(1) == target).sum()
    if not shift_px:  # the answer is the image alone's
        sums[2:] = sums[:2]
    n = len(y)
    loss_sum, right, plain_loss_sum, plain_right = sums.tolist()
    loss, plain_loss = loss_sum / n, plain_loss_sum / n
    alone = f"Accuracy: {plain_right:.0f}/{n} ({100 * plain_right / n:.2f}%)"
    print(f"Test set: Average loss: {plain_loss:.4f}, {alone}")
    if shift_px:
        print(
            f"Test set, {config.shift_rule(shift_px)}: Average loss: {loss:.4f}, "
            f"Accuracy: {right:.0f}/{n} ({100 * right / n:.2f}%)"
        )
    return {
        "loss": loss,
        "correct": round(right),
        "plain_loss": plain_loss,
        "plain_correct": round(plain_right),
        "answers": (torch.cat(digits), torch.cat(probs)),
    }


def summary(model: nn.Module, device: torch.device | str = "cpu") -> torchinfo.ModelStatistics:
    # A forward pass through Dropout draws random numbers: keep them out of the seeded sequence.
    with torch.random.fork_rng(devices=[]):
        return torchinfo.summary(
            model,
            input_size=(1, 1, 28, 28),
            col_names=("output_size", "num_params"),
            device=device,
            verbose=0,
        )


def layer_table(stats: torchinfo.ModelStatistics) -> list[dict]:
    """The leaf layers of the summary as log.json records them, with the batch dimension written -1."""
    return [
        {
            "layer": f"{layer.class_name}: {layer.depth}-{layer.depth_index}",
            "output_shape": [-1, *layer.output_size[1:]],
            "params": layer.num_params,
        }
        for layer in stats.summary_list
        if layer.is_leaf_layer
    ]


def now() -> str:
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")


def save_epoch(run_dir: Path, state: State) -> None:
    """The checkpoint, then the log: each replaced atomically, so a kill at any moment leaves a pair that
    resumes. A write that fails (a full disk) is a UserError: the last saved epoch still resumes."""
    try:
        write_atomic(run_dir / CHECKPOINT, lambda p: torch.save(state.checkpoint(), p))
        write_atomic(run_dir / LOG, lambda p: p.write_text(json.dumps(state.log, indent=2) + "\n"))
    except OSError as e:
        done = max(len(state.log.get("epochs", [])) - 1, 0)
        raise UserError(
            f"{run_dir}: cannot save epoch {done + 1} ({files.reason(e)}); fix that, then resume from epoch "
            f"{done} with: trainer train --resume {run_dir}"
        ) from None


def new_run_dir(out: Path, model: str) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir, n = out / f"{model}-{stamp}", 1
    try:
        while True:
            try:
                run_dir.mkdir(parents=True)
                return run_dir
            except FileExistsError:  # two runs in one second (tests, scripts)
                if not out.is_dir():
                    raise
                run_dir, n = out / f"{model}-{stamp}-{n}", n + 1
    except OSError as e:
        raise UserError(
            f"--out {out}: cannot create a run folder there ({files.reason(e)}); pass another --out"
        ) from None


def first_at_target(epochs: list[dict]) -> tuple[int | None, float | None]:
    """The first epoch at >= 99.40% and the seconds of training (train + test passes) it took to get there."""
    seconds = 0.0
    for row in epochs:
        seconds += row["seconds"]
        if row["test_acc"] >= TARGET_ACC:
            return row["epoch"], seconds
    return None, None


def run_epoch(state: State, data: Tensors, hp: config.Hyper, epoch: int) -> dict:
    """One training pass and one test pass; the row log.json records for it. A loss that is no longer a
    number (too high a learning rate) stops the run before this epoch is saved."""
    start = time.perf_counter()
    train_loss, train_acc = train(state, data, hp, epoch)
    if not math.isfinite(train_loss):
        raise UserError(
            f"training diverged in epoch {epoch} (loss {train_loss}); lower --lr (it was {hp.lr:g})"
        )
    # The shifted copies answer for the run (the last epoch) only: the earlier test passes are the documents'
    # progress lines (and the shifted pass takes 1.1 to 1.3 s here against 0.8 s for the image alone).
    shift_px = hp.test_shift_px if epoch == hp.epochs else 0
    tested = test(state.model, data.test_x, data.test_y, hp.test_batch_size, shift_px)
    state.answers = tested["answers"]
    n = len(data.test_y)
    row = {
        "epoch": epoch,
        "train_loss": train_loss,
        "train_acc": train_acc,
        "test_loss": tested["loss"],
        "test_correct": tested["correct"],
        "test_acc": 100.0 * tested["correct"] / n,  # the recipe's answer: with its test shifts, if any
        "lr": state.scheduler.get_last_lr()[0],  # where the schedule stands at the end of the epoch
        "seconds": round(time.perf_counter() - start, 3),
        "threads": torch.get_num_threads(),
    }
    if shift_px:
        row |= {
            "plain_test_loss": tested["plain_loss"],
            "plain_test_correct": tested["plain_correct"],
            "plain_test_acc": 100.0 * tested["plain_correct"] / n,
        }
    return row


class Interrupted(Exception):
    """Ctrl-C during training, raised once the last finished epoch is safely on disk."""

    def __init__(self, run_dir: Path, epochs_done: int) -> None:
        super().__init__(f"interrupted after {epochs_done} finished epochs")
        self.run_dir, self.epochs_done = run_dir, epochs_done


CHECKPOINT_KEYS = {"model", "optimizer", "scheduler", "torch_rng", "shuffle_rng", "augment_rng", "epoch"}
MAX_CHECKPOINT_BYTES = 256 * 2**20  # ours are ~0.3 MB


def _fits(weights: object, model: dict) -> bool:
    """Whether a saved state_dict has exactly the model's tensors, shape for shape."""
    if not isinstance(weights, dict) or weights.keys() != model.keys():
        return False
    return all(isinstance(weights[k], torch.Tensor) and weights[k].shape == t.shape for k, t in model.items())


def _shapes_of(name: str) -> dict:
    """A preset's state_dict on the meta device: its tensors' shapes, without allocating or initialising them
    (so without drawing from torch's random generator, which a resume restores from the checkpoint)."""
    with torch.device("meta"):
        return models.build(name).state_dict()


def load_checkpoint(run_dir: Path) -> dict:
    """A run folder's checkpoint.pt, read as data (`weights_only=True`: tensors, numbers, strings and
    containers, never code) onto the CPU and checked for what resuming needs. Anything else, a truncated file
    or someone else's pickle included, is a UserError naming the file."""
    path = run_dir / CHECKPOINT
    if not path.is_file():
        raise UserError(f"{path} not found: --resume needs a run folder written by `trainer train`")
    if path.stat().st_size > MAX_CHECKPOINT_BYTES:
        raise UserError(f"{path}: {path.stat().st_size >> 20} MiB is not a checkpoint of this trainer")
    remove_leftovers(path)  # what a kill -9 during a save left beside it
    remove_leftovers(run_dir / LOG)
    try:
        # Runs saved before torch_version was stored as text hold a TorchVersion, a str subclass: harmless.
        with torch.serialization.safe_globals([torch.torch_version.TorchVersion]):
            saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many kinds for a truncated zip or a refused pickle
        raise UserError(
            f"{path}: not a checkpoint this trainer can resume ({one_line(e, 160)}); start a new run instead"
        ) from None
    log = saved.get("log") if isinstance(saved, dict) else None
    problem = None
    if not isinstance(saved, dict) or not saved.keys() >= CHECKPOINT_KEYS or not isinstance(log, dict):
        problem = "it lacks what a checkpoint of `trainer train` holds"
    elif log.get("model") not in models.MODELS:
        problem = f"unknown model {str(log.get('model'))[:40]!r}"
    elif not isinstance(log.get("seed"), int) or not isinstance(log.get("hyperparameters"), dict):
        problem = "no seed or hyperparameters"
    elif not isinstance(log.get("epochs"), list):
        problem = "no epoch list"
    elif bad := grid.hyper_problem(log["hyperparameters"]):
        problem = f"hyperparameter {bad}"
    elif not _fits(saved["model"], _shapes_of(log["model"])):
        name = log["model"]
        problem = f"its {name} network is not this trainer's {name} (the layers' shapes differ)"
    if problem:
        raise UserError(f"{path}: not a checkpoint this trainer can resume ({problem}); start a new run")
    return saved


def fit(
    data: Tensors,
    hp: config.Hyper,
    *,
    model_name: str = "default",
    seed: int = 1,
    out: Path = Path("output/mnist"),
    resume: Path | None = None,
    saved: dict | None = None,
    stop_after: int | None = None,
) -> Path:
    """Trains (or resumes) a run and returns its folder. `saved` is resume's checkpoint when the caller has
    read it already (load_checkpoint). `stop_after` ends early after that many epochs *without* finishing the
    run, as a kill would: only tests use it. Ctrl-C raises `Interrupted` once the last finished epoch is
    safely on disk; the CLI turns it into the resume message."""
    device = data.train_x.device
    steps = steps_per_epoch(len(data.train_y), hp.batch_size)
    hp = resolve_precision(hp, device)
    if resume is not None:
        run_dir = resume
        saved = saved if saved is not None else load_checkpoint(run_dir)
        model_name, seed = saved["log"]["model"], saved["log"]["seed"]
    state = make_state(model_name, hp, seed, device, steps)
    stats = summary(state.model, device)
    print(stats)
    if resume is None:
        run_dir = new_run_dir(out, model_name)
        state.log = {
            "model": model_name,
            "params": models.param_count(state.model),
            "seed": seed,
            "device": str(device),
            "torch_version": str(torch.__version__),  # a plain string: checkpoints load as data only
            "started_at": now(),
            "finished_at": None,
            "hyperparameters": hp.describe(),
            "layers": layer_table(stats),
            "epochs": [],
            "best_test_acc": None,
            "best_epoch": None,
        }
        (run_dir / SUMMARY).write_text(str(stats) + "\n")
        save_epoch(run_dir, state)  # epoch 0: a run killed during its first epoch can resume too
    else:
        try:
            state.restore(saved)
        except (RuntimeError, KeyError, ValueError, TypeError) as e:  # tensors of another shape or model
            raise UserError(
                f"{run_dir / CHECKPOINT}: does not fit its own model ({one_line(e, 160)}); "
                "start a new run instead"
            ) from None
        print(f"Resuming {run_dir} after epoch {saved['epoch']}")

    saved_epochs = first_epoch = len(state.log["epochs"])
    try:
        for epoch in range(first_epoch + 1, hp.epochs + 1):
            if stop_after is not None and epoch > stop_after:
                return run_dir
            if hp.threads is None and epoch > first_epoch + 1:  # follow the load (the caller set the first)
                torch.set_num_threads(runtime.free_cores())
            state.log["epochs"].append(run_epoch(state, data, hp, epoch))
            best = max(state.log["epochs"], key=lambda row: row["test_acc"])  # the first of equals
            state.log["best_test_acc"], state.log["best_epoch"] = best["test_acc"], best["epoch"]
            save_epoch(run_dir, state)
            saved_epochs = epoch
    except KeyboardInterrupt:
        raise Interrupted(run_dir, saved_epochs) from None

    state.log["finished_at"] = now()
    save_epoch(run_dir, state)
    last = state.log["epochs"][-1]
    try:
        write_atomic(run_dir / FINAL, lambda p: torch.save(state.model.state_dict(), p))
        # What the MNIST sheet draws (confusion matrix, mistakes, kernels), so the export needs no model run.
        test_x, test_y = data.test_x, data.test_y
        # The last epoch's test answers, unless no epoch ran here (a resume after the last): then made again.
        evaluate.save_results(
            run_dir,
            state.model,
            test_x,
            test_y,
            hp.test_batch_size,
            last["epoch"],
            hp.test_shift_px,
            state.answers,
        )
    except OSError as e:
        raise UserError(
            f"{run_dir}: cannot save the final model ({files.reason(e)}); fix that, then finish with: "
            f"trainer train --resume {run_dir}"
        ) from None
    first, seconds = first_at_target(state.log["epochs"])
    total = sum(row["seconds"] for row in state.log["epochs"])
    verdict = "reaches" if last["test_acc"] >= TARGET_ACC else "misses"
    # The result is the last epoch: the test set does not pick the epoch. The best one is shown beside it.
    alone = last.get("plain_test_acc")
    rule = config.shift_rule(hp.test_shift_px)
    how = f"; {rule}, the image alone {alone:.2f}%" if alone is not None else ""
    print(
        f"Result: {last['test_acc']:.2f}% after epoch {last['epoch']} (the last{how}), {verdict} the "
        f"{TARGET_ACC:.2f}% target; {total:.1f} s of training (train + test passes)"
    )
    print(f"Best test accuracy: {state.log['best_test_acc']:.2f}% at epoch {state.log['best_epoch']}")
    if first is not None:
        print(f"First epoch at >= {TARGET_ACC:.2f}%: {first}, after {seconds:.1f} s of training")
    else:
        print(f"No epoch reached {TARGET_ACC:.2f}%")
    print(f"Run saved in {run_dir}")
    return run_dir

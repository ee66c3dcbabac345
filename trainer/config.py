"""Every training hyperparameter in one place, with the evidence for the shipped values.

Evidence (bench/NOTES.md has the commands, every epoch and the load): 2-core AMD EPYC VM, no GPU, torch 2.15,
1 thread, shared with other jobs (load average 2 to 6), `trainer train --model default --seed S`:
    seed 1: best 99.54% (epoch 15), first >= 99.40% at epoch 13
    seed 2: best 99.54% (epoch 14), first >= 99.40% at epoch 12
    seed 3: best 99.58% (epoch 15), first >= 99.40% at epoch 13
    tiny (its own recipe below): 99.43%; seed001: 99.43%; seed002: 99.59% (one seed each).
    `python -m trainer.bench --threads 2`, nearly idle: first >= 99.40% after 199 s of training (epoch 13),
    so the 90 s target is NOT met; seed002 epoch 1.63x faster than the documents' loop.
"""

from dataclasses import asdict, dataclass, replace

import torch

# MNIST's own pixel statistics over the training set (the documents' Normalize((0.1307,), (0.3081,))).
MEAN = 0.1307
STD = 0.3081

DOCUMENTS_EPOCH_LIMIT = 20  # "fewer than 20 epochs" in the documents' rule


@dataclass(frozen=True)
class Hyper:
    epochs: int = 15
    batch_size: int = 128
    lr: float = 0.05  # OneCycle's peak
    pct_start: float = 0.25  # share of the steps spent warming up to the peak
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    label_smoothing: float = 0.0
    degrees: float = 5.0  # augmentation: rotation U(-5, 5) degrees ...
    shift_px: float = 1.0  # ... and shift U(-1, 1) pixels per axis, per sample
    # torch's default, the physical cores: on an idle 2-core machine 2 threads are 1.6x faster than 1; on a
    # machine busy with other jobs, spinning OpenMP threads can be 10x slower: pass --threads 1 there (NOTES).
    threads: int = torch.get_num_threads()
    test_batch_size: int = 1000
    limit_train: int | None = None

    @property
    def schedule(self) -> str:
        return f"OneCycle, max lr {self.lr:g}, {self.epochs} epochs, warm-up {self.pct_start:.0%}"

    @property
    def optimizer(self) -> str:
        return f"SGD momentum {self.momentum:g}" + (" nesterov" if self.nesterov else "")

    @property
    def augmentation(self) -> str:
        if not self.augments:
            return "none"
        return f"per-sample rotation ±{self.degrees:g}°, shift ±{self.shift_px:g} px (bilinear, batched)"

    @property
    def augments(self) -> bool:
        return self.degrees > 0 or self.shift_px > 0

    def describe(self) -> dict:
        """What log.json records: the fields plus the human-readable strings derived from them."""
        return asdict(self) | {
            "schedule": self.schedule,
            "optimizer": self.optimizer,
            "augmentation": self.augmentation,
        }


# The recipe every preset trains with unless the command line overrides it; per-model departures, if any,
# go here so that `trainer train --model NAME` is the one command that reproduces the results table.
PER_MODEL: dict[str, dict] = {
    "default": {},
    # Under 8k parameters the shared recipe underfits (99.35 %, training accuracy 99.0 %); with less
    # regularization it fits (training 99.5 %) but peaks at 99.39 %: so also a higher peak lr.
    "tiny": {"weight_decay": 1e-4, "degrees": 3.0, "shift_px": 0.5, "lr": 0.1},
    "seed001": {},
    "seed002": {},
}


def for_model(name: str, **overrides) -> Hyper:
    """The shipped hyperparameters for a model, with the command line's explicit choices on top."""
    given = {k: v for k, v in overrides.items() if v is not None}
    return replace(Hyper(**PER_MODEL.get(name, {})), **given)


def from_log(fields: dict) -> Hyper:
    """Rebuilds the hyperparameters a run recorded (log.json / checkpoint), ignoring the derived strings."""
    names = Hyper.__dataclass_fields__
    return Hyper(**{k: v for k, v in fields.items() if k in names})

"""Every training hyperparameter in one place, with the evidence for the shipped values.

The default since issue 18's fifth session (2026-11-29): the 8-channel network (models.default, 19,538
params), 2 epochs, lr 0.8, +-3 deg, +-0.5 px, constant momentum 0.9, the last test pass answering with the
mean over each image and its four 1 px shifts where the net is under 80% sure of the image alone (PER_MODEL,
TEST_SHIFT_BELOW). Evidence: 2-core AMD EPYC VM, AVX2 only (float32), torch 2.14.1, idle, the trainer's 2
threads, one run at a time; `python -m trainer.bench --part all --recipes default --precision float32 --seeds
10 --threads 2`, sixth session (2026-11-30, 00:47-01:01 UTC):
    result (epoch 2, with the shifts): 99.53 99.44 99.46 99.58 99.47 99.49 99.44 99.47 99.49 99.49% (seeds
        1-10): mean 99.49%, min 99.44%, 10 of 10 >= 99.40%; 41.1 s of training on average (max 45.9 s) =
        0.88x (0.98x) the documents' epoch (46.9 s, same run). The fifth session's runs, shifting every test
        image (five passes): the same accuracies to the digit, 44.5 s = 1.01x (44.0 s) and 44.2 s = 1.00x.
    the same runs' image alone: 99.54 99.41 99.41 99.51 99.43 99.46 99.38 99.37 99.46 99.51%: mean 99.45%,
        8 of 10. The shifts lifted the mean by 0.03% and the worst seed by 0.03-0.07% in every sample of
        saved models they were tried on (bench/NOTES.md); only the last epoch's test pass takes them.
    three epochs, the image alone (`--recipes three-epochs`, the fourth session's default): 99.50 99.50 99.54
        99.52 99.53 99.53 99.50 99.44 99.51 99.50%: mean 99.51%, min 99.44%; 63.7 s = 1.47x (43.5 s).
    Ten more two-epoch variants (momentum 0.93, lr 0.6/1.0, warm-up 15%, batch 96, identity and whitening
        initialisations), 1 thread, seeds 8, 2, 3, 1: means 99.40-99.45% against 99.45%: none kept.
    The same network with OneCycle's momentum cycle (0.95 to 0.85 and back, what every run before the fourth
    session had), two epochs, 1 thread, seeds 1-8: mean 99.40%; held at 0.9: 99.48%.
The default of issue 18's second and third sessions, now the `default16` preset (16 channels at 24 px, 19,434
params, 3 epochs, lr 0.8, +-3 deg, +-0.5 px, OneCycle's momentum cycle): the same VM, `python -m trainer.bench
--part all --recipes three-epochs,default --precision float32 --seeds 10` (three-epochs was this recipe's
candidate name, default the four epochs below; today `--recipes default16,four-epochs`):
    three epochs: last epoch 99.46 99.56 99.47 99.49 99.47 99.51 99.51 99.48 99.54 99.44% (seeds 1-10): mean
        99.49%, min 99.44%; 83.3 s of training on average = 1.81x the documents' epoch (45.9 s, same run).
    four epochs (now `--recipes four-epochs`): mean 99.50%, min 99.40%, 106.8 s = 2.33x.
    The same three epochs at load 9-16, 1 thread a run (the first session, below): 99.40-99.52%, mean 99.47%.
    bfloat16 (emulated on that VM: accuracy only), seeds 7 and 10: 99.51%, 99.50%.
    two epochs (now `--recipes default16-two-epochs`): mean 99.38%, min 99.28%, 3 of 10 >= 99.40%, 58.5 s =
        1.19x (49.2 s).
    (a) float32, seed002: 1.51x to 1.63x the documents' loop in four runs (both sides 2 threads): below 2.0x;
        1.43x in the fourth session's bench run (34.3 against 48.8 s).
Before, the four-epoch default (lr 0.4, +-5 deg, +-1 px), on the build machine of issue 8:
Evidence: 2-core AMD EPYC VM (AVX-512 with BF16: bfloat16 autocast in training), no GPU, torch 2.15
on the CPU, 2 threads, machine otherwise idle (load ~1), 2026-11-21; `python -m trainer.bench` (part (b) is
`trainer train --seed S` with these defaults for seeds 1-5):
    default, 4 epochs, 19,434 params: last-epoch test accuracy 99.50% mean, 99.45% min, 99.58% max (5 seeds);
        first epoch >= 99.40% after 34 s of training on average (28-40 s); 38-43 s for all four epochs.
    Seeds 6-10, 42, 1234 and 2026 (`trainer train --seed S`): last epoch 99.44-99.51%.
    (a) one seed002 epoch: 9.6 s through this trainer, 24.0 s through the documents' loop: 2.49x.
    `--precision float32` (CPUs without native bfloat16): default seeds 1, 2 end at 99.53%, 99.49%; (a) 1.52x.
    tiny, 8 epochs, batch 64, 7,766 params: seeds 1-5 and 42 end at 99.41-99.47% (thin margin, see NOTES).
    `--epochs 15`: 99.60% (seed 1). seed001: 99.55%, seed002: 99.58% in 15 epochs (write-ups: 99.41, 99.40).
(Below, `two-epochs` and `three-epochs` are the 16-channel network: now `default16-two-epochs`, `default16`)
Issue 18, 2026-11-29, another VM: AMD EPYC, 2 CPUs, AVX2 only (no bfloat16: `auto` runs float32),
torch 2.14.1, load average 9 to 16 (six engineers' jobs); `python -m trainer.bench --part b --recipes
two-epochs` trains the same runs (they were made with `trainer train --seed S --threads 1` and CANDIDATES'
values in Hyper), float32, seeds 1-10:
    two-epochs (2 epochs, lr 0.8, +-3 deg, +-0.5 px: the best of 8 two-epoch variants, bench/NOTES.md):
    99.43 99.46 99.48 99.29 99.40 99.42 99.26 99.35 99.45 99.36%: mean 99.39%, min 99.26%, 6 of 10 pass.
    The shipped recipe cut to `--epochs 2`: 99.36% (seed 1). Two epochs fall short of "every seed >= 99.40%",
    so the default kept the four epochs above.
    three-epochs (the same, `--epochs 3`), seeds 1-10: 99.44 99.49 99.49 99.49 99.46 99.48 99.43 99.40 99.52
    99.50%: mean 99.47%, min 99.40%, 10 of 10 (run 4-6 at a time; seconds meaningless at that load).
tiny, the same VM, float32, 1 thread a run (`trainer train --model tiny --seed S --threads 1`), seeds 1-10:
    99.45 99.46 99.51 99.52 99.48 99.42 99.48 99.46 99.49 99.45%: mean 99.47%, min 99.42% (issue 18's bar:
    min >= 99.42%, mean >= 99.45%: met, the worst seed exactly on it). 2 threads (`python -m trainer.bench
    --part b --recipes tiny --precision float32 --seeds 10`): 99.44 99.38 99.44 99.50 99.42 99.45 99.48 99.47
    99.55 99.47%: mean 99.46%, min 99.38%: missed. Without its dropout (1 thread): mean 99.47%, min 99.41%.
bench/NOTES.md has the experiments behind the recipe (26 variants over 2 to 8 seeds each; issue 18's 12, and
the cheaper two-epoch networks of its third session).
"""

from dataclasses import asdict, dataclass, replace

# MNIST's own pixel statistics over the training set (the documents' Normalize((0.1307,), (0.3081,))).
MEAN = 0.1307
STD = 0.3081
BACKGROUND = -MEAN / STD  # a blank pixel after normalization: what augmentation fills uncovered pixels with
MAX_TEST_SHIFT_PX = 4  # test_shift_px: a digit moved further off its 20 px box is no longer one the net saw
# test_shift_px shifts only the images whose image-alone answer the network gives less than this probability.
# Issue 18, sixth session (bench/NOTES.md): over 162 distinct trained models (the default, its recipe
# variants, tiny, the 16-channel network; 1,620,000 test answers) the four shifts changed no answer the image
# alone gave with more than 0.73 (0.64 with the shipped label smoothing; 0.73 without any); 8% of the images
# fall under 0.8. So the last test pass costs ~1.5 passes, not 5 (2.5 s less of a 44 s run), and every answer
# measured equals the five-view mean's.
TEST_SHIFT_BELOW = 0.8


def shift_rule(px: int) -> str:
    """The test shifts' rule in words, for every place that states it (log, settings, result lines)."""
    unsure = f"the net is under {TEST_SHIFT_BELOW:.0%} sure of the image alone"
    return f"mean over the image and its 4 shifts of {px} px where {unsure}"


DOCUMENTS_EPOCH_LIMIT = 20  # "fewer than 20 epochs" in the documents' rule
TARGET_ACC = 99.4  # percent: the documents' goal (train.py's verdict, the export's target line)


@dataclass(frozen=True)
class Hyper:
    epochs: int = 4
    batch_size: int = 128
    lr: float = 0.4  # OneCycle's peak
    pct_start: float = 0.25  # share of the steps spent warming up to the peak
    # SGD's momentum, which OneCycle moves against the learning rate: `momentum` at the start and the end of
    # the cycle, `base_momentum` at the lr's peak (torch's OneCycleLR defaults). Until issue 18's fourth
    # session this field read 0.9 and nothing used it: OneCycleLR overwrote it with its own 0.95 and 0.85.
    momentum: float = 0.95
    base_momentum: float = 0.85
    nesterov: bool = True
    weight_decay: float = 1e-4
    label_smoothing: float = 0.1
    degrees: float = 5.0  # augmentation: rotation U(-5, 5) degrees ...
    shift_px: float = 1.0  # ... and shift U(-1, 1) pixels per axis, per sample
    # None: the physical cores that other jobs leave free, decided at the start and before every epoch
    # (trainer/runtime.py); log.json records each epoch's count.
    threads: int | None = None
    # "auto": bfloat16 autocast for the training passes where the device computes it natively (on this CPU,
    # AVX512-BF16: 30% faster steps, the same accuracy, bench/NOTES.md), else float32. The test pass and the
    # saved weights are always float32. log.json records the precision used.
    precision: str = "auto"
    # seed002, 1 thread: a test pass took 1.9 s in batches of 1000, 0.75 s in 250 (glibc pages the large
    # blocks of a 1000-image batch in anew every time).
    test_batch_size: int = 250
    # Test-time augmentation: 0 tests the image alone (the documents' test pass); N > 0 has the last epoch's
    # test pass, the run's result, answer with the mean of the log-probabilities over the image and its four
    # copies moved N whole pixels (up, down, left, right) for each image the network is less than
    # TEST_SHIFT_BELOW sure of from the image alone; counted in that epoch's seconds. The earlier epochs'
    # test passes and log.json's plain_test_acc are the image alone's.
    test_shift_px: int = 0
    limit_train: int | None = None

    @property
    def schedule(self) -> str:
        return f"OneCycle, max lr {self.lr:g}, {self.epochs} epochs, warm-up {self.pct_start:.0%}"

    @property
    def optimizer(self) -> str:
        kind = "Nesterov momentum" if self.nesterov else "momentum"
        cycle = f", {self.base_momentum:g} at the peak" if self.base_momentum != self.momentum else ""
        return f"SGD, {kind} {self.momentum:g}{cycle}"

    @property
    def augmentation(self) -> str:
        if not self.augments:
            return "none"
        return f"per-sample rotation ±{self.degrees:g}°, shift ±{self.shift_px:g} px (bilinear, batched)"

    @property
    def testing(self) -> str:
        if not self.test_shift_px:
            return "the image alone"
        return f"the last epoch's: {shift_rule(self.test_shift_px)}"

    @property
    def bf16(self) -> bool:
        return self.precision == "bfloat16"

    @property
    def augments(self) -> bool:
        return self.degrees > 0 or self.shift_px > 0

    def describe(self) -> dict:
        """What log.json records: the fields plus the human-readable strings derived from them."""
        return asdict(self) | {
            "schedule": self.schedule,
            "optimizer": self.optimizer,
            "augmentation": self.augmentation,
            "testing": self.testing,
        }


# The recipe every preset trains with unless the command line overrides it; per-model departures, if any,
# go here so that `trainer train --model NAME` is the one command that reproduces the results table.
PER_MODEL: dict[str, dict] = {
    # Issue 18 (fifth session): two epochs of the 8-channel network (models.default) at twice the old peak,
    # lighter augmentation and constant momentum 0.9 (OneCycle's own cycle, 0.95 to 0.85 and back, ended two
    # epochs 0.08% lower over the same eight seeds), the last test pass answering with the mean over each
    # image and its four 1 px shifts (the image alone missed on one seed in ten). The evidence is at the top.
    "default": {
        "epochs": 2,
        "lr": 0.8,
        "degrees": 3.0,
        "shift_px": 0.5,
        "momentum": 0.9,
        "base_momentum": 0.9,
        "test_shift_px": 1,
    },
    # Under 8k parameters four epochs are not enough. In eight, with lighter augmentation, lr 0.4 gave
    # 99.42% mean and 99.34% at worst over seeds 1-8, lr 0.8 99.48% and 99.41%; but seeds 5 and 42 then
    # ended at 99.37% and 99.39% through the trainer. Batch 64 (twice the steps, ~20% more time an epoch)
    # lifted the four hardest seeds from 99.36-99.41% to 99.42-99.47% (bench/NOTES.md). Float32, seeds
    # 1-10: 99.46-99.47% mean, 99.38-99.42% at worst (1 and 2 threads: the header).
    "tiny": {"epochs": 8, "lr": 0.8, "degrees": 3.0, "shift_px": 0.5, "batch_size": 64},
    # The default of issue 18's second and third sessions, with its recipe then (OneCycle's momentum cycle).
    "default16": {"epochs": 3, "lr": 0.8, "degrees": 3.0, "shift_px": 0.5},
    # The documents' networks get the longer schedule (the documents allow up to 19 epochs).
    "seed001": {"epochs": 15},
    "seed002": {"epochs": 15},
}


# Recipes measured as candidates for a preset's default but not shipped as one (`python -m trainer.bench
# --recipes NAME` trains them): the model and its departures from that model's shipped recipe.
CANDIDATES: dict[str, tuple[str, dict]] = {
    # The default answered by the image alone: 9 of 10 seeds >= 99.40%, at 1.00x the documents' epoch.
    "two-epochs": ("default", {"test_shift_px": 0}),
    # The default of issue 18's fourth session: three epochs, the image alone (10 of 10 seeds, 1.47x).
    "three-epochs": ("default", {"epochs": 3, "test_shift_px": 0}),
    # The 16-channel network cut to two epochs (issue 18's first three sessions): 3 to 6 of 10 seeds.
    "default16-two-epochs": ("default16", {"epochs": 2}),
    # The default of issue 8 to issue 18: the 16-channel network, 4 epochs, lr 0.4, +-5 deg, +-1 px.
    "four-epochs": ("default16", {"epochs": 4, "lr": 0.4, "degrees": 5.0, "shift_px": 1.0}),
}


def for_model(name: str, **overrides) -> Hyper:
    """The shipped hyperparameters for a model, with the command line's explicit choices on top."""
    given = {k: v for k, v in overrides.items() if v is not None}
    return replace(Hyper(**PER_MODEL.get(name, {})), **given)


def from_log(fields: dict) -> Hyper:
    """Rebuilds the hyperparameters a run recorded (log.json / checkpoint), ignoring the derived strings."""
    names = Hyper.__dataclass_fields__
    known = {k: v for k, v in fields.items() if k in names}
    if "base_momentum" not in fields:  # written before the field: OneCycleLR's cycle overrode its momentum
        known.pop("momentum", None)
    return Hyper(**known)

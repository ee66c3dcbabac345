"""The final model, once more over the test set, into the run's results.json (trainer/results.py): what the
MNIST sheet draws as the confusion matrix, the mistakes and the first layer's kernels.

It runs the test set the way `train.test` does (eval mode, the same batches, the same `log_probs`), so its
number of correct images is the final epoch's `test_correct`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import augment, config, results


def log_probs(model: nn.Module, x: torch.Tensor, shift_px: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(the image alone, the recipe's answer): the model's log-probabilities for a batch of test images.
    With `shift_px` (config.Hyper.test_shift_px), for each image whose highest probability from the image
    alone is under config.TEST_SHIFT_BELOW, the answer is the mean of the log-probabilities over the image and
    its four copies moved by that many pixels, renormalised (a geometric mean of the five distributions); the
    images the network is surer of keep the image alone's answer, which the shifts never changed in the models
    measured (config.py). Issue 18 (bench/NOTES.md): over 18 two-epoch models, 1 px shifts lifted the mean by
    0.03% and the worst of each sample by 0.03 to 0.07%. Each image's answer depends on that image alone."""
    plain = model(x)
    if not shift_px:
        return plain, plain
    answer = F.log_softmax(plain, dim=1)
    unsure = (answer.exp().amax(1) < config.TEST_SHIFT_BELOW).nonzero().squeeze(1)
    if len(unsure):
        # The few unsure images' four copies as one batch: one pass of the net, not four small ones.
        shifted = model(torch.cat(augment.shifted(x[unsure], shift_px, config.BACKGROUND)))
        views = torch.cat([plain[unsure], shifted]).unflatten(0, (5, len(unsure)))
        answer[unsure] = F.log_softmax(views.mean(0), dim=1)
    return plain, answer


def answer(output: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image of a batch: the predicted digit (the argmax `train.test` counts, not one of the softmax) and
    its probability (softmax also undoes a model's log_softmax)."""
    return output.argmax(1), F.softmax(output.double(), dim=1).max(1).values


@torch.no_grad()
def predictions(
    model: nn.Module, x: torch.Tensor, batch_size: int, shift_px: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image: the predicted digit and its probability, as the test pass with these shifts answers."""
    model.eval()
    digits, probs = zip(
        *(answer(log_probs(model, x[i : i + batch_size], shift_px)[1]) for i in range(0, len(x), batch_size)),
        strict=True,
    )
    return torch.cat(digits), torch.cat(probs)


def first_conv(model: nn.Module) -> tuple[str, nn.Conv2d]:
    """The first Conv2d in registration order, which is the first applied in all of models.MODELS."""
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            return name, module
    raise ValueError(f"{type(model).__name__} has no Conv2d")


def pixels(x: torch.Tensor) -> np.ndarray:
    """Normalized [N, 1, 28, 28] images back to their uint8 pixels (exact: the error is far below 0.5)."""
    raw = (x.squeeze(1).double() * config.STD + config.MEAN) * 255
    return raw.round().clamp(0, 255).to(torch.uint8).cpu().numpy()


def save_results(
    run_dir: Path,
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    epoch: int,
    shift_px: int = 0,
    answers: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> Path:
    """Evaluates `model` on the test images `x` (normalized) and labels `y`; writes run_dir/results.json.
    `answers`: the last test pass's predictions (train.test), when it ran in this process: not made again."""
    predicted, probability = answers if answers is not None else predictions(model, x, batch_size, shift_px)
    name, conv = first_conv(model)
    content = results.summarize(
        y.cpu().numpy(),
        predicted.cpu().numpy(),
        probability.cpu().numpy(),
        pixels(x),
        name,
        conv.weight.detach().double().cpu().numpy(),
        epoch,
    )
    return results.save(run_dir, content)

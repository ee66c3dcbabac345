"""The MNIST networks by name: our `default` and `tiny`, and the documents' own two, layer for layer.

Every model maps a [N, 1, 28, 28] batch to [N, 10] log-probabilities, the documents' convention
(their loop uses `F.nll_loss`); `F.cross_entropy` on log-probabilities gives the same loss.
"""

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .layers import BatchNorm2d, Conv2d, Dropout, MaxPool2d, max_pool2x2


def conv_bn(c_in: int, c_out: int, kernel: int = 3, padding: int = 0) -> list[nn.Module]:
    """Conv, BatchNorm, ReLU: the conv has no bias because BatchNorm's shift replaces it."""
    return [Conv2d(c_in, c_out, kernel, padding=padding, bias=False), BatchNorm2d(c_out), nn.ReLU()]


class Net(nn.Sequential):
    """A plain stack whose last module yields [N, 10, 1, 1] (or [N, 10]) logits."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.log_softmax(super().forward(x).flatten(1), dim=1)


def thin_wide_gap(c1: int, c2: int, c3: int, c4: int, c5: int, dropout: float = 0.0) -> nn.Module:
    """Two thin convs at full resolution (on a CPU the 26x26 maps cost the most time, in memory-bound
    BatchNorm/ReLU/pooling), then the width where the maps are small, a 1x1 head and global average pooling.
    Pooling after a single conv was 1.8x faster but stuck at 99.3% (bench/NOTES.md)."""
    return Net(
        *conv_bn(1, c1),  # 26
        *conv_bn(c1, c2),  # 24
        MaxPool2d(2),  # 12
        *conv_bn(c2, c3),  # 10
        *conv_bn(c3, c4),  # 8
        MaxPool2d(2),  # 4
        *([Dropout(dropout)] if dropout else []),
        *conv_bn(c4, c5, padding=1),  # 4
        nn.Conv2d(c5, 10, 1),
        nn.AdaptiveAvgPool2d(1),
    )


def default() -> nn.Module:
    """19,538 parameters. Issue 18's two-epoch network: 8 channels at 24 px where issue 8's had 16, and the
    parameters this frees in the 4 px conv (24 channels, not 14). The two layers at full resolution and their
    BatchNorm, ReLU and pooling passes are most of a CPU step: this one takes 0.73x the time of the 16-channel
    network's in float32 (1 thread, interleaved medians, AVX2). With constant momentum 0.9 it ends two epochs
    higher, too (trainer/config.py). Not measured in bfloat16, where oneDNN preferred 16 channels (an 8->12
    conv at 26 px took 9.4 ms a step, 8->16 5.3 ms, on the AVX-512 machine of issue 8)."""
    return thin_wide_gap(8, 8, 32, 32, 24)


def default16() -> nn.Module:
    """19,434 parameters: the default network from issue 8 to issue 18's third session (16 channels at 24 px;
    its three- and four-epoch results are in the README; trainer/config.py's candidates train it). Without
    dropout: four epochs do not overfit (8 seeds: 99.52% mean with none, 99.49% with 0.05)."""
    return thin_wide_gap(8, 16, 32, 32, 14)


def tiny() -> nn.Module:
    """The default's shape with narrower layers: under 8,000 parameters."""
    return thin_wide_gap(8, 10, 16, 16, 20, dropout=0.05)


class Seed001(nn.Module):
    """001_44feb9a0d2203f8d.txt: 17,410 parameters. Its ReLUs and max-pool are functional, so its table
    lists only the layers below, in this order."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = Conv2d(1, 8, 5)
        self.bn1 = BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 5)
        self.bn2 = BatchNorm2d(16)
        self.conv3 = nn.Conv2d(16, 32, 5)
        self.bn3 = BatchNorm2d(32)
        self.drop = nn.Dropout2d(0.1)
        self.conv4 = nn.Conv2d(32, 24, 1)
        self.gap = nn.AvgPool2d(6)
        self.fc = nn.Linear(24, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn1(F.relu(self.conv1(x)))  # 24
        x = max_pool2x2(self.bn2(F.relu(self.conv2(x))))  # 20 -> 10
        x = self.drop(self.bn3(F.relu(self.conv3(x))))  # 6
        x = self.gap(F.relu(self.conv4(x)))
        return F.log_softmax(self.fc(x.flatten(1)), dim=1)


def seed002() -> nn.Module:
    """002_45815d1a2c7955e6.txt: 18,222 parameters, module for module as its table lists them."""
    return Net(
        Conv2d(1, 8, 3), nn.ReLU(), BatchNorm2d(8),  # 26
        nn.Conv2d(8, 16, 3), nn.ReLU(), BatchNorm2d(16),  # 24
        MaxPool2d(2), nn.ReLU(), Dropout(0.1),  # 12
        nn.Conv2d(16, 32, 3), nn.ReLU(), BatchNorm2d(32),  # 10
        nn.Conv2d(32, 32, 3), nn.ReLU(), BatchNorm2d(32),  # 8
        MaxPool2d(2), nn.ReLU(), Dropout(0.1),  # 4
        nn.Conv2d(32, 10, 3), BatchNorm2d(10), Dropout(0.1),  # 2
        nn.AvgPool2d(2),
    )  # fmt: skip


MODELS: dict[str, Callable[[], nn.Module]] = {
    "default": default,
    "tiny": tiny,
    "default16": default16,
    "seed001": Seed001,
    "seed002": seed002,
}


def build(name: str) -> nn.Module:
    """A freshly initialised model; KeyError for an unknown name (the CLI checks names first)."""
    return MODELS[name]()


def param_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)

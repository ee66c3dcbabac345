"""The MNIST networks by name: our `default` and `tiny`, and the documents' own two, layer for layer.

Every model maps a [N, 1, 28, 28] batch to [N, 10] log-probabilities, the documents' convention
(their loop uses `F.nll_loss`); `F.cross_entropy` on log-probabilities gives the same loss.
"""

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn


class _MaxPool2x2(torch.autograd.Function):
    """2x2, stride-2 max pooling with max_pool2d's exact output and gradient (the first maximum of each
    window in (0,0), (0,1), (1,0), (1,1) order takes it). On this CPU aten's max_pool2d_with_indices costs
    6.5 ms for [128, 16, 24, 24]; four strided maxima and uint8 arithmetic for the indices cost 1.5 ms."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        a, b, c, d = x[..., 0::2, 0::2], x[..., 0::2, 1::2], x[..., 1::2, 0::2], x[..., 1::2, 1::2]
        top, bottom = torch.maximum(a, b), torch.maximum(c, d)
        out = torch.maximum(top, bottom)
        if ctx.needs_input_grad[0]:
            right, right_low = (b > a).view(torch.uint8), (d > c).view(torch.uint8)
            down = (bottom > top).view(torch.uint8)
            offset = right + down * (right_low - right + w)  # uint8 wraps around exactly (w <= 254)
            rows, cols = torch.arange(0, h, 2, device=x.device), torch.arange(0, w, 2, device=x.device)
            corner = rows[:, None] * w + cols  # each window's top-left, flat in the H x W map, as aten's
            ctx.save_for_backward(x, corner + offset)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        x, indices = ctx.saved_tensors
        return torch.ops.aten.max_pool2d_with_indices_backward(
            grad, x, [2, 2], [2, 2], [0, 0], [1, 1], False, indices
        )


def max_pool2x2(x: torch.Tensor) -> torch.Tensor:
    """F.max_pool2d(x, 2), through the faster function above where it applies (even sizes on a CPU)."""
    h, w = x.shape[-2:]
    if x.device.type == "cpu" and x.dim() == 4 and h % 2 == 0 and w % 2 == 0 and w <= 254:
        return _MaxPool2x2.apply(x)
    return F.max_pool2d(x, 2)


class MaxPool2d(nn.MaxPool2d):
    """nn.MaxPool2d (the same name in torchinfo's table, no state) whose 2x2 case takes max_pool2x2."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = (self.kernel_size, self.stride, self.padding, self.dilation)
        if shape in ((2, 2, 0, 1), ((2, 2), (2, 2), 0, 1)) and not self.ceil_mode and not self.return_indices:
            return max_pool2x2(x)
        return super().forward(x)


class _BatchNormTrain(torch.autograd.Function):
    """BatchNorm's training step on float32 NCHW with aten's own backward. aten's CPU forward computes the
    batch statistics at ~8 ns an element ([128, 16, 24, 24]: 2.3 ms); a sum and a sum of squares around
    the running mean (so that no large mean cancels the variance), then the fused per-channel affine,
    take 0.6 ms. The results agree to float rounding (~1e-6), not bit for bit."""

    @staticmethod
    def forward(ctx, x, weight, bias, shift, eps):  # noqa: ANN001 (autograd's signature)
        n = x.numel() // x.shape[1]
        centred = x - shift[:, None, None]
        total, squares = centred.sum((0, 2, 3)), centred.square().sum((0, 2, 3))
        mean_shifted = total / n
        var = (squares / n - mean_shifted.square()).clamp_min_(0)
        mean = mean_shifted + shift
        invstd = torch.rsqrt(var + eps)
        ctx.save_for_backward(x, weight, mean, invstd)
        ctx.eps = eps
        y = F.batch_norm(x, mean, var, weight, bias, training=False, eps=eps)
        return y, mean, var

    @staticmethod
    def backward(ctx, grad, _mean_grad, _var_grad):  # noqa: ANN001
        x, weight, mean, invstd = ctx.saved_tensors
        grad_x, grad_w, grad_b = torch.ops.aten.native_batch_norm_backward(
            grad.contiguous(), x, weight, None, None, mean, invstd, True, ctx.eps, [True, True, True]
        )
        return grad_x, grad_w, grad_b, None, None


class BatchNorm2d(nn.BatchNorm2d):
    """nn.BatchNorm2d (the same state_dict and name in torchinfo's table) with the faster training forward
    above for float32 on a CPU; everything else (eval, other dtypes and devices) is nn.BatchNorm2d's."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fast = (
            self.training
            and self.affine
            and self.track_running_stats
            and self.momentum is not None
            and x.dtype == torch.float32
            and x.device.type == "cpu"
            and x.dim() == 4
            and x.shape[0] * x.shape[2] * x.shape[3] > 1
        )
        if not fast:
            return super().forward(x)
        y, mean, var = _BatchNormTrain.apply(x, self.weight, self.bias, self.running_mean, self.eps)
        n = x.numel() // x.shape[1]
        with torch.no_grad():  # as nn.BatchNorm2d: an unbiased variance goes into the running average
            self.running_mean.lerp_(mean, self.momentum)
            self.running_var.lerp_(var * (n / (n - 1)), self.momentum)
            self.num_batches_tracked.add_(1)
        return y


class Conv2d(nn.Conv2d):
    """nn.Conv2d, except that a conv of the raw image (one input channel) with a bias stays in float32 under
    bfloat16 autocast: oneDNN took 3.9 ms a step for its gradients in bfloat16, 1.5 ms in float32 (seed002's
    first layer; without a bias, bfloat16 is as fast and the whole step 1 ms faster, so it keeps that)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.in_channels == 1 and self.bias is not None and torch.is_autocast_enabled(x.device.type):
            with torch.autocast(x.device.type, enabled=False):
                return super().forward(x.float())
        return super().forward(x)


class Dropout(nn.Dropout):
    """nn.Dropout with a cheaper mask on a CPU: uniform numbers compared with p (0.9 ms for [128, 16, 12, 12])
    instead of bernoulli_ (1.8 ms). The same distribution, a different random stream."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0 or self.inplace or x.device.type != "cpu":
            return super().forward(x)
        if self.p == 1:
            return x * 0
        keep = torch.rand(x.shape, device=x.device) >= self.p
        return x * keep * (1 / (1 - self.p))  # the scalar last: exact in x's precision, bfloat16 included


def conv_bn(c_in: int, c_out: int, kernel: int = 3, padding: int = 0) -> list[nn.Module]:
    """Conv, BatchNorm, ReLU: the conv has no bias because BatchNorm's shift replaces it."""
    return [Conv2d(c_in, c_out, kernel, padding=padding, bias=False), BatchNorm2d(c_out), nn.ReLU()]


class Net(nn.Sequential):
    """A plain stack whose last module yields [N, 10, 1, 1] (or [N, 10]) logits."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.log_softmax(super().forward(x).flatten(1), dim=1)


def thin_wide_gap(c1: int, c2: int, c3: int, c4: int, c5: int, dropout: float = 0.05) -> nn.Module:
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
        Dropout(dropout),
        *conv_bn(c4, c5, padding=1),  # 4
        nn.Conv2d(c5, 10, 1),
        nn.AdaptiveAvgPool2d(1),
    )


def default() -> nn.Module:
    """17,802 parameters."""
    return thin_wide_gap(8, 12, 24, 32, 24)


def tiny() -> nn.Module:
    """The default's shape with narrower layers: under 8,000 parameters."""
    return thin_wide_gap(8, 10, 16, 16, 20)


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
    "seed001": Seed001,
    "seed002": seed002,
}


def build(name: str) -> nn.Module:
    """A freshly initialised model; KeyError for an unknown name (the CLI checks names first)."""
    return MODELS[name]()


def param_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)

"""Layers that compute what torch.nn's do, faster on a CPU: each keeps its torch.nn name (torchinfo's tables
read the same), its parameters and its state_dict, so that the documents' networks stay theirs.

Measured on the 2-core build machine (AMD EPYC, AVX-512), batch 128, one thread (bench/NOTES.md has the
tables): the speed-ups below took one step of the documents' seed002 network from 52 to 27 ms, with the
allocator setting and bfloat16 autocast of trainer/runtime.py.
"""

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
    def forward(ctx, x, weight, bias, shift, eps):
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
    def backward(ctx, grad, _mean_grad, _var_grad):
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

"""Layers that compute what torch.nn's do, faster on a CPU: each keeps its torch.nn name (torchinfo's tables
read the same), its parameters and its state_dict, so that the documents' networks stay theirs.

Measured on the 2-core build machine (AMD EPYC, AVX-512), batch 128, one thread (bench/NOTES.md has the
tables): the speed-ups below took one step of the documents' seed002 network from 52 to 27 ms, with the
allocator setting and bfloat16 autocast of trainer/runtime.py. Issue 18's float32 changes (an AVX2-only
2-core VM, 2 threads: the dropout mask, BatchNorm's statistics, the raw-image conv's weight gradient) took
a seed002 float32 step from about 61 to 53 ms, old and new code alternating.
"""

import math

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
        # [N, C, H*W]: summing the contiguous last axis first, and the squares as dot products, is ~30%
        # faster than reducing over (0, 2, 3) (issue 18: 0.79 against 1.07 ms for [128, 16, 24, 24]).
        centred = x.reshape(x.shape[0], x.shape[1], -1) - shift[:, None]
        total = centred.sum(2).sum(0)
        squares = torch.linalg.vecdot(centred, centred, dim=2).sum(0)
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


class _ImageConv(torch.autograd.Function):
    """A stride-1 conv of images that need no gradient (the raw input: one channel), with the weight
    gradient as a conv over the batch axis: x as [C_in, N, H, W] against the output gradient as N-channel
    kernels. oneDNN's weight gradient for seed002's 1->8 first layer took 3.9 ms a step on one AVX2 core;
    this conv 1.8 ms (issue 18, bench/NOTES.md). The same sums in another order: equal to ~1e-6."""

    @staticmethod
    def forward(ctx, x, weight, bias, padding):
        ctx.save_for_backward(x)
        ctx.padding = padding
        return F.conv2d(x, weight, bias, padding=padding)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        grad_w = F.conv2d(x.transpose(0, 1), grad.transpose(0, 1), padding=ctx.padding).transpose(0, 1)
        wants_b = ctx.needs_input_grad[2]
        grad_b = grad.reshape(grad.shape[0], grad.shape[1], -1).sum(2).sum(0) if wants_b else None
        return None, grad_w, grad_b, None


class Conv2d(nn.Conv2d):
    """nn.Conv2d, with two departures for the raw image (one input channel):
    - with a bias, it stays in float32 under bfloat16 autocast: oneDNN took 3.9 ms a step for its gradients
      in bfloat16, 1.5 ms in float32 (seed002's first layer; without a bias, bfloat16 is as fast and the
      whole step 1 ms faster, so it keeps that);
    - in float32 on a CPU, when its input needs no gradient, its weight gradient comes from `_ImageConv`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.in_channels == 1 and self.bias is not None and torch.is_autocast_enabled(x.device.type):
            with torch.autocast(x.device.type, enabled=False):
                return self.forward(x.float())
        plain = (
            self.in_channels == 1
            and not x.requires_grad
            and torch.is_grad_enabled()
            and self.weight.requires_grad
            and x.dtype == self.weight.dtype == torch.float32
            and x.device.type == "cpu"
            and x.dim() == 4
            and not torch.is_autocast_enabled(x.device.type)
            and self.stride == (1, 1)
            and self.dilation == (1, 1)
            and self.groups == 1
            and self.padding_mode == "zeros"
            and isinstance(self.padding, tuple)
        )
        if plain:
            return _ImageConv.apply(x, self.weight, self.bias, self.padding)
        return super().forward(x)


def keep_mask(shape: torch.Size, p: float, device: torch.device) -> tuple[torch.Tensor, float]:
    """Dropout's mask (True: kept) and its scale. Each element compares 16 random bits with p * 65536, so p
    is rounded to a multiple of 1/65536 (0.1 to 0.1000061) and the scale 1 / (1 - p) uses the rounded p:
    the expectation stays x. Four elements a 64-bit draw of the global generator (seeded and checkpointed
    as torch.rand's): 0.33 ms for [128, 16, 12, 12] against 1.14 ms for torch.rand (issue 18)."""
    n, dropped = math.prod(shape), min(round(p * 65536), 65536)
    if dropped == 65536:
        return torch.zeros(shape, dtype=torch.bool, device=device), 0.0
    bits = torch.empty((n + 3) // 4, dtype=torch.int64, device=device).random_(-(2**63), None)
    return bits.view(torch.int16)[:n].view(shape) >= dropped - 32768, 65536 / (65536 - dropped)


class Dropout(nn.Dropout):
    """nn.Dropout with a cheaper mask on a CPU (`keep_mask`), multiplied in as one float mask with the
    scale in it: forward and backward of [128, 16, 12, 12] 1.5 against 3.1 ms. The same distribution up to
    p's rounding to 1/65536; a different random stream."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0 or self.inplace or x.device.type != "cpu":
            return super().forward(x)
        keep, scale = keep_mask(x.shape, self.p, x.device)
        if x.dtype in (torch.float32, torch.float64):
            return x * keep.to(x.dtype).mul_(scale)
        return x * keep.to(x.dtype) * scale  # bfloat16: the scale last, so that x * scale is rounded once

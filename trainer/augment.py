"""Batched augmentation: every image of a batch gets its own random rotation and shift, in one call on the
model's device. No per-sample PIL or Python loop in the hot path.

`affine` (a sampling grid + grid_sample, bilinear) is the one training uses; `shift` (integer shifts by
padding and gathering) is kept because the benchmark measures the two against each other (bench/NOTES.md).
"""

import math

import torch
import torch.nn.functional as F


def _uniform(n: int, bound: float, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    return (torch.rand(n, generator=generator, device=device) * 2 - 1) * bound


def _base_grid(h: int, w: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """[H, W, 3] of (x, y, 1) pixel centres in affine_grid's [-1, 1] coordinates (align_corners=False).
    Built here because F.affine_grid measured 15 ms a batch on this CPU, this einsum 0.1 ms."""
    ys = (torch.arange(h, device=device, dtype=dtype) * 2 + 1) / h - 1
    xs = (torch.arange(w, device=device, dtype=dtype) * 2 + 1) / w - 1
    return torch.stack(
        [xs.expand(h, w), ys[:, None].expand(h, w), torch.ones(h, w, device=device, dtype=dtype)], -1
    )


def affine(
    x: torch.Tensor, degrees: float, shift_px: float, generator: torch.Generator, fill: float
) -> torch.Tensor:
    """x: [N, C, H, W] float. Rotates by U(-degrees, degrees) and shifts by U(-shift_px, shift_px) per axis,
    per sample; pixels from outside the image take `fill` (the normalized background)."""
    n, _, h, w = x.shape
    angle = _uniform(n, math.radians(degrees), generator, x.device)
    # affine_grid works in [-1, 1] coordinates, so one pixel is 2/size.
    tx = _uniform(n, shift_px * 2 / w, generator, x.device)
    ty = _uniform(n, shift_px * 2 / h, generator, x.device)
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1).to(x.dtype)
    grid = torch.einsum("hwk,nck->nhwc", _base_grid(h, w, x.device, x.dtype), theta)
    # grid_sample pads with zeros; shifting by -fill first makes the padding equal the background.
    return F.grid_sample(x - fill, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + fill


def shift(x: torch.Tensor, max_px: int, generator: torch.Generator, fill: float) -> torch.Tensor:
    """Integer shifts in [-max_px, max_px] per axis, per sample: pad once, gather each sample's window."""
    n, c, h, w = x.shape
    padded = F.pad(x, (max_px,) * 4, value=fill)
    dy = torch.randint(0, 2 * max_px + 1, (n,), generator=generator, device=x.device)
    dx = torch.randint(0, 2 * max_px + 1, (n,), generator=generator, device=x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None].expand(n, c, h, w + 2 * max_px)
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :].expand(n, c, h, w)
    return padded.gather(2, rows).gather(3, cols)


def shifted(x: torch.Tensor, px: int, fill: float) -> list[torch.Tensor]:
    """The four copies of x: [N, C, H, W] moved by `px` whole pixels down, up, right and left; the rows or
    columns uncovered take `fill`. The test pass's views (config.Hyper.test_shift_px): exact copies, no
    interpolation, so a model sees the digit it was trained on, one pixel off."""
    h, w = x.shape[-2:]
    padded = F.pad(x, (px, px, px, px), value=fill)
    middle_rows, middle_cols = slice(px, px + h), slice(px, px + w)
    return [
        padded[..., 0:h, middle_cols],  # row r shows row r - px: the digit moved down
        padded[..., 2 * px : 2 * px + h, middle_cols],  # moved up
        padded[..., middle_rows, 0:w],  # moved right
        padded[..., middle_rows, 2 * px : 2 * px + w],  # moved left
    ]

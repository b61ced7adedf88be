"""AesFA's pure tensor functions: octave pairs, reflect-padded convs, instance-norm statistics
and the adaptive convolution (Chandran et al. 2021, "Adaptive Convolutions for Structure-Aware
Style Transfer"), which AesFA runs per frequency band.

The release's adaptive convolution is instance norm -> reflect pad -> grouped 3 x 3 conv with
the predicted spatial kernel -> grouped 1 x 1 conv with the predicted pointwise kernel and bias,
looped over the batch. ``adaptive_conv`` folds the three linear steps into one predicted kernel
per sample and runs ONE grouped conv over batch x groups: the same function.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

EPS = 1e-5  # instance norm, as F.instance_norm
SLOPE = 0.01  # LeakyReLU on both bands
CODE = 3  # style codes are pooled to CODE x CODE
STAT_ELEMENTS = 1 << 20  # per strip of ``instance_stats``: 4 MB of float32, small enough to be reused
FAST_PIXELS = 256 * 256  # inference maps at least this large skip the padded copy (``conv_reflect``)


class Oct(NamedTuple):
    high: Tensor  # (N, C, H, W)
    low: Tensor  # (N, C', H/2, W/2)


class Kernels(NamedTuple):
    """One band's predicted kernels for an adaptive conv with c channels in groups of g."""

    spatial: Tensor  # (N, c, g, 3, 3)
    pointwise: Tensor  # (N, c, g, 1, 1)
    bias: Tensor  # (N, c)


def lrelu(x: Tensor) -> Tensor:
    """LeakyReLU; in place when no gradient is recorded (every caller passes a fresh map)."""
    return F.leaky_relu(x, SLOPE) if torch.is_grad_enabled() else F.leaky_relu_(x, SLOPE)


def add(a: Tensor, b: Tensor) -> Tensor:
    """a + b; into ``a`` when no gradient is recorded (``a`` is always a fresh conv output)."""
    return a + b if torch.is_grad_enabled() else a.add_(b)


def conv_reflect(x: Tensor, weight: Tensor, bias: Tensor | None, stride: int = 1, groups: int = 1) -> Tensor:
    """A 3 x 3 (or 1 x 1) conv after reflect padding k // 2, the release's padding_mode='reflect'.

    Inference on large maps skips the padded copy (which also costs oneDNN a layout change): the
    conv runs with zero padding and only the one-pixel border it gets wrong is recomputed from
    reflect-padded two-pixel strips. With stride 2 on even sides only the top row and left column
    see padding."""
    p = weight.shape[-1] // 2
    if p == 0:
        return F.conv2d(x, weight, bias, stride, 0, 1, groups)
    h, w = x.shape[-2:]
    if torch.is_grad_enabled() or p != 1 or h * w < FAST_PIXELS or min(h, w) < 4 or (stride == 2 and (h | w) & 1):
        return F.conv2d(F.pad(x, (p, p, p, p), mode="reflect"), weight, bias, stride, 0, 1, groups)
    out = F.conv2d(x, weight, bias, stride, 1, 1, groups)  # the border rows and columns are wrong

    def strip(part: Tensor, pad: tuple[int, int, int, int]) -> Tensor:
        return F.conv2d(F.pad(part, pad, mode="reflect"), weight, bias, stride, 0, 1, groups)

    out[..., :1, :] = strip(x[..., :2, :], (1, 1, 1, 0))  # output row 0 reads rows -1 (= 1), 0, 1
    out[..., :, :1] = strip(x[..., :, :2], (1, 0, 1, 1))
    if stride == 1:
        out[..., -1:, :] = strip(x[..., -2:, :], (1, 1, 0, 1))
        out[..., :, -1:] = strip(x[..., :, -2:], (0, 1, 1, 1))
    return out


def rconv(x: Tensor, conv: nn.Conv2d) -> Tensor:
    """``conv`` after reflect padding (``conv_reflect``) with the module's weights."""
    return conv_reflect(x, conv.weight, conv.bias, conv.stride[0], conv.groups)


def up(x: Tensor) -> Tensor:
    return F.interpolate(x, scale_factor=2, mode="nearest")


def down(x: Tensor) -> Tensor:
    return F.avg_pool2d(x, 2)


def instance_stats(x: Tensor) -> tuple[Tensor, Tensor]:
    """Per-channel mean and biased variance over H x W: (N, C, H, W) -> 2 x (N, C) float32.

    Inference sums x and x^2 in float32 over strips of rows (the variance within ~2e-6 relative
    of float64): 4-20x faster than ``var_mean``, whose Welford pass over a channels_last map is
    slow on CPU, and the strips' temporaries are small enough to be reused, not page-faulted."""
    if torch.is_grad_enabled():
        var, mean = torch.var_mean(x.float(), dim=(2, 3), correction=0)
        return mean, var
    n, c, h, w = x.shape
    total = x.new_zeros(n, c, dtype=torch.float32)
    squares = torch.zeros_like(total)
    rows = max(1, STAT_ELEMENTS // (c * w))
    for top in range(0, h, rows):
        part = x[..., top : top + rows, :].float()  # (N, C, rows, W)
        total += part.sum((2, 3))
        squares += (part * part).sum((2, 3))
    mean = total / (h * w)
    return mean, (squares / (h * w) - mean * mean).clamp_min(0)


def fold(k: Kernels, mean: Tensor, var: Tensor) -> tuple[Tensor, Tensor]:
    """Instance norm (mean, var: (N, c)), the spatial and the pointwise kernel and the bias as
    one per-sample grouped 3 x 3 conv: weight (N*c, g, 3, 3), bias (N*c), float32.

    All three are linear: pointwise(spatial(x)) has the kernel pointwise @ spatial within each
    group; normalising input channel i scales its taps by rstd_i and shifts the bias by the
    taps' response to the mean (reflect padding commutes with a per-channel affine map)."""
    nk, c, g = k.spatial.shape[:3]
    groups = c // g
    spatial = k.spatial.float().reshape(nk, groups, g, g, 9)  # [n, G, mid, in, tap]
    pointwise = k.pointwise.float().reshape(nk, groups, g, g)  # [n, G, out, mid]
    w = torch.einsum("nGom,nGmit->nGoit", pointwise, spatial)  # (nk, G, out, in, 9)
    n = mean.shape[0]
    rstd = torch.rsqrt(var + EPS).reshape(n, groups, 1, g, 1)
    w = w * rstd  # (N, G, g, g, 9)
    bias = k.bias.float().reshape(nk, groups, g) - (w * mean.reshape(n, groups, 1, g, 1)).sum((3, 4))
    return w.reshape(int(n * c), int(g), 3, 3), bias.reshape(n * c)  # a known shape when traced (ONNX export)


def adaptive_conv(x: Tensor, kernels: Kernels, stats: tuple[Tensor, Tensor] | None = None) -> Tensor:
    """The release's AdaConv2d minus its static conv, on a batch at once: x (N, c, H, W) ->
    (N, c, H, W). ``kernels`` of batch N or 1; ``stats`` (mean, var) replace x's own (tiling)."""
    n, c, h, w = x.shape
    mean, var = instance_stats(x) if stats is None else stats
    weight, bias = fold(kernels, mean, var)
    fmt = torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format
    if n > 1:  # samples side by side as channels: (1, N*c, H, W), for one conv over N x groups
        x = x.reshape(1, n * c, h, w).contiguous(memory_format=fmt)
    weight = weight.to(x.dtype).contiguous(memory_format=fmt)  # a channels_last weight keeps oneDNN's fast path
    y = conv_reflect(x, weight, bias.to(x.dtype), groups=n * c // kernels.spatial.shape[2])
    return y.reshape(n, c, h, w).contiguous(memory_format=fmt)


Stats = tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor]]  # per band (mean, var), each (N, c)

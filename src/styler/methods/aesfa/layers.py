"""The building blocks of AesFA's networks (``net`` assembles them): octave convolutions and
the adaptive octave block, with the release's attribute names.

Every feature is an octave pair ``Oct(high, low)``: the channels split half/half and the low
band has half the resolution (Chen et al. 2019, "Drop an Octave"). A content encoder ``netE``
gives the content code (128 + 128 channels at 1/4 and 1/8); a style encoder ``netS`` (same
class, own weights) gives the style code, its last maps pooled to 3 x 3 per band. The generator
``netG`` predicts convolution kernels from the style code (Chandran et al. 2021, "Adaptive
Convolutions") in three adaptive octave blocks and decodes the content code with them.

The adaptive convolution of the release is instance norm -> reflect pad -> grouped 3 x 3 conv
with the predicted spatial kernel -> grouped 1 x 1 conv with the predicted pointwise kernel and
bias, looped over the batch. Here the three linear steps are folded into one predicted kernel per
sample and run as ONE grouped conv over batch x groups (``adaptive_conv``): the same function.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

EPS = 1e-5  # instance norm, as F.instance_norm
SLOPE = 0.01  # LeakyReLU on both bands
CODE = 3  # style codes are pooled to CODE x CODE
STAT_ELEMENTS = 1 << 20  # per strip of ``instance_stats``: 4 MB of float32
FAST_PIXELS = 64 * 64  # inference maps at least this large skip the padded copy (``conv_reflect``)


class Oct(NamedTuple):
    high: Tensor  # (N, C, H, W)
    low: Tensor  # (N, C', H/2, W/2)


class Kernels(NamedTuple):
    """One band's predicted kernels for an adaptive conv with c channels in groups of g."""

    spatial: Tensor  # (N, c, g, 3, 3)
    pointwise: Tensor  # (N, c, g, 1, 1)
    bias: Tensor  # (N, c)


# -- pure ops ------------------------------------------------------------------------------


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
    return w.reshape(n * c, g, 3, 3), bias.reshape(n * c)


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


# -- layers --------------------------------------------------------------------------------


def _conv(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1, bias: bool = False) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride, groups=groups, bias=bias)


class First(nn.Module):
    """One image-like input -> (high, low): high = convh(x), low = convl(avg-pool(x))."""

    def __init__(self, cin: int, cout: int, k: int, stride: int) -> None:
        super().__init__()
        self.convh = _conv(cin, cout // 2, k, stride)
        self.convl = _conv(cin, cout // 2, k, stride)

    def forward(self, x: Tensor) -> Oct:
        return Oct(rconv(x, self.convh), rconv(down(x), self.convl))


class Normal(nn.Module):
    """high' = H2H(high) + L2H(up(low)), low' = L2L(low) + H2L(avg-pool(high))."""

    def __init__(self, cin: int, cout: int, k: int) -> None:
        super().__init__()
        i, o = cin // 2, cout // 2
        self.L2L, self.L2H, self.H2L, self.H2H = (_conv(i, o, k) for _ in range(4))

    def forward(self, x: Oct) -> Oct:
        high, low = x
        if self.L2H.kernel_size[0] == 1:  # a 1 x 1 conv commutes with the nearest upsample: run it small
            from_low = up(rconv(low, self.L2H))
        else:
            from_low = rconv(up(low), self.L2H)
        return Oct(add(rconv(high, self.H2H), from_low), add(rconv(low, self.L2L), rconv(down(high), self.H2L)))


class Depthwise(nn.Module):
    """Per-band depthwise convs, no exchange between the bands."""

    def __init__(self, channels: int, k: int, stride: int = 1) -> None:
        super().__init__()
        c = channels // 2
        self.L2L = _conv(c, c, k, stride, groups=c)
        self.H2H = _conv(c, c, k, stride, groups=c)

    def forward(self, x: Oct) -> Oct:
        return Oct(rconv(x.high, self.H2H), rconv(x.low, self.L2L))


class Last(nn.Module):
    """(high, low) -> one map: convh(high) + convl(up(low)) (freq_ratio (1, 1))."""

    def __init__(self, cin: int, cout: int, k: int) -> None:
        super().__init__()
        self.convh = _conv(cin // 2, cout, k)
        self.convl = _conv(cin // 2, cout, k)

    def forward(self, x: Oct, then: nn.Conv2d | None = None) -> Tensor:
        """``then``: a 1 x 1 conv to apply after (the generator's conv4), folded into both
        branches: 1 x 1 convs compose into one, so the full-resolution 32-channel sum, its
        upsampled low half and the 32 -> 3 conv become two 3-channel convs (inference only)."""
        assert self.convl.kernel_size[0] == 1  # so the conv may run before the upsample
        if then is None:
            return add(rconv(x.high, self.convh), up(rconv(x.low, self.convl)))
        mix = then.weight.flatten(1)  # (out, mid)

        def fused(conv: nn.Conv2d) -> Tensor:
            return (mix @ conv.weight.flatten(1)).reshape(-1, conv.in_channels, 1, 1).to(conv.weight.dtype)

        return add(F.conv2d(x.high, fused(self.convh), then.bias), up(F.conv2d(x.low, fused(self.convl))))


class Pair(nn.Module):
    """The release's Oct_Conv_aftup: a biased conv per band, no exchange."""

    def __init__(self, cin: int, cout: int, k: int) -> None:
        super().__init__()
        self.conv_h = _conv(cin // 2, cout // 2, k, bias=True)
        self.conv_l = _conv(cin // 2, cout // 2, k, bias=True)

    def forward(self, x: Oct) -> Oct:
        return Oct(rconv(x.high, self.conv_h), rconv(x.low, self.conv_l))


class KernelPredictor(nn.Module):
    """A band's style code (N, 128, 3, 3) -> its ``Kernels`` for c channels in groups of g."""

    def __init__(self, c: int, g: int, style: int = 128) -> None:
        super().__init__()
        self.c, self.g = c, g
        self.spatial = nn.Conv2d(style, c * g, 3)  # reflect-padded: keeps the 3 x 3
        self.pointwise = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(style, c * g, 1))
        self.bias = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(style, c, 1))

    def forward(self, code: Tensor) -> Kernels:
        n, c, g = code.shape[0], self.c, self.g
        code = code.to(self.spatial.weight.dtype)
        return Kernels(
            rconv(code, self.spatial).reshape(n, c, g, 3, 3),
            self.pointwise(code).reshape(n, c, g, 1, 1),
            self.bias(code).reshape(n, c),
        )


class AdaConv(nn.Module):
    """Holds the static conv that follows the adaptive one (the release's AdaConv2d.conv)."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3)


Stats = tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor]]  # per band (mean, var), each (N, c)


class AdaOctConv(nn.Module):
    """Per band: adaptive conv (style kernels) -> static conv -> LeakyReLU; then a depthwise
    octave conv -> LeakyReLU."""

    def __init__(self, channels: int, group: int) -> None:
        super().__init__()
        c = channels // 2
        self.kernelPredictor_h = KernelPredictor(c, group)
        self.kernelPredictor_l = KernelPredictor(c, group)
        self.AdaConv_h = AdaConv(c)
        self.AdaConv_l = AdaConv(c)
        self.OctConv = Depthwise(channels, 3)

    def predict(self, code: Oct) -> tuple[Kernels, Kernels]:
        return self.kernelPredictor_h(code.high), self.kernelPredictor_l(code.low)

    def forward(
        self,
        x: Oct,
        kernels: Sequence[tuple[Kernels, Kernels]],
        masks: Oct | None = None,
        stats: Stats | None = None,
    ) -> Oct:
        """``kernels``: one (high, low) pair per region; ``masks``: per band (N|1, R, h, w)
        weights summing to 1 over R (None: one region); ``stats``: the norms' statistics."""
        out = []
        for band, static in enumerate((self.AdaConv_h.conv, self.AdaConv_l.conv)):
            xb = x[band]
            st = stats[band] if stats is not None else instance_stats(xb)
            y = adaptive_conv(xb, kernels[0][band], st)
            if masks is not None:  # regions composited in feature space, each with its style's kernels
                grid = masks[band].to(y.dtype)
                y = y * grid[:, :1]
                for r in range(1, len(kernels)):
                    y = y + adaptive_conv(xb, kernels[r][band], st) * grid[:, r : r + 1]
            out.append(lrelu(rconv(y, static)))
        high, low = self.OctConv(Oct(*out))
        return Oct(lrelu(high), lrelu(low))

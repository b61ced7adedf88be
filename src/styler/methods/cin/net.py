"""The multi-style network of Dumoulin, Shlens & Kudlur (ICLR 2017): conditional instance norm.

One feed-forward net (Johnson et al.'s layout) stylizes in N styles. Every conv but the last
is followed by a CIN: instance normalisation, then the chosen style's per-channel ``gamma``
and ``beta`` (tables of N_styles x C); everything else is shared by all styles. So a style is
only its rows of those tables, and blends of styles are blends of the rows.

A *style code* selects the rows, in one of three forms:

* ``(B,)`` int64: one style index per sample (training; bit-exact rows);
* ``(B, S)`` float: convex weights over the S styles (interpolation);
* ``(B, S, H, W)`` float: weights per pixel at the input size (spatial control); each norm
  layer pools them to its own resolution, so gamma and beta become maps.

Instance-norm statistics may be given instead of computed (``stats``): the tiled path
(``cintiling``) measures them over the whole image so every tile is normalised alike.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import fastconv

EPS = 1e-5  # added to the (biased) variance, as nn.InstanceNorm2d

# The layer list: (name, kind, in, out, kernel, stride). "conv": reflection-padded conv + CIN + ReLU;
# "res": a residual block of two 3x3 convs at the same width (CIN + ReLU, then CIN only);
# "up": nearest 2x upsample, 3x3 conv, CIN, ReLU; "out": the 9x9 conv to RGB and a sigmoid.
LAYERS: list[tuple[str, str, int, int, int, int]] = [
    ("conv1", "conv", 3, 32, 9, 1),
    ("conv2", "conv", 32, 64, 3, 2),
    ("conv3", "conv", 64, 128, 3, 2),
    *[(f"res{i}", "res", 128, 128, 3, 1) for i in range(1, 6)],
    ("up1", "up", 128, 64, 3, 1),
    ("up2", "up", 64, 32, 3, 1),
    ("out", "out", 32, 3, 9, 1),
]
STRIDE = 4  # input sizes are padded to a multiple of this (two stride-2 convs, two 2x upsamples)


def norm_scale_shift(
    x: Tensor, gamma: Tensor, beta: Tensor, stats: tuple[Tensor, Tensor] | None = None, eps: float = EPS
) -> tuple[Tensor, Tensor]:
    """Instance norm + affine folded into one per-channel scale and shift (or per-pixel maps).

    x (B, C, H, W); gamma, beta (B, C) or (B, C, h, w) maps; stats (mean, var) each (B|1, C)
    replace x's own. Returns scale, shift shaped to broadcast against x: ``x * scale + shift``
    equals ``(x - mean) / sqrt(var + eps) * gamma + beta``. Statistics are taken in float32.
    """
    mean, var = instance_stats(x) if stats is None else stats  # (B, C) each
    rstd = torch.rsqrt(var + eps)  # (B, C)
    if gamma.dim() == 2:
        scale = gamma.float() * rstd  # (B, C)
        shift = beta.float() - mean * scale
        return scale[:, :, None, None], shift[:, :, None, None]
    scale = gamma.float() * rstd[:, :, None, None]  # (B, C, h, w)
    return scale, beta.float() - mean[:, :, None, None] * scale


def cin(x: Tensor, gamma: Tensor, beta: Tensor, *, relu: bool, stats: tuple[Tensor, Tensor] | None = None) -> Tensor:
    """Conditional instance norm (+ ReLU): x (B, C, H, W) -> same shape and dtype.

    Inference with per-sample (B, C) tables runs each sample through the native batch-norm
    kernel: for one sample, batch norm *is* instance norm, and that kernel takes the mean and
    variance in one float32-accumulating pass over either memory layout and applies the folded
    scale and shift in a second; 6-10x faster than ``var_mean`` on bf16 channels_last maps.
    Training and per-pixel tables use the plain formula, which autograd differentiates.
    """
    if not torch.is_grad_enabled() and gamma.dim() == 2:
        parts = []
        for i in range(x.shape[0]):
            xi = x[i : i + 1]
            mean, var = (None, None) if stats is None else (s[i if len(s) > 1 else 0] for s in stats)
            parts.append(
                F.batch_norm(
                    xi, mean, var, gamma[i].float(), beta[i].float(), training=stats is None, momentum=0.0, eps=EPS
                )
            )
        y = parts[0] if len(parts) == 1 else torch.cat(parts)
        return y.relu_() if relu else y
    if stats is None and gamma.dim() == 2:
        y = F.instance_norm(x) * gamma[:, :, None, None].to(x.dtype) + beta[:, :, None, None].to(x.dtype)
        return torch.relu(y) if relu else y
    scale, shift = norm_scale_shift(x, gamma, beta, stats)
    y = torch.addcmul(shift.to(x.dtype), x, scale.to(x.dtype))
    return torch.relu(y) if relu else y


def instance_stats(x: Tensor) -> tuple[Tensor, Tensor]:
    """Per-channel mean and biased variance over H x W: x (B, C, H, W) -> 2 x (B, C) float32."""
    if torch.is_grad_enabled():
        var, mean = torch.var_mean(x.float(), dim=(2, 3), correction=0)
        return mean, var
    means, variances = [], []
    for i in range(x.shape[0]):  # the batch-norm kernel's one-pass statistics (see ``cin``)
        _, mean, rstd = torch.ops.aten._native_batch_norm_legit.no_stats(x[i : i + 1], None, None, True, 0.0, EPS)
        means.append(mean.float())
        variances.append(rstd.float().pow(-2) - EPS)
    return torch.stack(means), torch.stack(variances)


def conv_reflect(x: Tensor, conv: nn.Conv2d) -> Tensor:
    """``conv(reflection_pad(x, k // 2))`` for an odd square kernel and stride 1 or 2.

    Large maps: the conv runs with zero padding and only the border strips that padding
    corrupts are recomputed from small reflect-padded strips, sparing a copy of the whole map.
    """
    p = conv.kernel_size[0] // 2
    w, b, s = conv.weight, conv.bias, conv.stride[0]
    h, wd = x.shape[-2:]
    if s != 1 or torch.is_grad_enabled() or h * wd < 128 * 128 or min(h, wd) <= 2 * p:
        return F.conv2d(F.pad(x, (p, p, p, p), mode="reflect"), w, b, stride=s)
    out = F.conv2d(x, w, b, padding=p)  # p border rows/cols are wrong
    # Output row i < p needs input rows i-p..i+p, i.e. rows 0..2p-1 reflect-padded by p on top.
    out[..., :p, :] = F.conv2d(F.pad(x[..., : 2 * p, :], (p, p, p, 0), mode="reflect"), w, b)
    out[..., -p:, :] = F.conv2d(F.pad(x[..., -2 * p :, :], (p, p, 0, p), mode="reflect"), w, b)
    out[..., :, :p] = F.conv2d(F.pad(x[..., :, : 2 * p], (p, 0, p, p), mode="reflect"), w, b)
    out[..., :, -p:] = F.conv2d(F.pad(x[..., :, -2 * p :], (0, p, p, p), mode="reflect"), w, b)
    return out


class CondInstanceNorm(nn.Module):
    """Per-style affine tables for one CIN layer: gamma, beta (n_styles, channels)."""

    def __init__(self, n_styles: int, channels: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(n_styles, channels))
        self.beta = nn.Parameter(torch.zeros(n_styles, channels))

    def select(self, code: Tensor, size: tuple[int, int]) -> tuple[Tensor, Tensor]:
        """Style code (see the module doc) -> gamma, beta as (B, C) or (B, C, h, w) at ``size``."""
        if code.dtype == torch.long:
            return self.gamma[code], self.beta[code]  # (B, C) each, exact rows
        if code.dim() == 2:
            return code.float() @ self.gamma.float(), code.float() @ self.beta.float()  # (B, C)
        m = pool_to(code.float(), size)  # (B, S, h, w)
        return (
            torch.einsum("bshw,sc->bchw", m, self.gamma.float()),
            torch.einsum("bshw,sc->bchw", m, self.beta.float()),
        )


def pool_to(maps: Tensor, size: tuple[int, int]) -> Tensor:
    """Weight maps (B, S, H, W) -> (B, S, h, w): averaged over each layer cell (H = k*h), or
    repeated when the layer is finer. Both are exact for sizes that are multiples of ``STRIDE``."""
    h, w = size
    if maps.shape[-2:] == (h, w):
        return maps
    if maps.shape[-2] >= h:
        return F.avg_pool2d(maps, (maps.shape[-2] // h, maps.shape[-1] // w))
    return F.interpolate(maps, size=size, mode="nearest")


class ConvNorm(nn.Module):
    """[2x nearest upsample], reflection-padded conv, CIN, ReLU."""

    def __init__(self, n_styles: int, cin_: int, cout: int, kernel: int, stride: int, up: bool = False) -> None:
        super().__init__()
        self.up = up
        self.conv = nn.Conv2d(cin_, cout, kernel, stride)
        self.norm = CondInstanceNorm(n_styles, cout)


class Residual(nn.Module):
    """x + CIN(conv(ReLU(CIN(conv(x))))): the second norm has no ReLU."""

    def __init__(self, n_styles: int, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3)
        self.norm1 = CondInstanceNorm(n_styles, channels)
        self.conv2 = nn.Conv2d(channels, channels, 3)
        self.norm2 = CondInstanceNorm(n_styles, channels)


class Step(NamedTuple):
    """One conv of the forward pass and what follows it."""

    name: str  # e.g. "res2.conv1"
    conv: nn.Conv2d
    norm: CondInstanceNorm | None  # None: the output conv (sigmoid follows)
    relu: bool
    residual: str  # "save": keep the input for the skip; "add": add it after the norm
    up: bool  # a 2x nearest upsample comes first


class CINNet(nn.Module):
    """Image (B, 3, H, W) in [0, 1], H and W multiples of ``STRIDE`` -> stylized (B, 3, H, W) in (0, 1)."""

    def __init__(self, n_styles: int) -> None:
        super().__init__()
        self.n_styles = n_styles
        for name, kind, cin_, cout, k, s in LAYERS:
            if kind == "res":
                self.add_module(name, Residual(n_styles, cout))
            elif kind == "out":
                self.add_module(name, nn.Conv2d(cin_, cout, k))
            else:
                self.add_module(name, ConvNorm(n_styles, cin_, cout, k, s, up=kind == "up"))
        self._fast: dict[str, Tensor] | None = None

    def steps(self) -> list[Step]:
        out: list[Step] = []
        for name, kind, *_ in LAYERS:
            m = getattr(self, name)
            if kind == "res":
                out += [
                    Step(f"{name}.conv1", m.conv1, m.norm1, True, "save", False),
                    Step(f"{name}.conv2", m.conv2, m.norm2, False, "add", False),
                ]
            elif kind == "out":
                out.append(Step(name, m, None, False, "", False))
            else:
                out.append(Step(f"{name}.conv", m.conv, m.norm, True, "", m.up))
        return out

    def norms(self) -> list[CondInstanceNorm]:
        return [step.norm for step in self.steps() if step.norm is not None]

    def prepare_fast(self) -> None:
        """Precompute the inference fast path's weights from the current ones (call after
        loading and casting; training never uses them). See ``fastconv``."""
        self._fast = fastconv.prepare(self.steps())

    def forward(
        self, x: Tensor, code: Tensor, stats: list[tuple[Tensor, Tensor]] | None = None, upto: int | None = None
    ) -> Tensor:
        """x (B, 3, H, W); code: a style code. ``stats``: global (mean, var), each (B|1, C), for
        the first len(stats) norm layers. ``upto``: stop at norm layer ``upto`` and return its
        *input* (the pre-norm activation), so the tiled path can measure its statistics."""
        fast = self._fast if not torch.is_grad_enabled() else None
        skip: Tensor | None = None
        for k, step in enumerate(self.steps()):  # every step but the last has a norm: k numbers them
            if step.residual == "save":
                skip = x
            if fast is not None and step.up:
                x = fastconv.up_conv(x, fast[step.name], step.conv.bias)
            elif fast is not None and step.norm is None:
                x = fastconv.out_conv(x, fast[step.name], fast[step.name + ".select"], step.conv.bias)
            else:
                if step.up:
                    x = F.interpolate(x, scale_factor=2, mode="nearest")
                x = conv_reflect(x, step.conv)
            if step.norm is None:
                return torch.sigmoid(x)
            if upto == k:
                return x
            gamma, beta = step.norm.select(code, (x.shape[-2], x.shape[-1]))
            given = stats[k] if stats is not None and k < len(stats) else None
            x = cin(x, gamma, beta, relu=step.relu, stats=given)
            if step.residual == "add":
                assert skip is not None
                x = x + skip if torch.is_grad_enabled() else x.add_(skip)
        raise AssertionError("the layer list ends with the output conv")

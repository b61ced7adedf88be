"""Differentiable curve-to-pixel rendering: soft strokes by distance to densely sampled curves.

Every segment is sampled at parameters uniform in t, about ``spacing`` output pixels apart (the
control polygon's length, an upper bound of the arc length, over the spacing; wide strokes use a
quarter of their width instead: the discs then overlap so much that the edge ripples by 3% of the
radius); each sample carries the stroke's half-width there (widths are
linear in t between on-curve points). A pixel's signed distance to the ink is

    sd(p) = min_samples ( |p - x_s| - r_s )                         (negative inside a stroke)

and its ink is ``smoothstep((soft - sd) / (2 soft))``: 1 inside, 0 from ``soft`` px outside, 1/2 on
the stroke's edge, so thresholding at 1/2 gives the exact stroke shape. Gradients reach a control
point through every sample of its segments (each sample is a fixed Bernstein combination of the
segment's four points) wherever its stroke edge crosses a pixel.

Only the pixels near a stroke matter, so the minimum runs as a scatter: each sample visits the
pixels within the widest stroke's radius + ``soft`` of it (a disc-shaped window) and one
``scatter_reduce(amin)`` over packed (distance, sample) keys finds every pixel's nearest sample,
without gradient, in chunks of ``CHUNK`` pairs; then only each pixel's own nearest sample is
differentiated. The cost grows with the ink (samples x window), not with samples x pixels, and the
autograd graph holds one distance per inked pixel.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from .config import SOFT
from .curveset import Curves

SPACING = 0.7  # output px between neighbouring samples of a segment (0.14 px edge ripple at r = 0.5)
CHUNK = 1 << 22  # sample-pixel pairs per scatter
FIXED = 1 << 16  # distances in keys: 2^-16 px steps
INDEX_BITS = 26  # sample indices in keys: up to 67 M samples
NONE = (1 << 62) | ((1 << INDEX_BITS) - 1)  # the key of "no sample near"


def bernstein(t: Tensor) -> Tensor:
    """(S,) parameters -> (S, 4) cubic Bernstein weights."""
    s = 1 - t
    return torch.stack([s**3, 3 * s * s * t, 3 * s * t * t, t**3], dim=1)


class Samples(NamedTuple):
    xy: Tensor  # (S, 2) points in output px
    radius: Tensor  # (S,) the stroke's half-width there, output px
    segment: Tensor  # (S,) long: the segment each lies on


def sample(curves: Curves, scale: float = 1.0, spacing: float = SPACING) -> Samples:
    """Points along every segment in output px (canvas px times ``scale``), at most ``spacing`` apart,
    with the stroke's half-width at each. Differentiable in ``curves.points`` and ``curves.widths``."""
    if len(curves) == 0:
        none = curves.points.new_zeros(0, 2)
        return Samples(none, none[:, 0], none[:, 0].long())
    ctrl = curves.points[curves.segment_points]  # (K, 4, 2)
    ends = curves.widths[curves.segment_nodes]  # (K, 2)
    with torch.no_grad():  # how many samples: geometry only, no gradient
        polygon = (ctrl[:, 1:] - ctrl[:, :-1]).norm(dim=2).sum(1)  # (K,) >= the segment's length
        # Wide strokes need fewer samples: discs r apart / 2 leave an edge ripple of 3% of r.
        gap = (ends.amin(1) * scale / 4).clamp_min(spacing)  # (K,) half the radius
        counts = (polygon * scale / gap).ceil().long().clamp_min(1) + 1  # (K,)
    dev = ctrl.device
    seg = torch.repeat_interleave(torch.arange(len(counts), device=dev), counts)  # (S,)
    first = torch.cumsum(counts, 0) - counts  # (K,)
    t = ((torch.arange(len(seg), device=dev) - first[seg]).float() / (counts[seg] - 1).float()).to(ctrl.dtype)
    xy = (bernstein(t).unsqueeze(2) * ctrl[seg]).sum(1) * scale  # (S, 2)
    radius = (ends[seg, 0] * (1 - t) + ends[seg, 1] * t) * (scale / 2)  # (S,)
    return Samples(xy, radius, seg)


def _window(reach: float) -> tuple[Tensor, Tensor]:
    """Pixel offsets (O,) dx and dy, integers, whose centres can lie within ``reach`` of a point of
    the pixel at offset (0, 0): a disc of radius reach + 1/sqrt(2), not its bounding square."""
    n = math.ceil(reach + 1)
    ax = torch.arange(-n, n + 1)
    dy, dx = torch.meshgrid(ax, ax, indexing="ij")
    keep = (dx.abs() - 0.5).clamp_min(0) ** 2 + (dy.abs() - 0.5).clamp_min(0) ** 2 <= reach**2
    return dx[keep], dy[keep]


def nearest(xy: Tensor, radius: Tensor, size: tuple[int, int], soft: float) -> Tensor:
    """(H * W,) long: for each pixel, the sample whose stroke edge is nearest (min of |p - x_s| - r_s)
    among those whose edge is within ``soft`` of it, or -1. No gradient: pairs are only compared.

    Each sample visits a disc of radius r_s + ``soft`` (samples are grouped by whole-pixel radius,
    so one wide stroke does not widen every sample's window). Each (sample, pixel) pair's distance
    is packed with the sample's index into one int64 key (distance in fixed point, 2^-16 px, above
    the index's 26 bits), so ``scatter_reduce(amin)`` finds the nearest distance and its sample."""
    h, w = size
    reach = (radius + soft).ceil()  # (S,) whole-pixel window radius per sample
    pad = math.ceil(float(reach.max()) + 1) + 1
    # The field is padded so every window falls inside it (no per-pair bounds checks); samples
    # further than ``pad`` outside the canvas cannot reach it and are dropped.
    wide = w + 2 * pad
    keys = torch.full(((h + 2 * pad) * wide,), NONE, dtype=torch.long, device=xy.device)
    inside = ((xy > -pad) & (xy < xy.new_tensor([w + pad, h + pad]))).all(1)
    lowest = float(radius.max()) + 1  # distances are >= -lowest
    for value in torch.unique(reach[inside]).tolist():
        ids = torch.nonzero(inside & (reach == value)).flatten()
        cell = xy[ids].floor()  # (n, 2) the pixel holding each sample
        base = (cell[:, 1].long() + pad) * wide + cell[:, 0].long() + pad  # (n,) its index in the field
        frac, r = xy[ids] - cell, radius[ids]  # (n, 2) position inside that pixel
        dx, dy = (v.to(xy.device) for v in _window(value))
        step, offsets = max(1, CHUNK // len(dx)), dy * wide + dx  # (O,)
        for lo in range(0, len(ids), step):
            f = frac[lo : lo + step]
            d = ((dx + 0.5 - f[:, :1]) ** 2 + (dy + 0.5 - f[:, 1:]) ** 2).sqrt() - r[lo : lo + step, None]  # (n, O)
            key = ((d + lowest) * FIXED).long() << INDEX_BITS | ids[lo : lo + step, None]
            keys = keys.scatter_reduce(0, (base[lo : lo + step, None] + offsets).flatten(), key.flatten(), "amin")
    keys = keys.view(h + 2 * pad, wide)[pad : pad + h, pad : pad + w].flatten()
    return torch.where(keys == NONE, -1, keys & ((1 << INDEX_BITS) - 1))


def distance_field(xy: Tensor, radius: Tensor, size: tuple[int, int], soft: float = SOFT) -> Tensor:
    """Signed distance (H, W) from each pixel centre to the nearest stroke edge, capped at ``soft``;
    differentiable in ``xy`` and ``radius`` through each pixel's nearest sample."""
    h, w = size
    field = xy.new_full((h * w,), float(soft))
    if len(xy) == 0:
        return field.view(h, w)
    with torch.no_grad():
        owner = nearest(xy.detach(), radius.detach(), size, soft)
        band = torch.nonzero(owner >= 0).flatten()  # (B,) pixels some stroke edge is near
        centre = torch.stack([band % w, band // w], dim=1).to(xy.dtype) + 0.5  # (B, 2)
    s = owner[band]
    d = (centre - xy[s]).norm(dim=1) - radius[s]  # (B,)
    return field.index_put((band,), d.clamp_max(soft)).view(h, w)


def coverage(sd: Tensor, soft: float = SOFT) -> Tensor:
    """Ink in [0, 1] from signed distance: a smoothstep from 1 (sd <= -soft) to 0 (sd >= soft)."""
    x = ((soft - sd) / (2 * soft)).clamp(0, 1)
    return x * x * (3 - 2 * x)


def render_ink(curves: Curves, size: tuple[int, int] | None = None, *, soft: float = SOFT) -> Tensor:
    """Ink (H, W) in [0, 1] at ``size`` (H, W), default the canvas; curves scale with the canvas's
    longer side (an output of another aspect ratio keeps the curves' aspect, anchored top-left)."""
    h, w = size if size is not None else curves.size
    scale = max(h, w) / max(curves.size)
    xy, radius, _ = sample(curves, scale)
    return coverage(distance_field(xy, radius, (h, w), soft), soft)


def render(curves: Curves, size: tuple[int, int] | None = None, *, soft: float = SOFT) -> Tensor:
    """An RGB image (1, 3, H, W) in [0, 1]: black ink on white paper, or white on black for a
    light-on-dark sketch."""
    ink = render_ink(curves, size, soft=soft)
    grey = 1 - ink if curves.dark_on_light else ink
    return grey.expand(1, 3, *grey.shape)

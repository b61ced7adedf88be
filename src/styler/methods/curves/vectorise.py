"""A sketch image -> ``Curves``: binarise, thin to centre lines, trace, fit cubic Beziers.

1. Grey = Rec. 601 luma. The paper is the majority: a median above 0.5 means dark strokes on a
   light ground, else light on dark (``dark_on_light``).
2. Ink = pixels on the stroke side of Otsu's threshold. A line drawing has between
   ``MIN_INK`` (0.1%) and ``MAX_INK`` (30%) of its pixels inked and at most ``MAX_MIDTONES``
   (30%) of them in the middle half of the range between paper and ink levels; anything else
   (a photo, a painting, a blank page) is refused in one line.
3. ``skeleton.thin`` + ``skeleton.trace`` -> polylines through pixel centres.
4. Each polyline point looks across the stroke (along its normal, in steps of 1/4 px) for the
   stroke's two edges: their distances d+ and d- give the local width (d+ + d-) and move the
   point to the middle ((d+ - d-) / 2, at most 1 px, not where the width jumps: a junction), so
   even-width strokes get a centre line between pixels. A curve's width is its points' median
   (leaving out points wider than 1.5 x the drawing's median: crossings), at most the drawing's
   median for pieces shorter than two such widths.
5. Spurs (a line from an end to a junction shorter than the stroke's width) are thinning
   artefacts at stroke corners and are dropped. ``bezier.fit`` fits each polyline within
   ``tolerance`` px of its (centred) points; segments are then cut to at most ``max_segment`` px
   of control polygon, exactly (de Casteljau), so the rules have control points to work with.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from ...errors import InputError
from . import bezier, skeleton
from .curveset import Curves

MIN_INK = 0.001  # share of inked pixels below which there is no drawing
MAX_INK = 0.30  # ... above which it is not a line drawing
MAX_MIDTONES = 0.30  # share of pixels in the middle half between paper and ink levels
STEP = 0.25  # px between samples when looking across a stroke for its edges
REACH = 48.0  # px: the widest stroke measured is 2 * REACH
CORNER_SPAN = 4  # points (px) on each side over which a turn is measured
CORNER_ANGLE = 55.0  # degrees of turn over 2 * CORNER_SPAN px that make a corner


def grey(image: Any) -> np.ndarray:
    """A PIL image, or a float RGB tensor (1, 3, H, W) / (3, H, W) in [0, 1] -> luma (H, W) float64."""
    if isinstance(image, Image.Image):
        rgb = np.asarray(image.convert("RGB"), dtype=np.float64) / 255  # (H, W, 3)
    elif isinstance(image, Tensor) and image.dim() in (3, 4) and image.shape[-3] == 3:
        if image.dim() == 4 and image.shape[0] != 1:
            raise InputError(f"vectorise takes one sketch (1, 3, H, W), got {tuple(image.shape)}; split batches")
        rgb = image.detach().reshape(3, *image.shape[-2:]).permute(1, 2, 0).double().cpu().numpy()
    else:
        shape = tuple(image.shape) if isinstance(image, Tensor) else type(image).__name__
        raise InputError(f"expected a sketch as a PIL image or an RGB tensor (1, 3, H, W), got {shape}")
    return rgb @ np.array([0.299, 0.587, 0.114])


def otsu(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold of values in [0, 1]: the cut that maximises the between-class variance."""
    hist = np.bincount(np.clip((values.ravel() * (bins - 1)).round().astype(np.int64), 0, bins - 1), minlength=bins)
    p = hist / max(hist.sum(), 1)
    levels = np.arange(bins) / (bins - 1)
    w0, m0 = np.cumsum(p), np.cumsum(p * levels)
    between = (m0[-1] * w0 - m0) ** 2 / np.clip(w0 * (1 - w0), 1e-12, None)
    return float(levels[int(np.argmax(between[:-1]))]) + 0.5 / (bins - 1)


def binarise(luma: np.ndarray, what: str = "the content") -> tuple[np.ndarray, bool]:
    """Luma (H, W) -> (ink (H, W) bool, dark_on_light); a picture that is no line drawing is refused."""
    dark_on_light = bool(np.median(luma) > 0.5)
    cut = otsu(luma)
    ink = luma < cut if dark_on_light else luma >= cut
    share = float(ink.mean())
    paper = float(np.median(luma[~ink])) if (~ink).any() else 1.0
    pen = float(np.median(luma[ink])) if ink.any() else 0.0
    lo, hi = sorted((paper, pen))
    mid = float(((luma > lo + (hi - lo) / 4) & (luma < hi - (hi - lo) / 4)).mean())
    if share < MIN_INK or hi - lo < 0.1:
        raise InputError(
            f"{what} has no strokes ({share:.2%} of its pixels inked, at least {MIN_INK:.1%} needed); "
            "method curves needs a line drawing"
        )
    if share > MAX_INK or mid > MAX_MIDTONES:
        raise InputError(
            f"{what} is not a line drawing but a photo or shaded picture ({share:.0%} of its pixels inked, at "
            f"most {MAX_INK:.0%}; {mid:.0%} mid-tones, at most {MAX_MIDTONES:.0%}); method curves needs a line "
            "drawing (dark strokes on a light ground, or the reverse)"
        )
    return ink, dark_on_light


def _normals(pts: np.ndarray, closed: bool) -> np.ndarray:
    """Unit normals (n, 2) of a polyline from central differences over two points each side."""
    if len(pts) < 2:
        return np.tile([1.0, 0.0], (len(pts), 1))
    idx = np.arange(len(pts))
    if closed:
        ahead, behind = pts[(idx + 2) % len(pts)], pts[(idx - 2) % len(pts)]
    else:
        ahead, behind = pts[np.minimum(idx + 2, len(pts) - 1)], pts[np.maximum(idx - 2, 0)]
    t = ahead - behind
    t = t / np.clip(np.hypot(*t.T)[:, None], 1e-12, None)
    return np.stack([-t[:, 1], t[:, 0]], axis=1)


def _edges(ink: np.ndarray, pts: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """Distance (n, 2) from each point to the first paper pixel along +normal and -normal."""
    h, w = ink.shape
    s = (np.arange(int(REACH / STEP)) + 0.5) * STEP  # (m,) offsets, half a step in
    out = []
    for sign in (1.0, -1.0):
        xy = pts[:, None, :] + sign * s[None, :, None] * normals[:, None, :]  # (n, m, 2)
        x, y = np.floor(xy[..., 0]).astype(np.int64), np.floor(xy[..., 1]).astype(np.int64)
        inside = (x >= 0) & (x < w) & (y >= 0) & (y < h)
        on = np.where(inside, ink[np.clip(y, 0, h - 1), np.clip(x, 0, w - 1)], False)
        first = np.where((~on).any(1), np.argmax(~on, axis=1), len(s) - 1)  # first paper sample
        out.append(s[first] - STEP / 2)  # the edge lies between it and the sample before
    return np.stack(out, axis=1)


def centre(ink: np.ndarray, pts: np.ndarray, closed: bool) -> tuple[np.ndarray, np.ndarray]:
    """A traced polyline (n, 2) -> (the points moved to the stroke's middle, the width at each (n,))."""
    normals = _normals(pts, closed)
    d = _edges(ink, pts, normals)  # (n, 2)
    widths = d.sum(1)
    shift = np.clip((d[:, 0] - d[:, 1]) / 2, -1.0, 1.0)
    shift = np.where(widths <= 1.5 * np.median(widths), shift, 0.0)  # across a junction: not this stroke's
    return pts + shift[:, None] * normals, widths


def stroke_width(widths: np.ndarray, typical: float) -> float:
    """A curve's width from its points' (n,): the median of those not over 1.5 times the drawing's
    ``typical`` width (where strokes cross or touch, the look across runs on through the other); a
    curve shorter than two typical widths (a piece between crossings) takes at most ``typical``."""
    plain = widths[widths <= 1.5 * typical]
    width = float(np.median(plain if len(plain) else widths))
    if len(widths) < 2 * typical:
        width = min(width, typical)
    return max(width, 1.0)


def smooth(pts: np.ndarray, closed: bool, passes: int = 2) -> np.ndarray:
    """[1, 2, 1] / 4 along the polyline ``passes`` times (open lines keep their ends): takes out
    the pixel staircase (+-0.5 px) so the fit follows the stroke, not its digitisation."""
    if len(pts) < 3:
        return pts
    for _ in range(passes):
        if closed:
            pts = (np.roll(pts, 1, 0) + 2 * pts + np.roll(pts, -1, 0)) / 4
        else:
            pts = np.concatenate([pts[:1], (pts[:-2] + 2 * pts[1:-1] + pts[2:]) / 4, pts[-1:]])
    return pts


def corners(pts: np.ndarray, closed: bool, span: int = CORNER_SPAN) -> list[int]:
    """Indices of the polyline's corners: where it turns by more than ``CORNER_ANGLE`` between the
    ``span`` points before and after, the sharpest point of each such stretch (not near open ends)."""
    n = len(pts)
    if n < 2 * span + 1:
        return []
    idx = np.arange(n)
    if closed:
        before, after = pts[(idx - span) % n], pts[(idx + span) % n]
    else:
        before, after = pts[np.maximum(idx - span, 0)], pts[np.minimum(idx + span, n - 1)]
    a, b = pts - before, after - pts
    cos = (a * b).sum(1) / np.clip(np.hypot(*a.T) * np.hypot(*b.T), 1e-12, None)
    turn = np.degrees(np.arccos(np.clip(cos, -1, 1)))
    if not closed:
        turn[:span] = turn[n - span :] = 0
    out: list[int] = []
    for i in (int(j) for j in np.nonzero(turn > CORNER_ANGLE)[0]):
        window = np.arange(i - span, i + span + 1)
        near = turn[window % n] if closed else turn[window[(window >= 0) & (window < n)]]
        if turn[i] == near.max() and not (out and i - out[-1] <= span):
            out.append(i)
    return out


def fit_line(pts: np.ndarray, closed: bool, tol: float) -> np.ndarray:
    """A centred polyline -> Bezier control points: split at corners, each piece smoothed (its ends
    kept) and fitted on its own, so corners stay sharp and the rest follows the stroke, not its pixels."""
    cut = corners(pts, closed)
    if not cut:
        return bezier.fit(smooth(pts, closed), tol, closed)
    if closed:  # start at a corner; the loop becomes a line from it back to it
        pts = np.roll(pts, -cut[0], axis=0)
        cut = [c - cut[0] for c in cut]
        pts = np.concatenate([pts, pts[:1]])
    bounds = [0, *[c for c in cut if 0 < c < len(pts) - 1], len(pts) - 1]
    parts = [bezier.fit(smooth(pts[a : b + 1], False), tol) for a, b in itertools.pairwise(bounds)]
    return np.concatenate([parts[0], *(p[1:] for p in parts[1:])])


def _is_spur(pts: np.ndarray, closed: bool, width: float, degree: np.ndarray) -> bool:
    """A line shorter than the stroke is wide from a free end (one neighbour) to a junction (three or
    more): what thinning leaves at a stroke's corner."""
    if closed or len(pts) < 2:
        return False
    ends = sorted(int(degree[int(y), int(x)]) for x, y in (pts[0], pts[-1]))
    length = float(np.hypot(*np.diff(pts, axis=0).T).sum())
    return length < width and ends[0] == 1 and ends[1] >= 3


def vectorise(image: Any, *, tolerance: float = 0.25, max_segment: float = 16.0, what: str = "the content") -> Curves:
    """A line drawing (PIL image or RGB tensor in [0, 1]) -> its stroke centre lines as ``Curves``."""
    if not tolerance > 0 or not max_segment > 0:
        raise InputError(f"{{tolerance}} and {{max_segment}} must be > 0 px, got {tolerance} and {max_segment}")
    luma = grey(image)
    ink, dark_on_light = binarise(luma, what)
    skel = skeleton.thin(ink)
    degree = skeleton.degree(skel)
    lines = [(pts, closed, *centre(ink, pts, closed)) for pts, closed in skeleton.trace(skel)]
    typical = float(np.median(np.concatenate([w for *_, w in lines]))) if lines else 1.0
    items = []
    for pts, closed, middle, widths in lines:
        width = stroke_width(widths, typical)
        if _is_spur(pts, closed, width, degree):
            continue
        ctrl = bezier.limit_length(fit_line(middle, closed, tolerance), max_segment)
        k = (len(ctrl) - 1) // 3
        items.append((torch.from_numpy(ctrl).float(), torch.full((k + 1,), width), closed))
    return Curves.from_list(items, (luma.shape[0], luma.shape[1]), dark_on_light)

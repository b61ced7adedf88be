"""Curve-editing rules: bounded, explainable edits of each curve's shape and stroke.

Every curve c has ``len(RAW)`` unbounded raw parameters (the optimiser's variables). Each is
squashed into its bound with tanh and, except the wobble's wavelength and phase, multiplied by
the curve's strength a_c = alpha * mask_c. All geometry (centre m, principal axis, normals, ...)
is the *input* curve's, taken for each control point at its Greville abscissa (the curve point at
t = 0, 1/3, 2/3 of its segment), so a displacement field applied there moves the curve alike.
Every rule's displacement D_r of a control point P is its own:

    rule        parameter (default bound)                        displacement of P
    scale       s in +-25%                                      s (P - m)
    rotate      phi in +-20 degrees                             (R(phi) - I)(P - m)
    curvature   k in +-1                                        k h: h = P minus the midpoint of the
                                                                curve ``bend`` before and after P
                                                                (k > 0 deepens bends and sharpens
                                                                corners, k < 0 relaxes them; ends of
                                                                open curves and straight runs stay)
    straighten  l in +-0.75                                     -l o: o = P's offset from the curve's
                                                                principal axis (l < 0: away from it)
    wobble      amplitude A in +-reach px, wavelength L in      A sin(2 pi s / L + phase) n: s = the
                [wave / 2, 2 wave], phase unbounded             arc position, n the curve's normal

Joints: each displacement is weighted by ``anchor`` (0 at an end of an open curve that touches
another curve, rising to 1 over ``bend`` of arc), so strokes that meet keep meeting.

Then, per curve, the sum D = sum_r D_r is shrunk by f = reach tanh(M / reach) / M, M = max |D|
over the curve's points: every control point moves less than ``reach`` px (at most ``reach``
once float32 rounds tanh to 1). A Bezier point is a
convex combination of its control points (Bernstein weights >= 0, sum 1), so every point of an
output curve is less than ``reach`` px from the point of its input curve at the same parameter:
**the output curve stays within ``reach`` of its input curve** (Hausdorff), by construction.

Stroke widths: w -> w exp(g + t (2u - 1) + v 4u(1 - u)), u in [0, 1] the on-curve point's position
along the curve, g (width), t (taper), v (swell) each in +-ln(width) / 3: **every width stays
within a factor ``width`` of its input** (default 2).

alpha = 0 (or a curve outside the mask) gives every displacement exactly 0 and every width factor
exactly 1: the input curves, bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import torch
from torch import Tensor

from ...errors import InputError
from .config import RuleBounds
from .curveset import Curves
from .render import sample

RAW = ("scale", "rotate", "curvature", "straighten", "wobble", "wavelength", "phase", "width", "taper", "swell")
SHAPE_RULES = ("scale", "rotate", "curvature", "straighten", "wobble")
DENSE = 18  # samples per segment for the curves' arc lengths, normals and bends (a multiple of 3)


@dataclass
class Frame:
    """The input curves' geometry the rules move along (see ``Rules.frame``)."""

    arc: Any  # (P,) px
    normal: Any  # (P, 2)
    bend: Any  # (P, 2) px
    u: Any  # (Q,)
    length: Any  # (P,) px: the whole curve's


def _along(p: Tensor, s: Tensor, q: Tensor) -> Tensor:
    """Points (m, 2) at arc positions ``q`` (m,) on the polyline ``p`` (n, 2) with positions ``s``."""
    i = torch.searchsorted(s, q).clamp(1, len(s) - 1)
    step = (s[i] - s[i - 1]).clamp_min(1e-9)
    t = ((q - s[i - 1]) / step).clamp(0, 1)[:, None]
    return p[i - 1] + t * (p[i] - p[i - 1])


def _bend(dense: Tensor, s: Tensor, at: Tensor, span: float, closed: bool) -> Tensor:
    """(m, 2): the curve point ``dense[at]`` minus the midpoint of the curve points ``span`` px of arc
    before and after it; on open curves it fades to 0 over the last ``span`` px of either end."""
    length = float(s[-1])
    if length <= 0 or span <= 0:
        return torch.zeros(len(at), 2, dtype=dense.dtype, device=dense.device)
    q, here = s[at], dense[at]
    if closed:
        return here - (_along(dense, s, (q - span) % length) + _along(dense, s, (q + span) % length)) / 2
    mid = (_along(dense, s, (q - span).clamp_min(0)) + _along(dense, s, (q + span).clamp_max(length))) / 2
    return (here - mid) * torch.minimum(q, length - q).div(span).clamp(max=1)[:, None]


def _per_curve(values: Tensor, index: Tensor, count: int) -> Tensor:
    """Sum of ``values`` (P, ...) over each curve -> (C, ...)."""
    return values.new_zeros(count, *values.shape[1:]).index_add_(0, index, values)


def _unit(v: Tensor) -> Tensor:
    n = v.norm(dim=-1, keepdim=True)
    return torch.where(n > 1e-9, v / n.clamp_min(1e-9), torch.zeros_like(v))


class Rules:
    """The rules bound to one set of input curves (their geometry is computed once)."""

    def __init__(self, curves: Curves, bounds: RuleBounds | None = None) -> None:
        self.curves = curves.detach()
        self.bounds = bounds if bounds is not None else RuleBounds()
        self.reach = self.bounds.reach * max(curves.size)  # px

    # -- the input geometry ------------------------------------------------------------------

    @cached_property
    def centre(self) -> Tensor:
        """(C, 2): the mean of each curve's control points."""
        c = self.curves
        counts = torch.tensor([3 * k + 1 for k in c.segments], dtype=c.points.dtype, device=c.device)
        return _per_curve(c.points, c.point_curve, len(c)) / counts[:, None]

    @cached_property
    def rel(self) -> Tensor:
        """(P, 2): each control point relative to its curve's centre."""
        return self.curves.points - self.centre[self.curves.point_curve]

    @cached_property
    def axis_offset(self) -> Tensor:
        """(P, 2): each control point's offset from its curve's principal axis (through the centre)."""
        r, idx = self.rel, self.curves.point_curve
        sxx, syy, sxy = (_per_curve(v, idx, len(self.curves)) for v in (r[:, 0] ** 2, r[:, 1] ** 2, r[:, 0] * r[:, 1]))
        angle = 0.5 * torch.atan2(2 * sxy, sxx - syy)  # (C,) direction of largest spread
        axis = torch.stack([angle.cos(), angle.sin()], dim=1)[idx]  # (P, 2)
        return r - (r * axis).sum(1, keepdim=True) * axis

    @cached_property
    def frame(self) -> Frame:
        """The curves' own geometry at each control point's Greville abscissa (t = 0, 1/3, 2/3 of its
        segment, 1 at the end; a field moved through these moves the curve alike): arc position (P,)
        px, unit normal (P, 2) and bend (P, 2) px; and each on-curve point's u in [0, 1] (Q,)."""
        c, out = self.curves, Frame([], [], [], [], [])
        span = self.bounds.bend * max(c.size)
        t = torch.arange(DENSE + 1, dtype=c.points.dtype, device=c.device) / DENSE
        basis = torch.stack([(1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t**2, t**3], dim=1)  # (D+1, 4)
        for i in range(len(c)):
            p, _ = c.curve(i)
            k = len(p) // 3
            segs = p[(torch.arange(k, device=c.device) * 3)[:, None] + torch.arange(4, device=c.device)]  # (k, 4, 2)
            dense = torch.cat([(basis @ segs)[:, :-1].reshape(-1, 2), p[-1:]])  # (k D + 1, 2)
            s = torch.cat([p.new_zeros(1), (dense[1:] - dense[:-1]).norm(dim=1).cumsum(0)])
            at = torch.arange(3 * k + 1, device=c.device) * (DENSE // 3)  # Greville points in ``dense``
            n = len(dense)
            ahead = dense[(at + 1) % (n - 1)] if c.closed[i] else dense[(at + 1).clamp(max=n - 1)]
            behind = dense[(at - 1) % (n - 1)] if c.closed[i] else dense[(at - 1).clamp(min=0)]
            tangent = _unit(ahead - behind)
            out.arc.append(s[at])
            out.normal.append(torch.stack([-tangent[:, 1], tangent[:, 0]], dim=1))
            length = float(s[-1])
            out.u.append(s[at[::3]] / length if length > 0 else torch.zeros(k + 1, device=c.device))
            out.bend.append(_bend(dense, s, at, span, c.closed[i]))
            out.length.append(s[-1].expand(len(at)))
        return Frame(*(torch.cat(v) for v in (out.arc, out.normal, out.bend, out.u, out.length)))

    @cached_property
    def anchor(self) -> Tensor:
        """(P,) weight in [0, 1] on each control point's displacement: 0 at an end of an open curve
        that touches another curve (within half its width + 1 px), rising linearly to 1 over
        ``bend`` of arc, so joined strokes stay joined; 1 everywhere else."""
        c = self.curves
        weight = torch.ones(len(c.points), dtype=c.points.dtype, device=c.device)
        if not self.bounds.joints or len(c) < 2:
            return weight
        xy, _, seg = sample(c, 1.0, 1.0)  # the renderer's own samples, 1 px apart
        owner = c.segment_curve[seg]  # (S,)
        span = max(self.bounds.bend * max(c.size), 1e-6)
        arc, length = self.frame.arc, self.frame.length
        for i in (i for i in range(len(c)) if not c.closed[i]):
            p, w = c.curve(i)
            others = xy[owner != i]
            own = slice(c.point_starts[i], c.point_starts[i] + len(p))
            for point, width, fade in ((p[0], w[0], arc[own]), (p[-1], w[-1], length[own] - arc[own])):
                if len(others) and float((others - point).norm(dim=1).min()) <= float(width) / 2 + 1:
                    weight[own] = torch.minimum(weight[own], (fade / span).clamp(max=1))
        return weight

    # -- parameters and edits ----------------------------------------------------------------

    def zeros(self) -> Tensor:
        """Raw parameters (C, len(RAW)) of the identity edit."""
        return torch.zeros(len(self.curves), len(RAW), device=self.curves.device)

    def strength(self, alpha: float, mask: Tensor | None = None) -> Tensor:
        """(C,) a_c = alpha * mask_c; ``mask`` (C,) bool selects the curves that may change."""
        a = torch.full((len(self.curves),), float(alpha), device=self.curves.device)
        if mask is None:
            return a
        if mask.shape != (len(self.curves),):
            raise InputError(f"the curve mask has shape {tuple(mask.shape)}; expected one entry per curve")
        return a * mask.to(a.device, torch.float32)

    def params(self, raw: Tensor, strength: Tensor) -> dict[str, Tensor]:
        """Raw (C, len(RAW)) -> each rule's parameter (C,) in its own unit (see the module docstring)."""
        b, a, sq = self.bounds, strength.to(raw.dtype), raw.tanh()
        log_w = math.log(b.width) / 3
        return {
            "scale": a * b.scale * sq[:, 0],
            "rotate": a * math.radians(b.rotate) * sq[:, 1],  # radians
            "curvature": a * b.curvature * sq[:, 2],
            "straighten": a * b.straighten * sq[:, 3],
            "wobble": a * self.reach * sq[:, 4],  # px
            "wavelength": b.wave * max(self.curves.size) * 2 ** sq[:, 5],  # px
            "phase": raw[:, 6],
            "width": a * log_w * sq[:, 7],  # log factor
            "taper": a * log_w * sq[:, 8],
            "swell": a * log_w * sq[:, 9],
        }

    def moves(self, p: dict[str, Tensor]) -> dict[str, Tensor]:
        """Each shape rule's displacement (P, 2) of every control point (times ``anchor``), before the
        reach shrink."""
        idx, rel = self.curves.point_curve, self.rel
        phi = p["rotate"][idx, None]
        rotated = torch.stack(
            [
                rel[:, 0] * phi.cos()[:, 0] - rel[:, 1] * phi.sin()[:, 0],
                rel[:, 0] * phi.sin()[:, 0] + rel[:, 1] * phi.cos()[:, 0],
            ],
            1,
        )
        wave = torch.sin(2 * math.pi * self.frame.arc / p["wavelength"][idx] + p["phase"][idx])
        moves = {
            "scale": p["scale"][idx, None] * rel,
            "rotate": rotated - rel,
            "curvature": p["curvature"][idx, None] * self.frame.bend,
            "straighten": -p["straighten"][idx, None] * self.axis_offset,
            "wobble": (p["wobble"][idx] * wave)[:, None] * self.frame.normal,
        }
        return {name: m * self.anchor[:, None] for name, m in moves.items()}

    def shrink(self, total: Tensor) -> Tensor:
        """(C,) factor f = reach tanh(M / reach) / M per curve, M its largest displacement (P, 2)."""
        c = self.curves
        m = total.norm(dim=1).new_zeros(len(c)).scatter_reduce(0, c.point_curve, total.norm(dim=1), "amax")
        if self.reach <= 0:
            return torch.zeros_like(m)
        safe = m.clamp_min(1e-12)
        return torch.where(m > 1e-12, self.reach * torch.tanh(safe / self.reach) / safe, torch.ones_like(m))

    def width_factor(self, p: dict[str, Tensor]) -> Tensor:
        """(Q,) multiplicative change of every on-curve stroke width."""
        u, idx = self.frame.u, self.curves.node_curve
        return torch.exp(p["width"][idx] + p["taper"][idx] * (2 * u - 1) + p["swell"][idx] * 4 * u * (1 - u))

    def apply(self, raw: Tensor, strength: Tensor) -> Curves:
        """The edited curves (differentiable in ``raw``)."""
        p = self.params(raw, strength)
        total = sum(self.moves(p).values())
        assert isinstance(total, Tensor)
        f = self.shrink(total)
        points = self.curves.points + f[self.curves.point_curve, None] * total
        return self.curves.with_geometry(points, self.curves.widths * self.width_factor(p))

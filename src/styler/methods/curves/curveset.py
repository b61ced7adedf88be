"""``Curves``: a sketch as piecewise cubic Bezier curves, packed into flat tensors.

Curve c has K_c cubic segments: 3 K_c + 1 control points (on-curve points at indices 0, 3, 6, ...,
handles between them) and K_c + 1 stroke widths, one per on-curve point, linear in t along each
segment. All curves' points sit in one (P, 2) tensor, curve after curve, so the rules and the
renderer work on every curve at once through index tensors. Coordinates are canvas pixels,
x right and y down, pixel (i, j) covering [j, j + 1) x [i, i + 1), as in SVG.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import torch
from torch import Tensor


@dataclass(frozen=True, eq=False)  # holds tensors: compared by identity
class Curves:
    points: Tensor  # (P, 2) float32 control points, P = sum_c (3 K_c + 1)
    widths: Tensor  # (Q,) float32 stroke widths in px at the on-curve points, Q = sum_c (K_c + 1)
    segments: tuple[int, ...]  # K_c >= 1 per curve
    closed: tuple[bool, ...]  # curve c ends where it starts (SVG "Z")
    size: tuple[int, int]  # canvas (H, W) in px
    dark_on_light: bool = True  # ink darker than the paper

    def __post_init__(self) -> None:
        assert len(self.segments) == len(self.closed) and all(k >= 1 for k in self.segments)
        assert self.points.shape == (sum(3 * k + 1 for k in self.segments), 2), self.points.shape
        assert self.widths.shape == (sum(k + 1 for k in self.segments),), self.widths.shape

    def __len__(self) -> int:
        return len(self.segments)

    @classmethod
    def from_list(
        cls,
        items: Sequence[tuple[Tensor, Tensor, bool]],
        size: tuple[int, int],
        dark_on_light: bool = True,
    ) -> Curves:
        """Curves from (points (3K+1, 2), widths (K+1,), closed) triples."""
        segs = tuple((len(p) - 1) // 3 for p, _, _ in items)
        empty = torch.zeros(0, 2)
        points = torch.cat([torch.as_tensor(p, dtype=torch.float32) for p, _, _ in items]) if items else empty
        widths = torch.cat([torch.as_tensor(w, dtype=torch.float32) for _, w, _ in items]) if items else empty[:, 0]
        return cls(points, widths, segs, tuple(bool(c) for _, _, c in items), size, dark_on_light)

    def with_geometry(self, points: Tensor, widths: Tensor) -> Curves:
        """The same curves (layout, canvas, polarity) with new control points and widths."""
        return Curves(points, widths, self.segments, self.closed, self.size, self.dark_on_light)

    def curve(self, c: int) -> tuple[Tensor, Tensor]:
        """Curve c's control points (3 K_c + 1, 2) and widths (K_c + 1,)."""
        p0, q0 = self.point_starts[c], self.node_starts[c]
        k = self.segments[c]
        return self.points[p0 : p0 + 3 * k + 1], self.widths[q0 : q0 + k + 1]

    def detach(self) -> Curves:
        return self.with_geometry(self.points.detach(), self.widths.detach())

    def to(self, device: torch.device | str) -> Curves:
        return self.with_geometry(self.points.to(device), self.widths.to(device))

    @property
    def device(self) -> torch.device:
        return self.points.device

    # -- index tensors (layout only, cached) -------------------------------------------------

    @cached_property
    def point_starts(self) -> list[int]:
        out, at = [], 0
        for k in self.segments:
            out.append(at)
            at += 3 * k + 1
        return out

    @cached_property
    def node_starts(self) -> list[int]:
        out, at = [], 0
        for k in self.segments:
            out.append(at)
            at += k + 1
        return out

    @cached_property
    def point_curve(self) -> Tensor:
        """(P,) long: the curve each control point belongs to."""
        counts = torch.tensor([3 * k + 1 for k in self.segments], dtype=torch.long)
        return torch.repeat_interleave(torch.arange(len(self)), counts).to(self.device)

    @cached_property
    def node_curve(self) -> Tensor:
        """(Q,) long: the curve each on-curve point belongs to."""
        counts = torch.tensor([k + 1 for k in self.segments], dtype=torch.long)
        return torch.repeat_interleave(torch.arange(len(self)), counts).to(self.device)

    @cached_property
    def segment_curve(self) -> Tensor:
        """(S,) long: the curve each segment belongs to."""
        counts = torch.tensor(self.segments, dtype=torch.long)
        return torch.repeat_interleave(torch.arange(len(self)), counts).to(self.device)

    @cached_property
    def segment_points(self) -> Tensor:
        """(S, 4) long: the control points of every segment, S = sum_c K_c."""
        starts = [p0 + 3 * j for p0, k in zip(self.point_starts, self.segments) for j in range(k)]
        return (torch.tensor(starts, dtype=torch.long).view(-1, 1) + torch.arange(4)).to(self.device)

    @cached_property
    def segment_nodes(self) -> Tensor:
        """(S, 2) long: the widths at both ends of every segment."""
        starts = [q0 + j for q0, k in zip(self.node_starts, self.segments) for j in range(k)]
        return (torch.tensor(starts, dtype=torch.long).view(-1, 1) + torch.arange(2)).to(self.device)

    @cached_property
    def point_role(self) -> Tensor:
        """(P,) long: 0 for an on-curve point, 1 for a segment's first handle, 2 for its second."""
        return (
            torch.cat([torch.arange(3 * k + 1) % 3 for k in self.segments])
            if len(self)
            else torch.zeros(0, dtype=torch.long)
        )

    @cached_property
    def node_points(self) -> Tensor:
        """(Q,) long: the control-point index of every on-curve point."""
        return torch.nonzero(self.point_role == 0).flatten()

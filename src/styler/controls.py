"""The shared controls of every render, validated once, here.

Every front end builds a ``Controls``: ``Engine.render`` from its keyword arguments, jobs and
video from their specs, the CLI before any weights load. Each control has one check and one
message, naming the parameter as data (``errors.Param``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .errors import InputError, Param
from .names import Color


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_alpha(alpha: Any, name: str = "alpha") -> float:
    if not _number(alpha) or not 0.0 <= alpha <= 1.0:
        raise InputError(Param(name), f" must be a number in [0, 1], got {alpha}; 1 = full style, 0 = content only")
    return float(alpha)


def check_color(color: str | Color | None) -> Color | None:
    if color is None or isinstance(color, Color):
        return color
    try:
        return Color(color)
    except ValueError:
        raise InputError(f"unknown colour method '{color}'; use one of {', '.join(c.value for c in Color)}") from None


def normalize_weights(weights: Sequence[float] | None, count: int) -> list[float]:
    """Interpolation weights -> the same divided by their sum; equal weights when None."""
    if count < 1:
        raise InputError("no style given; pass at least one style")
    if weights is None:
        return [1.0 / count] * count
    w = check_weights(weights)
    if len(w) != count:
        raise InputError(f"got {len(w)} weight(s) for {count} style(s); give exactly one weight per style")
    total = sum(w)
    return [x / total for x in w]


def check_weights(weights: Sequence[float]) -> tuple[float, ...]:
    """Finite, non-negative interpolation weights with a positive sum."""
    try:
        w = tuple(float(x) for x in weights)
    except (TypeError, ValueError):
        raise InputError(Param("weights"), f" must be numbers, got {list(weights)}") from None
    if not all(math.isfinite(x) for x in w):
        raise InputError(Param("weights"), f" must be finite numbers, got {','.join(map(str, w))}")
    if any(x < 0 for x in w):
        raise InputError(
            Param("weights"), f" must not be negative, got {','.join(map(str, w))}; use 0 to leave a style out"
        )
    if sum(w) <= 0:
        raise InputError("the weights sum to 0; give at least one positive weight")
    return w


def check_feather(px: Any) -> float:
    if not _number(px) or px < 0:
        raise InputError(Param("feather"), f" must be a number of pixels >= 0, got {px}; 0 = hard edges")
    return float(px)


def check_smooth(smooth: Any) -> float:
    if not _number(smooth) or not 0.0 <= smooth < 1.0:
        raise InputError(Param("smooth"), f" must be a number in [0, 1), got {smooth}; 0 = off, 0.8 = strong")
    return float(smooth)


@dataclass(frozen=True)
class Controls:
    """How styles are applied: strength, blend, regions' edges, colour, alpha sweep, video smoothing."""

    alpha: float = 1.0  # style strength in [0, 1]; each method documents what it means for it
    color: Color | None = None  # colour preservation (the engine's, for every method)
    weights: tuple[float, ...] | None = None  # interpolation weights, one per style (None = equal)
    feather: float = 0.0  # soften region-mask edges over about this many content pixels
    sweep: tuple[float, ...] | None = None  # an alpha sweep: one tile per alpha (replaces alpha)
    smooth: float = 0.0  # video: temporal smoothing strength in [0, 1)
    labels: bool = True  # label each tile of an alpha sweep with its alpha

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise the given values once, here
        set_(self, "alpha", check_alpha(self.alpha))
        set_(self, "color", check_color(self.color))
        if self.weights is not None:
            set_(self, "weights", check_weights(self.weights))
        set_(self, "feather", check_feather(self.feather))
        if self.sweep is not None:
            if not self.sweep:
                raise InputError(Param("alpha_sweep"), " needs at least one alpha, e.g. 0,0.5,1")
            set_(self, "sweep", tuple(check_alpha(a, "alpha_sweep") for a in self.sweep))
        set_(self, "smooth", check_smooth(self.smooth))
        if not isinstance(self.labels, bool):
            raise InputError(Param("labels"), f" must be True or False, got {self.labels!r}")

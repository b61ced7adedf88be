"""Curve-based transfer's settings: the rules' bounds (``RuleBounds``), how to vectorise, render and
optimise (``CurvesConfig``), progress records (``CurvesStep``) and the precision rule (``runtime_for``).
The rules themselves are in ``rules``, the optimisation in ``optimise``."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ...errors import DeviceError, InputError, Param
from ...runtime import PRECISIONS, Runtime, pick_device

OPTIMIZERS = ("adam", "lbfgs")
SOFT = 1.0  # output px: a stroke's ink ramps from 1 to 0 over [edge - SOFT, edge + SOFT] (``render``)


def _whole(name: str, value: Any, least: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise InputError(Param(name), f" must be a whole number >= {least}, got ", Param(name, repr(value)))


def _positive(name: str, value: Any, least: float = 0.0, *, strict: bool = True) -> None:
    number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not number or value < least or (strict and value == least):
        word = ">" if strict else ">="
        raise InputError(Param(name), f" must be a finite number {word} {least:g}, got ", Param(name, repr(value)))


@dataclass(frozen=True)
class RuleBounds:
    """How far each rule may go (``rules``). Lengths are fractions of the canvas's longer side."""

    reach: float = 0.02  # every output curve within this of its input (10 px on a 512 px sketch)
    scale: float = 0.25  # relative size change about the curve's centre
    rotate: float = 20.0  # degrees about the curve's centre
    curvature: float = 1.0  # handle offsets from their chords may change by this factor
    straighten: float = 0.75  # share of the offset from the principal axis removed (or added)
    width: float = 2.0  # stroke widths stay within this factor of their input
    wave: float = 0.0625  # the wobble's central wavelength (32 px at 512); it ranges over [/2, x2]
    bend: float = 0.06  # the arc length over which the curvature rule measures a bend (31 px at 512)
    joints: bool = True  # ends that touch another curve stay put (``Rules.anchor``)

    def __post_init__(self) -> None:
        for name in ("reach", "scale", "rotate", "curvature", "straighten", "wave", "bend"):
            _positive(name, getattr(self, name), strict=False)
        _positive("width", self.width, 1.0, strict=False)


@dataclass(frozen=True)
class CurvesConfig:
    """How to vectorise, render and optimise."""

    iters: int = 50  # steps, one render + VGG forward + backward each (the rules saturate their bounds fast)
    optimizer: str = "adam"  # adam | lbfgs
    lr: float = 0.1  # adam: raw parameters are tanh-squashed, so 0.1 crosses a bound in ~20 steps
    seed: int = 0  # the wobbles' starting phases
    size: int | None = None  # px on the longer side of the renders the loss sees; None: the canvas's
    tolerance: float = 0.25  # px: Bezier fit of the smoothed centre lines (vectorise)
    max_segment: float = 16.0  # px of control polygon per segment (vectorise)
    soft: float = SOFT  # px of the stroke edge's ramp in renders
    bounds: RuleBounds = field(default_factory=RuleBounds)

    def __post_init__(self) -> None:
        _whole("iters", self.iters, 0)
        _whole("seed", self.seed, 0)
        if self.size is not None:
            _whole("size", self.size, 16)
        if self.optimizer not in OPTIMIZERS:
            raise InputError(
                Param("optimizer"), " must be adam or lbfgs, got ", Param("optimizer", repr(self.optimizer))
            )
        for name in ("lr", "tolerance", "max_segment", "soft"):
            _positive(name, getattr(self, name))
        if not isinstance(self.bounds, RuleBounds):
            raise InputError(Param("bounds"), f" must be a RuleBounds, got {type(self.bounds).__name__}")


@dataclass(frozen=True)
class CurvesStep:
    """One iteration, for progress bars: the style loss of the parameters the step started from."""

    iteration: int  # from 1
    total: int  # iters
    loss: float
    best: float  # the lowest loss so far


def runtime_for(device: str = "auto", precision: str = "auto") -> Runtime:
    """This method's runtime: ``auto`` and ``fp32`` are fp32; other precisions are refused.

    The renderer's coordinates need fp32 (bf16 keeps 8 significant bits: steps of 2 px at x = 512),
    and, as for Gatys optimisation, bf16 autocast of the encoder did not reach fp32's loss there."""
    if precision not in PRECISIONS:
        raise DeviceError(f"unknown precision '{precision}'; use one of {', '.join(PRECISIONS)}")
    if precision not in ("auto", "fp32"):
        raise DeviceError(
            "method curves runs in fp32, got ", Param("precision", precision), "; use ", Param("precision", "fp32")
        )
    return Runtime(pick_device(device), "fp32")

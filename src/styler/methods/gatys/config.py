"""Gatys optimisation's settings (``GatysConfig``), progress records (``GatysStep``), style
representation (``GatysStyle``), precision rule and stage geometry; the optimisation itself is
in ``gatys``."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ...errors import DeviceError, InputError, Param
from ...runtime import PRECISIONS, Runtime, pick_device
from ..base import check_image as check_base

MIN_SIDE = 17  # relu5_1 is after four ceil-mode pools: below 17 px its map is 1 px and reflection padding fails
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
OPTIMIZERS = ("lbfgs", "adam")
INITS = ("content", "noise", "adain")


def _number(name: str, value: Any, low: float = 0.0) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < low:
        raise InputError(Param(name), f" must be a finite number >= {low:g}, got ", Param(name, repr(value)))


@dataclass(frozen=True)
class GatysConfig:
    """How to optimise. The weights are those of Gatys's own PyTorch code for this normalised
    VGG (content 1 on relu4_2; style 1e3 / C^2 on Grams divided by H W, i.e. 1e3 on ours)."""

    iters: int = 500  # iterations per scale, one forward + backward each (500: Gatys's code)
    optimizer: str = "lbfgs"  # lbfgs | adam
    init: str = "content"  # content | noise | adain
    seed: int = 0  # for init="noise"
    content_weight: float = 1.0
    style_weight: float = 1e3
    tv_weight: float = 0.0  # Gatys uses none; a noise init may want some (ops.total_variation)
    scales: tuple[int, ...] | None = None  # shorter sides of the stages before the content's own size
    save_every: int = 0  # GatysStep.image every N iterations; 0 = never
    lr: float = 0.02  # adam only: at most about lr per pixel per step
    history: int = 100  # L-BFGS curvature pairs kept; each costs 24 bytes per pixel

    def __post_init__(self) -> None:
        for name in ("iters", "seed", "save_every", "history"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < (1 if name == "history" else 0):
                raise InputError(
                    Param(name),
                    f" must be a whole number >= {1 if name == 'history' else 0}, got ",
                    Param(name, repr(value)),
                )
        if self.optimizer not in OPTIMIZERS:
            raise InputError(
                Param("optimizer"), " must be lbfgs or adam, got ", Param("optimizer", repr(self.optimizer))
            )
        if self.init not in INITS:
            raise InputError(Param("init"), " must be content, noise or adain, got ", Param("init", repr(self.init)))
        for name in ("content_weight", "style_weight", "tv_weight", "lr"):
            _number(name, getattr(self, name))
        if self.scales is not None:
            s = tuple(self.scales)
            if (
                not s
                or any(isinstance(v, bool) or not isinstance(v, int) or v < MIN_SIDE for v in s)
                or any(a >= b for a, b in itertools.pairwise(s))
            ):
                raise InputError(
                    Param("scales"),
                    f" must be increasing shorter sides of at least {MIN_SIDE} px, e.g. ",
                    Param("scales", (256, 512)),
                    ", got ",
                    Param("scales", repr(self.scales)),
                )


@dataclass(frozen=True)
class GatysStep:
    """One iteration, for progress bars and intermediate files. Losses are unweighted and those of
    the image the iteration started from; ``image`` is the image after it (every save_every)."""

    item: int  # which content image of the batch, from 0
    items: int
    scale: int  # which stage, from 0
    scales: int
    size: tuple[int, int]  # (H, W) of this stage
    iteration: int  # from 1, within this stage
    total: int  # iterations in this stage (iters)
    step: int  # from 1, over all items and stages: for an ETA
    steps: int
    loss: float  # the weighted total
    content_loss: float
    style_loss: float
    tv_loss: float
    image: Tensor | None = None  # (1, 3, h, w) float32 in [0, 1]


@dataclass(frozen=True, eq=False)  # compared by identity: it holds tensors
class GatysStyle:
    """A style as Gatys sees it: its image (resized per stage) and, cached by the image size
    they were taken at, its Gram matrices per STYLE_LAYERS, each (1, C, C) float32."""

    image: Tensor  # (1, 3, h, w) float32 on the device
    grams: dict[tuple[int, int], tuple[Tensor, ...]] = field(default_factory=dict, compare=False)
    adain: Any = None  # AdaIN's StyleStats, for init="adain"


def pick_precision(name: str, device: torch.device) -> str:
    """Gatys's precision: ``auto`` = fp32, bf16 on request.

    The runtime's ``auto`` means bf16 on CPUs with AVX512-BF16 (right for AdaIN inference), but
    for this forward + backward loop bf16 autocast, though faster on such a CPU when it is quiet
    (256 px, 20 L-BFGS iterations: 1.81 vs 2.53 s/it; no faster under load), did not reach fp32's
    loss (0.00824 vs 0.00779 after those 20, both scored in fp32). So bf16 (autocast: convolutions
    in bf16; Gram matrices, losses and the image in fp32) runs only when asked for. fp16 is
    refused: these mean-normalised losses have gradients below its range."""
    if name not in PRECISIONS:
        raise DeviceError(f"unknown precision '{name}'; use one of {', '.join(PRECISIONS)}")
    if name == "fp16":
        raise DeviceError("gatys runs in precision fp32 or bf16 (fp16 gradients underflow); use auto, fp32 or bf16")
    if name == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported(including_emulation=False):
        raise DeviceError("this GPU has no native bf16; use precision fp32")
    return "fp32" if name == "auto" else name


def runtime_for(device: str = "auto", precision: str = "auto") -> Runtime:
    """The runtime Gatys should get: CUDA when available, precision by ``pick_precision``."""
    dev = pick_device(device)
    return Runtime(dev, pick_precision(precision, dev))


def check_image(x: Any, what: str) -> Tensor:
    """An image batch (N, 3, H, W) large enough for relu5_1 (``base.check_image``)."""
    return check_base(x, what, MIN_SIDE, "relu5_1")


def stage_sizes(height: int, width: int, scales: tuple[int, ...] | None) -> list[tuple[int, int]]:
    """(H, W) of each stage: every scale below the content's shorter side, then the content's size."""
    short = min(height, width)
    early = [
        (max(MIN_SIDE, round(height * s / short)), max(MIN_SIDE, round(width * s / short)))
        for s in scales or ()
        if s < short
    ]
    return [*early, (height, width)]


def hw(x: Tensor) -> tuple[int, int]:
    return int(x.shape[-2]), int(x.shape[-1])


def resize(x: Tensor, size: tuple[int, int]) -> Tensor:
    """(N, C, h, w) -> (N, C, *size): bilinear, antialiased when shrinking."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)

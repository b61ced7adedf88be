"""DiffStyler's settings (``DiffStylerConfig``, ``LoraSettings``), progress records and the check for
the optional extra. Plain Python: nothing here imports diffusers, so a missing extra is one line.

The defaults are the release's (see the package docstring): SD 2.1-base, LoRA rank 16 / alpha 16 on
q, k, v, out, AdamW 2e-4 with weight decay 1e-2 for 200 steps; 50 DDIM steps, guidance 10.5; the base
model injects features and attention at every step, each style model features for the first 30 and
attention for the first 25 of 50 steps (shares 0.6 and 0.5, so they scale with ``steps``).
"""

from __future__ import annotations

import importlib.util
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ...errors import InputError, Param

DEFAULT_MODEL = "stabilityai/stable-diffusion-2-1-base"
EXTRA = "pip install 'styler[diffusion]'"
PACKAGES = ("diffusers", "transformers", "peft")
NEGATIVE_PROMPT = "ugly, blurry, black, low res, unrealistic"
STYLE_PROMPT = "a painting in sks style"  # "sks": a rare token the LoRA binds the style to


def require() -> None:
    """One-line InputError naming the extra when diffusers, transformers or peft is missing."""
    missing = [name for name in PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise InputError(Param("method", "diffstyler"), f" needs {', '.join(missing)} (the diffusion extra): {EXTRA}")


def _whole(name: str, value: Any, low: int, *, zero: bool = False) -> None:
    """A whole number >= ``low`` (or 0 where ``zero`` allows it: "keep the image's own size")."""
    if isinstance(value, bool) or not isinstance(value, int) or (value < low and not (zero and value == 0)):
        also = " (or 0)" if zero else ""
        raise InputError(Param(name), f" must be a whole number >= {low}{also}, got {value!r}")


def _number(name: str, value: Any, low: float, high: float = math.inf) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or not low <= value <= high:
        limits = f"in [{low:g}, {high:g}]" if math.isfinite(high) else f">= {low:g}"
        raise InputError(Param(name), f" must be a number {limits}, got {value!r}")


@dataclass(frozen=True)
class LoraSettings:
    """How a style's LoRA is learned; every field is part of the LoRA cache key."""

    steps: int = 200  # optimiser steps, batch 1
    rank: int = 16
    lora_alpha: float = 16.0  # LoRA scaling is lora_alpha / rank (1 here)
    lr: float = 2e-4  # AdamW, constant
    weight_decay: float = 1e-2
    size: int = 512  # the style image's shorter side while learning; 0 = the image's own size
    prompt: str = STYLE_PROMPT
    seed: int = 0  # timesteps, noise, crops and the posterior samples
    targets: tuple[str, ...] = ("to_q", "to_k", "to_v", "to_out.0")  # every UNet attention projection

    def __post_init__(self) -> None:
        _whole("lora_steps", self.steps, 1)
        _whole("lora_rank", self.rank, 1)
        _whole("style_size", self.size, 8, zero=True)
        _whole("seed", self.seed, 0)
        _number("lora_alpha", self.lora_alpha, 0.0)
        _number("lora_lr", self.lr, 0.0)
        _number("lora_weight_decay", self.weight_decay, 0.0)

    def describe(self) -> str:
        """A canonical JSON string (cache keys, LoRA file metadata)."""
        return json.dumps(asdict(self), sort_keys=True)


@dataclass(frozen=True)
class Windows:
    """Which steps inject, as shares of the sampling steps from the first (noisiest) one."""

    features: float  # up_blocks[1].resnets[1] output replaced by the content branch's
    attention: float  # decoder self-attention queries and keys blended with the content's

    def counts(self, steps: int) -> tuple[int, int]:
        """(feature steps, attention steps) out of ``steps``: 30 and 25 of 50 for (0.6, 0.5)."""
        return round(self.features * steps), round(self.attention * steps)


@dataclass(frozen=True)
class DiffStylerConfig:
    """How to sample. ``alpha`` is not here: it is the per-call style strength (the LoRA scale)."""

    sd: str = DEFAULT_MODEL  # hub id or a diffusers folder (unet/, vae/, text_encoder/, tokenizer/, scheduler/)
    steps: int = 50  # DDIM steps, for the inversion and the sampling alike
    guidance: float = 10.5  # classifier-free guidance scale
    # The content's working shorter side (rounded to the UNet's grid, 64 px for SD); the result is resized
    # back to the content's size. 0 = the content's own size (the CLI passes --content-size here).
    size: int = 512
    negative_prompt: str = NEGATIVE_PROMPT
    base_prompt: str = ""  # the base model's prompt (outside every mask)
    lora: LoraSettings = field(default_factory=LoraSettings)
    base_windows: Windows = Windows(1.0, 1.0)  # release: features and attention at all 50 steps
    style_windows: Windows = Windows(0.6, 0.5)  # release: features for the first 30, attention the first 25
    # The release's own attention forward calls the base q/k/v projections, bypassing the LoRA in the
    # decoder self-attention layers it overrides. True (ours) keeps "style model = base + LoRA" in every
    # layer; False reproduces the release.
    lora_in_injected_attention: bool = True
    cache_dir: Path | None = None  # None: <styler weights dir>/diffstyler

    def __post_init__(self) -> None:
        if not isinstance(self.sd, (str, Path)) or not str(self.sd).strip():
            raise InputError(Param("sd"), f" must be a hub id or a diffusers model folder, got {self.sd!r}")
        object.__setattr__(self, "sd", str(self.sd))
        _whole("steps", self.steps, 1)
        _whole("content_size", self.size, 8, zero=True)
        _number("guidance", self.guidance, 0.0)
        for name in ("base_windows", "style_windows"):
            w = getattr(self, name)
            if not isinstance(w, Windows):
                raise InputError(Param(name), f" must be Windows(features, attention), got {type(w).__name__}")
            _number(name, w.features, 0.0, 1.0)
            _number(name, w.attention, 0.0, 1.0)
        if not isinstance(self.lora, LoraSettings):
            raise InputError(Param("lora"), f" must be LoraSettings, got {type(self.lora).__name__}")


@dataclass(frozen=True)
class DiffStep:
    """One step of a long phase, for progress bars: ``phase`` is "lora" (learning a style; ``loss``
    is that step's MSE), "invert" (the content's DDIM inversion) or "sample"."""

    phase: str
    step: int  # from 1
    steps: int
    loss: float | None = None
    label: str = ""  # which style or content, when known

"""How long a DiffStyler run will take here, before it starts (the CLI prints it first on a CPU).

The work is counted in network evaluations: a LoRA step is one UNet forward and backward (about 2
forwards: the frozen weights need no gradients) at the style's working size, an inversion step one
forward, a sampling step one forward of a batch of 3 per model, plus the VAE. Their FLOPs come from
the model's own configuration, run on the meta device under ``FlopCounterMode`` (no memory, no
compute); the device's speed from a short matrix-multiply probe, scaled by ``EFFICIENCY``, the ratio
a whole UNet reached when measured. A rough figure, not a promise: the machine's load moves it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from .lora import working_size

# Whole-UNet throughput / matmul-probe throughput. cpu: measured, a random SD 2.1-base-size UNet at
# 512 px on 2 Zen 4 cores (bench/bench_diffstyler.py --real): 1.0 (its big convolutions run as fast as
# the 1024^3 probe). cuda, mps: not measured (no GPU in reach), a guess from published A100 timings of
# SD at 512 px (about 25 TFLOP/s achieved against about 250 for large fp16 matmuls).
EFFICIENCY = {"cpu": 1.0, "cuda": 0.1, "mps": 0.1}
# The UNet's weights are frozen, so its backward pass computes input gradients only: about one forward
# (measured on the CPU above: a LoRA step took 1.7 forwards).
BACKWARD = 1.0


def forward_flops(module: nn.Module, *inputs: torch.Tensor, method: str = "forward", **kwargs: object) -> int:
    """FLOPs of one call of ``module.<method>`` (``module`` and inputs on the meta device)."""
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        getattr(module, method)(*inputs, **kwargs)
    return int(counter.get_total_flops())


def meta_copy(model: nn.Module) -> nn.Module:
    """The same architecture on the meta device, built from the model's config (no weights)."""
    with torch.device("meta"):
        return type(model).from_config(model.config)  # type: ignore[operator]


@lru_cache(maxsize=8)
def probe_rate(device: str, dtype: torch.dtype) -> float:
    """FLOP/s of large matrix multiplies on ``device`` in ``dtype`` (about a quarter of a second)."""
    n = 1024 if device == "cpu" else 4096
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    torch.mm(a, b)  # warm-up
    reps, spent = 0, 0.0
    while spent < 0.25:
        start = time.perf_counter()
        torch.mm(a, b)
        if device != "cpu":
            torch.cuda.synchronize()
        spent += time.perf_counter() - start
        reps += 1
    return 2 * n**3 * reps / spent


@dataclass(frozen=True)
class Estimate:
    """Seconds per phase (0 when cached) and the per-call figures they come from."""

    lora: float
    inversion: float
    sampling: float
    vae: float
    unet_call: float  # one UNet forward of batch 1 at the content's working size

    @property
    def total(self) -> float:
        return self.lora + self.inversion + self.sampling + self.vae

    def describe(self) -> str:
        def fmt(s: float) -> str:
            if s >= 5400:
                return f"{s / 3600:.1f} h"
            if s >= 90:
                return f"{s / 60:.0f} min"
            return f"{s:.0f} s" if s >= 10 else f"{s:.1g} s"

        parts = [(n, s) for n, s in (("learning styles", self.lora), ("inversion", self.inversion)) if s > 0]
        parts += [("sampling", self.sampling), ("VAE", self.vae)]
        return f"about {fmt(self.total)} (" + ", ".join(f"{n} {fmt(s)}" for n, s in parts) + ")"


def _config_key(model: nn.Module) -> tuple[type, str]:
    """A model's architecture as a hashable key (its class and its config as canonical JSON)."""
    return type(model), json.dumps(dict(model.config), sort_keys=True, default=str)


@lru_cache(maxsize=64)
def _unet_flops(key: tuple[type, str], latent_hw: tuple[int, int], context: tuple[int, int]) -> int:
    cls, config = key
    with torch.device("meta"):
        meta = cls.from_config(json.loads(config))
    x = torch.empty(1, meta.config.in_channels, *latent_hw, device="meta")
    return forward_flops(meta, x, 500, torch.empty(1, *context, device="meta"))


@lru_cache(maxsize=64)
def _vae_flops(key: tuple[type, str], latent_hw: tuple[int, int], factor: int) -> tuple[int, int]:
    cls, config = key
    with torch.device("meta"):
        meta = cls.from_config(json.loads(config))
    image = torch.empty(1, meta.config.in_channels, latent_hw[0] * factor, latent_hw[1] * factor, device="meta")
    latent = torch.empty(1, meta.config.latent_channels, *latent_hw, device="meta")
    return forward_flops(meta, image, method="encode"), forward_flops(meta, latent, method="decode")


def unet_seconds(
    unet: nn.Module, latent_hw: tuple[int, int], batch: int, context: tuple[int, int], rate: float
) -> float:
    """Seconds of one UNet forward of ``batch`` latents at ``latent_hw`` with a (tokens, dim) prompt.
    Every layer's FLOPs grow linearly with the batch, so batch 1 is counted (once per architecture
    and shape in a process: a meta-device forward takes about a second)."""
    return batch * _unet_flops(_config_key(unet), tuple(latent_hw), tuple(context)) / rate


def vae_seconds(vae: nn.Module, latent_hw: tuple[int, int], factor: int, rate: float) -> tuple[float, float]:
    """(encode, decode) seconds of one image with a (h, w) latent."""
    encode, decode = _vae_flops(_config_key(vae), tuple(latent_hw), factor)
    return encode / rate, decode / rate


def estimate_run(
    sd: Any,
    rt: Any,
    cfg: Any,
    contents: Sequence[tuple[int, int]],
    invert: Sequence[tuple[int, int]] | None,
    learn: Sequence[tuple[int, int]],
    models: int,
) -> Estimate:
    """``DiffStyler.estimate``: seconds per phase for the loaded pipeline ``sd`` (``SD``) on runtime
    ``rt`` with ``cfg`` (``DiffStylerConfig``), from the FLOPs of each distinct shape and the probe rate."""
    rate = probe_rate(rt.device.type, rt.dtype) * EFFICIENCY.get(rt.device.type, 0.3)
    f, context = sd.vae_factor, (sd.tokenizer.model_max_length, sd.unet.config.cross_attention_dim)
    seconds: dict[tuple, float] = {}  # FLOPs are counted once per shape

    def unet(hw: tuple[int, int], batch: int) -> float:
        if (hw, batch) not in seconds:
            seconds[(hw, batch)] = unet_seconds(sd.unet, hw, batch, context, rate)
        return seconds[(hw, batch)]

    def vae(hw: tuple[int, int]) -> tuple[float, float]:
        if (hw, "vae") not in seconds:
            seconds[(hw, "vae")], seconds[(hw, "dec")] = vae_seconds(sd.vae, hw, f, rate)
        return seconds[(hw, "vae")], seconds[(hw, "dec")]

    def latent(hw: tuple[int, int], size: int) -> tuple[int, int]:
        h, w = working_size(*hw, size or min(hw), sd.multiple)
        return h // f, w // f

    grids = [latent(hw, cfg.size) for hw in contents]
    invert_grids = grids if invert is None else [latent(hw, cfg.size) for hw in invert]
    lora = 0.0
    for hw in learn:
        g = latent(hw, cfg.lora.size)
        side = (min(g),) * 2  # learned on square crops
        lora += cfg.lora.steps * unet(side, 1) * (1 + BACKWARD) + vae(g)[0]
    return Estimate(
        lora=lora,
        inversion=sum(cfg.steps * unet(g, 1) + vae(g)[0] for g in invert_grids),
        sampling=sum(cfg.steps * models * unet(g, 3) for g in grids),
        vae=sum(vae(g)[1] for g in grids),
        unet_call=unet(grids[0], 1) if grids else 0.0,
    )

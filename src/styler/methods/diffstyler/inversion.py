"""Deterministic DDIM (Song et al., ICLR 2021) in both directions, as pure tensor functions, and the
content's inversion: the noisy latents the content passes through, one per sampling timestep.

With a_t the cumulative alpha at timestep t, one DDIM step from level a to level b is

    x0 = (x - sqrt(1 - a) eps) / sqrt(a);     x' = sqrt(b) x0 + sqrt(1 - b) eps

for b > a (toward the data) and b < a (inversion) alike. The sampler evaluates eps at (x_t, t) and
steps to the next lower timestep; the inversion evaluates eps at (x_prev, t) and steps up to t, so
when eps does not depend on x the two are exact inverses (tests rely on this).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from .config import DiffStep


@dataclass(frozen=True)
class Schedule:
    """The sampling grid: ``timesteps`` (n,) descending, their cumulative alphas ``alphas`` (n,) and
    ``final``, the level the last step lands on (the clean latent's level, ``final_alpha_cumprod``)."""

    timesteps: Tensor  # (n,) long, descending, e.g. 981, 961, ..., 1 for 50 steps
    alphas: Tensor  # (n,) float64
    final: float
    train_steps: int  # the scheduler's num_train_timesteps (1000)

    def level_after(self, j: int) -> float:
        """The level sampling step j lands on: the next timestep's, or ``final`` after the last."""
        return float(self.alphas[j + 1]) if j + 1 < len(self.timesteps) else self.final


def schedule(scheduler, steps: int) -> Schedule:
    """The grid diffusers' DDIM scheduler samples on with ``steps`` steps (its own spacing rule)."""
    scheduler.set_timesteps(steps)
    ts = scheduler.timesteps.to("cpu", torch.long)
    cum = scheduler.alphas_cumprod.to(torch.float64)
    return Schedule(ts, cum[ts], float(scheduler.final_alpha_cumprod), int(scheduler.config.num_train_timesteps))


def ddim_step(x: Tensor, eps: Tensor, a_from: float, a_to: float) -> Tensor:
    """(N, C, h, w) latent at level ``a_from`` and its noise estimate -> the latent at ``a_to``."""
    x0 = (x - (1 - a_from) ** 0.5 * eps) / a_from**0.5
    return a_to**0.5 * x0 + (1 - a_to) ** 0.5 * eps


def to_eps(out: Tensor, x: Tensor, a: float, prediction_type: str) -> Tensor:
    """The UNet's output as a noise estimate: itself for "epsilon", converted for "v_prediction"
    (v = sqrt(a) eps - sqrt(1 - a) x0, so eps = sqrt(a) v + sqrt(1 - a) x)."""
    if prediction_type == "epsilon":
        return out
    if prediction_type == "v_prediction":
        return a**0.5 * out + (1 - a) ** 0.5 * x
    raise ValueError(f"unsupported prediction type {prediction_type}")


def noised(z: Tensor, noise: Tensor, a: Tensor) -> Tensor:
    """The forward process: sqrt(a) z + sqrt(1 - a) noise; ``a`` (N,) broadcast over (N, C, h, w)."""
    a = a.view(-1, 1, 1, 1)
    return a.sqrt() * z + (1 - a).sqrt() * noise


def target(z: Tensor, noise: Tensor, a: Tensor, prediction_type: str) -> Tensor:
    """What the UNet is trained to predict at level ``a`` (N,): the noise, or v."""
    if prediction_type == "epsilon":
        return noise
    a = a.view(-1, 1, 1, 1)
    return a.sqrt() * noise - (1 - a).sqrt() * z


@torch.no_grad()
def invert(
    eps_at: Callable[[Tensor, int], Tensor],
    latent: Tensor,
    grid: Schedule,
    on_step: Callable[[DiffStep], None] | None = None,
) -> Tensor:
    """Content latent (N, C, h, w) at level ``grid.final`` -> its trajectory (n, N, C, h, w) float32,
    entry j at ``grid.timesteps[j]`` (entry 0 the noisiest). ``eps_at(x, t)`` is the model's noise
    estimate (empty prompt, no guidance)."""
    n = len(grid.timesteps)
    out = torch.empty((n, *latent.shape), dtype=torch.float32, device=latent.device)
    x, level = latent.float(), grid.final
    for i in range(n):
        j = n - 1 - i  # ascending through the descending grid
        t, a = int(grid.timesteps[j]), float(grid.alphas[j])
        x = ddim_step(x, eps_at(x, t).float(), level, a)
        out[j], level = x, a
        if on_step is not None:
            on_step(DiffStep("invert", i + 1, n))
    return out

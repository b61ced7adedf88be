"""The guided, injected, masked DDIM sampling loop.

Sampling starts from the content's most-noised latent x_T (its inversion) and takes the deterministic
DDIM steps down the same grid. At step j every *model* (the base UNet, or the UNet with some LoRA
adapters at some scales) runs one call on the batch

    [content latent at t_j (its inversion) | x_t, negative prompt | x_t, the model's prompt]

with the content branch's features and self-attention injected into the other two (``inject``) while
j is inside the model's windows. Each model's unconditional and conditional noise estimates are
composited by the region weights first (inside style k's region, style k's model; outside every
region, the base model's, bit for bit), then guided: eps = u + g (c - u).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .config import DiffStep
from .inject import Injection, injected
from .inversion import Schedule, ddim_step, to_eps
from .lora import use_adapters


@dataclass(frozen=True)
class Model:
    """One model evaluated at each step."""

    scales: dict[str, float]  # active adapters and their scales; {} = the base model
    prompt: Tensor  # (1, 77, D) its conditional prompt's embedding
    windows: tuple[int, int]  # (feature steps, attention steps) from the first step
    weight: Tensor | None  # (1, 1, h, w) its share of the latent; None: the base model (the remainder)


def region_weights(grid_masks: Tensor) -> Tensor:
    """Masks on the latent grid (1, R, h, w) >= 0 -> weights summing to at most 1 per cell: masks whose
    sum exceeds 1 (overlaps) are divided by it, else kept, so 1 - sum is the base model's share."""
    total = grid_masks.sum(1, keepdim=True)  # (1, 1, h, w)
    return grid_masks / total.clamp_min(1.0)


def composite(base: Tensor | None, parts: Sequence[tuple[Tensor, Tensor]]) -> Tensor:
    """Noise estimates (N, C, h, w) by region: ``parts`` are (estimate, weight (1, 1, h, w)) per style.
    Where no style has weight the result *is* ``base`` (``torch.where``, not arithmetic that could
    round); elsewhere base + sum_k w_k (e_k - base). ``base`` may be None when the weights sum to 1
    everywhere."""
    if base is None:
        return sum((w * e for e, w in parts), torch.zeros_like(parts[0][0]))
    if not parts:
        return base
    mixed = base.clone()
    for e, w in parts:
        mixed = mixed + w * (e - base)
    covered = sum((w for _, w in parts), torch.zeros_like(parts[0][1])) > 0  # (1, 1, h, w)
    return torch.where(covered, mixed, base)


def attention_weight(t: int, train_steps: int) -> float:
    """r = min(1, 2 t / T): the content's share of the generated queries and keys at timestep t."""
    return min(1.0, 2.0 * t / train_steps)


@torch.no_grad()
def predict(
    unet: nn.Module,
    state: Injection,
    model: Model,
    content: Tensor,
    x: Tensor,
    t: int,
    prompts: tuple[Tensor, Tensor],
    step: int,
    r: float,
) -> tuple[Tensor, Tensor]:
    """One model's (unconditional, conditional) UNet outputs (N, C, h, w) float32 at step ``step``.
    ``prompts``: (empty, negative) embeddings (1, 77, D); content and x (N, C, h, w) float32."""
    n = x.shape[0]
    state.n = n
    state.features = step < model.windows[0]
    state.attention = r if step < model.windows[1] else 0.0
    use_adapters(unet, model.scales)
    dtype = unet.dtype
    latents = torch.cat([content, x, x]).to(dtype)  # (3N, C, h, w)
    empty, negative = prompts
    emb = torch.cat([empty.expand(n, -1, -1), negative.expand(n, -1, -1), model.prompt.expand(n, -1, -1)])
    out = unet(latents, torch.full((3 * n,), t, device=x.device), emb.to(dtype)).sample.float()
    _, uncond, cond = out.chunk(3)
    return uncond, cond


@torch.no_grad()
def sample(
    unet: nn.Module,
    trajectory: Tensor,
    grid: Schedule,
    models: Sequence[Model],
    prompts: tuple[Tensor, Tensor],
    *,
    guidance: float,
    prediction: str = "epsilon",
    lora_in_attention: bool = True,
    on_step: Callable[[DiffStep], None] | None = None,
) -> Tensor:
    """The content's inversion trajectory (n, N, C, h, w) -> the stylized latent (N, C, h, w) float32.

    ``models``: at most one base model (``weight`` None) and the style models with their region
    weights; with a single style model of weight None (no masks) that model is the whole image."""
    state = Injection(lora=lora_in_attention)
    x = trajectory[0].float().clone()
    n_steps = len(grid.timesteps)
    base = [m for m in models if m.weight is None]
    styled = [m for m in models if m.weight is not None]
    with injected(unet, state):
        for j in range(n_steps):
            t, a = int(grid.timesteps[j]), float(grid.alphas[j])
            r = attention_weight(t, grid.train_steps)
            content = trajectory[j].to(x.device, torch.float32)
            outs = [predict(unet, state, m, content, x, t, prompts, j, r) for m in (*base, *styled)]
            eps = [tuple(to_eps(o, x, a, prediction) for o in pair) for pair in outs]
            base_eps, style_eps = (eps[0], eps[1:]) if base else ((None, None), eps)
            uncond = composite(base_eps[0], [(e[0], m.weight) for e, m in zip(style_eps, styled)])
            cond = composite(base_eps[1], [(e[1], m.weight) for e, m in zip(style_eps, styled)])
            x = ddim_step(x, uncond + guidance * (cond - uncond), a, grid.level_after(j))
            if on_step is not None:
                on_step(DiffStep("sample", j + 1, n_steps))
    use_adapters(unet, {})
    return x

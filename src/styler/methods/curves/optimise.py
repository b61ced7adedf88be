"""Optimise the rule parameters under a style loss only (no content loss: the rules' bounds keep
the drawing).

    L(theta) = sum_l MSE(G_l(render(rules(theta))), A_l)      l = relu1_1 .. relu4_1

G the Gram matrix ``F F^T / (C H W)`` (``ops.gram``) of the VGG features of the rendered sketch
and A the style image's (mixed over styles by ``Mix.weights``; with region masks, region r is
compared with style r through guided Grams, ``ops.guided_gram_loss``). The rendered sketch is
black ink on white (or the reverse, as the input), grey in all three channels, at ``size`` px on
its longer side (by default the canvas's own size: the content size sets the working resolution,
as for the other methods; the curves themselves are resolution-free). Adam by default; L-BFGS
may be asked for. The optimiser sees the loss divided by its first value (a constant: same
minimiser), so the learning rate means the same for any style.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

from ... import ops
from ...errors import Interrupted
from ...nets.vgg import Encoder
from .config import CurvesConfig, CurvesStep
from .render import render
from .rules import Rules


@dataclass(frozen=True, eq=False)
class Target:
    """What the rendered sketch is compared with: Gram matrices per layer, mixed over the styles,
    or (with region masks (1, R, h_l, w_l) per layer) one Gram tuple per region's style."""

    grams: tuple[Tensor, ...] | None
    masks: tuple[Tensor, ...] | None = None
    regions: list[tuple[Tensor, ...]] = field(default_factory=list)


def grams(encoder: Encoder, image: Tensor) -> tuple[Tensor, ...]:
    """A style image (1, 3, h, w) in [0, 1] -> its Gram matrix at each encoder level, each (1, C, C)."""
    with torch.no_grad():
        return tuple(ops.gram(f).detach() for f in encoder(image))


def region_target(encoder: Encoder, styles: list[tuple[Tensor, ...]], masks: Tensor, size: tuple[int, int]) -> Target:
    """Region masks (R, H', W') >= 0, one per style -> a guided target at render ``size``."""
    m = F.adaptive_avg_pool2d(ops.region_weights(masks[None].float()), size)  # (1, R, H, W)
    with torch.no_grad():
        feats = encoder(m.new_zeros(1, 3, *size))  # only the shapes of the feature maps
    return Target(None, tuple(F.adaptive_avg_pool2d(m, f.shape[-2:]) for f in feats), styles)


def style_loss(encoder: Encoder, image: Tensor, target: Target) -> Tensor:
    """The style loss of a render (1, 3, H, W)."""
    feats = tuple(encoder(image))
    if target.masks is None:
        assert target.grams is not None
        return ops.gram_loss(feats, target.grams)
    return ops.guided_gram_loss(feats, target.masks, target.regions)


def start(rules: Rules, seed: int) -> Tensor:
    """Raw parameters (C, len(RAW)) of the identity edit, wobble phases drawn from ``seed``."""
    raw = rules.zeros()
    gen = torch.Generator().manual_seed(seed)
    raw[:, 6] = (torch.rand(len(raw), generator=gen) * 2 * math.pi).to(
        raw.device
    )  # drawn on the CPU: same on every device
    return raw


def optimise(
    rules: Rules,
    encoder: Encoder,
    target: Target,
    strength: Tensor,
    config: CurvesConfig,
    on_step: Callable[[CurvesStep], None] | None = None,
) -> tuple[Tensor, list[float]]:
    """The raw parameters (C, len(RAW)) with the lowest style loss seen, and the loss of every step.

    Ctrl-C raises ``Interrupted`` whose ``partial`` is (the best raw parameters so far, the losses so far)."""
    size = render_size(rules.curves.size, config.size)
    raw = start(rules, config.seed).requires_grad_(True)
    best = _Best(math.inf, raw.detach().clone())
    losses: list[float] = []
    scale: list[float] = []
    if config.optimizer == "lbfgs":
        opt: torch.optim.Optimizer = torch.optim.LBFGS([raw], lr=1, max_iter=1, history_size=20)
    else:
        opt = torch.optim.Adam([raw], lr=config.lr)

    def closure() -> Tensor:
        opt.zero_grad()
        curves = rules.apply(raw, strength)
        loss = style_loss(encoder, render(curves, size, soft=config.soft), target)
        value = float(loss.detach())
        if not scale:
            scale.append(1 / value if value > 0 else 1.0)
        if value < best.loss:
            best.loss, best.raw = value, raw.detach().clone()
        losses.append(value)
        (loss * scale[0]).backward()
        return loss * scale[0]

    try:
        for i in range(1, config.iters + 1):
            if config.optimizer == "lbfgs":
                opt.step(closure)  # type: ignore[arg-type]
            else:
                closure()
                opt.step()
            if on_step is not None:
                on_step(CurvesStep(i, config.iters, losses[-1], best.loss))
    except KeyboardInterrupt:
        raise Interrupted((best.raw, losses)) from None
    return best.raw, losses


@dataclass
class _Best:
    loss: float
    raw: Tensor


def render_size(canvas: tuple[int, int], longer: int | None) -> tuple[int, int]:
    """(H, W) of a render with ``longer`` px on its longer side (None: the canvas's) and the canvas's
    aspect ratio."""
    h, w = canvas
    if longer is None:
        return h, w
    scale = longer / max(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))

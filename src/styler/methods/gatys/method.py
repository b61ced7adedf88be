"""Gatys optimisation (Gatys, Ecker & Bethge, CVPR 2016) as a style method.

The image itself is optimised, the normalised VGG-19 staying frozen:

    L(x) = content_weight * MSE(f42(x), f42(c))
         + alpha * style_weight * sum_l MSE(G_l(x), A_l)     l = relu1_1 .. relu5_1
         + tv_weight * TV(x)

with f42 the relu4_2 features, G the Gram matrix ``F F^T / (C H W)`` (``ops.gram``) and A the
style's. ``alpha`` scales the style term: 0 keeps the content (the content init is then already
optimal), 1 is the full style; it is also passed to the AdaIN result used by ``init="adain"``.
Interpolation mixes the styles' Gram targets with ``Mix.weights``; masks give region r style r's
Gram matrices through guided Grams (Gatys et al., CVPR 2017), the masks area-averaged onto
each layer's grid.

Pixels stay in [0, 1] by projection: the image is clamped after every iteration. A sigmoid
parametrisation would also keep them there, but it damps the gradient of dark and bright
pixels (x (1 - x)) so they barely move, and cannot start exactly at a content with 0s and 1s.

Scales: ``scales=(256, 512)`` optimises at shorter side 256, then 512, then at the content's
own size, each stage starting from the previous result upsampled. The style image is resized
by the same factor as the content at each stage, so the style's patterns keep their size
relative to the content and each stage is a smaller copy of the final problem.

Precision is the method's own (``config.pick_precision``): fp32 unless bf16 is asked for.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ... import ops
from ...errors import DeviceError, InputError, Interrupted, Param
from ...nets import weights
from ...nets.vgg import DeepEncoder, DeepFeatures, load_deep_encoder
from ...runtime import Runtime
from ...tiling import Setting
from ..base import Method, Mix
from .config import (
    MIN_SIDE,
    STYLE_LAYERS,
    GatysConfig,
    GatysStep,
    GatysStyle,
    check_image,
    hw,
    resize,
    runtime_for,
    stage_sizes,
)


@dataclass
class _Targets:
    content: Tensor  # relu4_2 of the content (1, 512, h, w)
    grams: tuple[Tensor, ...] | None  # mixed Gram targets per layer (no masks)
    masks: tuple[Tensor, ...] | None = None  # (1, R, h_l, w_l) per style layer
    regions: list[tuple[Tensor, ...]] = field(default_factory=list)  # style r's Grams per layer


@dataclass
class _Best:
    image: Tensor
    loss: float = math.inf


def load(
    *,
    device: str = "auto",
    precision: str = "auto",
    vgg: Path | None = None,
    gatys: GatysConfig | None = None,
    init_method: Method | None = None,
    on_step: Callable[[GatysStep], None] | None = None,
    progress: weights.Progress | None = None,
) -> Gatys:
    """Resolve and load the full VGG on this method's runtime (``runtime_for``). ``init_method``
    renders the starting image for ``init="adain"`` (the registry passes an AdaIN method)."""
    vgg_path = weights.resolve(weights.VGG, vgg, progress=progress)
    encoder = load_deep_encoder(weights.load_state_dict(vgg_path, finite=False), label=str(vgg_path))
    return Gatys(encoder, runtime_for(device, precision), gatys, adain=init_method, on_step=on_step)


class Gatys(Method):
    """The frozen encoder on one runtime; ``stylize`` optimises each content image in turn."""

    name = "gatys"
    no_video = "optimises each image for minutes"
    auto_precisions = ()  # optimisation: its own precision rule, not measured

    def __init__(
        self,
        encoder: DeepEncoder,
        runtime: Runtime,
        config: GatysConfig | None = None,
        *,
        adain: Method | None = None,
        on_step: Callable[[GatysStep], None] | None = None,
    ) -> None:
        self.config = config if config is not None else GatysConfig()
        if runtime.precision not in ("fp32", "bf16"):
            raise DeviceError(
                f"gatys runs in precision fp32 or bf16, got {runtime.precision}; "
                "build its runtime with gatys.runtime_for"
            )
        if self.config.init == "adain" and adain is None:
            raise InputError(
                Param("init", "adain"),
                " starts from the AdaIN result, which needs the decoder: pass adain (an AdaIN method) or use ",
                Param("init", "content"),
            )
        self.runtime, self.adain, self.on_step = runtime, adain, on_step
        # Weights stay float32; bf16 runs through autocast so the optimised image stays float32.
        self.encoder = encoder.eval().requires_grad_(False).to(runtime.device, torch.float32)

    # -- features and losses -------------------------------------------------------------

    def _autocast(self) -> AbstractContextManager[Any]:
        if self.runtime.precision == "bf16":
            return torch.autocast(self.runtime.device.type, dtype=torch.bfloat16)
        return nullcontext()

    def features(self, x: Tensor) -> DeepFeatures:
        """(N, 3, H, W) in [0, 1] -> DeepFeatures, float32 (the losses always run in float32)."""
        with self._autocast():
            feats = self.encoder(x)
        return DeepFeatures(*(f.float() for f in feats))

    def _grams(self, style: GatysStyle, size: tuple[int, int]) -> tuple[Tensor, ...]:
        if size not in style.grams:
            f = self.features(resize(style.image, size).clamp(0, 1))
            style.grams[size] = tuple(ops.gram(getattr(f, n)).detach() for n in STYLE_LAYERS)
        return style.grams[size]

    def losses(self, x: Tensor, targets: _Targets, alpha: float) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """(total, content, style, tv) for one image (1, 3, h, w); the total is weighted."""
        cfg = self.config
        f = self.features(x)
        content = ops.feature_loss(f.relu4_2, targets.content)
        layers = tuple(getattr(f, n) for n in STYLE_LAYERS)
        if targets.masks is None:
            assert targets.grams is not None
            style = ops.gram_loss(layers, targets.grams)
        else:
            style = ops.guided_gram_loss(layers, targets.masks, targets.regions)
        tv = ops.total_variation(x) if cfg.tv_weight > 0 else x.new_zeros(())
        total = cfg.content_weight * content + alpha * cfg.style_weight * style + cfg.tv_weight * tv
        return total, content, style, tv

    def targets(self, content: Tensor, styles: Sequence[GatysStyle], mix: Mix, factor: float) -> _Targets:
        """Targets for one stage: content (1, 3, h, w) at the stage's size, styles resized by ``factor``."""
        # Not under no_grad (nothing here requires grad, so no graph is kept): run_layers then takes
        # the same code path as the optimised image, so the content init has exactly zero content loss.
        f = self.features(content)
        grams = []
        for s in styles:
            h, w = s.image.shape[-2:]
            grams.append(self._grams(s, (max(MIN_SIDE, round(h * factor)), max(MIN_SIDE, round(w * factor)))))
        if mix.masks is None:
            return _Targets(f.relu4_2, ops.mix_grams(grams, list(mix.weights)))
        m = mix.masks.to(content.device, torch.float32)[None]  # (1, R, H, W)
        m = F.adaptive_avg_pool2d(ops.region_weights(m), hw(content))  # sum 1 over regions
        masks = tuple(F.adaptive_avg_pool2d(m, hw(getattr(f, n))) for n in STYLE_LAYERS)
        return _Targets(f.relu4_2, None, masks, grams)

    # -- the method ----------------------------------------------------------------------

    def represent(self, style: Tensor) -> GatysStyle:
        """A style image (1, 3, h, w) -> its Gram matrices (and AdaIN statistics for init="adain")."""
        check_image(style, "style")
        if style.shape[0] != 1:
            raise InputError(f"expected one style image (1, 3, h, w), got {tuple(style.shape)}; split batches")
        with torch.inference_mode(False):
            image = style.to(self.runtime.device, torch.float32).clone()  # a normal tensor even from inference mode
            rep = GatysStyle(image, adain=self.adain.represent(style) if self.adain is not None else None)
            self._grams(rep, hw(image))
        return rep

    def stylize(
        self, content: Tensor, styles: Sequence[Any], mix: Mix, *, alpha: float, tile: Setting = "auto"
    ) -> Tensor:
        """Optimise each content image (N, 3, H, W) in turn -> (N, 3, H, W) float32 in [0, 1].

        Ctrl-C raises ``Interrupted`` whose ``partial`` (M, 3, H, W), M <= N, holds the images
        finished so far and the best (lowest-loss) image of the one in progress, resized to H x W."""
        if tile not in ("auto", "off"):
            raise InputError(
                "gatys optimises the whole image at once, so ",
                Param("tile", tile),
                " cannot apply; use ",
                Param("tile", "auto"),
                ", and coarse-to-fine ",
                Param("scales"),
                " to spend fewer iterations at full size",
            )
        check_image(content, "content")
        if not styles or not all(isinstance(s, GatysStyle) for s in styles):
            raise InputError("styles must be one or more representations from Gatys.represent")
        if len(mix.weights) != len(styles) or (mix.masks is not None and mix.masks.shape[0] != len(styles)):
            raise InputError(
                f"mix has {len(mix.weights)} weights for {len(styles)} styles; give one per style "
                "(and one mask per style)"
            )
        with torch.inference_mode(False), torch.enable_grad():
            return self._run(content.to(self.runtime.device, torch.float32).clone(), list(styles), mix, float(alpha))

    def _init(self, content: Tensor, styles: list[GatysStyle], mix: Mix, alpha: float, size: tuple[int, int]) -> Tensor:
        """The first stage's starting images (N, 3, *size)."""
        cfg = self.config
        if cfg.init == "content":
            start = content
        elif cfg.init == "adain":
            assert self.adain is not None
            start = self.adain.stylize(content, [s.adain for s in styles], mix, alpha=alpha, tile="auto")
            start = start.to(content.device, torch.float32).clone()
        else:  # white noise, drawn on the CPU so a seed gives the same image on every device
            gen = torch.Generator().manual_seed(cfg.seed)
            return torch.rand((content.shape[0], 3, *size), generator=gen).to(content.device)
        return resize(start, size).clamp(0, 1)

    def _run(self, content: Tensor, styles: list[GatysStyle], mix: Mix, alpha: float) -> Tensor:
        n, (height, width) = content.shape[0], content.shape[-2:]
        sizes = stage_sizes(height, width, self.config.scales)
        counter = [0, n * len(sizes) * self.config.iters]  # steps done, steps in all
        done: list[Tensor] = []
        best: _Best | None = None
        try:
            starts = self._init(content, styles, mix, alpha, sizes[0])
            for item in range(n):
                image = starts[item : item + 1]
                for k, size in enumerate(sizes):
                    image = resize(image, size).clamp(0, 1)
                    best = _Best(image)
                    stage_content = resize(content[item : item + 1], size).clamp(0, 1)
                    targets = self.targets(stage_content, styles, mix, min(size) / min(height, width))
                    where = (item, n, k, len(sizes), size)
                    image = self._optimise(image, targets, alpha, best, where, counter)
                done.append(image)
                best = None
        except KeyboardInterrupt:
            partial = done + ([resize(best.image, (height, width)).clamp(0, 1)] if best is not None else [])
            raise Interrupted(torch.cat(partial).detach() if partial else None) from None
        return torch.cat(done).detach()

    def _optimise(
        self,
        start: Tensor,
        targets: _Targets,
        alpha: float,
        best: _Best,
        where: tuple[int, int, int, int, tuple[int, int]],
        counter: list[int],
    ) -> Tensor:
        """``iters`` iterations from ``start`` (1, 3, h, w); ``best`` follows the lowest loss seen."""
        cfg = self.config
        # contiguous: L-BFGS flattens the gradient with .view (a permuted decode would break it)
        x = start.detach().clone(memory_format=torch.contiguous_format).requires_grad_(True)
        opt: torch.optim.Optimizer
        if cfg.optimizer == "lbfgs":
            # One L-BFGS iteration per step() so every iteration is reported, projected and
            # interruptible; the curvature history persists across calls. Unit steps as in
            # Gatys's code; zero tolerances because these mean-normalised losses have tiny
            # gradients that torch's defaults (1e-7) would take for convergence.
            opt = torch.optim.LBFGS(
                [x], lr=1, max_iter=1, history_size=cfg.history, tolerance_grad=0.0, tolerance_change=0.0
            )
        else:
            opt = torch.optim.Adam([x], lr=cfg.lr)
        parts: list[float] = []
        scale: list[float] = []  # fixed at the first evaluation

        def closure() -> Tensor:
            opt.zero_grad()
            total, *rest = self.losses(x, targets, alpha)
            parts[:] = [float(total.detach()), *(float(v.detach()) for v in rest)]
            if not scale:
                # The optimisers see the loss times (pixels / first loss), a constant: same
                # minimiser, but per-pixel gradients of order 1 instead of ~1e-9, which torch's
                # L-BFGS (skips curvature pairs with y.s < 1e-10) and Adam (eps 1e-8) need.
                scale.append(x[0, 0].numel() / parts[0] if parts[0] > 0 else 1.0)
            (total * scale[0]).backward()
            if parts[0] < best.loss:
                best.loss, best.image = parts[0], x.detach().clone()
            return total * scale[0]

        for i in range(1, cfg.iters + 1):
            if cfg.optimizer == "lbfgs":
                opt.step(closure)  # type: ignore[no-untyped-call]
            else:
                closure()
                opt.step()
            with torch.no_grad():
                x.clamp_(0, 1)
            counter[0] += 1
            if self.on_step is not None:
                snap = x.detach().clone() if cfg.save_every and i % cfg.save_every == 0 else None
                self.on_step(GatysStep(*where, i, cfg.iters, *counter, *parts, snap))  # type: ignore[arg-type]
        return x.detach()

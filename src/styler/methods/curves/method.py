"""Curve-based style transfer for line drawings as a style method.

After "Curve-based Neural Style Transfer" (Chen, Kara & Cagan, CMU, 2023): vectorise the sketch,
then optimise bounded, explainable per-curve edits (``rules``) under a Gram style loss of the
rendered curves (``optimise``), the normalised VGG-19 staying frozen. A result is curves
(``CurvesResult``: SVG, raster, report): ``result`` returns it, so jobs write whatever the
outputs ask for; ``stylize`` returns the raster, so every image path of the engine works too.

The meaning of the shared controls here:

* ``alpha`` scales every rule's magnitude (0: the vectorised input, exactly; 1: the full bounds);
* ``Mix.weights`` mix the styles' Gram matrices; ``Mix.masks`` (R, H, W) select the curves that may
  change (their mean mask value along the curve is at least 1/2) and give region r style r;
  ``curve_mask`` (a load option: an image, white = may change) selects curves for every content;
* colour preservation does not apply (line art is drawn in its own ink and paper): refused;
* tiling does not apply (one render per step): ``tile`` must be auto or off.

Precision: fp32 only (``config.runtime_for``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from ... import ops
from ...controls import Controls
from ...errors import DeviceError, InputError, Interrupted, Param
from ...media.images import open_rgb
from ...nets import weights
from ...nets.vgg import Encoder, load_encoder
from ...runtime import Runtime
from ...tiling import Setting
from ..base import Method, Mix
from . import svgparse, vggfile
from .config import CurvesConfig, CurvesStep, runtime_for
from .curveset import Curves
from .optimise import Target, grams, optimise, region_target, render_size
from .render import sample
from .result import CurvesResult
from .rules import Rules
from .vectorise import vectorise

READS = frozenset({".svg"})  # content files read here, not as images: SVG line art
WRITES = frozenset({".svg", ".json"})  # results are also written as SVG curves and a JSON report


@dataclass(frozen=True, eq=False)
class CurvesStyle:
    """A style as this method sees it: its Gram matrix per encoder level, each (1, C, C)."""

    grams: tuple[Tensor, ...]


def load(
    *,
    device: str = "auto",
    precision: str = "auto",
    vgg: Path | None = None,
    curves: CurvesConfig | None = None,
    curve_mask: Path | None = None,
    on_step: Callable[[CurvesStep], None] | None = None,
    progress: weights.Progress | None = None,
) -> CurvesMethod:
    """The VGG from ``vgg`` (a VGG-19 in the public normalised layout, full or cut at relu4_1, or in
    torchvision's layout: ``vggfile``) or the weights directory, on this method's runtime
    (``runtime_for``). ``curve_mask``: an image whose white part holds the curves that may change
    (any size: stretched over each drawing)."""
    rt = runtime_for(device, precision)
    mask = read_mask(curve_mask) if curve_mask is not None else None
    path = weights.resolve(weights.VGG, vgg, progress=progress)
    encoder = load_encoder(vggfile.normalised(weights.load_state_dict(path, finite=False), str(path)), label=str(path))
    return CurvesMethod(encoder, rt, curves, curve_mask=mask, on_step=on_step)


def read_mask(path: Path) -> Tensor:
    """A mask image -> (H, W) float in [0, 1], its grey level (white = 1)."""
    grey = np.asarray(open_rgb(Path(path)).convert("L"), dtype=np.float32) / 255
    return torch.from_numpy(grey)


def read_sketch(sketch: Any, config: CurvesConfig | None = None, what: str = "the content") -> Curves:
    """Curves from an SVG file, an image file (at its own size), a PIL image or an RGB tensor
    (1, 3, H, W) in [0, 1]."""
    cfg = config if config is not None else CurvesConfig()
    if isinstance(sketch, Curves):
        return sketch
    if isinstance(sketch, (str, Path)):
        path = Path(sketch)
        if path.suffix.lower() in READS:
            return svgparse.load(path)
        sketch, what = open_rgb(path), path.name
    return vectorise(sketch, tolerance=cfg.tolerance, max_segment=cfg.max_segment, what=what)


def select(curves: Curves, mask: Tensor, threshold: float = 0.5) -> Tensor:
    """(C,) bool: the curves whose mean ``mask`` (H', W') value along them is at least ``threshold``.
    The mask covers the canvas at any size (it is read at the curves' sample points)."""
    if not isinstance(mask, Tensor) or mask.dim() != 2:
        shape = tuple(mask.shape) if isinstance(mask, Tensor) else type(mask).__name__
        raise InputError(f"expected a curve mask (H, W), got {shape}")
    h, w = mask.shape
    curves = curves.detach().to("cpu")
    xy, _, segment = sample(curves, 1.0, 1.0)  # canvas px, 1 px apart
    cols = (xy[:, 0] * w / curves.size[1]).long().clamp(0, w - 1)
    rows = (xy[:, 1] * h / curves.size[0]).long().clamp(0, h - 1)
    values = mask.detach().float().cpu()[rows, cols]  # (S,)
    owner = curves.segment_curve[segment]  # (S,)
    total = torch.zeros(len(curves)).index_add_(0, owner, values)
    return total / torch.bincount(owner, minlength=len(curves)).clamp_min(1) >= threshold


def check_colour(color: Any) -> None:
    """Line art is drawn in the sketch's own ink and paper: a colour option is refused in one line."""
    if color is not None:
        value = getattr(color, "value", color)
        raise InputError(
            "method curves draws line art in the sketch's own ink and paper, so ",
            Param("color", value),
            " does not apply; leave it out",
        )


def check_alpha(alpha: Any) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 <= alpha <= 1:
        raise InputError(
            Param("alpha"), f" must be a number in [0, 1], got {alpha!r}; 1 = the rules' full bounds, 0 = none"
        )
    return float(alpha)


def transfer(
    sketch: Any,
    styles: Sequence[CurvesStyle],
    encoder: Encoder,
    *,
    mix: Mix | None = None,
    alpha: float = 1.0,
    curve_mask: Tensor | None = None,
    config: CurvesConfig | None = None,
    on_step: Callable[[CurvesStep], None] | None = None,
) -> CurvesResult:
    """One sketch (see ``read_sketch``) restyled after ``styles`` -> ``CurvesResult``.

    ``curve_mask``: (C,) bool per curve, or (H, W) >= 0 over the canvas (``select``): only those
    curves may change. Ctrl-C raises ``Interrupted`` whose ``partial`` is the best result so far."""
    cfg = config if config is not None else CurvesConfig()
    alpha = check_alpha(alpha)
    mix = mix if mix is not None else Mix((1.0,) * len(styles))
    if not styles or not all(isinstance(s, CurvesStyle) for s in styles) or len(mix.weights) != len(styles):
        raise InputError("styles must be one or more representations from CurvesMethod.represent, one weight each")
    device = next(encoder.parameters()).device
    curves = read_sketch(sketch, cfg).to(device)
    rules = Rules(curves, cfg.bounds)
    size = render_size(curves.size, cfg.size)
    chosen = torch.ones(len(curves), dtype=torch.bool)
    if mix.masks is not None:
        chosen &= select(curves, mix.masks.sum(0).clamp(max=1))
        target = region_target(encoder, [s.grams for s in styles], mix.masks.to(device), size)
    else:
        target = Target(ops.mix_grams([s.grams for s in styles], list(mix.weights)))
    if curve_mask is not None:
        chosen &= curve_mask.bool().cpu() if curve_mask.dim() == 1 else select(curves, curve_mask)
    strength = rules.strength(alpha, chosen)
    if alpha == 0 or not bool(chosen.any()) or cfg.iters == 0:
        return CurvesResult.build(rules, rules.zeros(), strength)
    with torch.inference_mode(False), torch.enable_grad():
        try:
            raw, losses = optimise(rules, encoder, target, strength, cfg, on_step)
        except Interrupted as e:
            best, seen = e.partial  # type: ignore[misc]
            raise Interrupted(CurvesResult.build(rules, best, strength, tuple(seen))) from None
    return CurvesResult.build(rules, raw, strength, tuple(losses))


class CurvesMethod(Method):
    """The frozen encoder on one runtime; ``result``/``transfer`` give curves, ``stylize`` their renders."""

    name = "curves"
    no_video = "optimises each drawing's curves for minutes"
    auto_precisions = ()  # optimisation: its own precision rule, not measured
    reads: ClassVar[frozenset[str]] = READS
    writes: ClassVar[frozenset[str]] = WRITES

    def __init__(
        self,
        encoder: Encoder,
        runtime: Runtime,
        config: CurvesConfig | None = None,
        *,
        curve_mask: Tensor | None = None,
        on_step: Callable[[CurvesStep], None] | None = None,
    ) -> None:
        if runtime.precision != "fp32":
            raise DeviceError(
                f"method curves runs in fp32, got {runtime.precision}; build its runtime with runtime_for"
            )
        self.runtime, self.on_step, self.curve_mask = runtime, on_step, curve_mask
        self.config = config if config is not None else CurvesConfig()
        self.encoder = encoder.eval().requires_grad_(False).to(runtime.device, torch.float32)

    @classmethod
    def check_controls(cls, controls: Controls) -> None:
        check_colour(controls.color)

    def represent(self, style: Any) -> CurvesStyle:
        """A style image (1, 3, h, w) in [0, 1] -> its Gram matrices."""
        if not isinstance(style, Tensor) or style.dim() != 4 or style.shape[:2] != (1, 3) or min(style.shape[-2:]) < 16:
            shape = tuple(style.shape) if isinstance(style, Tensor) else type(style).__name__
            raise InputError(
                f"expected one style image (1, 3, h, w) of at least 16 px per side, got {shape}; use a larger ",
                Param("style_size"),
            )
        with torch.inference_mode(False):
            return CurvesStyle(grams(self.encoder, style.to(self.runtime.device, torch.float32).clone()))

    def transfer(
        self, sketch: Any, styles: Sequence[Any], mix: Mix | None = None, *, alpha: float = 1.0, curve_mask: Any = None
    ) -> CurvesResult:
        """See the module function ``transfer``; style images are represented first. ``curve_mask``
        None: the method's own (the ``curve_mask`` load option), if any."""
        reps = [s if isinstance(s, CurvesStyle) else self.represent(s) for s in styles]
        return transfer(
            sketch,
            reps,
            self.encoder,
            mix=mix,
            alpha=alpha,
            curve_mask=curve_mask if curve_mask is not None else self.curve_mask,
            config=self.config,
            on_step=self.on_step,
        )

    def result(
        self, content: Tensor | Path, styles: Sequence[Any], mix: Mix, *, alpha: float, tile: Setting = "auto"
    ) -> CurvesResult:
        """One sketch, an image (1, 3, H, W) or a file (SVG, or an image read at its own size) -> its curves."""
        check_tile(tile)
        if isinstance(content, Tensor) and (content.dim() != 4 or content.shape[:2] != (1, 3)):
            raise InputError(f"expected one sketch (1, 3, H, W), got {tuple(content.shape)}; split batches")
        return self.transfer(content, styles, mix, alpha=alpha)

    def stylize(
        self, content: Tensor, styles: Sequence[Any], mix: Mix, *, alpha: float, tile: Setting = "auto"
    ) -> Tensor:
        """Each sketch of ``content`` (N, 3, H, W) -> the render (N, 3, H, W) of its restyled curves.

        Ctrl-C raises ``Interrupted`` whose ``partial`` (M, 3, H, W) holds the renders finished so far
        and that of the best curves of the sketch in progress."""
        check_tile(tile)
        if not isinstance(content, Tensor) or content.dim() != 4 or content.shape[1] != 3:
            raise InputError("expected the content as an image batch (N, 3, H, W)")
        size = (int(content.shape[-2]), int(content.shape[-1]))
        done: list[Tensor] = []
        for item in content.split(1):
            try:
                done.append(self.transfer(item, styles, mix, alpha=alpha).render(size))
            except Interrupted as e:
                partial = done + ([e.partial.render(size)] if isinstance(e.partial, CurvesResult) else [])
                raise Interrupted(torch.cat(partial) if partial else None) from None
        return torch.cat(done)


def check_tile(tile: Any) -> None:
    if tile not in ("auto", "off"):
        raise InputError(
            "method curves renders whole sketches, so ",
            Param("tile", tile),
            " cannot apply; use ",
            Param("tile", "auto"),
        )

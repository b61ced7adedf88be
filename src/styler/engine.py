"""The engine: routes a request (styles, controls) to a style method through one render path.

    render(content, styles, alpha, weights | masks, feather, color)
      -> validate the controls once
      -> Mix(weights, masks resized to the content and feathered)
      -> colour: coral adapts each style image to the content; luminance stylizes the
         content's luminance with luminance-matched styles and puts its chrominance back
      -> method.represent(style) once per style, method.stylize(content, styles, mix)

Every control goes through ``render``, and methods tile inside ``stylize``, so masks and
colour preservation keep plain transfer's memory bound. ``frames`` streams video batches
through the same path with the styles represented once.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from . import colour, ops, temporal, tiling
from .errors import InputError, Interrupted
from .media import images
from .methods.base import Method, Mix
from .names import Color
from .runtime import Runtime

LUMA_ROWS = 512  # luminance merge in strips of rows: an 8K output needs no full-size temporaries


def check_alpha(alpha: float) -> float:
    if not isinstance(alpha, (int, float)) or math.isnan(alpha) or not 0.0 <= alpha <= 1.0:
        raise InputError(f"alpha must be a number in [0, 1], got {alpha}; 1 = full style, 0 = content only")
    return float(alpha)


def check_feather(px: float) -> float:
    if not isinstance(px, (int, float)) or not math.isfinite(px) or px < 0:
        raise InputError(f"feather must be a number of pixels >= 0, got {px}; 0 = hard edges")
    return float(px)


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
    try:
        w = [float(x) for x in weights]
    except (TypeError, ValueError):
        raise InputError(f"weights must be numbers, got {list(weights)}") from None
    if len(w) != count:
        raise InputError(f"got {len(w)} weight(s) for {count} style(s); give exactly one weight per style")
    if not all(math.isfinite(x) for x in w):
        raise InputError(f"weights must be finite numbers, got {','.join(map(str, w))}")
    if any(x < 0 for x in w):
        raise InputError(f"weights must not be negative, got {','.join(map(str, w))}; use 0 to leave a style out")
    total = sum(w)
    if total <= 0:
        raise InputError("the weights sum to 0; give at least one positive weight")
    return [x / total for x in w]


def region_masks(masks: Tensor, count: int, size: tuple[int, int], feather: float, device: torch.device) -> Tensor:
    """Masks (R, H', W'), one per style, >= 0, any size -> (R, H, W) float32 at the content's
    size, feathered over about ``feather`` content pixels."""
    if not isinstance(masks, Tensor) or masks.dim() != 3 or masks.shape[0] != count:
        shape = tuple(masks.shape) if isinstance(masks, Tensor) else type(masks).__name__
        raise InputError(f"expected {count} region masks (R, H, W), one per style, got {shape}")
    m = masks.to(device, torch.float32)
    if not bool(torch.isfinite(m).all()) or bool((m < 0).any()):
        raise InputError("region masks must be finite and >= 0")
    if tuple(m.shape[-2:]) != tuple(size):
        m = F.interpolate(m[None], size=size, mode="nearest-exact")[0]
    return ops.feather(m, check_feather(feather))


class Engine:
    """A style method plus the settings fixed for a job (the tiling policy).

    >>> engine = Engine.load("adain")                    # weights resolved / downloaded
    >>> out = engine.render(content, [style], alpha=0.8) # (N, 3, H, W) in [0, 1]
    """

    def __init__(self, method: Method, *, tile: str | int = "auto") -> None:
        self.method = method
        self.tile = tiling.parse_tile(tile)

    @classmethod
    def load(cls, method: str = "adain", *, tile: str | int = "auto", **options: Any) -> Engine:
        """Build a method by name with its weights (see ``methods.load``) and wrap it."""
        from .methods import load

        return cls(load(method, **options), tile=tile)

    @property
    def runtime(self) -> Runtime:
        return self.method.runtime

    def describe(self) -> str:
        return self.method.describe()

    def represent(self, style: Any) -> Any:
        """A style input -> the method's representation; representations pass through."""
        if self.method.takes_images and not isinstance(style, Tensor):
            return style
        return self.method.represent(style)

    def mix(
        self,
        count: int,
        size: tuple[int, int],
        *,
        weights: Sequence[float] | None = None,
        masks: Tensor | None = None,
        feather: float = 0.0,
    ) -> Mix:
        """The interpolation weights or region masks for ``count`` styles on a content of ``size``."""
        if masks is None:
            if feather:
                raise InputError("feather only applies to region masks; pass masks or drop feather")
            return Mix(tuple(normalize_weights(weights, count)))
        if weights is not None:
            raise InputError("pass interpolation weights or region masks, not both")
        return Mix((1.0 / count,) * count, region_masks(masks, count, size, feather, self.runtime.device))

    # -- the render path ---------------------------------------------------------------

    def render(
        self,
        content: Tensor,
        styles: Sequence[Any],
        *,
        alpha: float = 1.0,
        weights: Sequence[float] | None = None,
        masks: Tensor | None = None,
        feather: float = 0.0,
        color: str | Color | None = None,
    ) -> Tensor:
        """Stylize ``content`` (N, 3, H, W) in [0, 1] -> (N, 3, H, W) float32 in [0, 1].

        ``styles``: images (1, 3, h, w), names/indices (CIN) or representations. With several
        styles: ``weights`` interpolate (normalised; equal when None) or ``masks`` (R, H', W')
        give region r style r. ``color``: None, "coral" or "luminance"."""
        if not isinstance(content, Tensor) or content.dim() != 4 or content.shape[1] != 3:
            shape = tuple(content.shape) if isinstance(content, Tensor) else type(content).__name__
            raise InputError(f"expected the content as an image batch (N, 3, H, W), got {shape}")
        mix = self.mix(len(styles), tuple(content.shape[-2:]), weights=weights, masks=masks, feather=feather)
        return self._render(content, styles, mix, check_alpha(alpha), check_color(color))

    def _render(self, content: Tensor, styles: Sequence[Any], mix: Mix, alpha: float, color: Color | None) -> Tensor:
        if color is None:
            reps = [self.represent(s) for s in styles]
            return self.method.stylize(content, reps, mix, alpha=alpha, tile=self.tile)
        if self.method.takes_images and not all(isinstance(s, Tensor) for s in styles):
            raise InputError(
                "colour preservation adapts each style image to the content; pass style images, "
                "not precomputed style representations"
            )
        if color is Color.coral and not self.method.takes_images:
            raise InputError(
                f"color=coral adapts the style images, and method {self.method.name} has none; use color=luminance"
            )
        device = self.runtime.device
        outs = []
        for c in content.split(1):  # the styles are adapted to each content image's colours
            c = c.to(device, torch.float32)
            imgs = [s.to(device, torch.float32) for s in styles] if self.method.takes_images else list(styles)
            if color is Color.coral:
                target = colour.rgb_stats(c[0])
                reps = [self.represent(colour.coral(s[0], target).unsqueeze(0)) for s in imgs]
                outs.append(self.method.stylize(c, reps, mix, alpha=alpha, tile=self.tile))
                continue
            luma = colour.luminance(c)  # (1, 1, H, W)
            if self.method.takes_images:
                imgs = [colour.match_luminance(colour.luminance(s), luma).expand(-1, 3, -1, -1) for s in imgs]
            reps = [self.represent(s) for s in imgs]
            try:
                out = self.method.stylize(luma.expand(-1, 3, -1, -1), reps, mix, alpha=alpha, tile=self.tile)
            except Interrupted as e:
                if isinstance(e.partial, Tensor):
                    raise Interrupted(merge_luminance(e.partial, c)) from None
                raise
            outs.append(merge_luminance(out, c))
        return torch.cat(outs)

    def render_each(
        self, content: Tensor, styles: Sequence[Any], *, alpha: float = 1.0, color: str | Color | None = None
    ) -> Iterator[Tensor]:
        """One stylization of ``content`` (N, 3, H, W) per style, in order (no mixing)."""
        alpha, color = check_alpha(alpha), check_color(color)
        if color is not None:
            for style in styles:
                yield self._render(content, [style], Mix((1.0,)), alpha, color)
            return
        results = self.method.stylize_each(content, [self.represent(s) for s in styles], alpha=alpha, tile=self.tile)
        del content  # the method holds what it needs: at 8K the image is freed before the decoder runs
        yield from results

    def frames(
        self,
        batches: Iterable[Tensor],
        styles: Sequence[Any],
        *,
        smooth: float = 0.0,
        alpha: float = 1.0,
        weights: Sequence[float] | None = None,
        masks: Tensor | None = None,
        feather: float = 0.0,
        color: str | Color | None = None,
    ) -> Iterator[Tensor]:
        """Consecutive frame batches (N, 3, H, W) -> stylized batches, in order, through ``render``'s
        path. Styles are represented once (with colour preservation they are re-adapted to every
        frame); masks are prepared once for the frame size. ``smooth`` in [0, 1) is
        ``temporal.TemporalFilter``'s strength (0 = off: exactly the image path)."""
        alpha, color = check_alpha(alpha), check_color(color)
        steady = temporal.TemporalFilter(smooth)
        reps = list(styles) if color is not None else [self.represent(s) for s in styles]
        mix = None
        for x in batches:
            if mix is None:
                mix = self.mix(len(reps), tuple(x.shape[-2:]), weights=weights, masks=masks, feather=feather)
            yield steady(x, self._render(x, reps, mix, alpha, color))

    # -- PIL convenience ---------------------------------------------------------------

    def stylize(
        self,
        content: Image.Image,
        style: Image.Image | Any,
        *,
        alpha: float = 1.0,
        content_size: int = 512,
        style_size: int = 512,
        crop: bool = False,
    ) -> Image.Image:
        """PIL in, PIL out; sizes and crop as the CLI's. ``style`` is an image or (CIN) a name."""
        c = images.to_tensor(images.prepare(images.to_rgb(content), content_size, crop, what="content"))
        s = (
            images.to_tensor(
                images.prepare(images.to_rgb(style), style_size, crop, what="style", size_name="style_size")
            )
            if isinstance(style, Image.Image)
            else style
        )
        return images.to_pil(self.render(c, [s], alpha=alpha))


@torch.inference_mode()
def merge_luminance(out: Tensor, content: Tensor) -> Tensor:
    """The luminance of ``out`` (1, 3, H, W) with the chrominance of ``content``, in place, in
    strips of rows (``colour.merge_luminance`` needs several full-size temporaries)."""
    for top in range(0, out.shape[-2], LUMA_ROWS):
        rows = slice(top, top + LUMA_ROWS)
        out[..., rows, :] = colour.merge_luminance(colour.luminance(out[..., rows, :]), content[..., rows, :])
    return out

"""The engine: routes a request (styles, controls) to a style method through one render path.

    render(content, styles, alpha, weights | masks, feather, color)
      -> Controls: every control validated once (``controls``)
      -> Mix(weights, masks resized to the content and feathered)
      -> colour: coral adapts each style image to the content; luminance stylizes the
         content's luminance with luminance-matched styles and puts its chrominance back
      -> method.represent(style) once per style, method.stylize(content, styles, mix)

Every control goes through ``render``, and methods tile inside ``stylize``, so masks and
colour preservation keep plain transfer's memory bound. ``frames`` streams video batches
through the same path with the styles represented once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from . import colour, ops, temporal, tiling
from .controls import Controls, check_color, normalize_weights
from .errors import InputError, Interrupted, Param
from .media import images, sheets
from .methods.base import Bands, ImageResult, Keys, Method, Mix, OnStart, Result
from .names import Color
from .runtime import Runtime

LUMA_ROWS = 512  # luminance merge in strips of rows: an 8K output needs no full-size temporaries


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
    return ops.feather(m, feather)


class Engine:
    """A style method plus the settings fixed for a job (the tiling policy).

    >>> engine = styler.load("adain")                     # weights resolved / downloaded
    >>> out = engine.render(content, [style], alpha=0.8) # (N, 3, H, W) in [0, 1]
    """

    def __init__(self, method: Method, *, tile: str | int = "auto") -> None:
        self.method = method
        self.tile = tiling.parse_tile(tile)

    @classmethod
    def load(cls, method: str = "adain", *, tile: str | int = "auto", **options: Any) -> Engine:
        """Build a method by name with its weights (see ``methods.load``) and wrap it."""
        from .precision import load_method

        return cls(load_method(method, **options), tile=tile)

    @property
    def runtime(self) -> Runtime:
        return self.method.runtime

    def describe(self) -> str:
        return self.method.describe()

    def represent(self, style: Any) -> Any:
        """A style input -> the method's representation; representations pass through. ``Bands``
        (frequency blending) go to methods that take them, each member represented first."""
        if isinstance(style, Bands):
            self.check_bands()
            return self.method.represent(style.map(self.represent))
        if self.method.takes_images and not isinstance(style, Tensor):
            return style
        return self.method.represent(style)

    def check_bands(self) -> None:
        """Frequency-blended styles (``Bands``) only for methods that split styles into bands."""
        if not self.method.takes_bands:
            raise InputError(
                Param("low_style"),
                f" takes the low frequency band from another style; method {self.method.name} does not split "
                "styles into bands (aesfa does): drop it or choose such a method",
            )

    def mix(
        self, count: int, size: tuple[int, int], controls: Controls = Controls(), masks: Tensor | None = None
    ) -> Mix:
        """The interpolation weights or region masks for ``count`` styles on a content of ``size``."""
        if masks is None:
            if controls.feather:
                raise InputError(Param("feather"), " only applies to region masks; pass masks or drop feather")
            return Mix(tuple(normalize_weights(controls.weights, count)))
        if controls.weights is not None:
            raise InputError("pass interpolation ", Param("weights"), " or region ", Param("masks"), ", not both")
        return Mix((1.0 / count,) * count, region_masks(masks, count, size, controls.feather, self.runtime.device))

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

        ``styles``: images (1, 3, h, w), names/indices (CIN), representations or (methods with
        ``takes_bands``) ``Bands`` of two images for frequency blending. With several
        styles: ``weights`` interpolate (normalised; equal when None) or ``masks`` (R, H', W')
        give region r style r. ``color``: None, "coral" or "luminance"."""
        controls = Controls(alpha, check_color(color), None if weights is None else tuple(weights), feather)
        return self.apply(content, styles, controls, masks)

    def check(self, controls: Controls) -> Controls:
        """``controls`` if they all apply to this method (``Method.check_controls``), else one line."""
        self.method.check_controls(controls)
        return controls

    def apply(self, content: Tensor, styles: Sequence[Any], controls: Controls, masks: Tensor | None = None) -> Tensor:
        """``render`` with the controls already built (jobs, video and the CLI build them once)."""
        check_batch(content)
        self.check(controls)
        mix = self.mix(len(styles), tuple(content.shape[-2:]), controls, masks)
        return self._render(content, styles, mix, controls.alpha, controls.color)

    def _render(self, content: Tensor, styles: Sequence[Any], mix: Mix, alpha: float, color: Color | None) -> Tensor:
        if color is None:
            reps = [self.represent(s) for s in styles]
            return self.method.stylize(content, reps, mix, alpha=alpha, tile=self.tile)
        if self.method.takes_images and not all(_is_image(s) for s in styles):
            raise InputError(
                "colour preservation adapts each style image to the content; pass style images, "
                "not precomputed style representations"
            )
        if color is Color.coral and not self.method.takes_images:
            raise InputError(
                Param("color", "coral"),
                f" adapts the style images, and method {self.method.name} has none; use ",
                Param("color", "luminance"),
            )
        outs = [self._preserve(c, styles, mix, alpha, color) for c in content.split(1)]
        return torch.cat(outs)

    def _preserve(self, c: Tensor, styles: Sequence[Any], mix: Mix, alpha: float, color: Color) -> Tensor:
        """One content image (1, 3, H, W): the styles adapted to its colours (coral), or its
        luminance stylized with luminance-matched styles and its chrominance put back."""
        c = c.to(self.runtime.device, torch.float32)
        imgs = (
            [_each(s, lambda t: t.to(c.device, torch.float32)) for s in styles] if self.method.takes_images else styles
        )
        if color is Color.coral:
            target = colour.rgb_stats(c[0])
            reps = [self.represent(_each(s, lambda t: colour.coral(t[0], target).unsqueeze(0))) for s in imgs]
            return self.method.stylize(c, reps, mix, alpha=alpha, tile=self.tile)
        luma = colour.luminance(c)  # (1, 1, H, W)
        if self.method.takes_images:
            imgs = [
                _each(s, lambda t: colour.match_luminance(colour.luminance(t), luma).expand(-1, 3, -1, -1))
                for s in imgs
            ]
        reps = [self.represent(s) for s in imgs]
        try:
            out = self.method.stylize(luma.expand(-1, 3, -1, -1), reps, mix, alpha=alpha, tile=self.tile)
        except Interrupted as e:
            if isinstance(e.partial, Tensor):
                raise Interrupted(merge_luminance(e.partial, c)) from None
            raise
        return merge_luminance(out, c)

    def result(
        self,
        content: Tensor | Path,
        styles: Sequence[Any],
        controls: Controls = Controls(),
        masks: Tensor | None = None,
    ) -> Result:
        """One content, (1, 3, H, W) or a file the method reads itself (``Method.reads``) -> a result
        that writes itself (``Result.save``): for a method with ``writes`` its own (curves: SVG, a
        render, a report), else the image ``apply`` makes."""
        if not self.method.writes:
            if not isinstance(content, Tensor):
                raise InputError(f"method {self.method.name} reads content images only; got the file {content}")
            return ImageResult(self.apply(content, styles, controls, masks))
        self.check(controls)
        if controls.sweep is not None:
            raise InputError(
                Param("alpha_sweep"),
                f" makes a sheet of images, and a result of method {self.method.name} is not one; pass ",
                Param("alpha"),
            )
        if isinstance(content, Tensor):
            size: tuple[int, int] = (int(content.shape[-2]), int(content.shape[-1]))
        elif masks is not None:
            raise InputError("region masks need the content as an image, not the file ", str(content))
        else:
            size = (1, 1)  # no masks: the size is not used
        mix = self.mix(len(styles), size, controls, masks)
        reps = [self.represent(s) for s in styles]
        return self.method.result(content, reps, mix, alpha=controls.alpha, tile=self.tile)

    def render_each(self, content: Tensor, styles: Sequence[Any], controls: Controls = Controls()) -> Iterator[Tensor]:
        """One stylization of ``content`` (N, 3, H, W) per style, in order (no mixing)."""
        self.check(controls)
        if controls.color is not None:
            for style in styles:
                yield self._render(content, [style], Mix((1.0,)), controls.alpha, controls.color)
            return
        results = self.method.stylize_each(
            content, [self.represent(s) for s in styles], alpha=controls.alpha, tile=self.tile
        )
        del content  # the method holds what it needs: at 8K the image is freed before the decoder runs
        yield from results

    def render_batch(
        self,
        content: Tensor,
        styles: Sequence[Sequence[Any]],
        controls: Controls = Controls(),
        on_start: OnStart | None = None,
    ) -> Iterator[tuple[Keys, Tensor]]:
        """content (B, 3, H, W); ``styles[i]`` the styles image i takes, one result each (no mixing).

        Yields (keys, results): key (i, j) is image i with its j-th style. Without colour
        preservation or a sweep the method batches what it can (``Method.stylize_batch``);
        otherwise every pair goes through ``apply``/``sweep``, ``on_start(i, j)`` before each."""
        self.check(controls)
        if controls.color is None and controls.sweep is None:
            reps = [[self.represent(s) for s in row] for row in styles]
            yield from self.method.stylize_batch(content, reps, alpha=controls.alpha, tile=self.tile, on_start=on_start)
            return
        for i, row in enumerate(styles):
            for j, style in enumerate(row):
                if on_start is not None:
                    on_start(i, j)
                c = content[i : i + 1]
                yield [(i, j)], self.sweep(c, style, controls) if controls.sweep else self.apply(c, [style], controls)

    def sweep(self, content: Tensor, style: Any, controls: Controls) -> Tensor:
        """Content (1, 3, H, W) at each alpha of ``controls.sweep`` side by side: (1, 3, H, n * W + gaps),
        each tile captioned with its alpha in a band below when ``controls.labels``."""
        sweep = controls.sweep or (controls.alpha,)
        tiles = [self.apply(content, [style], replace(controls, alpha=a)) for a in sweep]
        labels = [[f"alpha {a:g}" for a in sweep]] if controls.labels else None
        return sheets.contact_sheet([tiles], labels=labels)

    def frames(
        self, batches: Iterable[Tensor], styles: Sequence[Any], controls: Controls, masks: Tensor | None = None
    ) -> Iterator[Tensor]:
        """Consecutive frame batches (N, 3, H, W) -> stylized batches, in order, through ``apply``'s
        path. Styles are represented once (with colour preservation they are re-adapted to every
        frame); masks are prepared once for the frame size. ``controls.smooth`` is
        ``temporal.TemporalFilter``'s strength (0 = off: exactly the image path)."""
        self.check(controls)
        steady = temporal.TemporalFilter(controls.smooth)
        reps = list(styles) if controls.color is not None else [self.represent(s) for s in styles]
        mix = None
        for x in batches:
            if mix is None:
                mix = self.mix(len(reps), tuple(x.shape[-2:]), controls, masks)
            yield steady(x, self._render(x, reps, mix, controls.alpha, controls.color))

    # -- the style cache ---------------------------------------------------------------

    def style_key(self) -> str | None:
        """See ``Method.style_key``: None when this method's representations are not cached."""
        return self.method.style_key()

    def pack(self, rep: Any) -> dict[str, Tensor]:
        return self.method.pack(rep)

    def unpack(self, tensors: dict[str, Tensor]) -> Any:
        return self.method.unpack(tensors)

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


def _each(style: Any, fn: Any) -> Any:
    """``fn`` on a style image, or on each member of ``Bands`` (colour preservation adapts both)."""
    return style.map(fn) if isinstance(style, Bands) else fn(style)


def _is_image(style: Any) -> bool:
    if isinstance(style, Bands):
        return isinstance(style.high, Tensor) and isinstance(style.low, Tensor)
    return isinstance(style, Tensor)


def check_batch(content: Any) -> Tensor:
    if not isinstance(content, Tensor) or content.dim() != 4 or content.shape[1] != 3:
        shape = tuple(content.shape) if isinstance(content, Tensor) else type(content).__name__
        raise InputError(f"expected the content as an image batch (N, 3, H, W), got {shape}")
    return content


@torch.inference_mode()
def merge_luminance(out: Tensor, content: Tensor) -> Tensor:
    """The luminance of ``out`` (1, 3, H, W) with the chrominance of ``content``, in place, in
    strips of rows (``colour.merge_luminance`` needs several full-size temporaries)."""
    for top in range(0, out.shape[-2], LUMA_ROWS):
        rows = slice(top, top + LUMA_ROWS)
        out[..., rows, :] = colour.merge_luminance(colour.luminance(out[..., rows, :]), content[..., rows, :])
    return out

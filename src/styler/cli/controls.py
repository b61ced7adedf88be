"""styler interpolate / mask / color-preserve: the paper's user controls (section 7.3).

Same options and output handling as ``transfer``; each command takes one content image.
The core does the math (``Stylizer.prepare`` / ``render``); this module parses, validates
everything before loading weights, and writes one image per run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import (Alpha, ContentSize, Crop, DecoderW, Device, Output, Precision, PreserveColor, StyleSize,
                     Vgg, err, guarded, load_stylizer, out, output_paths, parse_numbers, progress_bar,
                     region_summary, stems)
from .transfer import Ext

MAX_GRID = 16
CORNERS = ("top-left", "top-right", "bottom-left", "bottom-right")
Method = Annotated[str, typer.Option(help="coral: match the style image's colours to the content first (the "
                                          "paper); luminance: stylize the luminance only (Gatys et al. 2016).")]


def _done(stylizer, what: str) -> None:
    """The closing line on stderr (after the write, so an error before it stays one line)."""
    err.print(f"done: 1 image on {stylizer.describe()}; {what}")


def _save(result, target: Path, inputs: tuple[Path, ...]) -> None:
    from ..images import save_image

    save_image(result, target, protect=inputs)
    out.print(str(target))


@guarded
def interpolate(
    content: Annotated[Path, typer.Argument(help="Content image.")],
    styles: Annotated[list[Path], typer.Argument(help="Two or more style images (any sizes).")],
    weights: Annotated[str | None, typer.Option(
        help="One weight per style, comma-separated (e.g. 1,2,1); normalised to sum to 1. Default: equal.")] = None,
    grid: Annotated[int | None, typer.Option(
        help="Render an N x N sheet over exactly four styles with bilinear weights: 1st style top-left, "
             "2nd top-right, 3rd bottom-left, 4th bottom-right.")] = None,
    show_styles: Annotated[bool, typer.Option(
        "--show-styles", help="With --grid: draw the four style images at the sheet's corners.")] = False,
    preserve_color: PreserveColor = False,
    output: Output = None,
    alpha: Alpha = 1.0,
    content_size: ContentSize = 512,
    style_size: StyleSize = 512,
    crop: Crop = False,
    ext: Ext = "png",
    device: Device = "auto",
    precision: Precision = "auto",
    vgg: Vgg = None,
    decoder: DecoderW = None,
) -> None:
    """Blend several styles: the AdaIN targets of STYLES mixed by --weights, or an N x N --grid sheet.

    Written as {content}_interpolated_{styles}.{ext} (or {content}_grid{N}_{styles}.{ext}), or as -o says.
    """
    from ..engine import check_alpha, normalize_weights
    from ..errors import InputError
    from ..images import contact_sheet, fit, load_image

    check_alpha(alpha)
    if len(styles) < 2:
        raise InputError("interpolate needs two or more style images; use styler transfer for one")
    if grid is not None:
        if weights is not None:
            raise InputError("--grid sets the weights itself; drop --weights or --grid")
        if len(styles) != 4:
            raise InputError(f"--grid needs exactly four styles (the corners), got {len(styles)}")
        if not 2 <= grid <= MAX_GRID:
            raise InputError(f"--grid must be between 2 and {MAX_GRID}, got {grid}")
        cells = [[_corner_weights(i, j, grid) for j in range(grid)] for i in range(grid)]
        name = f"{content.stem}_grid{grid}_{stems(styles)}.{ext.lstrip('.')}"
    else:
        if show_styles:
            raise InputError("--show-styles only applies to --grid; add --grid N or drop it")
        used = normalize_weights(None if weights is None else parse_numbers(weights, "--weights"), len(styles))
        cells = [[used]]
        name = f"{content.stem}_interpolated_{stems(styles)}.{ext.lstrip('.')}"
    (target,) = output_paths(output, [name])
    if grid is None:
        used = "weights " + ", ".join(f"{s.name} {w:.4g}" for s, w in zip(styles, cells[0][0]))
    else:
        used = f"{grid} x {grid} grid, " + ", ".join(f"{s.name} {c}" for s, c in zip(styles, CORNERS))

    image = load_image(content, content_size, crop)
    style_images = [load_image(s, style_size, crop) for s in styles]
    stylizer = load_stylizer(vgg, decoder, device, precision)
    prep = stylizer.prepare(image, style_images, preserve_color="coral" if preserve_color else None)
    with progress_bar() as bar:
        task = bar.add_task(f"stylizing on {stylizer.describe()}", total=len(cells) * len(cells[0]))
        rows = []
        for row in cells:
            rows.append([])
            for w in row:
                rows[-1].append(stylizer.render(prep, weights=w, alpha=alpha))
                bar.advance(task)
    if grid is None:
        _save(rows[0][0], target, (content, *styles))
        return _done(stylizer, used)
    if show_styles:
        size = tuple(image.shape[-2:])
        thumbs = [fit(s, size) for s in style_images]
        blank: list = [None] * grid
        rows = [[thumbs[0], *blank, thumbs[1]], *([None, *r, None] for r in rows), [thumbs[2], *blank, thumbs[3]]]
    _save(contact_sheet(rows), target, (content, *styles))
    _done(stylizer, used)


def _corner_weights(i: int, j: int, n: int) -> list[float]:
    """Bilinear weights of the four corner styles at row i, column j of an n x n grid."""
    v, u = i / (n - 1), j / (n - 1)
    return [(1 - u) * (1 - v), u * (1 - v), (1 - u) * v, u * v]


@guarded
def mask(
    content: Annotated[Path, typer.Argument(help="Content image.")],
    mask: Annotated[Path, typer.Option(
        "--mask", help="Mask or label image, any size (resized to the content). See the README for which "
                       "region takes which --style.")],
    style: Annotated[list[Path], typer.Option(
        "--style", "-s", help="A style per region, in order (repeat the option): binary mask: white first, "
                              "then black; label image: brightest colour first.")],
    feather: Annotated[float, typer.Option(
        help="Soften region boundaries over about PX content pixels (0 = hard edges, as the paper).")] = 0.0,
    preserve_color: PreserveColor = False,
    output: Output = None,
    alpha: Alpha = 1.0,
    content_size: ContentSize = 512,
    style_size: StyleSize = 512,
    crop: Crop = False,
    ext: Ext = "png",
    device: Device = "auto",
    precision: Precision = "auto",
    vgg: Vgg = None,
    decoder: DecoderW = None,
) -> None:
    """Spatial control: each region of --mask takes its own --style (AdaIN per region).

    Written as {content}_masked_{styles}.{ext}, or as -o says.
    """
    from ..engine import check_alpha, check_feather
    from ..images import load_image, load_regions

    check_alpha(alpha)
    check_feather(feather)
    (target,) = output_paths(output, [f"{content.stem}_masked_{stems(style)}.{ext.lstrip('.')}"])
    image = load_image(content, content_size, crop)
    regions = load_regions(mask, tuple(image.shape[-2:]), len(style), crop)
    style_images = [load_image(s, style_size, crop) for s in style]
    stylizer = load_stylizer(vgg, decoder, device, precision)
    result = stylizer.transfer_masked(image, regions, style_images, alpha=alpha, feather=feather,
                                      preserve_color="coral" if preserve_color else None)
    _save(result, target, (content, mask, *style))
    _done(stylizer, region_summary(style, regions))


@guarded
def color_preserve(
    content: Annotated[Path, typer.Argument(help="Content image.")],
    style: Annotated[Path, typer.Argument(help="Style image.")],
    method: Method = "coral",
    output: Output = None,
    alpha: Alpha = 1.0,
    content_size: ContentSize = 512,
    style_size: StyleSize = 512,
    crop: Crop = False,
    ext: Ext = "png",
    device: Device = "auto",
    precision: Precision = "auto",
    vgg: Vgg = None,
    decoder: DecoderW = None,
) -> None:
    """Stylize CONTENT with STYLE but keep the content's colours (--method coral or luminance).

    Written as {content}_stylized_{style}_{method}.{ext}, or as -o says.
    """
    from ..engine import check_alpha, check_color_method
    from ..images import load_image

    check_alpha(alpha)
    check_color_method(method)
    (target,) = output_paths(output, [f"{content.stem}_stylized_{style.stem}_{method}.{ext.lstrip('.')}"])
    image, style_image = load_image(content, content_size, crop), load_image(style, style_size, crop)
    stylizer = load_stylizer(vgg, decoder, device, precision)
    _save(stylizer.transfer(image, style_image, alpha=alpha, preserve_color=method), target, (content, style))
    _done(stylizer, f"colour kept by {method}")

"""styler interpolate: several styles blended by weights, or an N x N grid over four styles."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from . import options as o
from .common import check_low_style, low_suffix, parse_numbers, single_result, stems, style_inputs
from .console import guarded
from .signature import command

MAX_GRID = 16
CORNERS = ("top-left", "top-right", "bottom-left", "bottom-right")


@guarded
@command
def interpolate(
    content: Annotated[Path, typer.Argument(help="Content image.", show_default=False)],
    styles: Annotated[
        list[Path] | None, typer.Argument(help="Two or more styles (or use --style).", show_default=False)
    ] = None,
    style: o.Styles = None,
    low_style: o.LowStyle = None,
    weights: Annotated[
        str | None,
        typer.Option(
            metavar="W,W,...",
            help="One weight per style (e.g. 1,2,1); normalised to sum to 1. Default: equal.",
            show_default=False,
        ),
    ] = None,
    grid: Annotated[
        int | None,
        typer.Option(
            help="An N x N sheet over exactly four styles with bilinear weights: 1st style top-left, 2nd top-right, "
            "3rd bottom-left, 4th bottom-right.",
            show_default=False,
        ),
    ] = None,
    show_styles: Annotated[
        bool, typer.Option("--show-styles", help="With --grid: draw the four style images at the sheet's corners.")
    ] = False,
    output: o.Output = None,
    alpha: o.Alpha = 1.0,
    color: o.ColorOpt = None,
    ext: o.Ext = "png",
    reading: o.Reading = o.Reading(),
    model: o.Model = o.Model(),
    gatys: o.Gatys = o.Gatys(),
) -> None:
    """Blend several styles: the targets of the STYLEs mixed by --weights, or an N x N --grid sheet.

    Written as {content}_interpolated_{styles}.{ext} (or {content}_grid{N}_{styles}.{ext}), or as -o says.
    """
    from ..controls import Controls, normalize_weights
    from ..errors import InputError, Param

    controls = Controls(alpha, color)
    names = style_inputs(model, styles, style)
    check_low_style(model, low_style)
    if len(names) < 2:
        raise InputError("interpolate needs two or more styles; use styler transfer for one")
    if grid is not None:
        if weights is not None:
            raise InputError(Param("grid"), " sets the weights itself; drop ", Param("weights"), " or ", Param("grid"))
        if len(names) != 4:
            raise InputError(f"grid needs exactly four styles (the corners), got {len(names)}")
        if not 2 <= grid <= MAX_GRID:
            raise InputError(Param("grid"), f" must be between 2 and {MAX_GRID}, got {grid}")
        cells = [[_corner_weights(i, j, grid) for j in range(grid)] for i in range(grid)]
        name = f"{content.stem}_grid{grid}_{stems(names)}{low_suffix(low_style)}"
        used = f"{grid} x {grid} grid, " + ", ".join(f"{_name(s)} {c}" for s, c in zip(names, CORNERS))
    else:
        if show_styles:
            raise InputError(
                Param("show_styles"),
                " only applies to a grid; add ",
                Param("grid", "N"),
                " or drop ",
                Param("show_styles"),
            )
        w = normalize_weights(None if weights is None else parse_numbers(weights, "weights"), len(names))
        cells = [[w]]
        name = f"{content.stem}_interpolated_{stems(names)}{low_suffix(low_style)}"
        used = "weights " + ", ".join(f"{_name(s)} {x:.4g}" for s, x in zip(names, w))

    def render(engine, image, styles_in):
        reps = styles_in if color is not None else [engine.represent(s) for s in styles_in]
        rows = [[engine.apply(image, reps, replace(controls, weights=tuple(w))) for w in row] for row in cells]
        if grid is None:
            return rows[0][0]
        thumbs = [getattr(s, "high", s) for s in styles_in]  # with --low-style: each style's own image
        return _sheet(rows, thumbs, image, grid) if show_styles else _sheet(rows, None, image, grid)

    if low_style is not None:
        used += f"; low band from {low_style.name}"
    single_result(content, names, name, ext, output, reading, model, gatys, render, used, low_style=low_style)


def _name(style) -> str:
    return style.name if isinstance(style, Path) else str(style)


def _corner_weights(i: int, j: int, n: int) -> list[float]:
    """Bilinear weights of the four corner styles at row i, column j of an n x n grid."""
    v, u = i / (n - 1), j / (n - 1)
    return [(1 - u) * (1 - v), u * (1 - v), (1 - u) * v, u * v]


def _sheet(rows, style_images, image, grid: int):
    from ..errors import InputError, Param
    from ..media.sheets import contact_sheet, fit

    if style_images is not None:
        if not all(hasattr(s, "shape") for s in style_images):
            raise InputError(Param("show_styles"), " draws the style images; CIN styles have none")
        size = tuple(image.shape[-2:])
        thumbs = [fit(s, size) for s in style_images]
        blank: list = [None] * grid
        rows = [[thumbs[0], *blank, thumbs[1]], *([None, *r, None] for r in rows), [thumbs[2], *blank, thumbs[3]]]
    return contact_sheet(rows)

"""styler interpolate: several styles blended by weights, or an N x N grid over four styles."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from . import options as o
from .common import parse_numbers, single_result, style_name
from .console import guarded
from .loading import check_low_style, style_inputs
from .signature import command

MAX_GRID = 16
CORNERS = ("top-left", "top-right", "bottom-left", "bottom-right")


@guarded
@command
def interpolate(
    content: o.Content,
    styles: Annotated[
        list[Path] | None, typer.Argument(help="Two or more styles (or use --style).", show_default=False)
    ] = None,
    style: o.Styles = None,
    low_style: o.LowStyle = None,
    weights: Annotated[
        str | None,
        typer.Option(
            metavar="W,W,...",
            help="One weight per style (e.g. 1,2,1); normalised to sum to 1.",
            show_default="equal",
        ),
    ] = None,
    grid: Annotated[
        int | None,
        typer.Option(
            metavar="N",
            help="An N x N sheet over exactly four styles with bilinear weights: 1st style top-left, 2nd top-right, "
            "3rd bottom-left, 4th bottom-right.",
            show_default="no grid",
        ),
    ] = None,
    show_styles: Annotated[
        bool, typer.Option("--show-styles", help="With --grid: draw the four style images at the sheet's corners.")
    ] = False,
    labels: o.Labels = True,
    alpha: o.Alpha = 1.0,
    color: o.ColorOpt = None,
    results: o.Results = o.Results(),
    reading: o.Reading = o.Reading(),
    model: o.Model = o.Model(),
    gatys: o.Gatys = o.Gatys(),
    diffstyler: o.DiffStyler = o.DiffStyler(),
) -> None:
    """Blend several styles: the targets of the STYLEs mixed by --weights, or an N x N --grid sheet.

    Written as {content}_interpolated_{styles}_{settings}.{ext} (or {content}_grid{N}_...), or as -o says.
    """
    from ..controls import Controls
    from ..errors import InputError
    from .diffusion import Work

    names = style_inputs(model, styles, style)
    check_low_style(model, low_style)
    if len(names) < 2:
        raise InputError("interpolate needs two or more styles; use styler transfer for one")
    cells, controls, kind, used = _plan(names, grid, weights, Controls(alpha, color, labels=labels), show_styles)

    def render(engine, image, styles_in, tick):
        reps = styles_in if color is not None else [engine.represent(s) for s in styles_in]
        rows, done = [], 0
        for row in cells:
            rows.append([])
            for w in row:
                rows[-1].append(engine.apply(image, reps, replace(controls, weights=tuple(w))))
                done += 1
                tick(done)
        if grid is None:
            return rows[0][0]
        captions = _captions(cells, names) if labels else None
        thumbs = [getattr(s, "high", s) for s in styles_in]  # with --low-style: each style's own image
        return _sheet(rows, thumbs if show_styles else None, image, grid, captions)

    if low_style is not None:
        used += f"; low band from {low_style.name}"
    steps = grid * grid if grid is not None else 0
    work = Work(renders=sum(len(row) for row in cells), color=color)
    single_result(
        content,
        names,
        kind,
        results,
        reading,
        model,
        gatys,
        controls,
        render,
        used,
        steps=steps,
        low_style=low_style,
        diffstyler=diffstyler,
        work=work,
    )


def _plan(names: list, grid: int | None, weights: str | None, base, show_styles: bool):
    """The weights of every cell (a grid's rows, or one cell), the controls, the name's middle
    word and the closing line's detail; the grid's and the weights' options checked."""
    from ..controls import normalize_weights
    from ..errors import InputError, Param

    if grid is not None:
        if weights is not None:
            raise InputError(Param("grid"), " sets the weights itself; drop ", Param("weights"), " or ", Param("grid"))
        if len(names) != 4:
            raise InputError(Param("grid"), f" needs exactly four styles (the corners), got {len(names)}")
        if not 2 <= grid <= MAX_GRID:
            raise InputError(Param("grid"), f" must be between 2 and {MAX_GRID}, got {grid}")
        cells = [[_corner_weights(i, j, grid) for j in range(grid)] for i in range(grid)]
        controls = base
        kind = f"grid{grid}"
        used = f"{grid} x {grid} grid, " + ", ".join(f"{_name(s)} {c}" for s, c in zip(names, CORNERS))
    else:
        for flag, given in (("show_styles", show_styles), ("no_labels", not base.labels)):
            if given:
                raise InputError(
                    Param(flag), " only applies to a grid; add ", Param("grid", "N"), " or drop ", Param(flag)
                )
        w = normalize_weights(None if weights is None else parse_numbers(weights, "weights"), len(names))
        cells = [[w]]
        controls = replace(base, weights=tuple(w))
        kind = "interpolated"
        used = "weights " + ", ".join(f"{_name(s)} {x:.4g}" for s, x in zip(names, w))
    return cells, controls, kind, used


def _name(style) -> str:
    return style.name if isinstance(style, Path) else str(style)


def _corner_weights(i: int, j: int, n: int) -> list[float]:
    """Bilinear weights of the four corner styles at row i, column j of an n x n grid."""
    v, u = i / (n - 1), j / (n - 1)
    return [(1 - u) * (1 - v), u * (1 - v), (1 - u) * v, u * v]


def _captions(cells: list[list[list[float]]], names: list) -> list[list[str]]:
    """A corner cell is its style's name; the others list the four weights in the styles' order."""
    out = []
    for row in cells:
        out.append([])
        for w in row:
            pure = [k for k, x in enumerate(w) if x > 0.999]
            out[-1].append(style_name(names[pure[0]]) if pure else " ".join(f"{x:.2f}" for x in w))
    return out


def _sheet(rows, style_images, image, grid: int, captions):
    from ..errors import InputError, Param
    from ..media.sheets import contact_sheet, fit

    if style_images is not None:
        if not all(hasattr(s, "shape") for s in style_images):
            raise InputError(Param("show_styles"), " draws the style images; CIN styles have none")
        size = tuple(image.shape[-2:])
        thumbs = [fit(s, size) for s in style_images]
        blank: list = [None] * grid
        rows = [[thumbs[0], *blank, thumbs[1]], *([None, *r, None] for r in rows), [thumbs[2], *blank, thumbs[3]]]
        if captions is not None:
            empty = [""] * grid
            captions = [["", *empty, ""], *(["", *c, ""] for c in captions), ["", *empty, ""]]
    return contact_sheet(rows, labels=captions)

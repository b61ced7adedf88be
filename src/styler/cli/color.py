"""styler color-preserve: stylize but keep the content's colours."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..names import Color
from . import options as o
from .common import single_result
from .console import guarded
from .loading import style_inputs
from .signature import command


@guarded
@command
def color_preserve(
    content: o.Content,
    styles: Annotated[
        list[Path] | None, typer.Argument(help="Style image (or use --style).", show_default=False)
    ] = None,
    style: o.Styles = None,
    color: Annotated[
        Color,
        typer.Option(
            "--color",
            help="coral: match the style image's colours to the content first (the AdaIN paper); "
            "luminance: stylize the luminance only (Gatys et al. 2016).",
        ),
    ] = Color.coral,
    alpha: o.Alpha = 1.0,
    results: o.Results = o.Results(),
    reading: o.Reading = o.Reading(),
    model: o.Model = o.Model(),
    gatys: o.Gatys = o.Gatys(),
    diffstyler: o.DiffStyler = o.DiffStyler(),
) -> None:
    """Stylize CONTENT with STYLE but keep the content's colours (--color coral or luminance).

    Written as {content}_stylized_{style}_{color}_{settings}.{ext} (the name `transfer --color` gives), or as -o says.
    """
    from ..errors import InputError

    names = style_inputs(model, styles, style)
    if len(names) != 1:
        raise InputError(f"color-preserve takes one style, got {len(names)}; use interpolate or mask for several")

    from ..controls import Controls
    from .diffusion import Work

    controls = Controls(alpha, color)

    def render(engine, image, styles_in, tick):
        return engine.apply(image, styles_in, controls)

    single_result(
        content,
        names,
        "stylized",
        results,
        reading,
        model,
        gatys,
        controls,
        render,
        f"colour kept by {color.value}",
        diffstyler=diffstyler,
        work=Work(color=color),
    )

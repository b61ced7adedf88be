"""styler mask: spatial control, each region of a mask or label image takes its own style."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import options as o
from .common import region_summary, single_result
from .console import guarded
from .loading import style_inputs
from .signature import command


@guarded
@command
def mask(
    content: o.Content,
    styles: Annotated[
        list[Path] | None, typer.Argument(help="A style per region, in order (or use --style).", show_default=False)
    ] = None,
    mask: Annotated[
        Path,
        typer.Option(
            "--mask",
            help="Mask or label image, any size (resized to the content). Binary mask: white takes the first "
            "style, black the second; label image: brightest colour first.",
        ),
    ] = ...,
    style: o.Styles = None,
    feather: o.Feather = 0.0,
    alpha: o.Alpha = 1.0,
    color: o.ColorOpt = None,
    results: o.Results = o.Results(),
    reading: o.Reading = o.Reading(),
    model: o.Model = o.Model(),
    gatys: o.Gatys = o.Gatys(),
    curves: o.Curves = o.Curves(),
    diffstyler: o.DiffStyler = o.DiffStyler(),
) -> None:
    """Spatial control: each region of --mask takes its own style (one style per region, in order).

    Written as {content}_masked_{styles}_{settings}.{ext}, or as -o says. With the curves method
    (-o x.svg writes the curves) each region's curves take its style; with one style, only the
    curves on the mask's white part change (as --curve-mask).
    """
    import dataclasses

    from ..controls import Controls
    from ..errors import InputError, Param
    from ..media.regions import load_regions
    from .diffusion import Work

    controls = Controls(alpha, color, feather=feather)
    names = style_inputs(model, styles, style)
    shares = []
    selects = model.method.value == "curves" and len(names) == 1  # one style: the mask selects the curves
    if selects:
        if curves.curve_mask is not None:
            raise InputError(Param("mask"), " and ", Param("curve_mask"), " both select the curves; pass one")
        curves = dataclasses.replace(curves, curve_mask=mask)
        shares.append("curves on the mask's white part")

    def render(engine, image, styles_in, tick):
        if selects:
            return engine.result(image, styles_in, controls)
        regions = load_regions(mask, tuple(image.shape[-2:]), len(styles_in), reading.crop, max_pixels=reading.budget())
        shares.append(region_summary(names, regions))
        return engine.result(image, styles_in, controls, regions)

    single_result(
        content,
        names,
        "masked",
        results,
        reading,
        model,
        gatys,
        controls,
        render,
        shares,
        curves=curves,
        results_write=True,
        extra_inputs=(mask,),
        diffstyler=diffstyler,
        work=Work(regions=True, color=color),
    )

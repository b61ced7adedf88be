"""styler sheet: one photo in every style of a folder (or of a CIN model), on one labelled contact sheet."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import options as o
from .common import single_result, style_name
from .console import guarded
from .loading import method_kind
from .signature import command

SIZE = 256  # the sheet's default content and style size: many small tiles, the same look as 512/512


@guarded
@command
def sheet(
    content: o.Content,
    styles: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Style images or folders (searched recursively), or with --model style names.", show_default=False
        ),
    ] = None,
    style: o.Styles = None,
    columns: Annotated[int | None, typer.Option(min=1, help="Tiles per row.", show_default="about a 4:3 sheet")] = None,
    labels: o.Labels = True,
    show_styles: Annotated[
        bool, typer.Option("--show-styles", help="Inset each style image in the corner of its tile.")
    ] = False,
    alpha: o.Alpha = 1.0,
    color: o.ColorOpt = None,
    results: o.Results = o.Results(),
    reading: o.Reading = o.Reading(content_size=SIZE, style_size=SIZE),
    model: o.Model = o.Model(),
    gatys: o.Gatys = o.Gatys(),
) -> None:
    """Render CONTENT in every style of a folder (or of a CIN --model) as one labelled contact sheet.

    The first tile is the content, then one tile per style, captioned with its name; each style
    is encoded once. With --model and no styles, every style of the model. Written as
    {content}_sheet_{styles}.{ext}, or as -o says.
    """
    from ..controls import Controls
    from ..errors import InputError, Param
    from ..jobs.pairing import list_trees

    given = [*(styles or []), *(style or [])]
    named = not method_kind(model).takes_images  # a network's own styles (CIN)
    if named:
        if show_styles:
            raise InputError(Param("show_styles"), " draws the style images; a CIN model's styles have none")
        names: list = [str(s) for s in given]  # none: every style of the model
        label = "all" if not names else None  # the model's name is among the name's tags
    else:
        if not given:
            raise InputError("no style given; pass style images or a folder of them (or ", Param("model"), ")")
        names = [s.path for s in list_trees([Path(g) for g in given])]
        folders = [Path(g) for g in given if Path(g).is_dir()]
        label = folders[0].name if len(given) == 1 and folders else (f"{len(names)}styles" if len(names) > 3 else None)
    controls = Controls(alpha, color, labels=labels)

    def render(engine, image, styles_in, tick):
        from ..media.sheets import columns_for, contact_sheet, font_size, inset

        chosen = list(styles_in) or engine.method.own_styles()
        if not chosen:
            raise InputError("no style to render; pass style names or images")
        captions = ["content", *(style_name(n) for n in (names or chosen))]
        tiles = [image]
        for i, out in enumerate(engine.render_each(image, chosen, controls)):
            if show_styles:
                out = inset(out, chosen[i])
            tiles.append(out.float().cpu())
            tick(i + 1)
        h, w = image.shape[-2:]
        cols = columns or columns_for(len(tiles), w / (h + (int(font_size(w) * 1.6) if labels else 0)))
        rows = [tiles[k : k + cols] for k in range(0, len(tiles), cols)]
        text = [captions[k : k + cols] for k in range(0, len(captions), cols)] if labels else None
        return contact_sheet(rows, labels=text)

    source = model.model if named else label
    summary = f"{len(names) or 'every'} style(s) of {source or 'the given files'}"
    single_result(
        content,
        names,
        "sheet",
        results,
        reading,
        model,
        gatys,
        controls,
        render,
        summary,
        steps=len(names),
        sizes=(SIZE, SIZE),
        style_label=label,
    )

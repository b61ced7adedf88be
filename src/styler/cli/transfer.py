"""styler transfer: every content x style pair; each style and each content encoded once."""

from __future__ import annotations

from itertools import groupby, product
from pathlib import Path
from typing import Annotated

import typer

from .common import (Alpha, ContentSize, Crop, DecoderW, Device, Output, Precision, PreserveColor, StyleSize,
                     Vgg, err, exit_for_failures, guarded, load_stylizer, out, output_paths, parse_numbers,
                     progress_bar)

Ext = Annotated[str, typer.Option(help="Extension of default output names: png, jpg, webp, tiff or bmp.")]
AlphaSweep = Annotated[str | None, typer.Option(
    help="Comma list of alphas, e.g. 0,0.25,0.5,0.75,1: one strip image per pair, one tile per alpha.")]


@guarded
def transfer(
    ctx: typer.Context,
    content: Annotated[Path, typer.Argument(help="Content image, or a folder of them.")],
    style: Annotated[Path, typer.Argument(help="Style image, or a folder of them.")],
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
    preserve_color: PreserveColor = False,
    alpha_sweep: AlphaSweep = None,
) -> None:
    """Repaint CONTENT in the style of STYLE (files or folders: every pair is done).

    Results are named {content}_stylized_{style}.{ext} in the current folder, or as -o says
    ({content}_stylized_{style}_sweep.{ext} with --alpha-sweep).
    """
    from ..engine import check_alpha
    from ..errors import StylerError
    from ..errors import InputError
    from ..images import contact_sheet, list_images, load_image, save_image

    check_alpha(alpha)
    sweep = None
    if alpha_sweep is not None:
        if ctx.get_parameter_source("alpha").name != "DEFAULT":
            raise InputError("--alpha and --alpha-sweep both set the style strength; pass only one")
        sweep = [check_alpha(a) for a in parse_numbers(alpha_sweep, "--alpha-sweep")]
    method = "coral" if preserve_color else None
    suffix = "_sweep" if sweep else ""
    contents, styles = list_images(content), list_images(style)
    pairs = list(product(contents, styles))  # content-major, so each content is encoded once
    targets = output_paths(output, [f"{c.stem}_stylized_{s.stem}{suffix}.{ext.lstrip('.')}" for c, s in pairs])
    stylizer = load_stylizer(vgg, decoder, device, precision)
    inputs = (*contents, *styles)

    failures: list[str] = []
    stats = {}
    for s in styles:
        try:
            # With colour preservation the style is adapted to each content, so keep the image.
            style_image = load_image(s, style_size, crop)
            stats[s] = style_image if method else stylizer.style_stats(style_image)
        except StylerError as e:
            failures.append(str(e))
    todo = [(c, s, t) for (c, s), t in zip(pairs, targets) if s in stats]
    written = 0
    with progress_bar() as bar:
        task = bar.add_task(f"stylizing on {stylizer.describe()}", total=len(todo))
        for c, group in groupby(todo, key=lambda item: item[0]):
            try:
                image = load_image(c, content_size, crop)
                fc = None if method or sweep else stylizer.encode(image)
                for _, s, target in group:
                    if sweep:
                        prep = stylizer.prepare(image, [stats[s]], preserve_color=method)
                        result = contact_sheet([[stylizer.render(prep, alpha=a) for a in sweep]])
                    elif method:
                        result = stylizer.transfer(image, stats[s], alpha=alpha, preserve_color=method)
                    else:
                        result = stylizer.decode_adain(fc, stats[s], alpha=alpha, size=image.shape[-2:])
                    save_image(result, target, protect=inputs)
                    out.print(str(target))
                    written += 1
                    bar.advance(task)
            except StylerError as e:
                failures.append(str(e))
    exit_for_failures(failures, written)
    err.print(f"done: {written} image(s) on {stylizer.describe()}")

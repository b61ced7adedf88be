"""styler transfer: every content x style pair; each style and each content encoded once.

Contents are decoded in background threads; on CUDA same-size ones are stylized as one batch."""

from __future__ import annotations

from itertools import product
from pathlib import Path
from typing import Annotated

import typer

from .common import (Alpha, ContentSize, Crop, DecoderW, Device, Output, Precision, PreserveColor, StyleSize,
                     Tile, Vgg, err, exit_for_failures, guarded, load_stylizer, out, output_paths, parse_numbers,
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
    tile: Tile = "auto",
    vgg: Vgg = None,
    decoder: DecoderW = None,
    preserve_color: PreserveColor = False,
    alpha_sweep: AlphaSweep = None,
) -> None:
    """Repaint CONTENT in the style of STYLE (files or folders: every pair is done).

    Results are named {content}_stylized_{style}.{ext} in the current folder, or as -o says
    ({content}_stylized_{style}_sweep.{ext} with --alpha-sweep).
    """
    import torch

    from ..batching import MAX_BATCH, prefetch, same_size_batches
    from ..engine import check_alpha
    from ..errors import InputError, StylerError
    from ..images import contact_sheet, list_images, load_image, open_rgb, prepare, save_image, to_tensor

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
    stylizer = load_stylizer(vgg, decoder, device, precision, tile)
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
    def controlled(x1, style_image):
        """--alpha-sweep / --preserve-color: the controls take one content image (1, 3, H, W)."""
        prep = stylizer.prepare(x1, [style_image], preserve_color=method)
        if sweep:
            return contact_sheet([[stylizer.render(prep, alpha=a) for a in sweep]])
        return stylizer.render(prep, alpha=alpha)

    target_of = dict(zip(pairs, targets))
    todo = contents if stats else []  # no usable style: nothing to do
    written = 0
    with progress_bar() as bar:
        task = bar.add_task(f"stylizing on {stylizer.describe()}", total=len(todo) * len(stats))
        loaded = prefetch(todo, lambda path: prepare(open_rgb(path), content_size, crop))
        for batch in same_size_batches(loaded, max_batch=MAX_BATCH if stylizer.device.type == "cuda" else 1):
            if isinstance(batch[0][1], StylerError):
                failures.append(str(batch[0][1]))
                bar.advance(task, len(stats))
                continue
            names = [path for path, _ in batch]
            try:
                x = torch.cat([to_tensor(img) for _, img in batch])  # (B, 3, H, W), one size
                del batch  # at 8K the decoded images are 100 MB each: drop them before the model runs
                size = tuple(x.shape[-2:])
                fc = None if method or sweep else stylizer.encode(x)
                if fc is not None:
                    x = None  # not needed again: frees 400 MB at 8K before the decoder runs
                for s in stats:
                    result = None if fc is None else stylizer.decode_adain(fc, stats[s], alpha=alpha, size=size)
                    for i, c in enumerate(names):
                        try:
                            one = controlled(x[i:i + 1], stats[s]) if result is None else result[i:i + 1]
                            save_image(one, target_of[c, s], protect=inputs)
                            out.print(str(target_of[c, s]))
                            written += 1
                        except StylerError as e:
                            failures.append(str(e))
                        bar.advance(task)
                    del result
            except StylerError as e:
                failures.append(str(e))
    exit_for_failures(failures, written)
    err.print(f"done: {written} image(s) on {stylizer.describe()}")

"""Contact sheets (alpha sweeps, interpolation grids, style sheets), their thumbnails and labels.

Labels are drawn with Pillow's own default font (a scalable font bundled with Pillow where it
has FreeType, its bitmap font otherwise) in a white band under each tile, so they never cover
the picture."""

from __future__ import annotations

import torch
from PIL import Image, ImageDraw, ImageFont, ImageOps
from torch import Tensor

from ..errors import InputError
from .images import to_pil, to_tensor

Labels = list[list[str]]  # one caption per cell, row by row ("" = none)


def fit(img: Tensor, size: tuple[int, int]) -> Tensor:
    """Scale and centre-crop an image (1, 3, h, w) to fill exactly ``size`` (H, W): a thumbnail."""
    pil = ImageOps.fit(to_pil(img), (size[1], size[0]), Image.Resampling.BICUBIC)
    return to_tensor(pil)


def font_size(width: int) -> int:
    """Caption size for tiles ``width`` px wide: readable, about 16 captions' letters per tile."""
    return max(10, min(28, width // 16))


def caption(tile: Tensor, text: str, size: int | None = None) -> Tensor:
    """``tile`` (1, 3, H, W) with a white band below it holding ``text`` (cut with '...' to fit):
    (1, 3, H + band, W), band = 1.6 x the font size."""
    h, w = tile.shape[-2:]
    size = size or font_size(w)
    band = int(size * 1.6)
    canvas = Image.new("RGB", (w, h + band), "white")
    canvas.paste(to_pil(tile), (0, 0))
    if text:
        font = _font(size)
        draw = ImageDraw.Draw(canvas)
        shown = text
        while shown and draw.textlength(shown, font=font) > w - 4:
            shown = shown[:-2] + "…" if len(shown) > 2 else ""
        x = max(2, (w - draw.textlength(shown, font=font)) / 2)
        draw.text((x, h + (band - size) / 2 - 1), shown, fill=(20, 20, 20), font=font)
    return to_tensor(canvas)


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ValueError):  # a Pillow without FreeType: the small bitmap font
        return ImageFont.load_default()


def contact_sheet(rows: list[list[Tensor | None]], gap: int = 4, labels: Labels | None = None) -> Tensor:
    """Tiles (1, 3, H, W), all one size, laid out in rows on white with ``gap`` px between, each
    with its caption from ``labels`` (same shape as ``rows``) in a band below when given.

    ``None`` leaves a cell blank. Returns (1, 3, rows * (H' + gap) - gap, cols * (W + gap) - gap),
    H' = H plus the caption band."""
    from torchvision.utils import make_grid  # 1.3 s to import: only sheets pay for it

    tiles = [t for row in rows for t in row if t is not None]
    if not tiles:
        raise InputError("a contact sheet needs at least one image")
    blank = torch.ones_like(tiles[0].detach().float().cpu())
    cols = max(len(row) for row in rows)
    cells = [(row[j] if j < len(row) and row[j] is not None else blank) for row in rows for j in range(cols)]
    if labels is not None:
        texts = [(row[j] if j < len(row) else "") for row in labels for j in range(cols)]
        texts += [""] * (len(cells) - len(texts))
        size = font_size(cells[0].shape[-1])
        cells = [caption(c.detach().float().cpu(), t, size) for c, t in zip(cells, texts)]
    grid = make_grid(torch.cat([c.detach().float().cpu() for c in cells]), nrow=cols, padding=gap, pad_value=1.0)
    return grid[:, gap : grid.shape[1] - gap, gap : grid.shape[2] - gap].unsqueeze(0)  # no outer border


def columns_for(count: int, aspect: float = 1.0) -> int:
    """Columns that lay ``count`` tiles of width/height ``aspect`` out nearest to a 4:3 sheet."""
    import math

    best, score = 1, float("inf")
    for cols in range(1, count + 1):
        rows = -(-count // cols)
        ratio = cols * aspect / rows
        s = abs(math.log(ratio / (4 / 3))) + 0.05 * (rows * cols - count)
        if s < score:
            best, score = cols, s
    return best


def inset(tile: Tensor, thumb: Tensor, fraction: float = 0.3, border: int = 2) -> Tensor:
    """``tile`` (1, 3, H, W) with ``thumb`` scaled to ``fraction`` of its width in the bottom-right
    corner, framed in white: a style sheet's "which style made this"."""
    h, w = tile.shape[-2:]
    tw = max(8, int(w * fraction))
    th = max(8, round(tw * thumb.shape[-2] / thumb.shape[-1]))
    th = min(th, h - 2 * border)
    small = fit(thumb, (th, tw))
    out = tile.detach().float().cpu().clone()
    out[..., h - th - 2 * border : h, w - tw - 2 * border : w] = 1.0
    out[..., h - th - border : h - border, w - tw - border : w - border] = small
    return out

"""Contact sheets (alpha sweeps, interpolation grids) and the thumbnails placed on them."""

from __future__ import annotations

import torch
from PIL import Image, ImageOps
from torch import Tensor

from ..errors import InputError
from .images import to_pil, to_tensor


def fit(img: Tensor, size: tuple[int, int]) -> Tensor:
    """Scale and centre-crop an image (1, 3, h, w) to fill exactly ``size`` (H, W): a thumbnail."""
    pil = ImageOps.fit(to_pil(img), (size[1], size[0]), Image.Resampling.BICUBIC)
    return to_tensor(pil)


def contact_sheet(rows: list[list[Tensor | None]], gap: int = 4) -> Tensor:
    """Tiles (1, 3, H, W), all one size, laid out in rows on white with ``gap`` px between.

    ``None`` leaves a cell blank. Returns (1, 3, rows * (H + gap) - gap, cols * (W + gap) - gap).
    """
    from torchvision.utils import make_grid  # 1.3 s to import: only sheets pay for it

    tiles = [t for row in rows for t in row if t is not None]
    if not tiles:
        raise InputError("a contact sheet needs at least one image")
    blank = torch.ones_like(tiles[0].detach().float().cpu())
    cols = max(len(row) for row in rows)
    cells = [(row[j] if j < len(row) and row[j] is not None else blank) for row in rows for j in range(cols)]
    grid = make_grid(torch.cat([c.detach().float().cpu() for c in cells]), nrow=cols, padding=gap, pad_value=1.0)
    return grid[:, gap : grid.shape[1] - gap, gap : grid.shape[2] - gap].unsqueeze(0)  # no outer border

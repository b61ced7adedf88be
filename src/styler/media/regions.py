"""Mask and label images -> region masks, one per style: the region rule of ``styler mask``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from ..errors import InputError, Param
from .images import MAX_PIXELS, check_pixels, open_rgb, prepare

BINARY_THRESHOLD = 128  # grey level (of 255) from which a binary-mask pixel takes the first style


def load_regions(
    path: Path, size: tuple[int, int], count: int, crop: bool = False, *, max_pixels: int = MAX_PIXELS
) -> Tensor:
    """A mask or label image -> (count, H, W) float 0/1 region masks at the content's ``size`` (H, W).

    The rule (also in the README):

    - Label image: if the image has exactly ``count`` distinct colours, each colour is a
      region. Regions are ordered brightest first (luminance 0.299 R + 0.587 G + 0.114 B,
      ties by (R, G, B) descending): the brightest colour takes the first style, the
      darkest the last. Resized to the content with nearest neighbour (no new colours).
    - Binary mask: otherwise, with two styles, pixels whose grey level is >= 50% (128 of
      255) take the first style and the others the second, so anti-aliased, JPEG or
      all-white masks work. Resized bilinearly, then thresholded.

    A black-and-white mask gives the same regions under both rules: white = first style.
    ``crop`` centre-crops the mask to a square before resizing, as ``--crop`` does to the
    content (colours are still counted on the whole mask). Masks at a ``size`` over
    ``max_pixels`` are refused before the mask is read.
    """
    path = Path(path)
    if count < 2:
        raise InputError(
            f"a mask needs at least two styles (one per region), got {count}; use styler transfer for one style"
        )
    h, w = size
    check_pixels(w, h, max_pixels, f"mask {path.name}", (("a smaller ", Param("content_size")),))
    img = open_rgb(path)
    rgb = np.asarray(img, dtype=np.uint8)  # (H', W', 3)
    codes = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
    colours = np.unique(codes)  # counted on the whole mask, so --crop changes no mapping
    img = prepare(img, 0, crop, max_pixels=0)  # only a crop: the mask's own size is not a result
    if len(colours) == count:
        r, g, b = colours >> 16, (colours >> 8) & 255, colours & 255
        order = np.lexsort((-b, -g, -r, -(0.299 * r + 0.587 * g + 0.114 * b)))  # last key sorts first
        small = np.asarray(img.resize((w, h), Image.Resampling.NEAREST), dtype=np.uint8).astype(np.int64)
        small = (small[..., 0] << 16) | (small[..., 1] << 8) | small[..., 2]  # (H, W)
        masks = np.stack([small == colours[i] for i in order])  # (count, H, W)
        return torch.from_numpy(masks).float()
    if count != 2:
        raise InputError(
            f"{path.name} has {len(colours)} distinct colours but {count} styles were given; "
            "a label image needs one colour per style (brightest = first style), saved as PNG"
        )
    grey = np.asarray(img.convert("L").resize((w, h), Image.Resampling.BILINEAR))  # (H, W) uint8
    first = torch.from_numpy(grey >= BINARY_THRESHOLD).float()
    return torch.stack([first, 1 - first])

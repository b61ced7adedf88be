"""Tiling: run the encoder and decoder on overlapping tiles so any resolution fits in memory.

Why it is exact (up to float rounding): every output pixel of a conv net depends only on a
window of its input (the receptive field). A tile carries ``margin`` extra pixels on each side
that is inside the image; the tile's own reflection padding only corrupts values within the
margin, and only the uncorrupted core of each tile is kept. At the image's real edges the tile
reaches the edge, so the padding there is the same as untiled.

Encoder (input px -> relu4_1 at stride 8): three ceil-mode 2x2 pools, so tile origins are
multiples of 8 and the pooling grid of every tile is the untiled grid. Corruption from a fake
edge reaches 2 (conv1_x) + 2*2 (conv2_x) + 4*4 (conv3_x) + 8*1 (conv4_1) = 30 px plus up to
1+2+4 px of pool rounding = 37 px; ``ENC_MARGIN`` = 48 px.
Decoder (features -> px at 8x): corruption reaches 1 + 4*(1/2) + 2*(1/4) + 2*(1/8) = 3.75
features; ``DEC_MARGIN`` = 6 features (48 output px).

The AdaIN content statistics are *not* computed here: the engine computes them over the whole
stitched relu4_1 map, so all tiles are normalised alike and no seam appears.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

from .errors import InputError, Param
from .runtime import free_bytes

ENC_MARGIN = 48  # input pixels of overlap on each side of an encoder tile (multiple of 8)
DEC_MARGIN = 6  # relu4_1 features of overlap on each side of a decoder tile
MIN_TILE = 64  # smallest core tile side in pixels
CPU_BUDGET_CAP = 1 << 30  # auto on CPU: untiled activations above 1 GiB get tiled (8K stays under 4 GB RSS)

Setting = str | int  # "auto", "off" or a core tile side in pixels


def parse_tile(value: str | int | None) -> Setting:
    """``auto`` | ``off`` | PX (a multiple of 8, at least 64) -> "auto", "off" or an int."""
    text = "auto" if value is None else str(value).strip().lower()
    if text in ("auto", "off"):
        return text
    if not text.isdigit() or int(text) < MIN_TILE or int(text) % 8:
        raise InputError(
            Param("tile", value),
            f" is not valid; use auto, off or a tile size in pixels that is a multiple of 8 and at least {MIN_TILE} "
            "(e.g. 512)",
        )
    return int(text)


def activation_bytes(n: int, h: int, w: int, itemsize: int) -> int:
    """Estimated peak memory of the encoder or decoder on an (n, 3, h, w) image.

    Both peak at full resolution with 64 channels, where a padded input, the conv output and
    the next padded copy are alive together. Measured on CPU at 1024 px: 2.1-2.3 maps of
    64 x h x w over the baseline; 3.5 leaves room for the allocator and GPU conv workspaces.
    """
    return int(n * (h + 2) * (w + 2) * 64 * itemsize * 3.5)


def available_bytes(device: torch.device) -> int:
    """Memory we may use for activations: 80% of free GPU memory; on CPU, half of
    MemAvailable capped at ``CPU_BUDGET_CAP`` (larger untiled convs are no faster on CPU)."""
    free = free_bytes(device)
    if free is not None:  # CUDA: driver-free plus what PyTorch's caching allocator holds unused
        return int(free * 0.8)
    avail = 4 << 30  # not Linux: assume 4 GiB free
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                avail = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return min(avail // 2, CPU_BUDGET_CAP)


def choose_tile(
    setting: Setting, n: int, h: int, w: int, itemsize: int, device: torch.device, budget: int | None = None
) -> int | None:
    """Core tile side in pixels for an (n, 3, h, w) run, or None to run untiled.

    ``auto`` runs untiled whenever the estimate fits ``budget`` (default ``available_bytes``),
    so ordinary images stay exact and fast. Otherwise it picks the largest tile that fits half
    the budget: the stitched feature map and output of a huge image need room too (at 8K they
    are 1.5 GB in float32), and the 8K run on CPU must stay under 4 GB RSS.
    """
    if setting == "off":
        return None
    if isinstance(setting, int):
        return setting if max(h, w) > setting else None
    budget = available_bytes(device) if budget is None else budget
    if activation_bytes(n, h, w, itemsize) <= budget:
        return None
    tile = MIN_TILE
    while (
        tile < max(h, w)
        and activation_bytes(n, tile + 64 + 2 * ENC_MARGIN, tile + 64 + 2 * ENC_MARGIN, itemsize) <= budget // 2
    ):
        tile += 64
    return tile


def spans(length: int, core: int, margin: int) -> list[tuple[int, int, int, int]]:
    """Split [0, length) into cores of ``core`` units: (start, stop, in_start, in_stop), the input
    window being the core widened by ``margin`` on each side and clipped to the image."""
    out = []
    for start in range(0, length, core):
        stop = min(start + core, length)
        out.append((start, stop, max(0, start - margin), min(length, stop + margin)))
    return out


def encode_tiled(run: Callable[[Tensor], Tensor], x: Tensor, tile: int) -> Tensor:
    """``run``: image (N, 3, h, w) -> relu4_1 (N, 512, ceil(h/8), ceil(w/8)); applied tile by tile
    to ``x`` (N, 3, H, W) and stitched into one float32 NCHW map (N, 512, ceil(H/8), ceil(W/8))."""
    n, _, height, width = x.shape
    out = torch.empty(n, 512, math.ceil(height / 8), math.ceil(width / 8), device=x.device)
    for y0, y1, ylo, yhi in spans(height, tile, ENC_MARGIN):
        for x0, x1, xlo, xhi in spans(width, tile, ENC_MARGIN):
            feat = run(x[:, :, ylo:yhi, xlo:xhi])
            # all of y0, ylo, x0, xlo are multiples of 8: core offsets in features are exact
            fy, fx = (y0 - ylo) // 8, (x0 - xlo) // 8
            fh, fw = math.ceil(y1 / 8) - y0 // 8, math.ceil(x1 / 8) - x0 // 8
            out[:, :, y0 // 8 : y0 // 8 + fh, x0 // 8 : x0 // 8 + fw] = feat[:, :, fy : fy + fh, fx : fx + fw]
            del feat
    return out


Prep = Callable[[Tensor, slice, slice], Tensor]  # (features, rows, cols of the whole map) -> features


def decode_tiled(
    run: Callable[[Tensor], Tensor], feat: Tensor, size: tuple[int, int], tile: int, prep: Prep | None = None
) -> Tensor:
    """``run``: features (N, 512, h, w) -> image (N, 3, 8h, 8w); applied tile by tile to ``feat``
    (after ``prep``, e.g. AdaIN with global statistics, on each tile; ``prep`` gets the tile's
    rows and columns in the whole map, to slice masks alike) and stitched into a float32
    (N, 3, H, W) image, ``size`` = (H, W) <= 8 x the feature size."""
    n, _, h, w = feat.shape
    height, width = size
    out = torch.empty(n, 3, height, width, device=feat.device)
    core = max(1, tile // 8)
    for a, b, alo, ahi in spans(h, core, DEC_MARGIN):
        y0, y1 = 8 * a, min(8 * b, height)
        if y0 >= y1:
            continue
        for c, d, clo, chi in spans(w, core, DEC_MARGIN):
            x0, x1 = 8 * c, min(8 * d, width)
            if x0 >= x1:
                continue
            rows, cols = slice(alo, ahi), slice(clo, chi)
            piece = feat[:, :, rows, cols]
            img = run(prep(piece, rows, cols) if prep is not None else piece)
            oy, ox = 8 * (a - alo), 8 * (c - clo)
            out[:, :, y0:y1, x0:x1] = img[:, :, oy : oy + y1 - y0, ox : ox + x1 - x0]
            del img
    return out

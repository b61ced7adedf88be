"""Exact tiling for AesFA, so any resolution runs in bounded memory (``cintiling``'s scheme).

A conv net's output pixel depends only on a window of its input: a tile that carries a margin
of real pixels computes its core exactly, and only cores are kept (``styler.tiling``). Tile
origins are multiples of 8, so every tile sees the untiled grids of the strided convs, the
average pools (1/2, 1/4, 1/8) and the upsamples.

* The encoders have no normalisation: they run tile by tile and their last maps (the content
  code, 1/4 and 1/8 of the image) are stitched whole (at 4K: 330 MB in float32).
* The generator's adaptive blocks start with instance norms, which need the mean and variance
  of their input over the *whole* image. Block 1's input is the stitched content code itself,
  so its statistics are direct; for block k > 1, a pass runs every tile up to block k (with the
  statistics already known) and sums the cores; the last pass runs every tile to the end and
  stitches the cores. Four passes of growing depth, about 2.5x the untiled generator.

* A style code pools the last maps to 3 x 3: tiles add their cores' share of each bin's sum
  (``code_tiled``), so a large style (or the content's own code, for alpha < 1) is never stitched.

Margins (pixels at the image's resolution, on each side). Reflection padding at a tile's edge
corrupts a band that widens as the layers stack: in the encoders about 3 (the 7 x 7 stem) + 4
(stride-2 convs) + 4 + 8 (3 x 3 convs at 1/2 and 1/4 on the high band) and twice that on the low
band; in the generator (output pixels) 3 convs per block at 1/8, 1/4, 1/2 on the low band and
the upsampling convs between, about 48. Measured (float32, 64 px tiles): tiles agree with the
untiled image to rounding (< 1e-6) from 24 px of margin in the encoders and 48 px in the
generator, and differ by 3e-3 with 40; ``ENC_MARGIN`` 32 and ``GEN_MARGIN`` 64 leave room.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from ...tiling import spans
from .net import BlockKernels, Generator, Masks
from .ops import CODE, Oct, Stats, instance_stats

ENC_MARGIN = 32  # image pixels of overlap around an encoder tile (a multiple of 8)
GEN_MARGIN = 64  # output pixels of overlap around a generator tile (a multiple of 8)

Window = tuple[int, int, int, int, int, int, int, int]  # core y0, y1, input ylo, yhi; then x


def windows(h: int, w: int, tile: int, margin: int) -> list[Window]:
    return [
        (y0, y1, ylo, yhi, x0, x1, xlo, xhi)
        for y0, y1, ylo, yhi in spans(h, tile, margin)
        for x0, x1, xlo, xhi in spans(w, tile, margin)
    ]


def _cut(x: Tensor, win: Window, scale: float, core: bool = False) -> Tensor:
    """The part of ``x`` (a map at ``scale`` x the full resolution) under ``win``'s input window,
    or with ``core`` the core's part of a map computed on that window."""
    y0, y1, ylo, yhi, x0, x1, xlo, xhi = win
    if core:
        y0, y1, x0, x1 = y0 - ylo, y1 - ylo, x0 - xlo, x1 - xlo
    else:
        y0, y1, x0, x1 = ylo, yhi, xlo, xhi
    return x[..., int(y0 * scale) : int(y1 * scale), int(x0 * scale) : int(x1 * scale)]


def encode_tiled(run: Callable[[Tensor], Oct], x: Tensor, tile: int) -> Oct:
    """``run``: an image tile (N, 3, h, w) -> its last encoder maps (1/4 and 1/8); applied tile by
    tile to ``x`` (N, 3, H, W), H and W multiples of 8, and stitched into one ``Oct``."""
    n, _, h, w = x.shape
    out: list[Tensor] = []
    for win in windows(h, w, tile, ENC_MARGIN):
        code = run(_cut(x, win, 1.0))
        if not out:
            out = [code.high.new_empty(n, code.high.shape[1], h // 4, w // 4)]
            out.append(code.low.new_empty(n, code.low.shape[1], h // 8, w // 8))
        for band, scale in ((0, 0.25), (1, 0.125)):
            y0, y1, _, _, x0, x1, _, _ = win
            s = slice(int(y0 * scale), int(y1 * scale)), slice(int(x0 * scale), int(x1 * scale))
            out[band][..., s[0], s[1]] = _cut(code[band], win, scale, core=True)
        del code
    return Oct(out[0], out[1])


def bins(length: int, count: int = CODE) -> list[tuple[int, int]]:
    """PyTorch's adaptive-pooling bins over ``length`` cells: [floor(i L / n), ceil((i + 1) L / n))."""
    return [(i * length // count, -(-(i + 1) * length // count)) for i in range(count)]


def code_tiled(run: Callable[[Tensor], Oct], x: Tensor, tile: int, size: tuple[int, int]) -> Oct:
    """The style code (``net.style_code`` of the maps over the cells covering ``size``, the real
    image in the padded ``x``) computed tile by tile: each core adds its share of every 3 x 3 bin's
    sum, so the last maps are never stitched (at 4K they would be 330 MB more). Float32 (N, C, 3, 3)."""
    n = x.shape[0]
    sums: list[Tensor] = []
    cells = [(-(-size[0] // f), -(-size[1] // f)) for f in (4, 8)]  # cells covering the image, per band
    for win in windows(x.shape[-2], x.shape[-1], tile, ENC_MARGIN):
        maps = run(_cut(x, win, 1.0))
        for band, f in enumerate((4, 8)):
            core = _cut(maps[band], win, 1 / f, core=True).float()  # (N, C, h, w)
            if len(sums) <= band:
                sums.append(core.new_zeros(n, core.shape[1], CODE, CODE))
            top, left = win[0] // f, win[4] // f  # the core's origin on the band's grid
            for i, (a, b) in enumerate(bins(cells[band][0])):
                rows = slice(max(a - top, 0), max(min(b - top, core.shape[-2]), 0))
                for j, (c, d) in enumerate(bins(cells[band][1])):
                    cols = slice(max(c - left, 0), max(min(d - left, core.shape[-1]), 0))
                    sums[band][:, :, i, j] += core[..., rows, cols].sum((2, 3))
        del maps
    codes = []
    for band in (0, 1):
        h, w = bins(cells[band][0]), bins(cells[band][1])
        area = torch.tensor([[(b - a) * (d - c) for c, d in w] for a, b in h], device=x.device)
        codes.append(sums[band] / area)
    return Oct(codes[0], codes[1])


def _window_inputs(code: Oct, masks: Masks | None, win: Window, size: tuple[int, int]) -> tuple[Oct, Masks | None]:
    piece = Oct(_cut(code.high, win, 0.25), _cut(code.low, win, 0.125))
    if masks is None:
        return piece, None
    height = size[0]
    cut = [Oct(*(_cut(m, win, m.shape[-2] / height) for m in grid)) for grid in masks]
    return piece, cut


def _moments(parts: list[tuple[Tensor, Tensor, int]]) -> tuple[Tensor, Tensor]:
    """Sums, sums of squares (float64) and counts of the cores -> mean, biased variance (float32)."""
    total = sum(p[0] for p in parts)
    sq = sum(p[1] for p in parts)
    count = sum(p[2] for p in parts)
    mean = total / count
    var = (sq / count - mean * mean).clamp_min(0)
    return mean.float(), var.float()  # type: ignore[union-attr]


def generate_tiled(
    net: Generator, code: Oct, kernels: Sequence[BlockKernels], masks: Masks | None, tile: int
) -> Tensor:
    """``net.run(code, kernels, masks)`` tile by tile with whole-image statistics: code (N, C, H/4,
    W/4) and (N, C, H/8, W/8) -> (N, 3, H, W) float32 (still ImageNet-normalised)."""
    n = code.high.shape[0]
    size = (code.high.shape[-2] * 4, code.high.shape[-1] * 4)
    wins = windows(size[0], size[1], tile, GEN_MARGIN)
    stats: list[Stats] = [(instance_stats(code.high), instance_stats(code.low))]
    for k in range(1, len(net.blocks())):
        parts: tuple[list, list] = ([], [])
        for win in wins:
            piece, grid = _window_inputs(code, masks, win, size)
            pre = net.run(piece, kernels, grid, stats, upto=k)
            for band in (0, 1):
                scale = pre[band].shape[-2] / (win[3] - win[2])
                core = _cut(pre[band], win, scale, core=True).double()
                parts[band].append((core.sum((2, 3)), core.pow(2).sum((2, 3)), core.shape[-2] * core.shape[-1]))
            del pre
        stats.append((_moments(parts[0]), _moments(parts[1])))
    out = torch.empty(n, 3, *size, device=code.high.device)
    for win in wins:
        piece, grid = _window_inputs(code, masks, win, size)
        img = net.run(piece, kernels, grid, stats)
        y0, y1, _, _, x0, x1, _, _ = win
        out[..., y0:y1, x0:x1] = _cut(img, win, 1.0, core=True).float()
        del img
    return out

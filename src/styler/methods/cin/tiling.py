"""Exact tiling for the CIN network: tiles that agree with the untiled result.

A conv net's output pixel depends only on a window of its input, so a tile that carries a
margin of real pixels beyond its core computes the core exactly (see ``tiling``). Instance
norm breaks that locality: each norm layer needs the mean and variance of its input over the
*whole* image. So the statistics are measured first, one norm layer at a time: pass k runs
every tile up to norm layer k (normalising the earlier layers with the global statistics
already known) and accumulates sums and sums of squares over the tile *cores* only; the last
pass runs every tile to the end and stitches the cores.

That is 16 passes of growing depth (about 8x the untiled work): the price of exactness with
bounded memory, paid only by images too large to run whole.

Margin: the receptive field reaches 4 (conv1) + 1 + 2 (strided convs) + 10 x 4 (residual
convs at 1/4) + 2 + 1 (upsampling convs) + 4 (output conv) = 54 input px; ``MARGIN`` = 64.
Tile origins are multiples of 8, so every tile sees the untiled stride-2 and upsampling grid.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ...tiling import spans
from .net import CINNet

MARGIN = 64


def _windows(h: int, w: int, tile: int) -> list[tuple[int, int, int, int, int, int, int, int]]:
    return [
        (y0, y1, ylo, yhi, x0, x1, xlo, xhi)
        for y0, y1, ylo, yhi in spans(h, tile, MARGIN)
        for x0, x1, xlo, xhi in spans(w, tile, MARGIN)
    ]


def _crop_code(code: Tensor, ylo: int, yhi: int, xlo: int, xhi: int) -> Tensor:
    return code[..., ylo:yhi, xlo:xhi] if code.dim() == 4 else code


def forward_tiled(net: CINNet, x: Tensor, code: Tensor, tile: int) -> Tensor:
    """``net(x, code)`` computed tile by tile: x (B, 3, H, W), H and W multiples of 4; tile a
    multiple of 8 -> (B, 3, H, W) float32."""
    b, _, h, w = x.shape
    windows = _windows(h, w, tile)
    stats: list[tuple[Tensor, Tensor]] = []
    for k in range(len(net.norms())):
        total = sq = None
        count = 0
        for y0, y1, ylo, yhi, x0, x1, xlo, xhi in windows:
            pre = net(x[..., ylo:yhi, xlo:xhi], _crop_code(code, ylo, yhi, xlo, xhi), stats, upto=k)
            f = pre.shape[-2] / (yhi - ylo)  # the layer's scale: 1, 1/2 or 1/4
            core = pre[..., int((y0 - ylo) * f) : int((y1 - ylo) * f), int((x0 - xlo) * f) : int((x1 - xlo) * f)]
            core = core.double()  # sums over millions of values
            part, part_sq = core.sum((2, 3)), core.pow(2).sum((2, 3))  # (B, C) each
            total = part if total is None else total + part
            sq = part_sq if sq is None else sq + part_sq
            count += core.shape[-2] * core.shape[-1]
            del pre, core
        assert total is not None and sq is not None
        mean = total / count
        var = (sq / count - mean * mean).clamp_min(0)
        stats.append((mean.float(), var.float()))
    out = torch.empty(b, 3, h, w, device=x.device)
    for y0, y1, ylo, yhi, x0, x1, xlo, xhi in windows:
        img = net(x[..., ylo:yhi, xlo:xhi], _crop_code(code, ylo, yhi, xlo, xhi), stats)
        out[..., y0:y1, x0:x1] = img[..., y0 - ylo : y1 - ylo, x0 - xlo : x1 - xlo].float()
        del img
    return out

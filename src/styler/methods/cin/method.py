"""CIN: a trained multi-style network (Dumoulin et al. 2017) as a style method.

Styles are the model's own, chosen by name (the training image's file stem) or index; one
forward pass stylizes, so it is the fastest method. The controls:

* ``Mix.weights``: the convex blend of the chosen styles' gamma/beta rows, in every CIN layer;
* ``Mix.masks``: gamma/beta become per-pixel maps, each layer's masks pooled to its resolution;
* ``alpha``: the network has no content code to blend with, so alpha blends in pixel space:
  ``alpha * stylized + (1 - alpha) * content``;
* ``tile``: exact tiling (``cintiling``): instance-norm statistics are measured over the whole
  image, so tiles agree with the untiled result.

The model file is ``modelfile``'s.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ... import tiling
from ...errors import InputError, Param
from ...runtime import Runtime, runtime
from ..base import Graph, Keys, Method, Mix, OnStart, Runner
from . import tiling as cintiling
from .modelfile import read_model
from .net import STRIDE, CINNet

MIN_SIDE = 16  # below this the 1/4-resolution maps are too small to reflect-pad


def pad_to_stride(x: Tensor) -> tuple[Tensor, int, int]:
    """Reflect-pad (N, C, H, W) on the bottom/right to multiples of ``STRIDE``; returns it and H, W."""
    h, w = x.shape[-2:]
    ph, pw = -h % STRIDE, -w % STRIDE
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="reflect" if x.dim() == 4 and min(h, w) > STRIDE else "replicate")
    return x, h, w


def load(*, model: Path | None = None, device: str = "auto", precision: str = "auto", progress: Any = None) -> CIN:
    """The network in ``model`` (a file written by ``styler train --method cin``) on a runtime."""
    if model is None:
        raise InputError(
            "method cin needs ", Param("model"), "=FILE, a network trained with `styler train --method cin`"
        )
    net, info = read_model(Path(model))
    return CIN(net, info["styles"], runtime(device, precision), info)


class CIN(Method):
    """A trained CIN network bound to a runtime."""

    name = "cin"
    takes_images = False
    graph_names = ("net",)
    graph_notes = (
        "Images are RGB in [0, 1], NCHW, sides multiples of 4 (reflect-pad, crop after). code (n, S): weights "
        "over the network's S styles (listed in order under styles), summing to 1; one-hot for one style."
    )

    def __init__(self, net: CINNet, styles: Sequence[str], runtime: Runtime, info: dict | None = None) -> None:
        self.runtime = runtime
        self.styles = list(styles)
        self.info = info or {}
        fmt = torch.channels_last
        self.net = net.eval().requires_grad_(False).to(runtime.device, runtime.dtype, memory_format=fmt)
        self.net.prepare_fast()
        self.graph: Runner | None = None  # the exported net (``use_graphs``): blends of whole styles, untiled

    def graphs(self) -> dict[str, Graph]:
        x, code = torch.rand(1, 3, 32, 40), torch.full((1, len(self.styles)), 1.0 / len(self.styles))
        image = {0: "n", 2: "height", 3: "width"}  # sides multiples of 4 (the method pads)
        dynamic = {"image": image, "code": {0: "n"}, "stylized": image}
        return {"net": Graph(self.net, (x, code), ("image", "code"), ("stylized",), dynamic)}  # net(image, code)

    @torch.inference_mode()
    def calibration(self, contents: Sequence[Tensor], styles: Sequence[Tensor]) -> dict[str, list[tuple[Tensor, ...]]]:
        """Each content with up to four of the network's own styles, in turn (``styles`` are not used)."""
        eye, per = torch.eye(len(self.styles)), min(4, len(self.styles))
        return {
            "net": [
                (pad_to_stride(c.float())[0], eye[(k * per + j) % len(eye)][None])
                for k, c in enumerate(contents)
                for j in range(per)
            ]
        }

    def use_graphs(self, runners: dict[str, Runner]) -> None:
        self.graph = runners["net"]

    def represent(self, style: Any) -> int:
        """A style name (file stem) or index (int, or digits) -> its row in the gamma/beta tables."""
        text = str(style).strip()
        if text in self.styles:
            return self.styles.index(text)
        if isinstance(style, int) or text.lstrip("-").isdigit():
            index = int(text)
            if 0 <= index < len(self.styles):
                return index
            raise InputError(
                f"style index {index} is out of range: this model has {len(self.styles)} styles "
                f"(0-{len(self.styles) - 1}): {self._names()}"
            )
        raise InputError(f"style '{text}' is not in this model; its styles are: {self._names()}")

    def own_styles(self) -> list[str]:
        return list(self.styles)

    def _names(self) -> str:
        shown = ", ".join(f"{i} {s}" for i, s in enumerate(self.styles[:20]))
        return shown + (f", ... ({len(self.styles)} in all)" if len(self.styles) > 20 else "")

    def code(self, styles: Sequence[int], mix: Mix, n: int, size: tuple[int, int]) -> Tensor:
        """Style code for ``n`` images: (n, S) blend weights, or (n, S, H, W) maps with masks."""
        s = len(self.styles)
        if mix.masks is not None:
            masks = mix.masks.float().to(self.runtime.device)  # (R, H, W)
            masks = masks / masks.sum(0, keepdim=True).clamp_min(1e-12)
            maps = torch.zeros(s, *masks.shape[-2:], device=masks.device)
            for r, index in enumerate(styles):
                maps[index] += masks[r]
            maps, _, _ = pad_to_stride(maps[None])
            return maps.expand(n, -1, -1, -1)  # (n, S, H', W')
        weights = torch.zeros(s, device=self.runtime.device)
        for w, index in zip(mix.weights, styles, strict=True):
            weights[index] += float(w)
        return weights.expand(n, -1)  # (n, S)

    @torch.inference_mode()
    def stylize(
        self, content: Tensor, styles: Sequence[Any], mix: Mix, *, alpha: float, tile: tiling.Setting = "auto"
    ) -> Tensor:
        n, _, h, w = self._check(content)
        return self._forward(content, self.code([int(s) for s in styles], mix, n, (h, w)), alpha, tile)

    def stylize_batch(
        self,
        content: Tensor,
        styles: Sequence[Sequence[Any]],
        *,
        alpha: float,
        tile: tiling.Setting = "auto",
        on_start: OnStart | None = None,
    ) -> Iterator[tuple[Keys, Tensor]]:
        """Round j runs every image with its own j-th style in one call: one one-hot code row each."""
        self._check(content)
        for j in range(max(len(s) for s in styles)):
            idx = [i for i, s in enumerate(styles) if len(s) > j]
            code = torch.zeros(len(idx), len(self.styles), device=self.runtime.device)  # (n, S)
            code[torch.arange(len(idx)), torch.tensor([int(styles[i][j]) for i in idx])] = 1.0
            x = content if len(idx) == len(styles) else content[idx]
            with torch.inference_mode():
                yield [(i, j) for i in idx], self._forward(x, code, alpha, tile)

    def _check(self, content: Tensor) -> torch.Size:
        h, w = content.shape[-2:]
        if min(h, w) < MIN_SIDE:
            raise InputError(f"the content is {w} x {h} px; the CIN network needs at least {MIN_SIDE} px a side")
        return content.shape

    def _forward(self, content: Tensor, code: Tensor, alpha: float, tile: tiling.Setting) -> Tensor:
        """content (n, 3, H, W), code (n, S) or (n, S, H', W') -> (n, 3, H, W) in [0, 1]."""
        n, _, h, w = content.shape
        rt = self.runtime
        x = content.to(rt.device, torch.float32)
        padded, _, _ = pad_to_stride(x)
        inp = padded.to(rt.dtype).contiguous(memory_format=torch.channels_last)
        size = tiling.choose_tile(tile, n, padded.shape[-2], padded.shape[-1], inp.element_size(), rt.device)
        if size is None and code.dim() == 2 and self.graph is not None:
            out = self.graph(inp, code)
        elif size is None:
            out = self.net(inp, code)
        else:
            out = cintiling.forward_tiled(self.net, inp, code, size)
        out = out[..., :h, :w].float().contiguous()
        if alpha < 1.0:
            out = alpha * out + (1.0 - alpha) * x
        return out.clamp_(0, 1)

"""CIN: a trained multi-style network (Dumoulin et al. 2017) as a style method.

Styles are the model's own, chosen by name (the training image's file stem) or index; one
forward pass stylizes, so it is the fastest method. The controls:

* ``Mix.weights``: the convex blend of the chosen styles' gamma/beta rows, in every CIN layer;
* ``Mix.masks``: gamma/beta become per-pixel maps, each layer's masks pooled to its resolution;
* ``alpha``: the network has no content code to blend with, so alpha blends in pixel space:
  ``alpha * stylized + (1 - alpha) * content``;
* ``tile``: exact tiling (``cintiling``): instance-norm statistics are measured over the whole
  image, so tiles agree with the untiled result.

The model file (``torch.save`` of plain containers, read with ``weights_only=True``)::

    {"kind": "cin", "format": 1, "styles": [names], "config": {training config}, "iterations": int,
     "weights": CINNet state dict}
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ... import tiling
from ...errors import InputError, WeightsError
from ...media.files import atomic_path
from ...nets.weights import safe_load
from ...runtime import Runtime
from ...runtime import runtime as make_runtime
from ..base import Method, Mix
from . import tiling as cintiling
from .net import STRIDE, CINNet

KIND, FORMAT = "cin", 1
MIN_SIDE = 16  # below this the 1/4-resolution maps are too small to reflect-pad
FIX = "pass a model.pth written by CIN training"


def model_state(net: CINNet, styles: Sequence[str], config: dict, iterations: int) -> dict:
    """The self-describing model file's contents (CPU tensors, plain containers only)."""
    return {
        "kind": KIND,
        "format": FORMAT,
        "styles": list(styles),
        "config": dict(config),
        "iterations": int(iterations),
        "weights": {k: v.detach().cpu().float().contiguous() for k, v in net.state_dict().items()},
    }


def save_model(
    path: Path,
    net: CINNet,
    styles: Sequence[str],
    config: dict,
    iterations: int,
    hint: str = "choose a writable output",
) -> Path:
    with atomic_path(Path(path), hint) as tmp:
        torch.save(model_state(net, styles, config, iterations), tmp)
    return Path(path)


def read_model(path: Path) -> tuple[CINNet, dict]:
    """A CIN model file -> (the net on CPU in float32, its description without the weights)."""
    path = Path(path).expanduser()
    state = safe_load(path, f"CIN model {path}", FIX)
    if not isinstance(state, dict) or state.get("kind") != KIND or "weights" not in state:
        what = f"kind '{state.get('kind')}'" if isinstance(state, dict) and "kind" in state else "no kind 'cin'"
        raise WeightsError(f"{path} is not a CIN model ({what}); {FIX}")
    styles = state.get("styles")
    if not isinstance(styles, list) or not styles or not all(isinstance(s, str) for s in styles):
        raise WeightsError(f"{path} has no list of style names; {FIX}")
    net = CINNet(len(styles))
    try:
        net.load_state_dict(state["weights"])
    except (RuntimeError, TypeError, AttributeError) as e:
        first = str(e).strip().splitlines()[0][:120] if str(e).strip() else type(e).__name__
        raise WeightsError(
            f"{path}: the weights do not fit a {len(styles)}-style CIN network ({first}); {FIX}"
        ) from None
    info = {k: v for k, v in state.items() if k != "weights"}
    info.setdefault("config", {})
    info.setdefault("iterations", 0)
    return net, info


def pad_to_stride(x: Tensor) -> tuple[Tensor, int, int]:
    """Reflect-pad (N, C, H, W) on the bottom/right to multiples of ``STRIDE``; returns it and H, W."""
    h, w = x.shape[-2:]
    ph, pw = -h % STRIDE, -w % STRIDE
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="reflect" if x.dim() == 4 and min(h, w) > STRIDE else "replicate")
    return x, h, w


class CIN(Method):
    """A trained CIN network bound to a runtime."""

    name = "cin"
    takes_images = False

    def __init__(self, net: CINNet, styles: Sequence[str], runtime: Runtime, info: dict | None = None) -> None:
        self.runtime = runtime
        self.styles = list(styles)
        self.info = info or {}
        fmt = torch.channels_last
        self.net = net.eval().requires_grad_(False).to(runtime.device, runtime.dtype, memory_format=fmt)
        self.net.prepare_fast()

    @classmethod
    def load(cls, path: Path, runtime: Runtime | None = None) -> CIN:
        net, info = read_model(Path(path))
        return cls(net, info["styles"], runtime or make_runtime(), info)

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
        if not 0.0 <= alpha <= 1.0:
            raise InputError(f"alpha must be in [0, 1], got alpha={alpha}")
        n, _, h, w = content.shape
        if min(h, w) < MIN_SIDE:
            raise InputError(f"the content is {w} x {h} px; the CIN network needs at least {MIN_SIDE} px a side")
        indices = [int(s) for s in styles]
        rt = self.runtime
        x = content.to(rt.device, torch.float32)
        padded, _, _ = pad_to_stride(x)
        code = self.code(indices, mix, n, (h, w))
        inp = padded.to(rt.dtype).contiguous(memory_format=torch.channels_last)
        size = tiling.choose_tile(tile, n, padded.shape[-2], padded.shape[-1], inp.element_size(), rt.device)
        if size is None:
            out = self.net(inp, code)
        else:
            out = cintiling.forward_tiled(self.net, inp, code, size)
        out = out[..., :h, :w].float().contiguous()
        if alpha < 1.0:
            out = alpha * out + (1.0 - alpha) * x
        return out.clamp_(0, 1)

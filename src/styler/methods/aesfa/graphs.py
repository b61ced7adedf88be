"""AesFA's networks as exportable graphs (``styler.export``): the two encoders and the generator.

The generator takes the style code, not predicted kernels: the kernel predictors are small and
run inside the graph. Its adaptive convs fold each sample's kernels into one grouped conv whose
group count depends on the batch, so the graph takes one sample and runners split batches."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ..base import Call, Graph
from .net import AesFANet, Encoder, style_code
from .ops import Oct


def _stage2(net: Encoder) -> Call:
    """An encoder's last maps (the content code, or the style code before pooling) as a pair."""
    return Call(net, lambda x: tuple(net(x).stage2))


def graphs(model: AesFANet) -> dict[str, Graph]:
    """netE, netS and netG; images normalised with sides multiples of 8 (the method pads)."""
    image = {0: "n", 2: "height", 3: "width"}
    codes = {"high": {0: "n", 2: "height_4", 3: "width_4"}, "low": {0: "n", 2: "height_8", 3: "width_8"}}
    x = torch.rand(1, 3, 64, 80)
    encoders = {
        name: Graph(_stage2(getattr(model, name)), (x,), ("image",), ("high", "low"), {"image": image, **codes})
        for name in ("netE", "netS")
    }
    high, low = model.netE(x).stage2
    style = torch.rand(1, 128, 3, 3), torch.rand(1, 128, 3, 3)
    names = ("high", "low", "style_high", "style_low")
    one = {name: {k: v for k, v in axes.items() if k} for name, axes in {**codes, "image": image}.items()}  # batch 1
    # content code and style code, each as (high, low) -> the normalised image
    generate = Call(model.netG, lambda h, lo, sh, sl: model.netG(Oct(h, lo), Oct(sh, sl)))
    generator = Graph(generate, (high, low, *style), names, ("image",), one, batch_one=True)
    return {**encoders, "netG": generator}


@torch.inference_mode()
def calibration(model: AesFANet, contents: Sequence[Tensor], styles: Sequence[Tensor]) -> dict[str, list[tuple]]:
    """Graph inputs for every (normalised, padded) content with every style."""
    codes = [tuple(model.netE(c).stage2) for c in contents]
    style_codes = [tuple(style_code(model.netS(s).stage2)) for s in styles]
    return {
        "netE": [(c,) for c in contents],
        "netS": [(s,) for s in [*styles, *contents]],  # the content's own code too (alpha < 1)
        "netG": [(*c, *s) for c in codes for s in style_codes],
    }

"""AesFA's networks (Kwon, Kim et al., "AesFA: An Aesthetic Feature-Aware Arbitrary Neural Style
Transfer", AAAI 2024), built from a layer description so that the state-dict keys are the
release's: ``main.pth`` holds ``netE``, ``netS``, ``netG``, and ``AesFANet`` loads them strict.

    content code = netE(content)                    Oct: 128 ch at 1/4, 128 ch at 1/8
    style code   = pool3x3(netS(style))             Oct: 128 x 3 x 3 per band
    output       = netG(content code, style code)   RGB, ImageNet-normalised, same size

Inputs are ImageNet-normalised RGB with sides that are multiples of ``STRIDE`` (the method pads).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .layers import AdaOctConv, Depthwise, First, Last, Normal, Pair
from .ops import CODE, Kernels, Oct, Stats, lrelu, up


class Layer(NamedTuple):
    name: str  # the release's attribute name: the state-dict prefix
    kind: str  # plain | first | normal | depthwise | last | pair | up | ada
    cin: int  # total channels in (both bands)
    cout: int  # total channels out
    kernel: int = 1
    stride: int = 1
    group: int = 1  # ada: the group size g of its adaptive convs
    act: bool = False  # LeakyReLU after the layer
    tap: str = ""  # a named feature taken after the layer


# netE and netS. "plain" here is the only conv with zero padding (3) and a bias.
ENCODER = (
    Layer("conv", "plain", 3, 64, 7),
    Layer("OctConv1_1", "first", 64, 64, 3, 2, act=True),
    Layer("OctConv1_2", "normal", 64, 128, 1, act=True),
    Layer("OctConv1_3", "normal", 128, 128, 3, act=True, tap="stage1"),  # 64 + 64 at 1/2, 1/4
    Layer("OctConv2_1", "depthwise", 128, 128, 3, 2, act=True),
    Layer("OctConv2_2", "normal", 128, 256, 1, act=True),
    Layer("OctConv2_3", "normal", 256, 256, 3, act=True, tap="stage2"),  # the code: 128 + 128 at 1/4, 1/8
)
# netG: activations live inside the adaptive blocks only; no tanh, the output is ImageNet-normalised RGB.
GENERATOR = (
    Layer("AdaOctConv1_1", "ada", 256, 256, 3, group=1),  # at 1/4, 1/8
    Layer("OctConv1_2", "normal", 256, 128, 1),
    Layer("up1", "up", 128, 128),
    Layer("oct_conv_aftup_1", "pair", 128, 128, 3),
    Layer("AdaOctConv2_1", "ada", 128, 128, 3, group=2),  # at 1/2, 1/4
    Layer("OctConv2_2", "normal", 128, 64, 1),
    Layer("up2", "up", 64, 64),
    Layer("oct_conv_aftup_2", "pair", 64, 64, 3),
    Layer("AdaOctConv3_1", "ada", 64, 64, 3, group=4),  # at 1, 1/2
    Layer("OctConv3_2", "last", 64, 32, 1),
    Layer("conv4", "plain", 32, 3, 1),
)
STRIDE = 8  # input sides must be multiples of this (the low band of the code is at 1/8)


class Features(NamedTuple):
    """An encoder's taps (the release's ``enc_feat``)."""

    stage1: Oct  # after OctConv1_3: 64 + 64 channels at 1/2, 1/4
    stage2: Oct  # after OctConv2_3: 128 + 128 at 1/4, 1/8 (the content code; pooled, the style code)


BlockKernels = list[tuple[Kernels, Kernels]]  # per adaptive block: (high, low) kernels
Masks = list[Oct]  # per adaptive block: (N|1, R, h, w) region weights on each band's grid


def _build(layer: Layer) -> nn.Module | None:
    k, s = layer.kernel, layer.stride
    if layer.kind == "plain":  # the encoder's 7 x 7 zero-padded stem, or the generator's 1 x 1 output conv
        return nn.Conv2d(layer.cin, layer.cout, k, padding=k // 2)
    if layer.kind == "first":
        return First(layer.cin, layer.cout, k, s)
    if layer.kind == "normal":
        return Normal(layer.cin, layer.cout, k)
    if layer.kind == "depthwise":
        return Depthwise(layer.cin, k, s)
    if layer.kind == "last":
        return Last(layer.cin, layer.cout, k)
    if layer.kind == "pair":
        return Pair(layer.cin, layer.cout, k)
    if layer.kind == "ada":
        return AdaOctConv(layer.cin, layer.group)
    assert layer.kind == "up", layer.kind
    return None


def _add_layers(net: nn.Module, layers: tuple[Layer, ...]) -> None:
    for layer in layers:
        module = _build(layer)
        if module is not None:
            net.add_module(layer.name, module)


class Encoder(nn.Module):
    """netE or netS: normalised image (N, 3, H, W) -> ``Features``."""

    def __init__(self) -> None:
        super().__init__()
        _add_layers(self, ENCODER)

    def forward(self, x: Tensor) -> Features:
        taps = {}
        for layer in ENCODER:
            x = getattr(self, layer.name)(x)
            if layer.act:
                x = Oct(lrelu(x.high), lrelu(x.low))
            if layer.tap:
                taps[layer.tap] = x
        return Features(**taps)


def style_code(code: Oct, size: tuple[int, int] | None = None) -> Oct:
    """The last encoder maps -> the style code, (N, 128, 3, 3) per band (PyTorch's adaptive bins).

    ``size``: the image's real (H, W) when it was padded: only the cells covering it are pooled."""
    high, low = code
    if size is not None:
        high = high[..., : math.ceil(size[0] / 4), : math.ceil(size[1] / 4)]
        low = low[..., : math.ceil(size[0] / 8), : math.ceil(size[1] / 8)]
    return Oct(F.adaptive_avg_pool2d(high, CODE), F.adaptive_avg_pool2d(low, CODE))


class Generator(nn.Module):
    """netG: content code + style kernels -> ImageNet-normalised RGB at 4x the code's high band."""

    def __init__(self) -> None:
        super().__init__()
        _add_layers(self, GENERATOR)

    def blocks(self) -> list[AdaOctConv]:
        return [getattr(self, layer.name) for layer in GENERATOR if layer.kind == "ada"]

    def predict(self, code: Oct) -> BlockKernels:
        """A style code -> each adaptive block's (high, low) kernels (computed once per style)."""
        return [block.predict(code) for block in self.blocks()]

    def forward(self, content: Oct, style: Oct) -> Tensor:
        """The release's ``Decoder.forward_test``: content code, style code -> image."""
        return self.run(content, [self.predict(style)])

    def run(
        self,
        content: Oct,
        kernels: Sequence[BlockKernels],
        masks: Masks | None = None,
        stats: Sequence[Stats] | None = None,
        upto: int | None = None,
    ) -> Tensor:
        """``kernels``: one ``predict`` result per region; ``masks`` (None: one region) as ``Masks``.

        ``stats``: the instance-norm statistics of the first len(stats) blocks, given instead of
        measured (the tiled path measures them over the whole image). ``upto``: stop before
        block ``upto`` and return its input (an ``Oct``), so those statistics can be measured."""
        x: Oct | Tensor = content
        block = 0
        for i, layer in enumerate(GENERATOR):
            if layer.kind == "last" and not torch.is_grad_enabled():  # the output conv folded in
                last, out = GENERATOR[i : i + 2]
                assert out.kind == "plain" and out.kernel == 1 and i + 2 == len(GENERATOR)
                return getattr(self, last.name)(x, getattr(self, out.name))
            if layer.kind == "up":
                x = Oct(up(x.high), up(x.low))  # type: ignore[union-attr]
            elif layer.kind == "ada":
                if upto == block:
                    return x  # type: ignore[return-value]
                given = stats[block] if stats is not None and block < len(stats) else None
                per_region = [k[block] for k in kernels]
                grid = masks[block] if masks is not None else None
                x = getattr(self, layer.name)(x, per_region, grid, given)
                block += 1
            else:
                x = getattr(self, layer.name)(x)
        return x  # type: ignore[return-value]


class Pass(NamedTuple):
    """What one training forward computes (the release's ``AesFA.forward``)."""

    output: Tensor  # (N, 3, H, W), ImageNet-normalised
    style: Features  # netS(style)
    style_code: Oct  # its pooled code
    output_e: Features  # netE(output)
    output_s: Features  # netS(output)
    output_code: Oct  # netS(output)'s pooled code


class AesFANet(nn.Module):
    """The three networks; ``state_dict`` keys are ``netE.*``, ``netS.*``, ``netG.*``."""

    def __init__(self) -> None:
        super().__init__()
        self.netE = Encoder()
        self.netS = Encoder()
        self.netG = Generator()

    def forward(self, content: Tensor, style: Tensor) -> Pass:
        """Normalised content and style (N, 3, H, W) -> ``Pass``: everything the training losses
        read, computed in one forward so DDP sees every parameter used."""
        code = self.netE(content).stage2
        s_feats = self.netS(style)
        s_code = style_code(s_feats.stage2)
        output = self.netG(code, s_code)
        o_s = self.netS(output)
        return Pass(output, s_feats, s_code, self.netE(output), o_s, style_code(o_s.stage2))

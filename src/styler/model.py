"""The AdaIN networks, in the pytorch-AdaIN release layout.

Encoder: the "normalised VGG-19" (a 1x1 conv that folds in the input preprocessing,
reflection padding, ceil-mode max pools), used up to relu4_1. Decoder: its mirror with
nearest-neighbour 2x upsampling. Both are ``nn.Sequential`` so their state-dict keys are
the public files' keys (``0.weight``, ``2.weight``, ... and ``1.weight``, ``5.weight``, ...).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from .errors import WeightsError

# Layer lists. An int pair is a conv (in, out) with 3x3 kernel after reflection padding,
# "M" a 2x2 ceil-mode max pool, "U" a 2x nearest upsample. The first encoder conv is 1x1.
_VGG_BODY = [
    (3, 64), (64, 64), "M",                            # relu1_1 relu1_2
    (64, 128), (128, 128), "M",                        # relu2_1 relu2_2
    (128, 256), (256, 256), (256, 256), (256, 256), "M",  # relu3_1 .. relu3_4
    (256, 512), (512, 512), (512, 512), (512, 512), "M",  # relu4_1 .. relu4_4
    (512, 512), (512, 512), (512, 512), (512, 512),    # relu5_1 .. relu5_4
]
_DECODER = [
    (512, 256), "U",
    (256, 256), (256, 256), (256, 256), (256, 128), "U",
    (128, 128), (128, 64), "U",
    (64, 64), (64, 3),  # last conv: no ReLU, raw RGB
]

# Sequential index ranges of the encoder slices; each ends just after its ReLU.
SLICES = {"relu1_1": (0, 4), "relu2_1": (4, 11), "relu3_1": (11, 18), "relu4_1": (18, 31)}
ENCODER_DEPTH = 31  # modules 0..30: everything up to relu4_1


class Features(NamedTuple):
    """Encoder activations by name; channels 64, 128, 256, 512 at strides 1, 2, 4, 8."""

    relu1_1: Tensor
    relu2_1: Tensor
    relu3_1: Tensor
    relu4_1: Tensor


def _build(specs: list) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for spec in specs:
        if spec == "M":
            layers.append(nn.MaxPool2d(2, 2, 0, ceil_mode=True))
        elif spec == "U":
            layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
        else:
            layers += [nn.ReflectionPad2d(1), nn.Conv2d(*spec, 3), nn.ReLU(inplace=True)]
    return layers


def vgg_normalised_layers() -> list[nn.Module]:
    """The full public ``vgg_normalised.pth`` architecture (53 modules, up to relu5_4)."""
    return [nn.Conv2d(3, 3, 1), *_build(_VGG_BODY)]


def decoder_layers() -> list[nn.Module]:
    """The public ``decoder.pth`` architecture (29 modules); the output conv has no ReLU."""
    return _build(_DECODER)[:-1]


class Encoder(nn.Sequential):
    """Frozen VGG-19 up to relu4_1, returning the four AdaIN feature levels by name."""

    def __init__(self) -> None:
        super().__init__(*vgg_normalised_layers()[:ENCODER_DEPTH])
        self.requires_grad_(False)

    def forward(self, x: Tensor) -> Features:  # x: (N, 3, H, W) RGB in [0, 1]
        feats = []
        for start, stop in SLICES.values():
            for i in range(start, stop):
                x = self[i](x)
            feats.append(x)
        return Features(*feats)

    def relu4_1(self, x: Tensor) -> Tensor:
        """Only the deepest level: (N, 3, H, W) -> (N, 512, ceil(H/8), ceil(W/8))."""
        for layer in self:
            x = layer(x)
        return x


class Decoder(nn.Sequential):
    """relu4_1 features (N, 512, h, w) -> RGB (N, 3, 8h, 8w), roughly in [0, 1]."""

    def __init__(self) -> None:
        super().__init__(*decoder_layers())


def check_layout(state: dict[str, Tensor], layers: list[nn.Module], *, required: int, label: str) -> dict[str, Tensor]:
    """Strict key and shape check of a public-layout state dict.

    ``layers`` is the full public architecture; keys of modules below index ``required``
    must all be present, keys of the deeper modules may be (the public VGG file holds
    layers up to relu5_4 that AdaIN never uses); nothing else is allowed. Returns the
    entries for the first ``required`` modules.
    """
    expected = {f"{i}.{name}": p.shape for i, layer in enumerate(layers)
                for name, p in layer.named_parameters()}
    needed = {k for k in expected if int(k.split(".")[0]) < required}
    unknown = sorted(set(state) - set(expected), key=_key_order)
    missing = sorted(needed - set(state), key=_key_order)
    if unknown or missing:
        what = f"unexpected keys {unknown[:3]}" if unknown else f"missing keys {missing[:3]}"
        raise WeightsError(f"{label} is not in the expected layout ({what}); "
                           "pass the matching pytorch-AdaIN file (vgg_normalised.pth or decoder.pth)")
    for k, v in state.items():
        if tuple(v.shape) != tuple(expected[k]):
            raise WeightsError(f"{label}: {k} has shape {tuple(v.shape)}, expected {tuple(expected[k])}; "
                               "pass the matching pytorch-AdaIN file")
    return {k: v for k, v in state.items() if k in needed}


def _key_order(key: str) -> tuple[int, str]:
    index, _, name = key.partition(".")
    return (int(index), name) if index.isdigit() else (-1, key)


def load_encoder(state: dict[str, Tensor], label: str = "encoder weights") -> Encoder:
    """An Encoder from a public ``vgg_normalised.pth`` state dict (full or cut at relu4_1)."""
    with torch.device("meta"):
        layers = vgg_normalised_layers()
    state = check_layout(state, layers, required=ENCODER_DEPTH, label=label)
    encoder = Encoder()
    encoder.load_state_dict(state)
    return encoder


def load_decoder(state: dict[str, Tensor], label: str = "decoder weights") -> Decoder:
    """A Decoder from a public ``decoder.pth`` state dict."""
    with torch.device("meta"):
        layers = decoder_layers()
    state = check_layout(state, layers, required=len(layers), label=label)
    decoder = Decoder()
    decoder.load_state_dict(state)
    return decoder

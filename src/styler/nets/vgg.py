"""The networks, in the pytorch-AdaIN release layout.

Encoder: the "normalised VGG-19" (a 1x1 conv that folds in the input preprocessing,
reflection padding, ceil-mode max pools), used up to relu4_1 by AdaIN and up to relu5_1
by Gatys optimisation (``DeepEncoder``). Decoder: its mirror with nearest-neighbour 2x
upsampling. All are ``nn.Sequential`` so their state-dict keys are the public files' keys
(``0.weight``, ``2.weight``, ... and ``1.weight``, ``5.weight``, ...).
"""

from __future__ import annotations

from typing import NamedTuple, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import WeightsError

# Layer lists. An int pair is a conv (in, out) with 3x3 kernel after reflection padding,
# "M" a 2x2 ceil-mode max pool, "U" a 2x nearest upsample. The first encoder conv is 1x1.
Spec = tuple[int, int] | str
_VGG_BODY: list[Spec] = [
    (3, 64),
    (64, 64),
    "M",  # relu1_1 relu1_2
    (64, 128),
    (128, 128),
    "M",  # relu2_1 relu2_2
    (128, 256),
    (256, 256),
    (256, 256),
    (256, 256),
    "M",  # relu3_1 .. relu3_4
    (256, 512),
    (512, 512),
    (512, 512),
    (512, 512),
    "M",  # relu4_1 .. relu4_4
    (512, 512),
    (512, 512),
    (512, 512),
    (512, 512),  # relu5_1 .. relu5_4
]
_DECODER: list[Spec] = [
    (512, 256),
    "U",
    (256, 256),
    (256, 256),
    (256, 256),
    (256, 128),
    "U",
    (128, 128),
    (128, 64),
    "U",
    (64, 64),
    (64, 3),  # last conv: no ReLU, raw RGB
]

# Sequential index ranges of the encoder slices; each ends just after its ReLU.
SLICES = {"relu1_1": (0, 4), "relu2_1": (4, 11), "relu3_1": (11, 18), "relu4_1": (18, 31)}
ENCODER_DEPTH = 31  # modules 0..30: everything up to relu4_1


def _relu_ends(specs: list[Spec]) -> dict[str, int]:
    """Name -> Sequential index just after that ReLU, counted through ``vgg_normalised_layers``:
    {"relu1_1": 4, "relu1_2": 7, ..., "relu5_4": 53}. Index 0 is the 1x1 preprocessing conv."""
    ends, index, block, conv = {}, 1, 1, 0
    for spec in specs:
        if spec == "M":
            index, block, conv = index + 1, block + 1, 0
        else:
            index, conv = index + 3, conv + 1  # pad, conv, relu
            ends[f"relu{block}_{conv}"] = index
    return ends


RELU_ENDS = _relu_ends(_VGG_BODY)


class Features(NamedTuple):
    """Encoder activations by name; channels 64, 128, 256, 512 at strides 1, 2, 4, 8."""

    relu1_1: Tensor
    relu2_1: Tensor
    relu3_1: Tensor
    relu4_1: Tensor


def _build(specs: list[Spec]) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for spec in specs:
        if spec == "M":
            layers.append(nn.MaxPool2d(2, 2, 0, ceil_mode=True))
        elif spec == "U":
            layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
        else:
            assert isinstance(spec, tuple)
            layers += [nn.ReflectionPad2d(1), nn.Conv2d(spec[0], spec[1], 3), nn.ReLU(inplace=True)]
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
        layers, feats = list(self), []
        for start, stop in SLICES.values():
            x = run_layers(layers[start:stop], x)
            feats.append(x)
        return Features(*feats)

    def relu4_1(self, x: Tensor) -> Tensor:
        """Only the deepest level: (N, 3, H, W) -> (N, 512, ceil(H/8), ceil(W/8))."""
        return run_layers(list(self), x)


class DeepFeatures(NamedTuple):
    """What Gatys optimisation compares: five style levels (channels 64, 128, 256, 512, 512 at
    strides 1, 2, 4, 8, 16) and the content level relu4_2 (512 channels, stride 8)."""

    relu1_1: Tensor
    relu2_1: Tensor
    relu3_1: Tensor
    relu4_1: Tensor
    relu4_2: Tensor
    relu5_1: Tensor


DEEP_DEPTH = RELU_ENDS["relu5_1"]  # 44 modules: everything up to relu5_1


class DeepEncoder(nn.Sequential):
    """Frozen VGG-19 up to relu5_1, returning ``DeepFeatures`` by name. Same modules and keys as
    ``Encoder`` for indices 0..30, so one public file serves both."""

    def __init__(self) -> None:
        super().__init__(*vgg_normalised_layers()[:DEEP_DEPTH])
        self.requires_grad_(False)

    def forward(self, x: Tensor) -> DeepFeatures:  # x: (N, 3, H, W) RGB in [0, 1]
        layers, feats, start = list(self), {}, 0
        for name in DeepFeatures._fields:  # in network order
            stop = RELU_ENDS[name]
            x = run_layers(layers[start:stop], x)
            feats[name] = x
            start = stop
        return DeepFeatures(**feats)


class Decoder(nn.Sequential):
    """relu4_1 features (N, 512, h, w) -> RGB (N, 3, 8h, 8w), roughly in [0, 1]."""

    def __init__(self) -> None:
        super().__init__(*decoder_layers())

    def forward(self, x: Tensor) -> Tensor:
        return run_layers(list(self), x)


# Inference fast path. On a large map, ReflectionPad2d + Conv2d costs a full copy of the
# map before the conv; instead the conv runs with zero padding and its one-pixel border
# is recomputed from reflect-padded 2-pixel strips. The numbers are the same; at 512 px
# and 64 channels (bf16, 2-core AVX-512 CPU) a layer takes 31 ms instead of 42. Smaller
# maps gain nothing, and training keeps the plain modules.
FAST_MIN_PIXELS = 256 * 256


def run_layers(layers: list[nn.Module], x: Tensor) -> Tensor:
    """Apply ``layers`` (a slice of an encoder/decoder Sequential) to ``x`` (N, C, H, W)."""
    fast = not torch.is_grad_enabled()
    i = 0
    while i < len(layers):
        layer = layers[i]
        h, w = x.shape[-2:]
        if fast and isinstance(layer, nn.ReflectionPad2d) and h * w >= FAST_MIN_PIXELS and min(h, w) >= 4:
            x = conv_reflect(x, cast(nn.Conv2d, layers[i + 1]))
            i += 2
            continue
        if fast and isinstance(layer, nn.MaxPool2d) and h % 2 == 0 and w % 2 == 0:
            x = max_pool_2x2(x)  # even sizes: ceil mode changes nothing
        else:
            x = layer(x)
        i += 1
    return x


def conv_reflect(x: Tensor, conv: nn.Conv2d) -> Tensor:
    """``conv(ReflectionPad2d(1)(x))`` for a 3x3 conv, without padding the whole map."""
    w, b = conv.weight, conv.bias
    out = F.conv2d(x, w, b, padding=1)  # border rows/cols wrong
    # Output row 0 needs input rows -1..1, and reflection makes row -1 = row 1: so a 2-row
    # strip, reflect-padded, gives it exactly. Likewise the last row and both edge columns.
    out[..., :1, :] = F.conv2d(F.pad(x[..., :2, :], (1, 1, 1, 0), mode="reflect"), w, b)
    out[..., -1:, :] = F.conv2d(F.pad(x[..., -2:, :], (1, 1, 0, 1), mode="reflect"), w, b)
    out[..., :, :1] = F.conv2d(F.pad(x[..., :, :2], (1, 0, 1, 1), mode="reflect"), w, b)
    out[..., :, -1:] = F.conv2d(F.pad(x[..., :, -2:], (0, 1, 1, 1), mode="reflect"), w, b)
    return out


def max_pool_2x2(x: Tensor) -> Tensor:
    """2x2, stride-2 max pool of an even-sized map as the max of four strided views
    (no argmax indices to compute: about 2x faster than max_pool2d at 512 px)."""
    return torch.maximum(
        torch.maximum(x[..., 0::2, 0::2], x[..., 1::2, 0::2]), torch.maximum(x[..., 0::2, 1::2], x[..., 1::2, 1::2])
    )


def check_layout(state: dict[str, Tensor], layers: list[nn.Module], *, required: int, label: str) -> dict[str, Tensor]:
    """Strict key and shape check of a public-layout state dict.

    ``layers`` is the full public architecture; keys of modules below index ``required``
    must all be present, keys of the deeper modules may be (the public VGG file holds
    layers up to relu5_4 that AdaIN never uses); nothing else is allowed. Returns the
    entries for the first ``required`` modules.
    """
    expected = {f"{i}.{name}": p.shape for i, layer in enumerate(layers) for name, p in layer.named_parameters()}
    needed = {k for k in expected if int(k.split(".")[0]) < required}
    unknown = sorted(set(state) - set(expected), key=_key_order)
    missing = sorted(needed - set(state), key=_key_order)
    if unknown or missing:
        what = f"unexpected keys {unknown[:3]}" if unknown else f"missing keys {missing[:3]}"
        raise WeightsError(
            f"{label} is not in the expected layout ({what}); "
            "pass the matching pytorch-AdaIN file (vgg_normalised.pth or decoder.pth)"
        )
    for k, v in state.items():
        if tuple(v.shape) != tuple(expected[k]):
            raise WeightsError(
                f"{label}: {k} has shape {tuple(v.shape)}, expected {tuple(expected[k])}; "
                "pass the matching pytorch-AdaIN file"
            )
    kept = {k: v for k, v in state.items() if k in needed}
    check_finite(kept, label)
    return kept


def check_finite(state: dict[str, Tensor], label: str) -> None:
    """One-line ``WeightsError`` naming the first tensor with a NaN or inf. A float64 sum is NaN
    or inf exactly when some value is (finite float32 values cannot overflow it), and it reads each
    value once without the boolean copy ``isfinite(v).all()`` makes (about 20x faster)."""
    for k, v in state.items():
        if v.is_floating_point() and not bool(v.sum(dtype=torch.float64).isfinite()):
            raise WeightsError(f"{label} has non-finite values in {k}; the file is corrupt, download it again")


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


def load_deep_encoder(state: dict[str, Tensor], label: str = "encoder weights") -> DeepEncoder:
    """A DeepEncoder from the full public ``vgg_normalised.pth``. A file cut at relu4_1 (fine
    for AdaIN) is refused with one line: Gatys needs relu4_2 and relu5_1."""
    with torch.device("meta"):
        layers = vgg_normalised_layers()
    check_layout(state, layers, required=ENCODER_DEPTH, label=label)  # the AdaIN part: usual messages
    deep = {f"{i}.{name}" for i, layer in enumerate(layers[:DEEP_DEPTH]) for name, _ in layer.named_parameters()}
    if not deep <= set(state):
        raise WeightsError(
            f"{label} holds the VGG only up to relu4_1 (AdaIN's part); gatys needs layers up to "
            "relu5_1: pass the full vgg_normalised.pth as released (53 modules)"
        )
    state = check_layout(state, layers, required=DEEP_DEPTH, label=label)
    encoder = DeepEncoder()
    encoder.load_state_dict(state)
    return encoder

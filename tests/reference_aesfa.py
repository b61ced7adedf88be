"""An independent, functional transcription of the AesFA release's forward pass (Kwon, Kim et
al., AAAI 2024; github Sooyyoungg/AesFA: networks.py, blocks.py, model.py AesFA_test), written
from the method description, for the tests to compare styler's AesFA against.

Deliberately plain: raw state-dict tensors, one ``F.conv2d`` / ``F.pad`` call per convolution,
no nn.Modules, the adaptive convolution as the release runs it (a Python loop over the batch,
one sample at a time). Nothing here is shared with ``styler.methods.aesfa``.

Also: ``random_weights``, a ``main.pth``-shaped dict of random tensors in the release's exact
key layout, scaled so activations keep a sane range through the networks.

Conventions that the release leaves open and styler defines (the same in both):

* sizes that are not multiples of 8: reflect-pad the image at the bottom and right to the next
  multiple of 8, run, crop the output back; a style's final feature maps are cropped to the
  cells that cover the real image (ceil(h/4) high, ceil(h/8) low) before the 3 x 3 pooling;
* region masks: at each adaptive block, each region's adaptive conv (spatial, pointwise, bias)
  runs with its own style's kernels and the results are summed weighted by the masks
  (normalised over regions, area-averaged to the branch's grid); the static conv follows once.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
SLOPE = 0.01  # LeakyReLU

# (block name, channels per branch c, group size g): AdaOctConv1_1, 2_1, 3_1
BLOCKS = (("AdaOctConv1_1", 128, 1), ("AdaOctConv2_1", 64, 2), ("AdaOctConv3_1", 32, 4))


# -- random weights in the release layout ---------------------------------------------------


def encoder_shapes() -> dict[str, tuple[int, ...]]:
    """netE / netS: 22 tensors."""
    shapes: dict[str, tuple[int, ...]] = {"conv.weight": (64, 3, 7, 7), "conv.bias": (64,)}
    shapes["OctConv1_1.convh.weight"] = (32, 64, 3, 3)
    shapes["OctConv1_1.convl.weight"] = (32, 64, 3, 3)
    for name, shape in (
        ("OctConv1_2", (64, 32, 1, 1)),
        ("OctConv1_3", (64, 64, 3, 3)),
        ("OctConv2_2", (128, 64, 1, 1)),
        ("OctConv2_3", (128, 128, 3, 3)),
    ):
        for part in ("L2L", "L2H", "H2L", "H2H"):
            shapes[f"{name}.{part}.weight"] = shape
    shapes["OctConv2_1.L2L.weight"] = (64, 1, 3, 3)
    shapes["OctConv2_1.H2H.weight"] = (64, 1, 3, 3)
    return shapes


def generator_shapes() -> dict[str, tuple[int, ...]]:
    """netG: 74 tensors."""
    shapes: dict[str, tuple[int, ...]] = {}
    for block, c, g in BLOCKS:
        for b in ("h", "l"):
            kp = f"{block}.kernelPredictor_{b}"
            shapes[f"{kp}.spatial.weight"] = (c * g, 128, 3, 3)
            shapes[f"{kp}.spatial.bias"] = (c * g,)
            shapes[f"{kp}.pointwise.1.weight"] = (c * g, 128, 1, 1)
            shapes[f"{kp}.pointwise.1.bias"] = (c * g,)
            shapes[f"{kp}.bias.1.weight"] = (c, 128, 1, 1)
            shapes[f"{kp}.bias.1.bias"] = (c,)
            shapes[f"{block}.AdaConv_{b}.conv.weight"] = (c, c, 3, 3)
            shapes[f"{block}.AdaConv_{b}.conv.bias"] = (c,)
        shapes[f"{block}.OctConv.L2L.weight"] = (c, 1, 3, 3)
        shapes[f"{block}.OctConv.H2H.weight"] = (c, 1, 3, 3)
        if block == "AdaOctConv1_1":
            for part in ("L2L", "L2H", "H2L", "H2H"):
                shapes[f"OctConv1_2.{part}.weight"] = (64, 128, 1, 1)
            for b in ("h", "l"):
                shapes[f"oct_conv_aftup_1.conv_{b}.weight"] = (64, 64, 3, 3)
                shapes[f"oct_conv_aftup_1.conv_{b}.bias"] = (64,)
        if block == "AdaOctConv2_1":
            for part in ("L2L", "L2H", "H2L", "H2H"):
                shapes[f"OctConv2_2.{part}.weight"] = (32, 64, 1, 1)
            for b in ("h", "l"):
                shapes[f"oct_conv_aftup_2.conv_{b}.weight"] = (32, 32, 3, 3)
                shapes[f"oct_conv_aftup_2.conv_{b}.bias"] = (32,)
    shapes["OctConv3_2.convh.weight"] = (32, 32, 1, 1)
    shapes["OctConv3_2.convl.weight"] = (32, 32, 1, 1)
    shapes["conv4.weight"] = (3, 32, 1, 1)
    shapes["conv4.bias"] = (3,)
    return shapes


def _random(key: str, shape: tuple[int, ...], g: torch.Generator, net: str) -> Tensor:
    """He-like scales for the static convs (gain 2 in the encoders, whose LeakyReLUs halve the
    variance; 1 in the generator, where instance norms restart every block); the kernel
    predictors are scaled so the kernels they predict keep a normalised input at unit scale
    (codes are O(1)); the last conv keeps the image near grey."""
    z = torch.randn(shape, generator=g)
    group = next((size for block, _, size in BLOCKS if key.startswith(block + ".kernelPredictor")), 1)
    if key.endswith(".bias"):
        if "pointwise" in key:
            return (1.0 + 0.1 * z) / group  # predicted pointwise kernels around 1 / g: a mean over the group
        return 0.05 * z
    fan_in = math.prod(shape[1:])
    if "spatial" in key:  # predicted spatial kernels (c, g, 3, 3) with std about 1 / sqrt(9 g)
        return z * 0.5 / math.sqrt(9 * group) / math.sqrt(fan_in)
    if "pointwise" in key or "bias.1" in key:
        return z * 0.1 / math.sqrt(fan_in)
    if key.startswith("conv4"):
        return z * 1.0 / math.sqrt(fan_in)
    octave_part = any(p in key for p in ("L2L", "L2H", "H2L", "H2H")) and shape[1] != 1
    gain = 1.0 if net == "netG" or octave_part else 2.0  # octave parts are summed in pairs
    return z * math.sqrt(gain / fan_in)


def random_weights(seed: int = 0) -> dict[str, dict[str, Tensor]]:
    """A ``main.pth``-shaped dict {netE, netS, netG} of random fp32 tensors, fixed by ``seed``."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for net, shapes in (("netE", encoder_shapes()), ("netS", encoder_shapes()), ("netG", generator_shapes())):
        out[net] = {k: _random(k, s, g, net) for k, s in shapes.items()}
    return out


# -- the release's forward, written out -----------------------------------------------------


def lrelu(x: Tensor) -> Tensor:
    return F.leaky_relu(x, SLOPE)


def conv(x: Tensor, w: Tensor, b: Tensor | None = None, stride: int = 1, groups: int = 1) -> Tensor:
    """A convolution with reflect padding k // 2, as every conv of the release but the first."""
    p = w.shape[-1] // 2
    if p:
        x = F.pad(x, (p, p, p, p), mode="reflect")
    return F.conv2d(x, w, b, stride=stride, groups=groups)


def up(x: Tensor) -> Tensor:
    return F.interpolate(x, scale_factor=2, mode="nearest")


def down(x: Tensor) -> Tensor:
    return F.avg_pool2d(x, 2, 2)


def octave(sd: dict, name: str, high: Tensor, low: Tensor) -> tuple[Tensor, Tensor]:
    """A normal octave conv: high <- H2H(high) + L2H(up(low)); low <- L2L(low) + H2L(down(high))."""
    new_high = conv(high, sd[f"{name}.H2H.weight"]) + conv(up(low), sd[f"{name}.L2H.weight"])
    new_low = conv(low, sd[f"{name}.L2L.weight"]) + conv(down(high), sd[f"{name}.H2L.weight"])
    return new_high, new_low


def depthwise(sd: dict, name: str, high: Tensor, low: Tensor, stride: int = 1) -> tuple[Tensor, Tensor]:
    h = conv(high, sd[f"{name}.H2H.weight"], stride=stride, groups=high.shape[1])
    return h, conv(low, sd[f"{name}.L2L.weight"], stride=stride, groups=low.shape[1])


def encode(sd: dict, x: Tensor) -> tuple[Tensor, Tensor]:
    """Encoder.forward_test(x, 'content'): normalised image (N, 3, H, W), H, W multiples of 8 ->
    (high (N, 128, H/4, W/4), low (N, 128, H/8, W/8))."""
    x = F.conv2d(x, sd["conv.weight"], sd["conv.bias"], padding=3)  # zero padding, no activation
    h = lrelu(conv(x, sd["OctConv1_1.convh.weight"], stride=2))
    l = lrelu(conv(down(x), sd["OctConv1_1.convl.weight"], stride=2))  # noqa: E741
    h, l = octave(sd, "OctConv1_2", h, l)  # noqa: E741
    h, l = octave(sd, "OctConv1_3", lrelu(h), lrelu(l))  # noqa: E741
    h, l = depthwise(sd, "OctConv2_1", lrelu(h), lrelu(l), stride=2)  # noqa: E741
    h, l = octave(sd, "OctConv2_2", lrelu(h), lrelu(l))  # noqa: E741
    h, l = octave(sd, "OctConv2_3", lrelu(h), lrelu(l))  # noqa: E741
    return lrelu(h), lrelu(l)


def style_code(sd: dict, x: Tensor, size: tuple[int, int] | None = None) -> tuple[Tensor, Tensor]:
    """Encoder.forward_test(x, 'style'): the final maps pooled to 3 x 3, each (N, 128, 3, 3).
    ``size``: the real (unpadded) image size; the maps are cropped to the cells covering it."""
    h, l = encode(sd, x)  # noqa: E741
    if size is not None:
        h = h[..., : math.ceil(size[0] / 4), : math.ceil(size[1] / 4)]
        l = l[..., : math.ceil(size[0] / 8), : math.ceil(size[1] / 8)]  # noqa: E741
    return F.adaptive_avg_pool2d(h, 3), F.adaptive_avg_pool2d(l, 3)


def predict(sd: dict, prefix: str, code: Tensor, c: int, g: int) -> tuple[Tensor, Tensor, Tensor]:
    """KernelPredictor: code (N, 128, 3, 3) -> spatial (N, c, g, 3, 3), pointwise (N, c, g, 1, 1), bias (N, c)."""
    n = code.shape[0]
    spatial = conv(code, sd[f"{prefix}.spatial.weight"], sd[f"{prefix}.spatial.bias"])
    pooled = F.adaptive_avg_pool2d(code, 1)
    pointwise = F.conv2d(pooled, sd[f"{prefix}.pointwise.1.weight"], sd[f"{prefix}.pointwise.1.bias"])
    bias = F.conv2d(pooled, sd[f"{prefix}.bias.1.weight"], sd[f"{prefix}.bias.1.bias"])
    return spatial.reshape(n, c, g, 3, 3), pointwise.reshape(n, c, g, 1, 1), bias.reshape(n, c)


def adaptive(x: Tensor, kernels: tuple[Tensor, Tensor, Tensor], groups: int) -> Tensor:
    """AdaConv2d's per-sample part, looped over the batch as the release does. x is normalised."""
    spatial, pointwise, bias = kernels
    ys = []
    for i in range(x.shape[0]):
        y = F.conv2d(F.pad(x[i : i + 1], (1, 1, 1, 1), mode="reflect"), spatial[i], groups=groups)
        ys.append(F.conv2d(y, pointwise[i], bias[i], groups=groups))
    return torch.cat(ys)


def generate(
    sd: dict,
    high: Tensor,
    low: Tensor,
    codes: list[tuple[Tensor, Tensor]],
    masks: Tensor | None = None,
) -> Tensor:
    """Decoder.forward_test with one style code (high, low) per region; ``masks`` (N|1, R, H, W)
    at the output size (R = len(codes)) or None for one style. Returns (N, 3, H, W), normalised.
    A code of batch 1 serves every content sample."""
    n = high.shape[0]
    codes = [(ch.expand(n, -1, -1, -1), cl.expand(n, -1, -1, -1)) for ch, cl in codes]
    if masks is not None:
        masks = masks / masks.sum(1, keepdim=True).clamp_min(1e-12)
    h, l = high, low  # noqa: E741
    for k, (block, c, g) in enumerate(BLOCKS):
        outs = []
        for band, (b, x) in enumerate((("h", h), ("l", l))):
            x = F.instance_norm(x)
            kp = f"{block}.kernelPredictor_{b}"
            parts = [adaptive(x, predict(sd, kp, code[band], c, g), c // g) for code in codes]
            if masks is None:
                y = parts[0]
            else:
                grid = F.adaptive_avg_pool2d(masks, x.shape[-2:])  # exact: the sizes divide
                y = sum(grid[:, r : r + 1] * part for r, part in enumerate(parts))
            y = conv(y, sd[f"{block}.AdaConv_{b}.conv.weight"], sd[f"{block}.AdaConv_{b}.conv.bias"])
            outs.append(lrelu(y))
        h, l = depthwise(sd, f"{block}.OctConv", *outs)  # noqa: E741
        h, l = lrelu(h), lrelu(l)  # noqa: E741
        if k < 2:
            name, aftup = ("OctConv1_2", "oct_conv_aftup_1") if k == 0 else ("OctConv2_2", "oct_conv_aftup_2")
            h, l = octave(sd, name, h, l)  # noqa: E741
            h = conv(up(h), sd[f"{aftup}.conv_h.weight"], sd[f"{aftup}.conv_h.bias"])
            l = conv(up(l), sd[f"{aftup}.conv_l.weight"], sd[f"{aftup}.conv_l.bias"])  # noqa: E741
    out = conv(h, sd["OctConv3_2.convh.weight"]) + conv(up(l), sd["OctConv3_2.convl.weight"])
    return F.conv2d(out, sd["conv4.weight"], sd["conv4.bias"])


def normalise(x: Tensor) -> Tensor:
    return (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)


def denormalise(x: Tensor) -> Tensor:
    return x * torch.tensor(STD).view(1, 3, 1, 1) + torch.tensor(MEAN).view(1, 3, 1, 1)


def pad8(x: Tensor) -> Tensor:
    h, w = x.shape[-2:]
    return F.pad(x, (0, -w % 8, 0, -h % 8), mode="reflect")


def code_of(weights: dict, image: Tensor, net: str = "netS") -> tuple[Tensor, Tensor]:
    """An image (N, 3, h, w) in [0, 1] of any size -> its style code (high, low)."""
    return style_code(weights[net], normalise(pad8(image)), tuple(image.shape[-2:]))


@torch.no_grad()
def transfer(
    weights: dict,
    content: Tensor,
    codes: list[tuple[Tensor, Tensor]],
    masks: Tensor | None = None,
) -> Tensor:
    """AesFA_test on a content image (N, 3, H, W) in [0, 1] of any size with given style codes
    (and optional masks (N|1, R, H, W)): the image in [0, 1], clipped like the release's saver."""
    h, w = content.shape[-2:]
    high, low = encode(weights["netE"], normalise(pad8(content)))
    if masks is not None:
        masks = pad8(masks)
    out = generate(weights["netG"], high, low, codes, masks)
    return denormalise(out)[..., :h, :w].clamp(0, 1)


@torch.no_grad()
def stylize(weights: dict, content: Tensor, style: Tensor) -> Tensor:
    """The release's plain test: one content, one style image, any sizes."""
    return transfer(weights, content, [code_of(weights, style)])

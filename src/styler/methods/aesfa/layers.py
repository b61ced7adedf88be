"""The building blocks of AesFA's networks (``net`` assembles them): octave convolutions and
the adaptive octave block, with the release's attribute names, so state-dict keys match.

Every feature is an octave pair ``Oct(high, low)``: the channels split half/half and the low
band has half the resolution (Chen et al. 2019, "Drop an Octave"). The generator predicts
convolution kernels from the style code in three adaptive octave blocks (``AdaOctConv``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from .ops import Kernels, Oct, Stats, adaptive_conv, add, down, instance_stats, lrelu, rconv, up


def _conv(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1, bias: bool = False) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride, groups=groups, bias=bias)


class First(nn.Module):
    """One image-like input -> (high, low): high = convh(x), low = convl(avg-pool(x))."""

    def __init__(self, cin: int, cout: int, k: int, stride: int) -> None:
        super().__init__()
        self.convh = _conv(cin, cout // 2, k, stride)
        self.convl = _conv(cin, cout // 2, k, stride)

    def forward(self, x: Tensor) -> Oct:
        return Oct(rconv(x, self.convh), rconv(down(x), self.convl))


class Normal(nn.Module):
    """high' = H2H(high) + L2H(up(low)), low' = L2L(low) + H2L(avg-pool(high))."""

    def __init__(self, cin: int, cout: int, k: int) -> None:
        super().__init__()
        i, o = cin // 2, cout // 2
        self.L2L, self.L2H, self.H2L, self.H2H = (_conv(i, o, k) for _ in range(4))

    def forward(self, x: Oct) -> Oct:
        high, low = x
        if self.L2H.kernel_size[0] == 1:  # a 1 x 1 conv commutes with the nearest upsample: run it small
            from_low = up(rconv(low, self.L2H))
        else:
            from_low = rconv(up(low), self.L2H)
        return Oct(add(rconv(high, self.H2H), from_low), add(rconv(low, self.L2L), rconv(down(high), self.H2L)))


class Depthwise(nn.Module):
    """Per-band depthwise convs, no exchange between the bands."""

    def __init__(self, channels: int, k: int, stride: int = 1) -> None:
        super().__init__()
        c = channels // 2
        self.L2L = _conv(c, c, k, stride, groups=c)
        self.H2H = _conv(c, c, k, stride, groups=c)

    def forward(self, x: Oct) -> Oct:
        return Oct(rconv(x.high, self.H2H), rconv(x.low, self.L2L))


class Last(nn.Module):
    """(high, low) -> one map: convh(high) + convl(up(low)) (freq_ratio (1, 1))."""

    def __init__(self, cin: int, cout: int, k: int) -> None:
        super().__init__()
        self.convh = _conv(cin // 2, cout, k)
        self.convl = _conv(cin // 2, cout, k)

    def forward(self, x: Oct, then: nn.Conv2d | None = None) -> Tensor:
        """``then``: a 1 x 1 conv to apply after (the generator's conv4), folded into both
        branches: 1 x 1 convs compose into one, so the full-resolution 32-channel sum, its
        upsampled low half and the 32 -> 3 conv become two 3-channel convs (inference only)."""
        assert self.convl.kernel_size[0] == 1  # so the conv may run before the upsample
        if then is None:
            return add(rconv(x.high, self.convh), up(rconv(x.low, self.convl)))
        mix = then.weight.flatten(1)  # (out, mid)

        def fused(conv: nn.Conv2d) -> Tensor:
            return (mix @ conv.weight.flatten(1)).reshape(-1, conv.in_channels, 1, 1).to(conv.weight.dtype)

        return add(F.conv2d(x.high, fused(self.convh), then.bias), up(F.conv2d(x.low, fused(self.convl))))


class Pair(nn.Module):
    """The release's Oct_Conv_aftup: a biased conv per band, no exchange."""

    def __init__(self, cin: int, cout: int, k: int) -> None:
        super().__init__()
        self.conv_h = _conv(cin // 2, cout // 2, k, bias=True)
        self.conv_l = _conv(cin // 2, cout // 2, k, bias=True)

    def forward(self, x: Oct) -> Oct:
        return Oct(rconv(x.high, self.conv_h), rconv(x.low, self.conv_l))


class KernelPredictor(nn.Module):
    """A band's style code (N, 128, 3, 3) -> its ``Kernels`` for c channels in groups of g."""

    def __init__(self, c: int, g: int, style: int = 128) -> None:
        super().__init__()
        self.c, self.g = c, g
        self.spatial = nn.Conv2d(style, c * g, 3)  # reflect-padded: keeps the 3 x 3
        self.pointwise = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(style, c * g, 1))
        self.bias = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(style, c, 1))

    def forward(self, code: Tensor) -> Kernels:
        n, c, g = code.shape[0], self.c, self.g
        code = code.to(self.spatial.weight.dtype)
        return Kernels(
            rconv(code, self.spatial).reshape(n, c, g, 3, 3),
            self.pointwise(code).reshape(n, c, g, 1, 1),
            self.bias(code).reshape(n, c),
        )


class AdaConv(nn.Module):
    """Holds the static conv that follows the adaptive one (the release's AdaConv2d.conv)."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3)


class AdaOctConv(nn.Module):
    """Per band: adaptive conv (style kernels) -> static conv -> LeakyReLU; then a depthwise
    octave conv -> LeakyReLU."""

    def __init__(self, channels: int, group: int) -> None:
        super().__init__()
        c = channels // 2
        self.kernelPredictor_h = KernelPredictor(c, group)
        self.kernelPredictor_l = KernelPredictor(c, group)
        self.AdaConv_h = AdaConv(c)
        self.AdaConv_l = AdaConv(c)
        self.OctConv = Depthwise(channels, 3)

    def predict(self, code: Oct) -> tuple[Kernels, Kernels]:
        return self.kernelPredictor_h(code.high), self.kernelPredictor_l(code.low)

    def forward(
        self,
        x: Oct,
        kernels: Sequence[tuple[Kernels, Kernels]],
        masks: Oct | None = None,
        stats: Stats | None = None,
    ) -> Oct:
        """``kernels``: one (high, low) pair per region; ``masks``: per band (N|1, R, h, w)
        weights summing to 1 over R (None: one region); ``stats``: the norms' statistics."""
        out = []
        for band, static in enumerate((self.AdaConv_h.conv, self.AdaConv_l.conv)):
            xb = x[band]
            st = stats[band] if stats is not None else instance_stats(xb)
            y = adaptive_conv(xb, kernels[0][band], st)
            if masks is not None:  # regions composited in feature space, each with its style's kernels
                grid = masks[band].to(y.dtype)
                y = y * grid[:, :1]
                for r in range(1, len(kernels)):
                    y = y + adaptive_conv(xb, kernels[r][band], st) * grid[:, r : r + 1]
            out.append(lrelu(rconv(y, static)))
        high, low = self.OctConv(Oct(*out))
        return Oct(lrelu(high), lrelu(low))

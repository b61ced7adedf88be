"""Temporal stability for video: a flicker metric and a motion-gated temporal filter.

Per-frame AdaIN stylizes each frame on its own, so a pixel whose source did not change
can still change in the output (its texture depends on the whole frame through the
relu4_1 statistics and the decoder's receptive field): flicker. Pure tensor math: no I/O.
"""

from __future__ import annotations

import torch
from torch import Tensor

# Per-pixel input change (max over RGB, [0, 1] units) at which a pixel counts as moving:
# a few codec steps. Below it the output may keep its previous value; above it never.
TOLERANCE = 6 / 255


class TemporalFilter:
    """Motion-gated moving average of the stylized frames (flow-free, for any camera).

    y_t = o_t + w * (y_{t-1} - o_t), per pixel, with w = smooth * max(0, 1 - d / TOLERANCE)
    and d = max over RGB of |x_t - x_{t-1}| the change of the *input* pixel. Where the source
    is still, the output keeps most of its previous value, so the frame-to-frame jitter of
    per-frame AdaIN is averaged away; where the source moves (or at a cut) w = 0 and the new
    stylization shows at once: no ghosting, no lag on motion. The state carries across
    calls, so consecutive batches of one video form one sequence. ``smooth`` = 0 is a no-op.
    """

    def __init__(self, smooth: float = 0.0, tolerance: float = TOLERANCE) -> None:
        self.smooth = float(smooth)  # checked where the controls are made (``controls.Controls``)
        self.tolerance = tolerance
        self.prev: tuple[Tensor, Tensor] | None = None  # last input and output, (1, 3, H, W)

    def __call__(self, inp: Tensor, out: Tensor) -> Tensor:
        """Inputs (N, 3, H, W) and their stylizations (same shape), in time order -> filtered outputs."""
        if self.smooth == 0.0:
            return out
        inp = inp.to(out.device, torch.float32)
        res = torch.empty_like(out)
        for i in range(out.shape[0]):  # sequential in time: each frame needs the one before
            x, y = inp[i : i + 1], out[i : i + 1]
            if self.prev is not None and self.prev[0].shape == x.shape:
                d = (x - self.prev[0]).abs().amax(dim=1, keepdim=True)  # (1, 1, H, W)
                w = (1 - d / self.tolerance).clamp_(min=0).mul_(self.smooth)
                y = y + w * (self.prev[1] - y)
            res[i : i + 1] = y
            self.prev = x, y
        return res


class FlickerMeter:
    """Flicker = mean |frame_t - frame_{t-1}| of the output / the same of the input.

    1.0 means the stylized video changes between frames as much as the source does (in
    absolute [0, 1] pixel values); above 1 the stylization adds flicker of its own.
    Feed consecutive batches (N, 3, H, W) of input and output at the same size.
    """

    def __init__(self) -> None:
        self.prev: tuple[Tensor, Tensor] | None = None
        self.d_in = 0.0
        self.d_out = 0.0
        self.pairs = 0

    def update(self, inp: Tensor, out: Tensor) -> None:
        inp, out = inp.float().cpu(), out.float().cpu()
        if self.prev is not None:
            inp, out = torch.cat([self.prev[0], inp]), torch.cat([self.prev[1], out])
        if inp.shape[0] > 1:
            self.d_in += float((inp[1:] - inp[:-1]).abs().mean(dim=(1, 2, 3)).sum())
            self.d_out += float((out[1:] - out[:-1]).abs().mean(dim=(1, 2, 3)).sum())
            self.pairs += inp.shape[0] - 1
        self.prev = inp[-1:], out[-1:]

    @property
    def input_change(self) -> float:
        return self.d_in / self.pairs if self.pairs else 0.0

    @property
    def output_change(self) -> float:
        return self.d_out / self.pairs if self.pairs else 0.0

    @property
    def ratio(self) -> float:
        """nan with fewer than two frames or a perfectly still input."""
        return self.output_change / self.input_change if self.input_change > 0 else float("nan")

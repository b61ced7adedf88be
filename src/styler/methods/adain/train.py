"""Training objective of an AdaIN decoder: the recipe of Huang & Belongie 2017, section 6.2.

    t = AdaIN(f(c), f(s))            f: the frozen VGG encoder up to relu4_1
    g(t) = decoded image             g: the decoder, the only thing trained
    L = content_weight * ||f(g(t)) - t||^2 + style_weight * sum_l (||mu(f_l(g(t))) - mu(f_l(s))||^2
                                                                  + ||sigma(...) - sigma(...)||^2)

Adam, lr 1e-4 decayed as lr / (1 + 5e-5 * iter), batch 8 of 256 x 256 random crops,
160k iterations. The loop around it (run folder, resume, DDP, ...) is ``training.loop``.
Under ``torchrun`` each process trains a DDP replica on its own shard of the data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from ... import ops
from ...nets.vgg import Decoder
from ...nets.weights import load_vgg
from ..trainable import TrainContext

if TYPE_CHECKING:
    from .config import AdaINTrainConfig


class DecoderObjective:
    """Decoder + frozen encoder; content and style crops from two folders."""

    export_name = "decoder.pth"

    def __init__(self, cfg: AdaINTrainConfig) -> None:
        self.cfg = cfg
        self.bad: dict[str, set[int]] = {"content": set(), "style": set()}

    def setup(self, ctx: TrainContext, saved: dict | None) -> nn.Module:
        self.contents = ctx.images(ctx.cfg.content_dir, "content_dir")
        self.styles = ctx.images(ctx.cfg.style_dir, "style_dir")
        self.encoder = load_vgg(ctx.cfg.vgg)
        self.decoder = Decoder()
        if saved is not None:
            self.decoder.load_state_dict(saved["decoder"])
        return self.decoder

    def to_device(self, ctx: TrainContext) -> list[nn.Parameter]:
        self.encoder.to(ctx.device, memory_format=ctx.memory_format)
        self._streams = ctx.stream(self.contents, 0), ctx.stream(self.styles, 1)
        return list(self.decoder.parameters())

    def describe(self) -> str:
        return f"{len(self.contents)} content and {len(self.styles)} style images"

    def next_batch(self, ctx: TrainContext, iteration: int) -> tuple:
        (c, bad_c), (s, bad_s) = next(self._streams[0]), next(self._streams[1])
        self.bad["content"].update(bad_c)
        self.bad["style"].update(bad_s)
        return c, s

    def losses(self, ctx: TrainContext, batch: tuple) -> tuple[Tensor, Tensor, Tensor]:
        """content, style (B, 3, crop, crop) -> (Lc, Ls, output (B, 3, crop, crop)); losses in fp32."""
        content, style = batch
        with ctx.autocast():
            with torch.no_grad():
                style_feats = self.encoder(style)  # relu1_1..relu4_1
                content_feat = self.encoder.relu4_1(content)  # (B, 512, crop/8, crop/8)
            # AdaIN happens at relu4_1, in fp32 like the statistics the loss compares.
            t = ops.adain(content_feat.float(), style_feats.relu4_1.float())
            output = ctx.model(t)  # (B, 3, crop, crop)
            out_feats = self.encoder(output)
        lc = ops.content_loss(out_feats.relu4_1.float(), t)
        ls = ops.style_loss(tuple(f.float() for f in out_feats), tuple(f.float() for f in style_feats))
        return lc, ls, output

    def state(self, ctx: TrainContext, iteration: int) -> tuple[dict, object]:
        sd = {k: v.detach().cpu().contiguous() for k, v in self.decoder.state_dict().items()}
        return {"decoder": sd}, sd

    def sample(self, ctx: TrainContext, batch: tuple, output: Tensor) -> Tensor:
        """Up to 4 rows: content | style | output, each (3, crop, crop)."""
        content, style = batch
        output = output.detach().float()  # bf16 under autocast
        rows = [torch.cat([content[i], style[i], output[i]], dim=2) for i in range(min(4, len(content)))]
        return torch.cat(rows, dim=1)  # (3, rows*crop, 3*crop)

    def skipped(self) -> list[str]:
        return [str(self.contents[j]) for j in sorted(self.bad["content"])] + [
            str(self.styles[j]) for j in sorted(self.bad["style"])
        ]

"""Training objective of AesFA on the shared loop (``training.loop``): the release's recipe.

    output = netG(netE(c), pool(netS(s)))          all three networks trained together
    L = 1 x L_content + 10 x L_style (EFDM) + 5 x L_contrast      (``losses``)

Release recipe (Config.py, train.py, model.py of Sooyyoungg/AesFA) and what is kept
(``config.AesFATrainConfig`` holds it as defaults):

* COCO contents, WikiArt styles, each resized to a 512 x 512 square (aspect distorted), random
  256 crops, ImageNet normalisation; batch 8: kept (``square_resize`` False keeps the aspect);
* three Adam optimisers (E, S, G), lr 1e-4, betas (0.0, 0.99): kept, as one Adam with three
  parameter groups (Adam is per parameter: the same update);
* the learning rate never decays (its StepLR steps every 50 epochs and the run ends after ~22):
  kept, ``lr_decay`` 0;
* 160,000 iterations, checked only at epoch ends, so ~165k in practice: ``max_iter`` 160,000 exactly;
* up to 60,000 (content, style) pairs fixed once: not kept; contents and styles come from two
  independently shuffled streams, so pairs vary every epoch (more pairs, same distribution).

The loop weights the contrastive term by ``contrast_weight`` (``extra_losses``) and logs it.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from ...nets.weights import load_vgg
from ..trainable import TrainContext
from .losses import content_loss, contrastive_loss, hard_negatives, style_loss, vgg_features
from .modelfile import MODEL_FILE, load_state, model_state, read_model
from .net import AesFANet

if TYPE_CHECKING:
    from .config import AesFATrainConfig

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
NETS = ("netE", "netS", "netG")  # one Adam parameter group each, as the release's three optimisers


def normalise(x: Tensor) -> Tensor:
    """[0, 1] RGB (N, 3, H, W) -> ImageNet-normalised, as the release feeds its networks."""
    mean, std = x.new_tensor(MEAN).view(1, 3, 1, 1), x.new_tensor(STD).view(1, 3, 1, 1)
    return (x - mean) / std


def denormalise(x: Tensor) -> Tensor:
    mean, std = x.new_tensor(MEAN).view(1, 3, 1, 1), x.new_tensor(STD).view(1, 3, 1, 1)
    return x * std + mean


class AesFAObjective:
    """netE, netS, netG trained together; a frozen VGG for the perceptual losses."""

    export_name = MODEL_FILE
    extra_losses = ("contrast",)

    def __init__(self, cfg: AesFATrainConfig) -> None:
        self.cfg = cfg
        self.bad: dict[str, set[int]] = {"content": set(), "style": set()}

    def setup(self, ctx: TrainContext, saved: dict | None) -> nn.Module:
        cfg = ctx.cfg
        self.contents = ctx.images(cfg.content_dir, "content_dir")
        self.styles = ctx.images(cfg.style_dir, "style_dir")
        self.vgg = load_vgg(cfg.vgg)
        self.net = read_model(Path(cfg.init))[0] if cfg.init else AesFANet()
        if saved is not None:
            self.net = load_state(saved["model"], "the checkpoint's model")[0]
        return self.net.train().requires_grad_(True)

    def to_device(self, ctx: TrainContext) -> list[dict[str, Any]]:
        """The three networks' parameters as Adam groups with the release's betas."""
        self.vgg.to(ctx.device, memory_format=ctx.memory_format)
        square = ctx.cfg.square_resize
        self._streams = ctx.stream(self.contents, 0, square=square), ctx.stream(self.styles, 1, square=square)
        betas = (ctx.cfg.beta1, ctx.cfg.beta2)
        return [{"params": list(getattr(self.net, n).parameters()), "betas": betas} for n in NETS]

    def describe(self) -> str:
        return f"{len(self.contents)} content and {len(self.styles)} style images"

    def next_batch(self, ctx: TrainContext, iteration: int) -> tuple:
        (c, bad_c), (s, bad_s) = next(self._streams[0]), next(self._streams[1])
        self.bad["content"].update(bad_c)
        self.bad["style"].update(bad_s)
        return c, s

    def losses(self, ctx: TrainContext, batch: tuple) -> tuple[Tensor, Tensor, Tensor, dict[str, Tensor]]:
        """content, style (B, 3, crop, crop) in [0, 1] -> (L_content, L_style, output in [0, 1],
        {"contrast": L_contrast}); every loss in float32."""
        content, style = batch
        layers = list(self.vgg)
        with ctx.autocast():
            step = ctx.model(normalise(content), normalise(style))
            output = denormalise(step.output.float())  # not clamped: the release's VGG sees it raw
            with torch.no_grad():
                vgg_c, vgg_s = vgg_features(layers, content), vgg_features(layers, style)
            vgg_o = vgg_features(layers, output)
        vgg_o, vgg_c, vgg_s = (tuple(f.float() for f in fs) for fs in (vgg_o, vgg_c, vgg_s))
        lc, ls = content_loss(vgg_o, vgg_c), style_loss(vgg_o, vgg_s)
        if ctx.cfg.contrast_weight:
            contrast = contrastive_loss(step, hard_negatives(vgg_o, vgg_s))
        else:
            contrast = lc.new_zeros(())
        return lc, ls, output, {"contrast": contrast}

    def state(self, ctx: TrainContext, iteration: int) -> tuple[dict, object]:
        """The checkpoint keeps the networks under "model"; the exported main.pth is the same dict:
        the release's netE/netS/netG plus styler's metadata."""
        model = model_state(self.net, iterations=iteration, config=_plain(ctx.cfg))
        return {"model": model}, model

    def sample(self, ctx: TrainContext, batch: tuple, output: Tensor) -> Tensor:
        """Up to 4 rows: content | style | output, each (3, crop, crop)."""
        content, style = batch
        output = output.detach().float().clamp(0, 1)
        rows = [torch.cat([content[i], style[i], output[i]], dim=2) for i in range(min(4, len(content)))]
        return torch.cat(rows, dim=1)

    def skipped(self) -> list[str]:
        return [str(self.contents[j]) for j in sorted(self.bad["content"])] + [
            str(self.styles[j]) for j in sorted(self.bad["style"])
        ]


def _plain(cfg: AesFATrainConfig) -> dict:
    return {k: v for k, v in asdict(cfg).items() if isinstance(v, (str, int, float, bool, type(None)))}

"""Training objective of AesFA on the shared loop (``styler.train.Loop``): the release's recipe.

    output = netG(netE(c), pool(netS(s)))          all three networks trained together
    L = 1 x L_content + 10 x L_style (EFDM) + 5 x L_contrast      (``losses``)

Release recipe (Config.py, train.py, model.py of Sooyyoungg/AesFA) and what is kept:

* COCO contents, WikiArt styles, each resized to a 512 x 512 square (aspect distorted), random
  256 crops, ImageNet normalisation; batch 8: kept (``square_resize`` False keeps the aspect);
* three Adam optimisers (E, S, G), lr 1e-4, betas (0.0, 0.99): kept, as one Adam with three
  parameter groups (Adam is per parameter: the same update);
* the learning rate never decays (its StepLR steps every 50 epochs and the run ends after ~22):
  kept, ``lr_decay`` 0;
* 160,000 iterations, checked only at epoch ends, so ~165k in practice: ``max_iter`` 160,000 exactly;
* up to 60,000 (content, style) pairs fixed once: not kept; contents and styles come from two
  independently shuffled streams, so pairs vary every epoch (more pairs, same distribution).

The shared loop adds ``content_weight * content + style_weight * style``; until it takes a third
term, ``losses`` returns the style term as ``L_style + contrast_weight / style_weight * L_contrast``
(the same total) and keeps the three terms in ``last_terms`` for logging.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from ... import data, weights
from ...errors import InputError
from ...model import Encoder, load_encoder
from .losses import content_loss, contrastive_loss, hard_negatives, style_loss, vgg_features
from .modelfile import load_state, model_state, read_model
from .net import AesFANet

if TYPE_CHECKING:
    from ...train import Loop

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


@dataclass
class AesFAConfig:
    content_dir: str = ""  # content images (MS-COCO in the paper), searched recursively
    style_dir: str = ""  # style images (WikiArt in the paper), searched recursively
    out: str = "runs/aesfa"  # run folder: checkpoints/, main.pth, log.jsonl, samples/
    init: str | None = None  # start from this main.pth (fine-tuning) instead of random weights
    max_iter: int = 160_000
    batch_size: int = 8  # per process; at least 2 (each sample's hard negative is another style)
    lr: float = 1e-4
    lr_decay: float = 0.0  # the release's lr is constant
    beta1: float = 0.0
    beta2: float = 0.99
    content_weight: float = 1.0
    style_weight: float = 10.0
    contrast_weight: float = 5.0
    resize: int = 512
    square_resize: bool = True  # the release squashes each image to resize x resize
    crop: int = 256
    save_every: int = 10_000
    keep: int = 3
    log_every: int = 100
    sample_every: int = 1000
    workers: int = 4
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    vgg: str | None = None  # vgg_normalised.pth for the losses; None = the weights directory
    resume: bool = False


RECIPE = (
    "batch_size",
    "lr",
    "lr_decay",
    "beta1",
    "beta2",
    "content_weight",
    "style_weight",
    "contrast_weight",
    "resize",
    "square_resize",
    "crop",
    "seed",
    "init",
)


def load_vgg(path: str | None) -> Encoder:
    """The frozen ``vgg_normalised`` encoder of the perceptual losses (resolved like ``transfer``'s)."""
    found = weights.resolve(weights.VGG, Path(path) if path else None)
    return load_encoder(weights.load_state_dict(found), label=str(found)).eval()


def normalise(x: Tensor) -> Tensor:
    """[0, 1] RGB (N, 3, H, W) -> ImageNet-normalised, as the release feeds its networks."""
    mean, std = x.new_tensor(MEAN).view(1, 3, 1, 1), x.new_tensor(STD).view(1, 3, 1, 1)
    return (x - mean) / std


def denormalise(x: Tensor) -> Tensor:
    mean, std = x.new_tensor(MEAN).view(1, 3, 1, 1), x.new_tensor(STD).view(1, 3, 1, 1)
    return x * std + mean


class AesFAObjective:
    """netE, netS, netG trained together; a frozen VGG for the perceptual losses."""

    export_name = "main.pth"
    recipe = RECIPE

    def __init__(self, cfg: AesFAConfig) -> None:
        self.cfg = cfg
        self.bad: dict[str, set[int]] = {"content": set(), "style": set()}
        self.last_terms: dict[str, Tensor] = {}

    def setup(self, loop: Loop, saved: dict | None) -> nn.Module:
        cfg = loop.cfg
        if cfg.batch_size < 2 and cfg.contrast_weight > 0:
            raise InputError(
                f"{{batch_size}}={cfg.batch_size} leaves no hard negative for the contrastive loss; "
                "use at least 2 (the release uses 8) or contrast_weight=0"
            )
        if cfg.contrast_weight > 0 and cfg.style_weight <= 0:
            raise InputError("the contrastive loss needs {style_weight} > 0 (the shared loop scales it with it)")
        self.contents = data.find_images(Path(cfg.content_dir), "content_dir")
        self.styles = data.find_images(Path(cfg.style_dir), "style_dir")
        self.vgg = load_vgg(cfg.vgg)
        self.net = read_model(Path(cfg.init))[0] if cfg.init else AesFANet()
        if saved is not None:
            self.net = load_state(saved["model"], "the checkpoint's model")[0]
        return self.net.train().requires_grad_(True)

    def _stream(self, loop: Loop, paths: list[Path], stream: int):
        from ...train_support import worker_signals

        cfg = loop.cfg
        return data.batches(
            paths,
            batch_size=cfg.batch_size,
            resize=cfg.resize,
            crop=cfg.crop,
            seed=cfg.seed,
            stream=stream,
            rank=loop.rank,
            world=loop.world,
            start_batch=loop.start,
            workers=cfg.workers,
            pin_memory=loop.device.type == "cuda",
            worker_init_fn=worker_signals,
            square=cfg.square_resize,
        )

    def to_device(self, loop: Loop) -> list[dict]:
        """The three networks' parameters as Adam groups with the release's betas."""
        self.vgg.to(loop.device, memory_format=loop.fmt)
        self._streams = self._stream(loop, self.contents, 0), self._stream(loop, self.styles, 1)
        betas = (loop.cfg.beta1, loop.cfg.beta2)
        return [{"params": list(getattr(self.net, n).parameters()), "betas": betas} for n in ("netE", "netS", "netG")]

    def describe(self) -> str:
        return f"{len(self.contents)} content and {len(self.styles)} style images"

    def next_batch(self, loop: Loop, iteration: int) -> tuple:
        (c, bad_c), (s, bad_s) = next(self._streams[0]), next(self._streams[1])
        self.bad["content"].update(bad_c)
        self.bad["style"].update(bad_s)
        return c, s

    def losses(self, loop: Loop, batch: tuple) -> tuple[Tensor, Tensor, Tensor]:
        """content, style (B, 3, crop, crop) in [0, 1] -> (L_content, L_style + contrast share, output
        in [0, 1]); every loss in float32."""
        content, style = batch
        cfg = loop.cfg
        layers = list(self.vgg)
        with loop.autocast():
            step = loop.model(normalise(content), normalise(style))
            output = denormalise(step.output.float())  # not clamped: the release's VGG sees it raw
            with torch.no_grad():
                vgg_c, vgg_s = vgg_features(layers, content), vgg_features(layers, style)
            vgg_o = vgg_features(layers, output)
        vgg_o, vgg_c, vgg_s = (tuple(f.float() for f in fs) for fs in (vgg_o, vgg_c, vgg_s))
        lc, ls = content_loss(vgg_o, vgg_c), style_loss(vgg_o, vgg_s)
        contrast = contrastive_loss(step, hard_negatives(vgg_o, vgg_s)) if cfg.contrast_weight else lc.new_zeros(())
        self.last_terms = {"content": lc.detach(), "style": ls.detach(), "contrast": contrast.detach()}
        share = cfg.contrast_weight / cfg.style_weight if cfg.contrast_weight else 0.0
        return lc, ls + share * contrast, output

    def state(self, loop: Loop, iteration: int) -> tuple[dict, object]:
        model = model_state(self.net, iterations=iteration, config=_plain(loop.cfg))
        return {"model": model}, model

    def sample(self, loop: Loop, batch: tuple, output: Tensor) -> Tensor:
        """Up to 4 rows: content | style | output, each (3, crop, crop)."""
        content, style = batch
        output = output.detach().float().clamp(0, 1)
        rows = [torch.cat([content[i], style[i], output[i]], dim=2) for i in range(min(4, len(content)))]
        return torch.cat(rows, dim=1)

    def skipped(self) -> list[str]:
        return [str(self.contents[j]) for j in sorted(self.bad["content"])] + [
            str(self.styles[j]) for j in sorted(self.bad["style"])
        ]


def _plain(cfg: AesFAConfig) -> dict:
    return {k: v for k, v in asdict(cfg).items() if isinstance(v, (str, int, float, bool, type(None)))}


def train_aesfa(cfg: AesFAConfig, on_step=None, on_start=None):
    """Train (or with ``cfg.resume`` continue) AesFA; the run folder's ``main.pth`` is the model."""
    from ...train import run_training

    return run_training(cfg, AesFAObjective(cfg), on_step, on_start)

"""Training objective of an AdaIN decoder: the recipe of Huang & Belongie 2017, section 6.2.

    t = AdaIN(f(c), f(s))            f: the frozen VGG encoder up to relu4_1
    g(t) = decoded image             g: the decoder, the only thing trained
    L = content_weight * ||f(g(t)) - t||^2 + style_weight * sum_l (||mu(f_l(g(t))) - mu(f_l(s))||^2
                                                                  + ||sigma(...) - sigma(...)||^2)

Adam, lr 1e-4 decayed as lr / (1 + 5e-5 * iter), batch 8 of 256 x 256 random crops,
160k iterations. The loop around it (run folder, resume, DDP, ...) is ``train.Loop``.
Under ``torchrun`` each process trains a DDP replica on its own shard of the data.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from ... import ops
from ...nets import weights
from ...nets.vgg import Decoder, Encoder, load_encoder
from ...training import data

if TYPE_CHECKING:
    from ...training.loop import Loop


@dataclass
class TrainConfig:
    content_dir: str = ""  # content images (MS-COCO train2014 in the paper), searched recursively
    style_dir: str = ""  # style images (WikiArt in the paper), searched recursively
    out: str = "runs/adain"  # run folder: checkpoints/, decoder.pth, log.jsonl, samples/
    max_iter: int = 160_000
    batch_size: int = 8  # per process: the global batch is batch_size * world size
    lr: float = 1e-4
    lr_decay: float = 5e-5  # lr / (1 + lr_decay * iter), as pytorch-AdaIN
    content_weight: float = 1.0
    style_weight: float = 10.0  # pytorch-AdaIN's default (10 since its commit 80650a0)
    resize: int = 512  # shorter side before cropping (0 = keep)
    crop: int = 256
    save_every: int = 10_000
    keep: int = 3  # checkpoints kept; older ones are deleted
    log_every: int = 100
    sample_every: int = 1000  # 0 = no sample grids
    workers: int = 4  # data-loading processes per training process (0 = in-process)
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"  # auto = bf16 autocast on CUDA with bf16, else fp32
    vgg: str | None = None  # encoder weights; None = the weights directory, as `transfer`
    resume: bool = False  # continue from the newest checkpoint in `out`


# What defines the optimisation; a resumed run takes these from its checkpoint so it continues
# the same run. Everything else (max_iter, save_every, workers, device, ...) may change.
RECIPE = ("batch_size", "lr", "lr_decay", "content_weight", "style_weight", "resize", "crop", "seed")


def load_vgg(path: str | None) -> Encoder:
    vgg = weights.resolve(weights.VGG, Path(path) if path else None)
    return load_encoder(weights.load_state_dict(vgg), label=str(vgg)).eval()


def content_stream(loop: Loop, paths: list[Path], stream: int):
    """Endless seeded batches of random crops for this rank, resuming at the loop's start."""
    from ...training.support import worker_signals

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
    )


class DecoderObjective:
    """Decoder + frozen encoder; content and style crops from two folders."""

    export_name = "decoder.pth"
    recipe = RECIPE

    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg = cfg
        self.bad: dict[str, set[int]] = {"content": set(), "style": set()}

    def setup(self, loop: Loop, saved: dict | None) -> nn.Module:
        self.contents = data.find_images(Path(loop.cfg.content_dir), "content_dir")
        self.styles = data.find_images(Path(loop.cfg.style_dir), "style_dir")
        self.encoder = load_vgg(loop.cfg.vgg)
        self.decoder = Decoder()
        if saved is not None:
            self.decoder.load_state_dict(saved["decoder"])
        return self.decoder

    def to_device(self, loop: Loop) -> list[nn.Parameter]:
        self.encoder.to(loop.device, memory_format=loop.fmt)
        self._streams = content_stream(loop, self.contents, 0), content_stream(loop, self.styles, 1)
        return list(self.decoder.parameters())

    def describe(self) -> str:
        return f"{len(self.contents)} content and {len(self.styles)} style images"

    def next_batch(self, loop: Loop, iteration: int) -> tuple:
        (c, bad_c), (s, bad_s) = next(self._streams[0]), next(self._streams[1])
        self.bad["content"].update(bad_c)
        self.bad["style"].update(bad_s)
        return c, s

    def losses(self, loop: Loop, batch: tuple) -> tuple[Tensor, Tensor, Tensor]:
        """content, style (B, 3, crop, crop) -> (Lc, Ls, output (B, 3, crop, crop)); losses in fp32."""
        content, style = batch
        with loop.autocast():
            with torch.no_grad():
                style_feats = self.encoder(style)  # relu1_1..relu4_1
                content_feat = self.encoder.relu4_1(content)  # (B, 512, crop/8, crop/8)
            # AdaIN happens at relu4_1, in fp32 like the statistics the loss compares.
            t = ops.adain(content_feat.float(), style_feats.relu4_1.float())
            output = loop.model(t)  # (B, 3, crop, crop)
            out_feats = self.encoder(output)
        lc = ops.content_loss(out_feats.relu4_1.float(), t)
        ls = ops.style_loss(tuple(f.float() for f in out_feats), tuple(f.float() for f in style_feats))
        return lc, ls, output

    def state(self, loop: Loop, iteration: int) -> tuple[dict, object]:
        sd = {k: v.detach().cpu().contiguous() for k, v in self.decoder.state_dict().items()}
        return {"decoder": sd}, sd

    def sample(self, loop: Loop, batch: tuple, output: Tensor) -> Tensor:
        """Up to 4 rows: content | style | output, each (3, crop, crop)."""
        content, style = batch
        output = output.detach().float()  # bf16 under autocast
        rows = [torch.cat([content[i], style[i], output[i]], dim=2) for i in range(min(4, len(content)))]
        return torch.cat(rows, dim=1)  # (3, rows*crop, 3*crop)

    def skipped(self) -> list[str]:
        return [str(self.contents[j]) for j in sorted(self.bad["content"])] + [
            str(self.styles[j]) for j in sorted(self.bad["style"])
        ]

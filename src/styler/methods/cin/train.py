"""Training objective of a multi-style CIN network (Dumoulin, Shlens & Kudlur, ICLR 2017).

    y = T(c, s)                      T: the CIN network (``cinnet``), s a style index per sample
    L = content_weight * MSE(f3(y), f3(c)) + style_weight * sum_l MSE(G(f_l(y)), G(f_l(style_s)))

f is the project's frozen VGG encoder: content at relu3_1 (Johnson et al.'s relu2_2 is not
among our encoder's outputs; relu3_1 keeps more structure than relu4_1, which the AdaIN
decoder uses because it inverts relu4_1); style Gram matrices ``ops.gram`` (F F^T / CHW) at
relu1_1..relu4_1, each layer weighted 1. Every image in the style folder is one style, named
by its file stem, its Gram targets computed once. Each sample draws its style uniformly
(from a generator seeded by seed, rank and iteration, so resume needs no RNG state for it).

Defaults: Adam lr 1e-3 (constant), batch 16 of 256 px crops (shorter side resized to 256),
40k iterations, style images at 512 px; content_weight 1, style_weight 1e3 (the Gatys
method's weights for the same Gram normalisation; not tuned on the released VGG weights here).

``extend``: start from a trained model, freeze every conv, learn only the new styles' gamma
and beta rows; the old styles' rows and so their outputs stay bit-identical.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from ... import ops
from ...errors import InputError
from ...media import images
from ...nets.vgg import SLICES, run_layers
from ...nets.weights import load_vgg
from ..trainable import TrainContext
from .modelfile import model_state, read_model
from .net import CINNet

if TYPE_CHECKING:
    from .config import CINTrainConfig

CONTENT_LAYER = "relu3_1"
SAMPLE_STYLES = 8  # columns in a sample grid at most


def style_names(paths: list[Path]) -> list[str]:
    names = [p.stem for p in paths]
    for name in names:
        if names.count(name) > 1:
            clash = [str(p) for p in paths if p.stem == name][:2]
            raise InputError(
                f"two style images share the name '{name}' ({clash[0]}, {clash[1]}); "
                "rename one: a style is called by its file stem"
            )
    return names


def style_draws(seed: int, rank: int, iteration: int, batch: int, first: int, count: int) -> Tensor:
    """The style index of each sample of one iteration: uniform over [first, first + count)."""
    g = torch.Generator().manual_seed((seed * 1_000_003 + rank) * 1_000_003 + iteration)
    return torch.randint(first, first + count, (batch,), generator=g)


class CINObjective:
    """CIN network + frozen encoder; content crops, one Gram target set per style."""

    export_name = "model.pth"

    def __init__(self, cfg: CINTrainConfig) -> None:
        self.cfg = cfg
        self.bad: set[int] = set()

    def setup(self, ctx: TrainContext, saved: dict | None) -> nn.Module:
        cfg = ctx.cfg
        self.contents = ctx.images(cfg.content_dir, "content_dir")
        self.style_paths = ctx.images(cfg.style_dir, "style_dir")
        names = style_names(self.style_paths)
        self.frozen = 0
        base: CINNet | None = None
        if cfg.extend:
            base, info = read_model(Path(cfg.extend))
            old = list(info["styles"])
            if clash := sorted(set(old) & set(names)):
                raise InputError(f"style '{clash[0]}' is already in {cfg.extend}; rename the new image")
            names, self.frozen = old + names, len(old)
        self.names = names
        self.encoder = load_vgg(cfg.vgg)
        self.net = CINNet(len(names))
        if base is not None:
            self.net.load_state_dict(_grown(base.state_dict(), self.net.state_dict(), self.frozen))
        if saved is not None:
            self.net.load_state_dict(saved["model"]["weights"])
        if self.frozen:
            self.net.requires_grad_(False)
            for norm in self.net.norms():
                for p in (norm.gamma, norm.beta):
                    p.requires_grad_(True)
                    p.register_hook(self._freeze_rows)
        return self.net

    def _freeze_rows(self, grad: Tensor) -> Tensor:
        grad = grad.clone()
        grad[: self.frozen] = 0  # Adam's moments stay 0 there, so the old rows never move
        return grad

    def to_device(self, ctx: TrainContext) -> list[nn.Parameter]:
        self.encoder.to(ctx.device, memory_format=ctx.memory_format)
        self.grams = self._style_grams(ctx)
        self._stream = ctx.stream(self.contents, 0)
        return [p for p in self.net.parameters() if p.requires_grad]

    @torch.no_grad()
    def _style_grams(self, ctx: TrainContext) -> list[Tensor]:
        """Per encoder level, the Gram matrices of every style: (S, C, C) float32 on the device.
        Extended runs compute only the new styles' (the old ones are never drawn)."""
        per_style: list[list[Tensor]] = []
        for path in self.style_paths:
            img = images.to_tensor(images.prepare(images.open_rgb(path), self.cfg.style_size, size_name="style_size"))
            with ctx.autocast():
                feats = self.encoder(ctx.to_device(img))
            per_style.append([ops.gram(f.float())[0] for f in feats])
        levels = [torch.stack(g) for g in zip(*per_style)]
        if self.frozen:  # rows for the frozen styles are placeholders: never a target
            levels = [torch.cat([lv.new_zeros(self.frozen, *lv.shape[1:]), lv]) for lv in levels]
        return levels

    def describe(self) -> str:
        new = len(self.names) - self.frozen
        extra = f" (+{self.frozen} frozen from {self.cfg.extend})" if self.frozen else ""
        return f"{len(self.contents)} content images and {new} styles{extra}"

    def next_batch(self, ctx: TrainContext, iteration: int) -> tuple:
        content, bad = next(self._stream)
        self.bad.update(bad)
        count = len(self.names) - self.frozen
        return content, style_draws(ctx.cfg.seed, ctx.rank, iteration, len(content), self.frozen, count)

    def losses(self, ctx: TrainContext, batch: tuple) -> tuple[Tensor, Tensor, Tensor]:
        """content (B, 3, crop, crop), style indices (B,) -> (Lc, Ls, output); losses in fp32."""
        content, index = batch
        stop = SLICES[CONTENT_LAYER][1]
        with ctx.autocast():
            with torch.no_grad():
                target = run_layers(list(self.encoder)[:stop], content)  # (B, 256, crop/4, crop/4)
            output = ctx.model(content, index)  # (B, 3, crop, crop)
            feats = self.encoder(output)
        lc = ops.feature_loss(getattr(feats, CONTENT_LAYER).float(), target.float())
        ls = ops.gram_loss(tuple(f.float() for f in feats), tuple(g[index] for g in self.grams))
        return lc, ls, output

    def state(self, ctx: TrainContext, iteration: int) -> tuple[dict, object]:
        model = model_state(self.net, self.names, _plain(ctx.cfg), iteration)
        return {"model": model, "frozen_styles": self.frozen}, model

    def sample(self, ctx: TrainContext, batch: tuple, output: Tensor) -> Tensor:
        """Rows: up to 4 contents; columns: the content, then one output per style (up to 8)."""
        from torchvision.utils import make_grid  # 1.3 s to import: only when a grid is due

        content = batch[0][:4]
        first = self.frozen if len(self.names) - self.frozen >= 1 else 0
        shown = list(range(first, len(self.names)))[:SAMPLE_STYLES]
        columns = [content.float()]
        with ctx.autocast():
            for s in shown:
                index = torch.full((len(content),), s, dtype=torch.long, device=content.device)
                columns.append(self.net(content, index).float())
        tiles = torch.stack(columns, 1).flatten(0, 1)  # (rows * (1 + styles), 3, h, w)
        return make_grid(tiles, nrow=len(columns), padding=2, pad_value=1.0)

    def skipped(self) -> list[str]:
        return [str(self.contents[j]) for j in sorted(self.bad)]


def _grown(old: dict[str, Tensor], new: dict[str, Tensor], n_old: int) -> dict[str, Tensor]:
    """The new net's state with the old net's convs and the old styles' gamma/beta rows."""
    out = {}
    for key, value in new.items():
        if key.endswith((".gamma", ".beta")):
            value = value.clone()
            value[:n_old] = old[key]
            out[key] = value
        else:
            out[key] = old[key].clone()
    return out


def _plain(cfg: CINTrainConfig) -> dict:
    return {k: v for k, v in asdict(cfg).items() if isinstance(v, (str, int, float, bool, type(None)))}

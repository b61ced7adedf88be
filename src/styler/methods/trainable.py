"""What a trainable method gives the shared training loop, and what the loop gives it back.

A method's training is a config (a ``TrainConfig`` subclass with the method's recipe as its
defaults) whose ``objective()`` makes an ``Objective``: the model, data, losses, checkpoint
payload and samples. The loop (``training.loop``) owns everything else and hands each objective
a narrow ``TrainContext``, never itself, so methods never import the training package.

The loop minimises ``content_weight * content + style_weight * style`` plus, for each name in
the objective's ``extra_losses``, ``<name>_weight * <name>`` (the config's field): every term
is logged by name. ``to_device`` returns the parameters Adam updates, or Adam parameter groups
(dicts with ``params`` and per-group settings such as ``betas``) where they differ.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from ..errors import InputError, Param

if TYPE_CHECKING:  # configs are read by ``styler train --help``, which must not pay for torch
    from collections.abc import Iterator
    from contextlib import AbstractContextManager
    from pathlib import Path

    import torch
    from torch import Tensor, nn

Batch = tuple["Tensor", list[int]]  # (images (B, 3, crop, crop), indices of unreadable files met)


@dataclass
class TrainConfig:
    """What every training run has; a method's subclass sets its recipe's defaults and adds its own."""

    content_dir: str = ""  # content images (MS-COCO train2014 in the papers), searched recursively
    style_dir: str = ""  # style images, searched recursively
    out: str = "runs/train"  # run folder: checkpoints/, the exported model, log.jsonl, samples/
    max_iter: int = 160_000
    batch_size: int = 8  # per process: the global batch is batch_size * world size
    lr: float = 1e-4
    lr_decay: float = 0.0  # lr / (1 + lr_decay * iter)
    content_weight: float = 1.0
    style_weight: float = 10.0
    resize: int = 512  # content: shorter side before cropping (0 = keep)
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

    method: ClassVar[str] = ""
    # What defines the optimisation; a resumed run takes these from its checkpoint so it continues
    # the same run. Everything else (max_iter, save_every, workers, device, ...) may change.
    recipe: ClassVar[tuple[str, ...]] = (
        "batch_size",
        "lr",
        "lr_decay",
        "content_weight",
        "style_weight",
        "resize",
        "crop",
        "seed",
    )

    def __post_init__(self) -> None:
        """Every number checked once, here, before any data or weights load."""
        for name in ("max_iter", "batch_size", "crop", "save_every", "log_every"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise InputError(Param(name, value), " is not allowed: ", Param(name), " must be at least 1")
        for name in ("lr", "lr_decay", "content_weight", "style_weight", "resize", "keep", "sample_every", "workers"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise InputError(Param(name, value), " is not allowed: ", Param(name), " must be a number >= 0")
        if self.lr == 0:
            raise InputError(Param("lr", 0), " is not allowed: ", Param("lr"), " must be above 0, e.g. 1e-4")
        if self.keep == 0:
            raise InputError(
                Param("keep", 0), " is not allowed: keep at least 1 checkpoint so that the run can be resumed"
            )

    def objective(self) -> Objective:
        raise NotImplementedError(f"{type(self).__name__} names no method; use a method's training config")


class TrainContext(Protocol):
    """What the loop lends an objective: where and how it runs, and the data streams."""

    cfg: Any  # the method's TrainConfig subclass (a resumed run's recipe restored)
    rank: int
    world: int
    start: int  # the iteration this run starts (or resumes) at
    device: torch.device
    memory_format: torch.memory_format
    model: nn.Module  # the trained module as the loop runs it (DDP-wrapped under torchrun)

    def autocast(self) -> AbstractContextManager[Any]:
        """bf16 autocast where the run's precision says so, else a no-op."""

    def to_device(self, x: Tensor) -> Tensor:
        """A host tensor on the run's device (images in its memory format)."""

    def images(self, folder: str, param: str) -> list[Path]:
        """The image files under ``folder``, searched recursively; ``param`` names it in errors."""

    def stream(self, paths: list[Path], stream: int, *, square: bool = False) -> Iterator[Batch]:
        """Endless seeded batches of random crops of ``paths`` for this rank, resuming at ``start``;
        images resized by ``cfg.resize`` (shorter side; ``square``: both sides, aspect distorted)."""


class Objective(Protocol):
    """What a method adds to the loop: its model, data, losses, checkpoint payload and samples.

    Optionally ``extra_losses``, a tuple of names of loss terms beyond content and style (e.g.
    ``("contrast",)``): ``losses`` then returns them as a 4th item ``{name: term}``, and the loop
    weights each by ``cfg.<name>_weight`` and logs it. Absent: ``()``."""

    export_name: str  # the run folder's model file, rewritten at every checkpoint

    def setup(self, ctx: TrainContext, saved: dict | None) -> nn.Module:
        """Load data lists and weights, build the trained module on CPU (restored from ``saved``)."""

    def to_device(self, ctx: TrainContext) -> list[nn.Parameter] | list[dict[str, Any]]:
        """Move what the losses need to the context's device; return the parameters Adam updates
        (or Adam parameter groups: {"params": [...], "betas": (b1, b2), ...}; lr is the loop's)."""

    def next_batch(self, ctx: TrainContext, iteration: int) -> tuple:
        """The host-side batch of one iteration (raises through for the loop to handle)."""

    def losses(self, ctx: TrainContext, batch: tuple) -> tuple[Any, ...]:
        """(content loss, style loss, output) in float32 for one device batch; objectives with
        ``extra_losses`` add a 4th item, {name: unweighted float32 scalar}."""

    def state(self, ctx: TrainContext, iteration: int) -> tuple[dict, object]:
        """(checkpoint entries holding the weights, the exported model file's contents)."""

    def sample(self, ctx: TrainContext, batch: tuple, output: Tensor) -> Tensor:
        """A (3, H, W) grid in [0, 1] for ``samples/``."""

    def describe(self) -> str:
        """'12 content and 3 style images' for the start line."""

    def skipped(self) -> list[str]:
        """Unreadable training files met so far (this rank)."""

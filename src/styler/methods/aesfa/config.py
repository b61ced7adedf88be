"""AesFA's training recipe (the release's Config.py and train.py, as ``train`` describes it)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from ...errors import InputError, Param
from ..trainable import TrainConfig

if TYPE_CHECKING:
    from .train import AesFAObjective


@dataclass
class AesFATrainConfig(TrainConfig):
    """The release's recipe as defaults: netE, netS and netG trained together from random weights."""

    style_dir: str = ""  # style images (WikiArt in the paper), searched recursively
    out: str = "runs/aesfa"  # run folder: checkpoints/, main.pth, log.jsonl, samples/
    init: str | None = None  # start from this main.pth (fine-tuning) instead of random weights
    max_iter: int = 160_000  # the release checks its 160k only at epoch ends (~165k in practice)
    batch_size: int = 8  # per process; at least 2 (each sample's hard negative is another style)
    lr: float = 1e-4
    lr_decay: float = 0.0  # the release's StepLR never fires: its lr is constant
    beta1: float = 0.0  # Adam's betas for all three networks, as the release
    beta2: float = 0.99
    content_weight: float = 1.0
    style_weight: float = 10.0  # EFDM style loss
    contrast_weight: float = 5.0  # contrastive loss with a hard negative (0 = off)
    resize: int = 512  # both sides: each image squashed to resize x resize, as the release
    square_resize: bool = True  # False: the shorter side only (aspect kept, as the other methods)
    crop: int = 256

    method: ClassVar[str] = "aesfa"
    recipe: ClassVar[tuple[str, ...]] = (
        *TrainConfig.recipe,
        "beta1",
        "beta2",
        "contrast_weight",
        "square_resize",
        "init",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("beta1", "beta2"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and 0 <= value < 1):
                raise InputError(Param(name, value), " is not allowed: ", Param(name), " must be in [0, 1)")
        if not math.isfinite(self.contrast_weight) or self.contrast_weight < 0:
            raise InputError(
                Param("contrast_weight", self.contrast_weight),
                " is not allowed: ",
                Param("contrast_weight"),
                " must be a number >= 0",
            )
        if self.contrast_weight > 0 and self.batch_size < 2:
            raise InputError(
                Param("batch_size", self.batch_size),
                " leaves no hard negative for the contrastive loss: use at least 2 (the release uses 8) or ",
                Param("contrast_weight", 0),
            )

    def objective(self) -> AesFAObjective:
        from .train import AesFAObjective  # torch: only when training starts

        return AesFAObjective(self)

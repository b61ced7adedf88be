"""The AdaIN decoder's training recipe (Huang & Belongie 2017, section 6.2; pytorch-AdaIN's defaults)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from ..trainable import TrainConfig

if TYPE_CHECKING:
    from .train import DecoderObjective


@dataclass
class AdaINTrainConfig(TrainConfig):
    """The paper's recipe (pytorch-AdaIN's defaults); the fields are ``TrainConfig``'s."""

    style_dir: str = ""  # style images (WikiArt in the paper), searched recursively
    out: str = "runs/train"  # run folder: checkpoints/, decoder.pth, log.jsonl, samples/
    lr_decay: float = 5e-5  # lr / (1 + lr_decay * iter), as pytorch-AdaIN
    style_weight: float = 10.0  # pytorch-AdaIN's default (10 since its commit 80650a0)

    method: ClassVar[str] = "adain"

    def objective(self) -> DecoderObjective:
        from .train import DecoderObjective  # torch: only when training starts

        return DecoderObjective(self)

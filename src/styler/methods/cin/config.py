"""The CIN network's training recipe (Dumoulin et al. 2017, as ``train`` describes it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from ..trainable import TrainConfig

if TYPE_CHECKING:
    from .train import CINObjective


@dataclass
class CINTrainConfig(TrainConfig):
    """The recipe above as defaults; ``style_dir`` holds one style per image file, named by its stem."""

    out: str = "runs/cin"  # run folder: checkpoints/, model.pth, log.jsonl, samples/
    extend: str | None = None  # a trained model.pth: add the new styles, convs frozen
    max_iter: int = 40_000
    batch_size: int = 16
    lr: float = 1e-3
    lr_decay: float = 0.0  # the paper keeps it constant
    style_weight: float = 1e3
    resize: int = 256
    style_size: int = 512  # style images' shorter side (0 = keep)
    save_every: int = 5_000

    method: ClassVar[str] = "cin"
    recipe: ClassVar[tuple[str, ...]] = (*TrainConfig.recipe, "style_size", "extend")

    def objective(self) -> CINObjective:
        from .train import CINObjective  # torch: only when training starts

        return CINObjective(self)

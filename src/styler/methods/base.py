"""The style-method interface: what AdaIN, Gatys optimisation and CIN networks have in common.

A method turns each style input into a *representation* once (AdaIN: relu4_1 mean and std;
Gatys: Gram matrices; CIN: a style index into its gamma/beta tables), then stylizes content
with any number of those under the shared controls:

* ``Mix.weights``: interpolation, one normalised weight per style (sum 1);
* ``Mix.masks``: spatial control, region r takes style r (``None`` = no masks);
* ``alpha``: style strength in [0, 1] (each method documents what it means for it);
* ``tile``: a ``tiling.Setting``; methods that can run tile by tile bound their memory by it.

Colour preservation, batching, validation and video streams are the engine's: a method sees
content that may already be luminance-only and styles already colour-adapted.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from torch import Tensor

from ..errors import InputError
from ..runtime import Runtime
from ..tiling import Setting


def check_image(x: Any, what: str, min_side: int, deepest: str) -> Tensor:
    """An image batch (N, 3, H, W) whose ``deepest`` feature map is at least 2 px wide (its
    reflection padding needs it): sides of at least ``min_side`` px. One-line InputError otherwise."""
    if not isinstance(x, Tensor) or x.dim() != 4 or x.shape[1] != 3:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise InputError(f"expected the {what} as an image batch (N, 3, H, W), got {shape}")
    if min(x.shape[-2:]) < min_side:
        h, w = x.shape[-2:]
        raise InputError(
            f"the {what} is {w}x{h} px; at least {min_side} px per side are needed (the {deepest} map must be "
            "2 px wide); use a larger image, content_size or style_size"
        )
    return x


@dataclass(frozen=True)
class Mix:
    """How several styles combine on each content image."""

    weights: tuple[float, ...]  # interpolation weights, one per style, normalised to sum 1
    masks: Tensor | None = None  # (R, H, W) float >= 0 at the content's size, one region per style; feathered


class Method(ABC):
    """A style-transfer method bound to a runtime (device, precision) and its weights."""

    name: ClassVar[str]
    takes_images: ClassVar[bool] = True  # False: styles are names or indices (CIN), not images
    runtime: Runtime

    @abstractmethod
    def represent(self, style: Any) -> Any:
        """One style input (an image (1, 3, h, w) in [0, 1], or a name/index) -> its representation.

        Computed once per style and reused for every content image and frame."""

    @abstractmethod
    def stylize(
        self, content: Tensor, styles: Sequence[Any], mix: Mix, *, alpha: float, tile: Setting = "auto"
    ) -> Tensor:
        """content (N, 3, H, W) in [0, 1], styles as ``represent`` returned them -> stylized
        (N, 3, H, W) float32 in [0, 1] on the runtime's device."""

    def stylize_each(
        self, content: Tensor, styles: Sequence[Any], *, alpha: float, tile: Setting = "auto"
    ) -> Iterator[Tensor]:
        """One result per style, unmixed (folder jobs: many styles per content). Methods that can
        share work across the styles (AdaIN encodes the content once) override this."""
        for style in styles:
            yield self.stylize(content, [style], Mix((1.0,)), alpha=alpha, tile=tile)

    def describe(self) -> str:
        return f"{self.name} on {self.runtime.describe()}"

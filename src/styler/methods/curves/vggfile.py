"""Another VGG-19 for the style loss (``--vgg``): the public normalised layout as is, or torchvision's
``vgg19`` layout (``features.N.weight``; e.g. a VGG-19 fine-tuned on ImageNet-Sketch, as the curves
paper does), converted here.

torchvision's VGG-19 takes ``(x - mean) / std`` of RGB in [0, 1] (ImageNet statistics); the
normalised layout starts with a 1x1 conv that takes RGB in [0, 1] itself, so the conversion folds
the normalisation into that conv: weight ``diag(1 / std)``, bias ``-mean / std``. The 3x3 convs are
copied unchanged, in order. What stays different: our encoder pads by reflection and pools in ceil
mode (torchvision: zeros, floor), so features differ within a pixel or two of the border and on
odd-sized maps; a fine-tuned network's Gram statistics are dominated by the interior.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ...errors import WeightsError
from ...nets.vgg import vgg_normalised_layers

MEAN = (0.485, 0.456, 0.406)  # ImageNet statistics torchvision's VGG expects
STD = (0.229, 0.224, 0.225)
TORCHVISION_CONVS = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)  # features.N of vgg19's 16 convs


def is_torchvision(state: dict[str, Tensor]) -> bool:
    return any(_plain(k).startswith("features.") for k in state)


def _plain(key: str) -> str:
    return key.removeprefix("module.")  # saved from DataParallel


def normalised(state: dict[str, Tensor], label: str = "VGG weights") -> dict[str, Tensor]:
    """A state dict in either layout -> the public normalised layout (the classifier, if any, dropped)."""
    if not is_torchvision(state):
        return state
    state = {_plain(k): v for k, v in state.items()}
    ours = [i for i, layer in enumerate(vgg_normalised_layers()) if isinstance(layer, torch.nn.Conv2d)][1:]
    out = {
        "0.weight": torch.diag(1 / torch.tensor(STD)).reshape(3, 3, 1, 1),
        "0.bias": -torch.tensor(MEAN) / torch.tensor(STD),
    }
    for theirs, mine in zip(TORCHVISION_CONVS, ours):
        for name in ("weight", "bias"):
            key = f"features.{theirs}.{name}"
            if key not in state:
                if theirs > 19:  # past relu4_1: a file cut there is enough for this method
                    return out
                raise WeightsError(
                    f"{label} is in torchvision's VGG layout but lacks {key}; pass a VGG-19 (torchvision's "
                    "vgg19 or the normalised vgg_normalised.pth)"
                )
            out[f"{mine}.{name}"] = state[key].float()
    return out

"""Pure tensor math for AdaIN (Huang & Belongie, ICCV 2017).

Every function takes and returns tensors; none moves data between devices, prints or
touches files. Feature maps are (N, C, H, W).
"""

from __future__ import annotations

from torch import Tensor

EPS = 1e-5  # added to the variance, as in the reference implementation


def mean_std(feat: Tensor, eps: float = EPS) -> tuple[Tensor, Tensor]:
    """Per-channel mean and std over H x W. (N, C, H, W) -> 2 x (N, C, 1, 1).

    The variance is the unbiased one (torch's default), plus ``eps``: exactly what
    pytorch-AdaIN's ``calc_mean_std`` computes, so our numbers match theirs.
    """
    n, c = feat.shape[:2]
    flat = feat.reshape(n, c, -1)  # (N, C, H*W)
    var = flat.var(dim=2) + eps
    return flat.mean(dim=2).view(n, c, 1, 1), var.sqrt().view(n, c, 1, 1)


def adain_stats(content: Tensor, style_mean: Tensor, style_std: Tensor, eps: float = EPS) -> Tensor:
    """Give ``content`` (N, C, H, W) the per-channel ``style_mean``/``style_std`` (N|1, C, 1, 1)."""
    c_mean, c_std = mean_std(content, eps)
    return (content - c_mean) / c_std * style_std + style_mean


def adain(content: Tensor, style: Tensor, eps: float = EPS) -> Tensor:
    """Adaptive instance normalisation: content (N, C, H, W) with the statistics of style (N|1, C, h, w)."""
    return adain_stats(content, *mean_std(style, eps), eps)


def blend(target: Tensor, content: Tensor, alpha: float) -> Tensor:
    """``alpha * target + (1 - alpha) * content``: the paper's content-style trade-off, in feature space."""
    if alpha == 1.0:
        return target
    return target * alpha + content * (1 - alpha)  # the reference's order of operations

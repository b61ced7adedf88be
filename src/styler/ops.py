"""Pure tensor math for AdaIN (Huang & Belongie, ICCV 2017).

Every function takes and returns tensors; none moves data between devices, prints or
touches files. Feature maps are (N, C, H, W).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
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


def adain_stats(
    content: Tensor,
    style_mean: Tensor,
    style_std: Tensor,
    eps: float = EPS,
    content_stats: tuple[Tensor, Tensor] | None = None,
) -> Tensor:
    """Give ``content`` (N, C, H, W) the per-channel ``style_mean``/``style_std`` (N|1, C, 1, 1).

    ``content_stats`` (mean, std), each (N, C, 1, 1), replaces the content's own statistics:
    a tile of a large image is normalised with the whole image's statistics.
    """
    c_mean, c_std = mean_std(content, eps) if content_stats is None else content_stats
    return (content - c_mean) / c_std * style_std + style_mean


def adain(content: Tensor, style: Tensor, eps: float = EPS) -> Tensor:
    """Adaptive instance normalisation: content (N, C, H, W) with the statistics of style (N|1, C, h, w)."""
    return adain_stats(content, *mean_std(style, eps), eps)


def blend(target: Tensor, content: Tensor, alpha: float) -> Tensor:
    """``alpha * target + (1 - alpha) * content``: the paper's content-style trade-off, in feature space."""
    if alpha == 1.0:
        return target
    return target * alpha + content * (1 - alpha)  # the reference's order of operations


# -- interpolation and spatial control ----------------------------------------------------


def interpolate_adain(
    content: Tensor,
    means: list[Tensor],
    stds: list[Tensor],
    weights: list[float],
    eps: float = EPS,
    content_stats: tuple[Tensor, Tensor] | None = None,
) -> Tensor:
    """``sum_k w_k * adain(content, style_k)`` for content (N, C, H, W) and style stats (N|1, C, 1, 1).

    The weights are used as given; the engine normalises them to sum to 1 first. AdaIN is
    affine in the style statistics, so the sum is one AdaIN with the weighted mean and std
    (``norm * sum w_k std_k + sum w_k mean_k``): K styles cost one pass over the features.
    ``content_stats`` as in ``adain_stats`` (a tile normalised with the whole map's statistics).
    """
    mean = sum(w * m for w, m in zip(weights, means, strict=True))  # (N|1, C, 1, 1)
    std = sum(w * s for w, s in zip(weights, stds, strict=True))
    return adain_stats(content, mean, std, eps, content_stats)  # type: ignore[arg-type]


def region_weights(masks: Tensor) -> Tensor:
    """Masks (N|1, R, H, W) >= 0 normalised to sum to 1 over R at each position (0 where none covers)."""
    return masks / masks.sum(1, keepdim=True).clamp_min(1e-12)


def region_mean_std(content: Tensor, masks: Tensor, eps: float = EPS, rows: int = 64) -> list[tuple[Tensor, Tensor]]:
    """Each region's mask-weighted mean and std of ``content`` (N, C, H, W); masks (N|1, R, H, W).

    Unbiased (n - 1) like ``mean_std``, plus ``eps``; a one-pixel or empty region gets
    variance ``eps``, not NaN. Returns R pairs, each (N, C, 1, 1). Accumulated over strips of
    ``rows`` rows (two passes: mean, then squared deviations), so an 8K image's relu4_1 map
    (1 GB in float32) never gets full-size temporaries."""
    weights = region_weights(masks)  # (N|1, R, H, W)
    height, regions = content.shape[-2], weights.shape[1]
    total = weights.sum((2, 3))  # (N|1, R)
    strips = [
        (content[..., t : t + rows, :].flatten(2), weights[..., t : t + rows, :].flatten(2))
        for t in range(0, height, rows)
    ]  # views: (N, C, P), (N|1, R, P)
    sums = sum(w @ x.transpose(1, 2) for x, w in strips)  # (N, R, C)
    mean = sums / total.clamp_min(1e-12)[..., None]  # (N, R, C)
    stats = []
    for r in range(regions):
        m = mean[:, r, :, None]  # (N, C, 1)
        dev = sum(((x - m) ** 2 * w[:, r : r + 1]).sum(2) for x, w in strips)  # (N, C)
        var = dev / (total[:, r : r + 1] - 1).clamp_min(1) + eps
        stats.append((m[..., None], var.sqrt()[..., None, None]))
    return stats


def masked_adain(
    content: Tensor,
    masks: Tensor,
    means: list[Tensor],
    stds: list[Tensor],
    eps: float = EPS,
    region_stats: list[tuple[Tensor, Tensor]] | None = None,
) -> Tensor:
    """Per-region AdaIN: content (N, C, H, W), masks (N|1, R, H, W) >= 0, region r gets ``means[r]``/``stds[r]``.

    Masks are normalised to sum to 1 over R at each position (a pixel that no region
    covers gives 0). In region r the content is standardised with the region's own
    (mask-weighted) mean and std, then given style r's; the results are summed with the
    mask weights. For 0/1 masks this is AdaIN on each region's features alone, with the
    unbiased variance plus ``eps`` as ``mean_std``. An empty region contributes nothing.
    ``region_stats`` (from ``region_mean_std`` of the whole map) normalises a tile like the whole.
    """
    weights = region_weights(masks)  # (N|1, R, H, W)
    stats = region_mean_std(content, masks, eps) if region_stats is None else region_stats
    out = torch.zeros_like(content)
    for r, ((c_mean, c_std), s_mean, s_std) in enumerate(zip(stats, means, stds, strict=True)):
        out += weights[:, r : r + 1] * ((content - c_mean) / c_std * s_std + s_mean)
    return out


def masks_to_grid(masks: Tensor, grid: tuple[int, int]) -> Tensor:
    """Region masks (R, H, W) at image size -> (1, R, h, w) on a feature grid.

    Hard 0/1 masks are sampled (nearest, at each cell's centre) so every feature belongs to
    one region, as the original AdaIN code does; soft (e.g. feathered) masks are area-averaged."""
    hard = bool(((masks == 0) | (masks == 1)).all())
    return F.interpolate(masks[None], size=grid, mode="nearest-exact" if hard else "area")


def feather(masks: Tensor, px: float) -> Tensor:
    """Soften region boundaries: Gaussian blur (sigma = px / 2) of masks (R, H, W), renormalised over R."""
    if px <= 0:
        return masks
    sigma = px / 2
    radius = max(1, int(3 * sigma + 0.5))
    x = torch.arange(-radius, radius + 1, dtype=masks.dtype, device=masks.device)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    k = k / k.sum()  # (2r+1,)
    m = masks.unsqueeze(1)  # (R, 1, H, W)
    # Separable blur; replicate padding so a region touching the border keeps its weight there.
    m = F.conv2d(F.pad(m, (radius, radius, 0, 0), mode="replicate"), k.view(1, 1, 1, -1))
    m = F.conv2d(F.pad(m, (0, 0, radius, radius), mode="replicate"), k.view(1, 1, -1, 1))
    m = m.squeeze(1)
    return m / m.sum(0, keepdim=True).clamp_min(1e-12)


# -- training losses (Huang & Belongie 2017, section 6.2) ------------------------------------


def content_loss(out_feat: Tensor, target: Tensor) -> Tensor:
    """Lc = MSE between the output's relu4_1 (N, 512, h, w) and the AdaIN target t (N, 512, h, w).

    The target, not the content features: the paper found t converges faster and
    is what the decoder is asked to invert.
    """
    return (out_feat - target).pow(2).mean()


def style_loss(out_feats: tuple[Tensor, ...], style_feats: tuple[Tensor, ...], eps: float = EPS) -> Tensor:
    """Ls = sum over levels (relu1_1..relu4_1) of MSE(means) + MSE(stds), each level weighted 1.

    Only first- and second-order channel statistics are matched, the same ones AdaIN
    transfers, so the loss asks for nothing the network cannot represent.
    """
    total = out_feats[0].new_zeros(())
    for o, s in zip(out_feats, style_feats, strict=True):
        o_mean, o_std = mean_std(o, eps)  # (N, C, 1, 1) each
        s_mean, s_std = mean_std(s, eps)
        total = total + (o_mean - s_mean).pow(2).mean() + (o_std - s_std).pow(2).mean()
    return total


# -- Gatys optimisation losses (Gatys, Ecker & Bethge, CVPR 2016; guided: Gatys et al., CVPR 2017) --


def gram(feat: Tensor) -> Tensor:
    """Gram matrix ``F F^T / (C H W)``: (N, C, H, W) -> (N, C, C).

    Dividing by H W makes it a mean over positions, so a style's target does not depend on
    the image size; dividing by C too gives every layer's entries the same order (1 / C of a
    product of two activations), which is the normalisation the default weights are set for."""
    n, c, h, w = feat.shape
    flat = feat.reshape(n, c, h * w)  # (N, C, HW)
    return flat @ flat.transpose(1, 2) / (c * h * w)


def guided_gram(feat: Tensor, mask: Tensor) -> Tensor:
    """Gram matrix of one region: feat (N, C, H, W), mask (N|1, 1, H, W) >= 0 -> (N, C, C).

    ``(F m)(F m)^T / (C sum m^2)``: for a 0/1 mask it is ``gram`` of the region's features
    alone, comparable with a whole style image's ``gram``. An empty region gives zeros."""
    c = feat.shape[1]
    flat = (feat * mask).flatten(2)  # (N, C, HW)
    area = mask.pow(2).sum((1, 2, 3)).clamp_min(1e-12).view(-1, 1, 1)  # (N|1, 1, 1)
    return flat @ flat.transpose(1, 2) / (c * area)


def mix_grams(grams: list[tuple[Tensor, ...]], weights: list[float]) -> tuple[Tensor, ...]:
    """Style interpolation for Gatys: per layer, ``sum_k w_k G_k`` over K styles' Gram tuples."""
    return tuple(sum(w * g for w, g in zip(weights, layer, strict=True)) for layer in zip(*grams, strict=True))


def feature_loss(feat: Tensor, target: Tensor) -> Tensor:
    """Gatys content loss: MSE between feature maps (N, C, h, w) (relu4_2 of image and content)."""
    return (feat - target).pow(2).mean()


def gram_loss(feats: tuple[Tensor, ...], targets: tuple[Tensor, ...]) -> Tensor:
    """Gatys style loss: sum over layers, each weighted 1, of MSE(gram(feat_l), target_l (N|1, C, C))."""
    total = feats[0].new_zeros(())
    for f, t in zip(feats, targets, strict=True):
        total = total + (gram(f) - t).pow(2).mean()
    return total


def guided_gram_loss(feats: tuple[Tensor, ...], masks: tuple[Tensor, ...], targets: list[tuple[Tensor, ...]]) -> Tensor:
    """Spatially guided style loss: region r (masks[l][:, r], (N|1, R, h_l, w_l) per layer l)
    is compared with ``targets[r]`` (style r's Gram per layer).

    Per layer, the regions' MSEs are weighted by their share of the mask total there, so the
    loss has the scale of ``gram_loss`` and a small region does not count like a large one;
    an empty region adds nothing."""
    total = feats[0].new_zeros(())
    for layer, (f, m) in enumerate(zip(feats, masks, strict=True)):
        shares = m.sum((0, 2, 3)) / m.sum().clamp_min(1e-12)  # (R,)
        for r, style in enumerate(targets):
            if float(shares[r]) > 0:
                total = total + shares[r] * (guided_gram(f, m[:, r : r + 1]) - style[layer]).pow(2).mean()
    return total


def total_variation(image: Tensor) -> Tensor:
    """Mean squared difference between neighbouring pixels of (N, C, H, W), rows plus columns."""
    rows = (image[..., 1:, :] - image[..., :-1, :]).pow(2).mean()
    cols = (image[..., :, 1:] - image[..., :, :-1]).pow(2).mean()
    return rows + cols

"""Pure tensor math for colour preservation: CORAL (the AdaIN paper) and luminance-only
transfer in YIQ (Gatys et al. 2016). Images are (N, 3, H, W) or (3, H, W) RGB in [0, 1]."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from .ops import EPS, mean_std


def _sqrtm(cov: Tensor, power: float = 0.5) -> Tensor:
    """``cov ** power`` for a symmetric positive-definite (3, 3) matrix, via its eigen decomposition.

    The references take the square root by SVD and then invert it; for a symmetric PD
    matrix the SVD is the eigen decomposition, and ``power=-0.5`` is that inverse directly.
    """
    vals, vecs = torch.linalg.eigh(cov)
    root: Tensor = vecs @ torch.diag(vals.clamp_min(0) ** power) @ vecs.T
    return root


class RGBStats(NamedTuple):
    """Colour statistics of an image, float64: channel means and unbiased stds (3, 1), the
    channel correlation matrix (3, 3) and the pixel count. All CORAL needs of its target."""

    mean: Tensor
    std: Tensor
    corr: Tensor
    pixels: int


def rgb_stats(image: Tensor, chunk: int = 1 << 22) -> RGBStats:
    """``RGBStats`` of ``image`` (3, H, W), accumulated over row chunks of about ``chunk`` pixels
    in float64, so an 8K image never needs a full-size float64 copy."""
    flat = image.reshape(3, -1)  # (3, P), a view
    count = flat.shape[1]
    total = torch.zeros(3, 1, dtype=torch.float64, device=image.device)
    outer = torch.zeros(3, 3, dtype=torch.float64, device=image.device)
    for start in range(0, count, chunk):
        x = flat[:, start : start + chunk].double()  # (3, p)
        total += x.sum(1, keepdim=True)
        outer += x @ x.T
    mean = total / count
    cov = (outer - count * mean @ mean.T) / max(count - 1, 1)  # unbiased, (3, 3)
    std = cov.diagonal().clamp_min(0).sqrt().unsqueeze(1)  # (3, 1)
    safe = std.clamp_min(1e-12)
    return RGBStats(mean, std, cov / (safe @ safe.T), count)


def coral(source: Tensor, target: Tensor | RGBStats) -> Tensor:
    """Give ``source`` (3, H, W) the RGB channel means and covariance of ``target`` (3, h, w).

    CORAL as pytorch-AdaIN's ``function.coral`` and AdaIN-style's ``coral`` compute it:
    standardise each channel (unbiased std), form ``X X^T + I`` for both (a sum over pixels,
    so the identity is a small regulariser), map ``x -> C_t^1/2 C_s^-1/2 x``, then restore the
    target's std and mean. The result's channel means equal the target's exactly; its
    covariance equals the target's up to the identity's O(1/pixels) effect. Not clamped.

    One fix: the references' ``X X^T`` sums over pixels, so when the two images differ in
    size the result's covariance comes out scaled by ``(P_target - 1) / (P_source - 1)``.
    We rescale the target's sum to the source's pixel count; for equal sizes this is
    exactly the references' formula. The target's sum of standardised outer products is
    ``(P_t - 1) * corr``, so ``target`` may be given as its ``rgb_stats`` alone.
    """
    tgt = rgb_stats(target) if isinstance(target, Tensor) else target
    flat = source.reshape(3, -1).double()  # (3, P)
    mean, std = flat.mean(1, keepdim=True), flat.std(1, keepdim=True)  # (3, 1) each
    src = (flat - mean) / std.clamp_min(1e-12)  # a flat channel stays 0
    eye = torch.eye(3, dtype=torch.float64, device=source.device)
    src_cov = src @ src.T + eye  # (3, 3)
    tgt_cov = tgt.corr * (src.shape[1] - 1) + eye  # rescaled to P_source
    moved = _sqrtm(tgt_cov) @ _sqrtm(src_cov, -0.5) @ src  # (3, P)
    return (moved * tgt.std + tgt.mean).to(source.dtype).reshape(source.shape)


# YIQ (NTSC 1953): Y is luminance; I and Q carry the colour and are 0 for every grey.
_YIQ = ((0.299, 0.587, 0.114), (0.596, -0.274, -0.322), (0.211, -0.523, 0.312))


def _yiq(device: torch.device, inverse: bool = False) -> Tensor:
    m = torch.tensor(_YIQ, dtype=torch.float64)
    # Computed in float64: the inverse's first column is then exactly 1 in float32.
    return (torch.linalg.inv(m) if inverse else m).float().to(device)


def rgb_to_yiq(rgb: Tensor) -> Tensor:
    """(N, 3, H, W) RGB -> (N, 3, H, W) YIQ."""
    return torch.einsum("ij,njhw->nihw", _yiq(rgb.device), rgb)


def yiq_to_rgb(yiq: Tensor) -> Tensor:
    """(N, 3, H, W) YIQ -> (N, 3, H, W) RGB."""
    return torch.einsum("ij,njhw->nihw", _yiq(yiq.device, inverse=True), yiq)


def luminance(rgb: Tensor) -> Tensor:
    """(N, 3, H, W) RGB -> (N, 1, H, W) luminance Y."""
    return rgb_to_yiq(rgb)[:, :1]


def match_luminance(luma: Tensor, like: Tensor, eps: float = EPS) -> Tensor:
    """Give ``luma`` (N, 1, h, w) the mean and std of ``like`` (N, 1, H, W) (Gatys et al. 2016, eq. 1)."""
    l_mean, l_std = mean_std(luma, eps)
    t_mean, t_std = mean_std(like, eps)
    return (luma - l_mean) / l_std * t_std + t_mean


def merge_luminance(luma: Tensor, content: Tensor) -> Tensor:
    """Stylized luminance (N, 1, H, W) + the chrominance (I, Q) of ``content`` (N, 3, H, W) -> RGB.

    The content's I and Q are kept exactly. Where the new luminance would push a pixel out
    of [0, 1] RGB, the luminance (not the colour) is clamped to the range that fits: RGB is
    ``Y + d_c(I, Q)`` for each channel c, and the content's own Y is always inside that range.
    """
    iq = rgb_to_yiq(content)[:, 1:]  # (N, 2, H, W)
    offsets = torch.einsum("cj,njhw->nchw", _yiq(content.device, inverse=True)[:, 1:], iq)  # (N, 3, H, W)
    low = (-offsets).amax(1, keepdim=True)  # (N, 1, H, W)
    high = (1 - offsets).amin(1, keepdim=True)
    y = torch.minimum(torch.maximum(luma, low), high)
    return yiq_to_rgb(torch.cat([y, iq], 1)).clamp_(0, 1)  # the clamp only removes rounding error

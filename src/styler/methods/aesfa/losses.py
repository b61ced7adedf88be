"""AesFA's training losses (Kwon, Kim et al., AAAI 2024), as pure tensor functions.

    L = content_weight * L_content + style_weight * L_style + contrast_weight * L_contrast

* ``L_content``: MSE between conv3_1 of the output and of the content, on the frozen
  ``vgg_normalised`` VGG, taken *before* the ReLU as the release does;
* ``L_style``: EFDM, exact feature distribution matching (Zhang et al. 2022): per sample and
  channel, the MSE between the *sorted* values of output and style features, summed over
  conv1_1..conv4_1 (pre-ReLU). It matches whole distributions, not only mean and std;
* ``L_contrast``: for each sample, its distance to its own style over the distance to a hard
  negative (the batch's other style nearest to the output in the VGG EFDM distance), summed
  over the batch. The distance is EFDM per sample, on both bands of the encoders' stage-1 and
  stage-2 features and of the pooled style codes: netS features of the style against netE
  features of the output (stages 1, 2) and netS features of the output (stages 1, 2, code).

The release's ``efdm_single`` gathers the style's sorted values at the ranks of the output's
values and takes the MSE against the output as it is: the same value, and the same gradient,
as the MSE between the two sorted vectors, which is what ``efdm`` computes.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...nets.vgg import SLICES
from .net import Pass

# Sequential index just before each of relu1_1..relu4_1 in the vgg_normalised encoder: its
# layers [0:3] end with conv1_1, [0:10] with conv2_1, [0:17] with conv3_1, [0:30] with conv4_1.
PRE_RELU_ENDS = tuple(stop - 1 for _, stop in SLICES.values())
CONTENT_LEVEL = 2  # conv3_1


def vgg_features(layers: Sequence[nn.Module], x: Tensor) -> tuple[Tensor, ...]:
    """The VGG (``nets.vgg.Encoder``'s modules) on x (N, 3, H, W) in [0, 1] -> conv1_1, conv2_1,
    conv3_1, conv4_1 before their ReLUs: (N, 64, H, W), (N, 128, H/2, W/2), ... (N, 512, H/8, W/8).
    The ReLUs run out of place, so the taps stay pre-activation."""
    feats = []
    for i, layer in enumerate(layers[: PRE_RELU_ENDS[-1]]):
        x = F.relu(x) if isinstance(layer, nn.ReLU) else layer(x)
        if i + 1 in PRE_RELU_ENDS:
            feats.append(x)
    return tuple(feats)


def sorted_values(x: Tensor) -> Tensor:
    """(N, C, H, W) -> (N, C, H*W): each channel's values in ascending order."""
    return x.flatten(2).sort(-1).values


def efdm_each(a: Tensor, b: Tensor) -> Tensor:
    """Per-sample EFDM distance of two feature maps of equal shape (N, C, H, W) -> (N,)."""
    return (sorted_values(a) - sorted_values(b)).pow(2).flatten(1).mean(1)


def efdm(a: Tensor, b: Tensor) -> Tensor:
    """EFDM over the batch: the MSE between sorted values (the release's ``efdm_single``)."""
    return F.mse_loss(sorted_values(a), sorted_values(b))


def content_loss(output: Sequence[Tensor], content: Sequence[Tensor]) -> Tensor:
    """MSE at conv3_1 of the VGG features of output and content."""
    return F.mse_loss(output[CONTENT_LEVEL], content[CONTENT_LEVEL])


def style_loss(output: Sequence[Tensor], style: Sequence[Tensor]) -> Tensor:
    """EFDM summed over conv1_1..conv4_1, each level weighted 1."""
    return sum((efdm(o, s) for o, s in zip(output, style, strict=True)), output[0].new_zeros(()))


@torch.no_grad()
def hard_negatives(output: Sequence[Tensor], style: Sequence[Tensor]) -> Tensor:
    """For each output a, the style b != a nearest to it in the summed VGG EFDM distance: (N,) int64.

    Pairwise distances of the sorted values through ``cdist`` (never an (N, N, C*H*W) tensor)."""
    n = output[0].shape[0]
    dist = torch.zeros(n, n, device=output[0].device)
    for o, s in zip(output, style, strict=True):
        so, ss = sorted_values(o.float()).flatten(1), sorted_values(s.float()).flatten(1)  # (N, C*H*W)
        dist += torch.cdist(so[None], ss[None])[0].pow(2) / so.shape[1]
    dist.fill_diagonal_(float("inf"))
    return dist.argmin(1)


def feature_pairs(step: Pass) -> list[tuple[Tensor, Tensor]]:
    """The (style, output) feature maps the contrastive distance compares, one per band: netS of
    the style against netE of the output at stages 1 and 2, and against netS of the output at
    stages 1 and 2 and the pooled code. Ten pairs."""
    style = [step.style.stage1, step.style.stage2, step.style_code]
    by_e = [step.output_e.stage1, step.output_e.stage2]
    by_s = [step.output_s.stage1, step.output_s.stage2, step.output_code]
    octaves = list(zip(style[:2], by_e, strict=True)) + list(zip(style, by_s, strict=True))
    return [(s, o) for s_oct, o_oct in octaves for s, o in zip(s_oct, o_oct, strict=True)]


def contrastive_loss(step: Pass, negatives: Tensor) -> Tensor:
    """sum over samples b of d(style_b, output_b) / d(style_neg(b), output_b): d sums the per-sample
    EFDM of every ``feature_pairs`` pair; ``negatives`` (N,) int64 picks each sample's hard negative."""
    pos = neg = torch.zeros((), device=step.output.device)
    for s, o in feature_pairs(step):
        s_sorted, o_sorted = sorted_values(s.float()), sorted_values(o.float())  # (N, C, h*w)
        pos = pos + (s_sorted - o_sorted).pow(2).flatten(1).mean(1)  # (N,)
        neg = neg + (s_sorted[negatives] - o_sorted).pow(2).flatten(1).mean(1)
    return (pos / neg).sum()

"""Independent, plain transcriptions the tests compare against: pytorch-AdaIN (net.py,
function.py, test.py), its input transform and its CORAL colour transfer.

Used by the tests as the ground truth and by ``make bench`` as the baseline: fp32,
NCHW, the style re-encoded for every image, exactly as the reference script runs.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch import nn


def _conv(i: int, o: int) -> list[nn.Module]:
    return [nn.ReflectionPad2d((1, 1, 1, 1)), nn.Conv2d(i, o, (3, 3)), nn.ReLU()]


def reference_vgg() -> nn.Sequential:
    """net.vgg: all 53 modules of the public vgg_normalised.pth."""

    def pool():
        return nn.MaxPool2d((2, 2), (2, 2), (0, 0), ceil_mode=True)

    return nn.Sequential(
        nn.Conv2d(3, 3, (1, 1)),
        *_conv(3, 64),
        *_conv(64, 64),
        pool(),
        *_conv(64, 128),
        *_conv(128, 128),
        pool(),
        *_conv(128, 256),
        *_conv(256, 256),
        *_conv(256, 256),
        *_conv(256, 256),
        pool(),
        *_conv(256, 512),
        *_conv(512, 512),
        *_conv(512, 512),
        *_conv(512, 512),
        pool(),
        *_conv(512, 512),
        *_conv(512, 512),
        *_conv(512, 512),
        *_conv(512, 512),
    )


def reference_decoder() -> nn.Sequential:
    """net.decoder."""

    def up():
        return nn.Upsample(scale_factor=2, mode="nearest")

    return nn.Sequential(
        *_conv(512, 256),
        up(),
        *_conv(256, 256),
        *_conv(256, 256),
        *_conv(256, 256),
        *_conv(256, 128),
        up(),
        *_conv(128, 128),
        *_conv(128, 64),
        up(),
        *_conv(64, 64),
        nn.ReflectionPad2d((1, 1, 1, 1)),
        nn.Conv2d(64, 3, (3, 3)),
    )


def calc_mean_std(feat, eps=1e-5):
    n, c = feat.size()[:2]
    feat_var = feat.view(n, c, -1).var(dim=2) + eps
    feat_std = feat_var.sqrt().view(n, c, 1, 1)
    feat_mean = feat.view(n, c, -1).mean(dim=2).view(n, c, 1, 1)
    return feat_mean, feat_std


def adaptive_instance_normalization(content_feat, style_feat):
    size = content_feat.size()
    style_mean, style_std = calc_mean_std(style_feat)
    content_mean, content_std = calc_mean_std(content_feat)
    normalized_feat = (content_feat - content_mean.expand(size)) / content_std.expand(size)
    return normalized_feat * style_std.expand(size) + style_mean.expand(size)


def load_reference(vgg_sd: dict, decoder_sd: dict) -> tuple[nn.Sequential, nn.Sequential]:
    vgg, decoder = reference_vgg(), reference_decoder()
    vgg.load_state_dict(vgg_sd)
    decoder.load_state_dict(decoder_sd)
    return nn.Sequential(*list(vgg.children())[:31]).eval(), decoder.eval()


@torch.no_grad()
def style_transfer(vgg, decoder, content, style, alpha=1.0):
    """test.py's style_transfer: output size is 8 * ceil(size / 8), unclamped."""
    content_f = vgg(content)
    style_f = vgg(style)
    feat = adaptive_instance_normalization(content_f, style_f)
    feat = feat * alpha + content_f * (1 - alpha)
    return decoder(feat)


def coral(source, target):
    """function.coral of pytorch-AdaIN (also AdaIN-style's), written out in float64:
    source and target (3, H, W), the result has the source's shape."""

    def norm(x):
        f = x.reshape(3, -1).double()
        m, s = f.mean(1, keepdim=True), f.std(1, keepdim=True)
        return (f - m) / s, m, s

    def sqrtm(a):
        u, d, v = torch.svd(a)
        return u @ torch.diag(d.sqrt()) @ v.T

    s, _, _ = norm(source)
    t, tm, ts = norm(target)
    eye = torch.eye(3, dtype=torch.float64)
    moved = sqrtm(t @ t.T + eye) @ torch.inverse(sqrtm(s @ s.T + eye)) @ s
    return (moved * ts + tm).float().reshape(source.shape)


def transform(img, size, crop):
    """test.py's test_transform, torchvision's Resize(size) + CenterCrop(size) + ToTensor on a PIL
    image, written out: (1, 3, H, W) float32 in [0, 1]. size 0 = no resize (nor crop)."""
    w, h = img.size
    if size:
        short, long = sorted((w, h))
        new_short, new_long = size, int(size * long / short)
        img = img.resize((new_short, new_long) if w <= h else (new_long, new_short), Image.BILINEAR)
        if crop:
            w, h = img.size
            top, left = round((h - size) / 2.0), round((w - size) / 2.0)
            img = img.crop((left, top, left + size, top + size))
    arr = torch.tensor(np.array(img), dtype=torch.float32) / 255
    return arr.permute(2, 0, 1).unsqueeze(0)

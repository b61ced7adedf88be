"""pytorch-AdaIN's test.py (naoto0804/pytorch-AdaIN), transcribed for `make bench`: the per-image
flow a user of the reference runs, with its defaults (content and style size 512, no crop, alpha 1,
`.jpg` output). The networks are net.py's (tests/reference.py); the input transform is
torchvision's, as in test.py; the weights are whatever state dicts the caller passes (the bench's
random ones). Only the argument parsing, the colour-preservation branch and the interpolation
branch are left out (the bench uses neither).
"""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image
from torchvision import transforms
from torchvision.utils import save_image

from reference import adaptive_instance_normalization, reference_decoder, reference_vgg


def test_transform(size: int, crop: bool):
    transform_list = []
    if size != 0:
        transform_list.append(transforms.Resize(size))
    if crop:
        transform_list.append(transforms.CenterCrop(size))
    transform_list.append(transforms.ToTensor())
    return transforms.Compose(transform_list)


def style_transfer(vgg, decoder, content, style, alpha=1.0):
    assert 0.0 <= alpha <= 1.0
    content_f = vgg(content)
    style_f = vgg(style)
    feat = adaptive_instance_normalization(content_f, style_f)
    feat = feat * alpha + content_f * (1 - alpha)
    return decoder(feat)


def load_nets(vgg_sd: dict, decoder_sd: dict, device: torch.device):
    """test.py's model set-up: eval, load_state_dict, the VGG cut after relu4_1 (31 modules)."""
    decoder, vgg = reference_decoder(), reference_vgg()
    decoder.eval()
    vgg.eval()
    decoder.load_state_dict(decoder_sd)
    vgg.load_state_dict(vgg_sd)
    vgg = torch.nn.Sequential(*list(vgg.children())[:31])
    vgg.to(device)
    decoder.to(device)
    return vgg, decoder


def run(
    vgg,
    decoder,
    content_paths: list[Path],
    style_paths: list[Path],
    output_dir: Path,
    device: torch.device,
    *,
    content_size: int = 512,
    style_size: int = 512,
    crop: bool = False,
    alpha: float = 1.0,
    save_ext: str = ".jpg",
) -> list[Path]:
    """test.py's loop: every content x style, the style read and encoded again for each pair."""
    content_tf = test_transform(content_size, crop)
    style_tf = test_transform(style_size, crop)
    written = []
    for content_path in content_paths:
        for style_path in style_paths:
            content = content_tf(Image.open(str(content_path)))
            style = style_tf(Image.open(str(style_path)))
            style = style.to(device).unsqueeze(0)
            content = content.to(device).unsqueeze(0)
            with torch.no_grad():
                output = style_transfer(vgg, decoder, content, style, alpha)
            output = output.cpu()
            output_name = output_dir / f"{content_path.stem}_stylized_{style_path.stem}{save_ext}"
            save_image(output, str(output_name))
            written.append(output_name)
    return written

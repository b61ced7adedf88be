"""Small helpers shared by the benchmarks (no test fixtures imported: bench files run alone)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn


def random_layout(layers: list[nn.Module], seed: int) -> dict[str, torch.Tensor]:
    """A public-layout state dict with He-initialised convs, so activations keep their scale
    through the network (the speed of a run does not depend on the weights' values)."""
    torch.manual_seed(seed)
    seq = nn.Sequential(*layers)
    for m in seq.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.uniform_(m.bias, -0.05, 0.05)
    return seq.state_dict()


def random_weights() -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(vgg_normalised, decoder) state dicts, random but fixed, as the tests' ``weights_dir``: all 53
    VGG modules as released, and a decoder whose output stays mostly inside [0, 1]."""
    from styler.nets.vgg import decoder_layers, vgg_normalised_layers

    vgg = random_layout(vgg_normalised_layers(), 0)
    dec = random_layout(decoder_layers(), 1)
    dec["28.weight"] *= 0.1  # the last conv: small, around mid-grey, so little of the output is clamped
    dec["28.bias"].fill_(0.5)
    return vgg, dec


def write_random_weights(folder: Path) -> tuple[Path, Path]:
    """``random_weights`` saved as ``folder``/vgg_normalised.pth and decoder.pth (paths returned)."""
    vgg, dec = random_weights()
    paths = folder / "vgg_normalised.pth", folder / "decoder.pth"
    torch.save(vgg, paths[0])
    torch.save(dec, paths[1])
    return paths


@contextmanager
def restored_env(*names: str) -> Iterator[None]:
    """The environment variables ``names`` as they were before the block (benches point styler's
    weights and cache folders at temporary ones)."""
    saved = {k: os.environ.get(k) for k in names}
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

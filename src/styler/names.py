"""The named choices users make (style methods, colour modes). A leaf module without torch,
so the CLI can list them in ``--help`` without paying for ``import torch``."""

from __future__ import annotations

from enum import Enum


class MethodName(str, Enum):
    adain = "adain"  # Huang & Belongie 2017: any style, one pass of a feed-forward network
    gatys = "gatys"  # Gatys et al. 2016: optimisation, best quality, minutes per image
    cin = "cin"  # Dumoulin et al. 2017: a trained network for a fixed set of styles
    aesfa = "aesfa"  # Kwon, Kim et al. 2024: any style, octave features, style-predicted kernels
    curves = "curves"  # Chen, Kara & Cagan 2023: line drawings edited as curves, SVG out
    diffstyler = "diffstyler"  # Li 2024: Stable Diffusion + a LoRA per style, masks; the diffusion extra


class Color(str, Enum):
    """Colour preservation: ``coral`` matches each style image's colours to the content first
    (the AdaIN paper); ``luminance`` stylizes the luminance only (Gatys et al. 2016)."""

    coral = "coral"
    luminance = "luminance"

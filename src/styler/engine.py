"""Stylizer: owns the encoder, decoder, device and precision; stylizes tensors and images.

Pipeline (Huang & Belongie 2017, section 5):  t = AdaIN(f(c), f(s));
t = alpha * t + (1 - alpha) * f(c);  output = g(t), with f the VGG encoder up to relu4_1
and g the decoder. The encoder and decoder run in the chosen precision; the AdaIN
statistics and the blend always run in float32.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image
from torch import Tensor

from . import images, ops, weights
from .errors import DeviceError, InputError
from .model import Decoder, Encoder, load_decoder, load_encoder

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class StyleStats:
    """A style as AdaIN sees it: per-channel relu4_1 mean and std, each (1, 512, 1, 1) float32."""

    mean: Tensor
    std: Tensor


def pick_device(name: str = "auto") -> torch.device:
    if name not in DEVICES:
        raise DeviceError(f"unknown device '{name}'; use one of {', '.join(DEVICES)}")
    if name == "cuda" and not torch.cuda.is_available():
        raise DeviceError("--device cuda was asked for but torch sees no CUDA GPU; use --device cpu or auto")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def cpu_has_fast_bf16() -> bool:
    """AVX512-BF16 or AMX-BF16 in the CPU flags (Linux); elsewhere assume not."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def pick_precision(name: str, device: torch.device) -> str:
    """``auto``: bf16 where ``make bench`` measured it faster at over 35 dB PSNR vs fp32
    (CPUs with native bf16; CUDA GPUs with bf16 support), else fp32."""
    if name not in PRECISIONS:
        raise DeviceError(f"unknown precision '{name}'; use one of {', '.join(PRECISIONS)}")
    if name == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise DeviceError("this GPU has no bf16 support; use --precision fp16 or fp32")
    if name != "auto":
        return name
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "bf16" if cpu_has_fast_bf16() else "fp32"


def check_alpha(alpha: float) -> float:
    if not isinstance(alpha, (int, float)) or math.isnan(alpha) or not 0.0 <= alpha <= 1.0:
        raise InputError(f"alpha must be a number in [0, 1], got {alpha}; 1 = full style, 0 = content only")
    return float(alpha)


def check_weights(known: weights.KnownWeights, path: Path) -> None:
    """Raise ``WeightsError`` unless ``path`` loads safely as ``known`` (strict layout)."""
    loader = load_encoder if known is weights.VGG else load_decoder
    loader(weights.load_state_dict(path), label=str(path))


class Stylizer:
    """Loads weights once; stylizes tensors ``(N, 3, H, W)`` in [0, 1] and PIL images.

    >>> s = Stylizer.from_files()                       # weights resolved / downloaded
    >>> out = s.stylize(Image.open("photo.jpg"), Image.open("art.jpg"), alpha=0.8)
    """

    def __init__(self, encoder: Encoder, decoder: Decoder, *, device: str = "auto",
                 precision: str = "auto") -> None:
        self.device = pick_device(device)
        self.precision = pick_precision(precision, self.device)
        self.dtype = DTYPES[self.precision]
        # channels_last lets oneDNN (CPU) and cuDNN pick their fastest conv kernels.
        fmt = torch.channels_last
        self.encoder = encoder.eval().to(self.device, self.dtype, memory_format=fmt)
        self.decoder = decoder.eval().to(self.device, self.dtype, memory_format=fmt)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True

    @classmethod
    def from_files(cls, vgg: Path | None = None, decoder: Path | None = None, *, device: str = "auto",
                   precision: str = "auto", progress: weights.Progress | None = None) -> Stylizer:
        """Resolve (``--vgg``/``--decoder``, ``$STYLER_WEIGHTS_DIR``, cache; download if missing) and load."""
        vgg_path = weights.resolve(weights.VGG, vgg, progress=progress)
        dec_path = weights.resolve(weights.DECODER, decoder, progress=progress)
        enc = load_encoder(weights.load_state_dict(vgg_path), label=str(vgg_path))
        dec = load_decoder(weights.load_state_dict(dec_path), label=str(dec_path))
        return cls(enc, dec, device=device, precision=precision)

    def describe(self) -> str:
        name = torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else "CPU"
        return f"{self.device.type} ({name}), {self.precision}"

    # -- tensor API --------------------------------------------------------------------

    def _input(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != 3:
            raise InputError(f"expected an image batch (N, 3, H, W), got shape {tuple(x.shape)}")
        return x.to(self.device, self.dtype).contiguous(memory_format=torch.channels_last)

    @torch.inference_mode()
    def encode(self, x: Tensor) -> Tensor:
        """(N, 3, H, W) in [0, 1] -> relu4_1 features (N, 512, ceil(H/8), ceil(W/8)), float32."""
        return self.encoder.relu4_1(self._input(x)).float()

    @torch.inference_mode()
    def decode(self, feat: Tensor, size: tuple[int, int] | None = None) -> Tensor:
        """relu4_1 features (N, 512, h, w) -> RGB (N, 3, H, W) in [0, 1], float32.

        The decoder gives 8h x 8w; ``size`` crops it back to the content's own H x W
        (ceil-mode pooling keeps the grid anchored top-left, so the crop is exact).
        """
        out = self.decoder(feat.to(self.dtype).contiguous(memory_format=torch.channels_last))
        if size is not None:
            out = out[..., : size[0], : size[1]]
        return out.float().clamp_(0, 1).contiguous()

    @torch.inference_mode()
    def style_stats(self, style: Tensor) -> StyleStats:
        """Encode a style image (1, 3, h, w) once; reuse the result for every content image."""
        mean, std = ops.mean_std(self.encode(style))
        return StyleStats(mean, std)

    def _stats(self, style: Tensor | StyleStats) -> StyleStats:
        return style if isinstance(style, StyleStats) else self.style_stats(style)

    @torch.inference_mode()
    def transfer(self, content: Tensor, style: Tensor | StyleStats, *, alpha: float = 1.0) -> Tensor:
        """Stylize ``content`` (N, 3, H, W) with one style -> (N, 3, H, W) in [0, 1]."""
        return self.decode_adain(self.encode(content), self._stats(style), alpha=alpha,
                                 size=tuple(content.shape[-2:]))

    @torch.inference_mode()
    def decode_adain(self, fc: Tensor, stats: StyleStats, *, alpha: float = 1.0,
                     size: tuple[int, int] | None = None) -> Tensor:
        """Content features (N, 512, h, w) -> AdaIN target, alpha blend -> image (N, 3, H, W).

        Split from ``transfer`` so a content encoded once can take many styles."""
        t = ops.blend(ops.adain_stats(fc, stats.mean, stats.std), fc, check_alpha(alpha))
        return self.decode(t, size)

    # -- PIL API -----------------------------------------------------------------------

    def stylize(self, content: Image.Image, style: Image.Image, *, alpha: float = 1.0,
                content_size: int = 512, style_size: int = 512, crop: bool = False) -> Image.Image:
        """PIL in, PIL out; sizes and crop as the CLI's ``--content-size/--style-size/--crop``."""
        c = images.to_tensor(images.prepare(images.to_rgb(content), content_size, crop))
        s = images.to_tensor(images.prepare(images.to_rgb(style), style_size, crop))
        return images.to_pil(self.transfer(c, s, alpha=alpha))

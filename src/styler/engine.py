"""Stylizer: owns the encoder, decoder, device and precision; stylizes tensors and images.

Pipeline (Huang & Belongie 2017, section 5):  t = AdaIN(f(c), f(s));
t = alpha * t + (1 - alpha) * f(c);  output = g(t), with f the VGG encoder up to relu4_1
and g the decoder. The encoder and decoder run in the chosen precision; the AdaIN
statistics and the blend always run in float32.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from . import images, ops, temporal, tiling, weights
from .errors import DeviceError, InputError
from .model import Decoder, Encoder, load_decoder, load_encoder

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
MIN_SIDE = 9  # below this the relu4_1 map is 1 px wide and its reflection padding is undefined
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


def check_feather(px: float) -> float:
    if not isinstance(px, (int, float)) or not math.isfinite(px) or px < 0:
        raise InputError(f"feather must be a number of pixels >= 0, got {px}; 0 = hard edges")
    return float(px)


class Stylizer:
    """Loads weights once; stylizes tensors ``(N, 3, H, W)`` in [0, 1] and PIL images.

    >>> s = Stylizer.from_files()                       # weights resolved / downloaded
    >>> out = s.stylize(Image.open("photo.jpg"), Image.open("art.jpg"), alpha=0.8)
    """

    def __init__(self, encoder: Encoder, decoder: Decoder, *, device: str = "auto",
                 precision: str = "auto", tile: str | int = "auto") -> None:
        self.device = pick_device(device)
        # "auto" (tile only when the untiled run would not fit), "off", or a core tile side in px
        self.tile = tiling.parse_tile(tile)
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
                   precision: str = "auto", tile: str | int = "auto",
                   progress: weights.Progress | None = None) -> Stylizer:
        """Resolve (``--vgg``/``--decoder``, ``$STYLER_WEIGHTS_DIR``, cache; download if missing) and load."""
        # Each file is checked as soon as it is found, so a bad --vgg is reported before
        # anything is downloaded for the decoder.
        vgg_path = weights.resolve(weights.VGG, vgg, progress=progress)
        enc = load_encoder(weights.load_state_dict(vgg_path), label=str(vgg_path))
        dec_path = weights.resolve(weights.DECODER, decoder, progress=progress)
        dec = load_decoder(weights.load_state_dict(dec_path), label=str(dec_path))
        return cls(enc, dec, device=device, precision=precision, tile=tile)

    def describe(self) -> str:
        name = torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else "CPU"
        return f"{self.device.type} ({name}), {self.precision}"

    # -- tensor API --------------------------------------------------------------------

    def _input(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != 3:
            raise InputError(f"expected an image batch (N, 3, H, W), got shape {tuple(x.shape)}")
        if min(x.shape[-2:]) < MIN_SIDE:
            h, w = x.shape[-2:]
            raise InputError(f"image is {w}x{h} px; AdaIN needs at least {MIN_SIDE} px per side "
                             "(the relu4_1 map must be 2 px wide); use a larger image or --content-size/--style-size")
        return x.to(self.device, self.dtype).contiguous(memory_format=torch.channels_last)

    def tile_for(self, n: int, height: int, width: int) -> int | None:
        """Core tile side (px) this Stylizer uses for an (n, 3, height, width) image; None = untiled."""
        itemsize = torch.finfo(self.dtype).bits // 8
        return tiling.choose_tile(self.tile, n, height, width, itemsize, self.device)

    @torch.inference_mode()
    def encode(self, x: Tensor) -> Tensor:
        """(N, 3, H, W) in [0, 1] -> relu4_1 features (N, 512, ceil(H/8), ceil(W/8)), float32.

        Large images are encoded tile by tile (see ``tiling``) into one stitched map."""
        tile = self.tile_for(x.shape[0], *x.shape[-2:]) if x.dim() == 4 else None
        if tile is None:
            return self.encoder.relu4_1(self._input(x)).float()
        return tiling.encode_tiled(lambda t: self.encoder.relu4_1(self._input(t)), x.to(self.device), tile)

    @torch.inference_mode()
    def decode(self, feat: Tensor, size: tuple[int, int] | None = None) -> Tensor:
        """relu4_1 features (N, 512, h, w) -> RGB (N, 3, H, W) in [0, 1], float32.

        The decoder gives 8h x 8w; ``size`` crops it back to the content's own H x W
        (ceil-mode pooling keeps the grid anchored top-left, so the crop is exact).
        """
        return self._decode(feat, size, None)

    def _decode(self, feat: Tensor, size: tuple[int, int] | None,
                prep: Callable[[Tensor], Tensor] | None) -> Tensor:
        """``decode`` with ``prep`` (features -> features, per tile when tiled) applied first."""
        size = (8 * feat.shape[-2], 8 * feat.shape[-1]) if size is None else (int(size[0]), int(size[1]))
        tile = self.tile_for(feat.shape[0], *size)
        if tile is not None:
            def run(f: Tensor) -> Tensor:
                return self.decoder(f.to(self.device, self.dtype).contiguous(memory_format=torch.channels_last))
            return tiling.decode_tiled(run, feat, size, tile, prep).clamp_(0, 1)
        t = prep(feat) if prep is not None else feat
        out = self.decoder(t.to(self.device, self.dtype).contiguous(memory_format=torch.channels_last))
        return out[..., : size[0], : size[1]].float().clamp_(0, 1).contiguous()

    @torch.inference_mode()
    def style_stats(self, style: Tensor) -> StyleStats:
        """Encode a style image (1, 3, h, w) once; reuse the result for every content image."""
        mean, std = ops.mean_std(self.encode(style))
        return StyleStats(mean, std)

    def _stats(self, style: Tensor | StyleStats) -> StyleStats:
        return style if isinstance(style, StyleStats) else self.style_stats(style)

    @torch.inference_mode()
    def transfer(self, content: Tensor, style: Tensor | StyleStats, *, alpha: float = 1.0,
                 preserve_color: str | None = None) -> Tensor:
        """Stylize ``content`` (N, 3, H, W) with one style -> (N, 3, H, W) in [0, 1].

        ``preserve_color``: None, "coral" or "luminance" (keep the content's colours; see ``prepare``)."""
        if preserve_color is not None:
            return self.interpolate(content, [style], alpha=alpha, preserve_color=preserve_color)
        return self.decode_adain(self.encode(content), self._stats(style), alpha=alpha,
                                 size=tuple(content.shape[-2:]))

    @torch.inference_mode()
    def decode_adain(self, fc: Tensor, stats: StyleStats, *, alpha: float = 1.0,
                     size: tuple[int, int] | None = None) -> Tensor:
        """Content features (N, 512, h, w) -> AdaIN target, alpha blend -> image (N, 3, H, W).

        Split from ``transfer`` so a content encoded once can take many styles. The content
        statistics are taken over the whole map, also when the decoder then runs tile by tile."""
        alpha = check_alpha(alpha)
        c_stats = ops.mean_std(fc)

        def prep(f: Tensor) -> Tensor:  # a (tile of) fc -> its AdaIN target, blended
            return ops.blend(ops.adain_stats(f, stats.mean, stats.std, content_stats=c_stats), f, alpha)

        return self._decode(fc, size, prep)

    # -- PIL API -----------------------------------------------------------------------

    def stylize(self, content: Image.Image, style: Image.Image, *, alpha: float = 1.0,
                content_size: int = 512, style_size: int = 512, crop: bool = False) -> Image.Image:
        """PIL in, PIL out; sizes and crop as the CLI's ``--content-size/--style-size/--crop``."""
        c = images.to_tensor(images.prepare(images.to_rgb(content), content_size, crop))
        s = images.to_tensor(images.prepare(images.to_rgb(style), style_size, crop))
        return images.to_pil(self.transfer(c, s, alpha=alpha))

    # -- controls: interpolation, spatial masks, colour preservation --------------------

    def _rgb(self, x: Tensor, what: str) -> Tensor:
        if not isinstance(x, Tensor) or x.dim() != 4 or x.shape[1] != 3 or x.shape[0] != 1:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise InputError(f"expected the {what} as one image (1, 3, H, W), got {shape}; split batches")
        return x.to(self.device, torch.float32)

    @torch.inference_mode()
    def prepare(self, content: Tensor, styles: Sequence[Tensor | StyleStats], *,
                preserve_color: str | None = None) -> Prepared:
        """Encode one content image (1, 3, H, W) and its styles once, for any number of ``render`` calls.

        ``preserve_color="coral"``: each style image first gets the content's RGB mean and
        covariance (``ops.coral``). ``"luminance"`` (Gatys et al. 2016): content and styles are
        replaced by their luminance (as grey RGB), each style's matched to the content's
        luminance mean/std; ``render`` then puts the content's chrominance back. Both need
        style images, not precomputed ``StyleStats``: the style depends on the content.
        """
        method = check_color_method(preserve_color)
        if not styles:
            raise InputError("no style given; pass at least one style image")
        content = self._rgb(content, "content")
        source, adapted = content, list(styles)
        if method is not None:
            if any(isinstance(s, StyleStats) for s in styles):
                raise InputError("colour preservation adapts each style image to the content; "
                                 "pass style images, not StyleStats")
            adapted = [self._rgb(s, "style") for s in styles]
        if method == "coral":
            adapted = [ops.coral(s[0], content[0]).unsqueeze(0) for s in adapted]
        elif method == "luminance":
            luma = ops.luminance(content)                                     # (1, 1, H, W)
            source = luma.expand(-1, 3, -1, -1)                               # grey RGB
            adapted = [ops.match_luminance(ops.luminance(s), luma).expand(-1, 3, -1, -1) for s in adapted]
        return Prepared(content, self.encode(source), tuple(self._stats(s) for s in adapted), method)

    @torch.inference_mode()
    def render(self, prep: Prepared, *, weights: Sequence[float] | None = None, masks: Tensor | None = None,
               alpha: float = 1.0, feather: float = 0.0) -> Tensor:
        """One stylized image (1, 3, H, W) in [0, 1] from a ``prepare``d content.

        Without ``masks``: the target is ``sum_k w_k * AdaIN(f(c), style_k)`` with ``weights``
        normalised to sum to 1 (equal weights when None). With ``masks`` (R, H', W'), one per
        style, >= 0, any size: per-region AdaIN (``ops.masked_adain``) on the relu4_1 grid;
        ``feather`` blurs the boundaries over about that many content pixels. Then the alpha
        blend with f(c), the decoder and, for luminance, the content's chrominance.
        """
        alpha = check_alpha(alpha)
        fc = prep.feat                                                        # (1, 512, h, w)
        means, stds = [s.mean for s in prep.styles], [s.std for s in prep.styles]
        if masks is not None:
            if weights is not None:
                raise InputError("pass interpolation weights or region masks, not both")
            regions = self._feature_masks(masks, len(prep.styles), tuple(prep.content.shape[-2:]),
                                          tuple(fc.shape[-2:]), feather)
            target = ops.masked_adain(fc, regions, means, stds)
        else:
            target = ops.interpolate_adain(fc, means, stds, normalize_weights(weights, len(prep.styles)))
        out = self.decode(ops.blend(target, fc, alpha), tuple(prep.content.shape[-2:]))
        if prep.preserve_color == "luminance":
            out = ops.merge_luminance(ops.luminance(out), prep.content)
        return out

    def _feature_masks(self, masks: Tensor, count: int, size: tuple[int, int], grid: tuple[int, int],
                       feather: float) -> Tensor:
        """Masks (R, H', W') -> weights (1, R, h, w) on the relu4_1 grid.

        Like the original, hard 0/1 masks are sampled (nearest, at each 8 x 8 cell's centre),
        so every feature belongs to one region; feathered masks are blurred at the content's
        size and then area-averaged, giving soft weights.
        """
        if not isinstance(masks, Tensor) or masks.dim() != 3 or masks.shape[0] != count:
            shape = tuple(masks.shape) if isinstance(masks, Tensor) else type(masks).__name__
            raise InputError(f"expected {count} region masks (R, H, W), one per style, got {shape}")
        feather = check_feather(feather)
        m = masks.to(self.device, torch.float32)
        if not bool(torch.isfinite(m).all()) or bool((m < 0).any()):
            raise InputError("region masks must be finite and >= 0")
        if tuple(m.shape[-2:]) != size:
            m = F.interpolate(m[None], size=size, mode="nearest-exact")[0]    # (R, H, W)
        if feather > 0:
            m = ops.feather(m, feather)
            return F.interpolate(m[None], size=grid, mode="area")
        hard = bool(((m == 0) | (m == 1)).all())
        return F.interpolate(m[None], size=grid, mode="nearest-exact" if hard else "area")

    @torch.inference_mode()
    def interpolate(self, content: Tensor, styles: Sequence[Tensor | StyleStats],
                    weights: Sequence[float] | None = None, *, alpha: float = 1.0,
                    preserve_color: str | None = None) -> Tensor:
        """Style interpolation: content (N, 3, H, W), K styles, K weights -> (N, 3, H, W).

        The target is ``sum_k w_k * AdaIN(f(c), f(s_k))`` with the weights normalised to
        sum to 1 (equal when None), then the alpha blend and the decoder."""
        check_alpha(alpha)
        normalize_weights(weights, len(styles))
        if check_color_method(preserve_color) is None:
            styles = [self._stats(s) for s in styles]                         # encode each style once
        return torch.cat([self.render(self.prepare(c, styles, preserve_color=preserve_color),
                                      weights=weights, alpha=alpha) for c in content.split(1)])

    @torch.inference_mode()
    def transfer_masked(self, content: Tensor, masks: Tensor, styles: Sequence[Tensor | StyleStats], *,
                        alpha: float = 1.0, preserve_color: str | None = None, feather: float = 0.0) -> Tensor:
        """Spatial control: region r of ``masks`` (R, H', W') takes ``styles[r]``; content (N, 3, H, W)."""
        check_alpha(alpha)
        if check_color_method(preserve_color) is None:
            styles = [self._stats(s) for s in styles]
        return torch.cat([self.render(self.prepare(c, styles, preserve_color=preserve_color),
                                      masks=masks, alpha=alpha, feather=feather) for c in content.split(1)])


    # -- streams (video) ---------------------------------------------------------------

    @torch.inference_mode()
    def stylize_frames(self, batches: Iterable[Tensor], style: Tensor | StyleStats | Sequence[Tensor | StyleStats],
                       *, alpha: float = 1.0, smooth: float = 0.0, preserve_color: str | None = None,
                       masks: Tensor | None = None, feather: float = 0.0) -> Iterator[Tensor]:
        """Consecutive frame batches (N, 3, H, W) in [0, 1] -> stylized batches, same shapes, in order.

        ``style``: one style, or with ``masks`` (R, H', W', a still mask for every frame) one
        per region. Styles are encoded once; plain frames go through the model a batch at a
        time. ``preserve_color``/``masks`` use ``prepare``/``render`` frame by frame (with
        colour preservation each style is re-adapted to every frame's colours). ``smooth`` in
        [0, 1) is ``temporal.TemporalFilter``'s strength (0 = off: exactly the image path)."""
        alpha = check_alpha(alpha)
        styles = list(style) if isinstance(style, (list, tuple)) else [style]
        if masks is None and len(styles) != 1:
            raise InputError(f"got {len(styles)} styles for one video; give one, or a mask with one region per style")
        if check_color_method(preserve_color) is None:
            styles = [self._stats(s) for s in styles]                         # encode each style once
        steady = temporal.TemporalFilter(smooth)
        for x in batches:
            if preserve_color is None and masks is None:
                y = self.decode_adain(self.encode(x), styles[0], alpha=alpha, size=tuple(x.shape[-2:]))
            else:
                y = torch.cat([self.render(self.prepare(c, styles, preserve_color=preserve_color), masks=masks,
                                           alpha=alpha, feather=feather) for c in x.split(1)])
            yield steady(x, y)

@dataclass(frozen=True)
class Prepared:
    """A content image ready for ``Stylizer.render``: encoded once, its styles adapted to it."""

    content: Tensor                 # (1, 3, H, W) float32, as given: luminance takes its chrominance back
    feat: Tensor                    # (1, 512, h, w) relu4_1 of the content (or of its luminance)
    styles: tuple[StyleStats, ...]  # one per style, after colour adaptation
    preserve_color: str | None


COLOR_METHODS = ("coral", "luminance")


def check_color_method(method: str | None) -> str | None:
    if method is not None and method not in COLOR_METHODS:
        raise InputError(f"unknown colour method '{method}'; use one of {', '.join(COLOR_METHODS)}")
    return method


def normalize_weights(weights: Sequence[float] | None, count: int) -> list[float]:
    """Interpolation weights -> the same divided by their sum; equal weights when None."""
    if count < 1:
        raise InputError("no style given; pass at least one style image")
    if weights is None:
        return [1.0 / count] * count
    try:
        w = [float(x) for x in weights]
    except (TypeError, ValueError):
        raise InputError(f"weights must be numbers, got {list(weights)}") from None
    if len(w) != count:
        raise InputError(f"got {len(w)} weight(s) for {count} style(s); give exactly one weight per style")
    if not all(math.isfinite(x) for x in w):
        raise InputError(f"weights must be finite numbers, got {','.join(map(str, w))}")
    if any(x < 0 for x in w):
        raise InputError(f"weights must not be negative, got {','.join(map(str, w))}; use 0 to leave a style out")
    total = sum(w)
    if total <= 0:
        raise InputError("the weights sum to 0; give at least one positive weight")
    return [x / total for x in w]

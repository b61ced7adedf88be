"""Image I/O at the edge: files <-> float RGB tensors in [0, 1], (1, 3, H, W).

Resizing follows the reference's ``test_transform`` (torchvision ``Resize(size)`` on a PIL
image: shorter side to ``size``, bilinear, the long side truncated; ``CenterCrop``), so
our inputs are bit-identical to pytorch-AdaIN's.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torch import Tensor

from ..errors import InputError, OutputError, Param
from .files import atomic_path

# Output format by extension; anything else is refused before any compute.
FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".webp": "WEBP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".bmp": "BMP",
}
VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".wmv", ".flv", ".mpg", ".mpeg", ".ts", ".3gp"}
# Extensions picked up when a directory is given as input.
IMAGE_SUFFIXES = {*FORMATS, ".gif", ".ppm", ".pgm", ".pbm", ".jp2", ".jxl", ".heic", ".avif", ".ico"}

# Pixel budget for an image after resizing (content, style, mask target, video frame). 40 MP holds
# 8K UHD (7680 x 4320 = 33.2 MP) and DCI 8K (8192 x 4320 = 35.4 MP) with room to spare, while a
# degenerate aspect ratio (1 x 3000 px at content_size=512 -> 512 x 1536000 = 786 MP) is refused
# before a resize that alone would take minutes and gigabytes. At 40 MP one fp32 relu1_1 map is
# already 10 GB, so anything bigger is a deliberate choice: pass a larger max_pixels (0 = no budget).
MAX_PIXELS = 40_000_000
SOURCE = "styler.source"  # key in a PIL image's info: the file it was read from


def open_rgb(path: Path, draft: int = 0) -> Image.Image:
    """Read any image Pillow reads as 8-bit RGB, upright (EXIF orientation applied).

    ``draft`` > 0 lets JPEGs decode at a reduced scale that keeps both sides >= ``draft``
    px (training reads 5000 px WikiArt scans only to resize them to 512: most of the time)."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path} is a directory; pass an image file")
    if not path.is_file():
        raise InputError(f"{path} does not exist; check the path")
    _quiet_pillow()
    try:
        with Image.open(path) as img:
            if draft > 0:
                img.draft("RGB", (draft, draft))
            img = ImageOps.exif_transpose(img)
            img.load()
    except Image.DecompressionBombError:
        raise InputError(
            f"{path} is too large for a safe decode (over {2 * Image.MAX_IMAGE_PIXELS} pixels); downscale it first"
        ) from None
    except UnidentifiedImageError:
        if is_video(path):
            raise InputError(f"{path} is a video; stylize it with `styler video {path} STYLE`") from None
        raise InputError(f"{path} is not an image Pillow can read; convert it to PNG or JPEG") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise InputError(f"{path} cannot be decoded ({e}); the file may be truncated or corrupt") from None
    img = to_rgb(img)
    img.info[SOURCE] = path.name  # names the file in prepare's errors (resize and crop keep info)
    return img


def is_video(path: Path) -> bool:
    """A video file by its extension or its first bytes (MP4/MOV 'ftyp', Matroska/WebM, AVI)."""
    if Path(path).suffix.lower() in VIDEO_SUFFIXES:
        return True
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError:
        return False
    return head[4:8] == b"ftyp" or head[:4] == b"\x1aE\xdf\xa3" or (head[:4] == b"RIFF" and head[8:11] == b"AVI")


# Bomb-sized images fail in open_rgb; the warnings Pillow raises on odd files (EXIF, palette,
# malformed MPO/TIFF tags, near-bomb sizes) are noise. Ignored through the process-wide filter
# list, restricted to warnings Pillow itself raises: ``warnings.catch_warnings`` swaps that list
# for the whole process and is not safe while prefetch threads decode at the same time.
_PILLOW_NOISE = (
    ("ignore", None, UserWarning, re.compile(r"PIL\."), 0),
    ("ignore", None, Image.DecompressionBombWarning, re.compile(r"PIL\."), 0),
)


def _quiet_pillow() -> None:
    """Put the Pillow-only ignore rules first in the filter list (once; again only if a later
    ``simplefilter``, e.g. pytest's or ``-W error``, went in front of them)."""
    if any(rule not in warnings.filters[: len(_PILLOW_NOISE) * 2] for rule in _PILLOW_NOISE):
        for _, _, category, module, _ in _PILLOW_NOISE:
            warnings.filterwarnings("ignore", category=category, module=module.pattern)


def to_rgb(img: Image.Image) -> Image.Image:
    """Grayscale, palette, CMYK, 16-bit and alpha images -> 8-bit RGB."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16/32-bit grayscale: Pillow's convert("RGB") would clip, so rescale to 8 bits.
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        img = Image.fromarray(np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        # Transparent pixels keep whatever colour was stored; composite on white instead.
        rgba = img.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(bg, rgba)
    return img.convert("RGB") if img.mode != "RGB" else img


def resized_size(w: int, h: int, size: int) -> tuple[int, int]:
    """Shorter side to ``size`` (0: unchanged), as torchvision's ``Resize(int)``."""
    if size == 0:
        return w, h
    if w <= h:
        return size, int(size * h / w)
    return int(size * w / h), size


def result_size(w: int, h: int, size: int, crop: bool = False) -> tuple[int, int]:
    """(w, h) that ``prepare`` makes of a (w, h) image: the shorter side to ``size``, then with
    ``crop`` the central square, whose side is that shorter side."""
    w, h = resized_size(w, h, size)
    return (min(w, h),) * 2 if crop else (w, h)


def check_pixels(
    w: int, h: int, max_pixels: int, what: str = "image", fixes: tuple[tuple[str | Param, ...], ...] = ()
) -> None:
    """Refuse a (w, h) result over ``max_pixels`` (0 = no budget) with one line naming the size
    and ``fixes`` (each the parts of a setting that would fit); call it before resizing or computing."""
    check_budget(max_pixels)
    if max_pixels and w * h > max_pixels:
        mp = w * h / 1e6
        amount = f"{mp:.0f}" if mp >= 10 else f"{mp:.2g}"
        listed = [part for fix in fixes for part in (", ", *fix)][1:]
        raise InputError(
            f"{what} would be {w} x {h} px ({amount} MP) after resizing, over ",
            Param("max_pixels", max_pixels),
            "; use ",
            *listed,
            " or " if fixes else "",
            "a larger ",
            Param("max_pixels"),
        )


def check_budget(max_pixels: int) -> None:
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 0:
        raise InputError(Param("max_pixels"), f" must be a whole number >= 0 (0 = no limit), got {max_pixels}")


def check_resize(
    w: int,
    h: int,
    size: int,
    crop: bool,
    max_pixels: int,
    what: str = "image",
    *,
    size_name: str = "content_size",
    can_crop: bool = True,
) -> tuple[int, int]:
    """``result_size`` of a (w, h) image, refused (``check_pixels``) over ``max_pixels`` with the
    settings that would fit: ``size_name=0`` when the image fits at its own size, else a
    ``size_name`` about as large as fits; and ``crop=True`` when the square fits."""
    check_budget(max_pixels)
    rw, rh = result_size(w, h, size, crop)
    if not max_pixels or rw * rh <= max_pixels:
        return rw, rh
    fixes: list[tuple[str | Param, ...]] = []
    if size and math.prod(result_size(w, h, 0, crop)) <= max_pixels:
        fixes.append((Param(size_name, 0),))
    else:
        short, long = sorted((w, h))
        best = math.isqrt(max_pixels) if crop else math.isqrt(max_pixels * short // long)
        while best > 0 and (best * best if crop else best * int(best * long / short)) > max_pixels:
            best -= 1  # resized_size truncates the long side; step down until it really fits
        if best > 0:
            fixes.append((Param(size_name, best),))
    if can_crop and not crop and min(rw, rh) ** 2 <= max_pixels:
        fixes.append((Param("crop", True),))
    check_pixels(rw, rh, max_pixels, what, tuple(fixes))
    return rw, rh


def prepare(
    img: Image.Image,
    size: int = 512,
    crop: bool = False,
    *,
    max_pixels: int = MAX_PIXELS,
    what: str | None = None,
    size_name: str = "content_size",
) -> Image.Image:
    """Resize the shorter side to ``size`` (0 keeps it) and optionally centre-crop a square.

    A result over ``max_pixels`` is refused before any resize (``check_resize``); ``what``
    (default: the file ``open_rgb`` read, else "image") and ``size_name`` (``content_size`` or
    ``style_size``) word that error."""
    what = what or img.info.get(SOURCE, "image")
    check_resize(*img.size, size, crop, max_pixels, what, size_name=size_name)
    w0, h0 = img.size
    w, h = resized_size(w0, h0, size)
    side = min(w, h)
    left, top = round((w - side) / 2.0), round((h - side) / 2.0)
    if crop and max_pixels and w * h > max_pixels:
        # The whole resized image would be over budget (1 x 3000 px at 512: 786 MP, 20 s and
        # 2 GB before the crop), so resample only the square's source box. Pillow may then
        # order its two passes differently, so this rare path is within 1/255 of the reference.
        sx, sy = w0 / w, h0 / h
        box = (left * sx, top * sy, (left + side) * sx, (top + side) * sy)
        return img.resize((side, side), Image.Resampling.BILINEAR, box=box)
    if (w, h) != img.size:
        img = img.resize((w, h), Image.Resampling.BILINEAR)
    if crop:
        img = img.crop((left, top, left + side, top + side))
    return img


def to_tensor(img: Image.Image) -> Tensor:
    """8-bit RGB PIL image -> (1, 3, H, W) float32 in [0, 1]."""
    arr = torch.from_numpy(np.asarray(img, dtype=np.uint8).copy())  # (H, W, 3)
    return arr.permute(2, 0, 1).unsqueeze(0).float().div_(255)


def to_pil(t: Tensor) -> Image.Image:
    """(1, 3, H, W) or (3, H, W) float in [0, 1] -> 8-bit RGB, rounded as torchvision's save_image."""
    t = t.detach().float().cpu()
    if t.dim() == 4:
        t = t[0]
    arr = t.mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    return Image.fromarray(arr, "RGB")


def load_image(
    path: Path, size: int = 512, crop: bool = False, *, max_pixels: int = MAX_PIXELS, size_name: str = "content_size"
) -> Tensor:
    """Read, resize and crop an image file -> (1, 3, H, W) float RGB in [0, 1]; a result over
    ``max_pixels`` is refused before the resize (pass ``size_name="style_size"`` for a style)."""
    return to_tensor(prepare(open_rgb(path), size, crop, max_pixels=max_pixels, size_name=size_name))


def output_format(path: Path) -> str:
    fmt = FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise InputError(
            f"cannot write {Path(path).name}: unknown image extension "
            f"'{Path(path).suffix}'; use one of {', '.join(sorted(FORMATS))}"
        )
    return fmt


def save_image(img: Tensor | Image.Image, path: Path, *, protect: tuple[Path, ...] = ()) -> Path:
    """Write atomically (temp file in the same folder, then rename); never over ``protect``.

    TIFF gets 16 bits per channel (through imageio; Pillow writes 8-bit RGB only), so print work
    keeps the model's float precision; every other format is 8-bit."""
    path = Path(path)
    fmt = output_format(path)
    if any(_same_file(path, p) for p in protect):
        raise OutputError(f"refusing to overwrite input {path}; choose another output name")
    with atomic_path(path, "choose a writable output") as tmp:
        if fmt == "TIFF" and isinstance(img, Tensor):
            import imageio.v3 as iio

            iio.imwrite(tmp, to_uint16(img), extension=".tif")
        else:
            pil = img if isinstance(img, Image.Image) else to_pil(img)
            pil.save(tmp, format=fmt, **({"quality": 95} if fmt in ("JPEG", "WEBP") else {}))
    return path


def to_uint16(t: Tensor) -> np.ndarray:
    """(1, 3, H, W) or (3, H, W) float in [0, 1] -> (H, W, 3) uint16, rounded to nearest."""
    t = t.detach().float().cpu()
    t = t[0] if t.dim() == 4 else t
    return t.mul(65535).add_(0.5).clamp_(0, 65535).to(torch.int32).permute(1, 2, 0).numpy().astype(np.uint16)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False

"""Image I/O at the edge: files <-> float RGB tensors in [0, 1], (1, 3, H, W).

Resizing follows the reference's ``test_transform`` (torchvision ``Resize(size)`` on a PIL
image: shorter side to ``size``, bilinear, the long side truncated; ``CenterCrop``), so
our inputs are bit-identical to pytorch-AdaIN's.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torch import Tensor

from .errors import InputError, OutputError
from .files import atomic_path

# Output format by extension; anything else is refused before any compute.
FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP",
           ".tif": "TIFF", ".tiff": "TIFF", ".bmp": "BMP"}
# Extensions picked up when a directory is given as input.
IMAGE_SUFFIXES = {*FORMATS, ".gif", ".ppm", ".pgm", ".pbm", ".jp2", ".jxl", ".heic", ".avif", ".ico"}


def open_rgb(path: Path, draft: int = 0) -> Image.Image:
    """Read any image Pillow reads as 8-bit RGB, upright (EXIF orientation applied).

    ``draft`` > 0 lets JPEGs decode at a reduced scale that keeps both sides >= ``draft``
    px (training reads 5000 px WikiArt scans only to resize them to 512: most of the time)."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path} is a directory; pass an image file")
    if not path.is_file():
        raise InputError(f"{path} does not exist; check the path")
    try:
        with warnings.catch_warnings():
            # Bomb-sized images fail below; EXIF and palette warnings on odd files are noise.
            warnings.simplefilter("ignore")
            with Image.open(path) as img:
                if draft > 0:
                    img.draft("RGB", (draft, draft))
                img = ImageOps.exif_transpose(img)
                img.load()
    except Image.DecompressionBombError:
        raise InputError(f"{path} is too large for a safe decode (over {2 * Image.MAX_IMAGE_PIXELS} "
                         "pixels); downscale it first") from None
    except UnidentifiedImageError:
        raise InputError(f"{path} is not an image Pillow can read; convert it to PNG or JPEG") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise InputError(f"{path} cannot be decoded ({e}); the file may be truncated or corrupt") from None
    return to_rgb(img)


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


def prepare(img: Image.Image, size: int = 512, crop: bool = False) -> Image.Image:
    """Resize the shorter side to ``size`` (0 keeps it) and optionally centre-crop a square."""
    w, h = resized_size(*img.size, size)
    if (w, h) != img.size:
        img = img.resize((w, h), Image.Resampling.BILINEAR)
    if crop:
        side = min(w, h)
        left, top = int(round((w - side) / 2.0)), int(round((h - side) / 2.0))
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


def load_image(path: Path, size: int = 512, crop: bool = False) -> Tensor:
    """Read, resize and crop an image file -> (1, 3, H, W) float RGB in [0, 1]."""
    return to_tensor(prepare(open_rgb(path), size, crop))


def output_format(path: Path) -> str:
    fmt = FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise InputError(f"cannot write {Path(path).name}: unknown image extension "
                         f"'{Path(path).suffix}'; use one of {', '.join(sorted(FORMATS))}")
    return fmt


def save_image(img: Tensor | Image.Image, path: Path, *, protect: tuple[Path, ...] = ()) -> Path:
    """Write atomically (temp file in the same folder, then rename); never over ``protect``."""
    path = Path(path)
    fmt = output_format(path)
    if any(_same_file(path, p) for p in protect):
        raise OutputError(f"refusing to overwrite input {path}; choose another output name")
    pil = img if isinstance(img, Image.Image) else to_pil(img)
    with atomic_path(path, "choose a writable output") as tmp:
        pil.save(tmp, format=fmt, **({"quality": 95} if fmt in ("JPEG", "WEBP") else {}))
    return path


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def list_images(path: Path) -> list[Path]:
    """A file as itself; a directory as its image files (sorted, not recursive)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path} does not exist; check the path")
    if path.is_file():
        return [path]
    found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not found:
        raise InputError(f"{path} holds no image files; pass an image or a folder of images")
    return found


# -- region masks and contact sheets --------------------------------------------------------

BINARY_THRESHOLD = 128  # grey level (of 255) from which a binary-mask pixel takes the first style


def load_regions(path: Path, size: tuple[int, int], count: int, crop: bool = False) -> Tensor:
    """A mask or label image -> (count, H, W) float 0/1 region masks at the content's ``size`` (H, W).

    The rule (also in the README):

    - Label image: if the image has exactly ``count`` distinct colours, each colour is a
      region. Regions are ordered brightest first (luminance 0.299 R + 0.587 G + 0.114 B,
      ties by (R, G, B) descending): the brightest colour takes the first style, the
      darkest the last. Resized to the content with nearest neighbour (no new colours).
    - Binary mask: otherwise, with two styles, pixels whose grey level is >= 50% (128 of
      255) take the first style and the others the second, so anti-aliased, JPEG or
      all-white masks work. Resized bilinearly, then thresholded.

    A black-and-white mask gives the same regions under both rules: white = first style.
    ``crop`` centre-crops the mask to a square before resizing, as ``--crop`` does to the
    content (colours are still counted on the whole mask).
    """
    path = Path(path)
    if count < 2:
        raise InputError(f"a mask needs at least two styles (one per region), got {count}; "
                         "use styler transfer for one style")
    img = open_rgb(path)
    h, w = size
    rgb = np.asarray(img, dtype=np.uint8)                                   # (H', W', 3)
    codes = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
    colours = np.unique(codes)                  # counted on the whole mask, so --crop changes no mapping
    img = prepare(img, 0, crop)
    if len(colours) == count:
        r, g, b = colours >> 16, (colours >> 8) & 255, colours & 255
        order = np.lexsort((-b, -g, -r, -(0.299 * r + 0.587 * g + 0.114 * b)))  # last key sorts first
        small = np.asarray(img.resize((w, h), Image.Resampling.NEAREST), dtype=np.uint8).astype(np.int64)
        small = (small[..., 0] << 16) | (small[..., 1] << 8) | small[..., 2]   # (H, W)
        masks = np.stack([small == colours[i] for i in order])            # (count, H, W)
        return torch.from_numpy(masks).float()
    if count != 2:
        raise InputError(f"{path.name} has {len(colours)} distinct colours but {count} styles were given; "
                         "a label image needs one colour per style (brightest = first style), saved as PNG")
    grey = np.asarray(img.convert("L").resize((w, h), Image.Resampling.BILINEAR))  # (H, W) uint8
    first = torch.from_numpy(grey >= BINARY_THRESHOLD).float()
    return torch.stack([first, 1 - first])


def fit(img: Tensor, size: tuple[int, int]) -> Tensor:
    """Scale and centre-crop an image (1, 3, h, w) to fill exactly ``size`` (H, W): a thumbnail."""
    pil = ImageOps.fit(to_pil(img), (size[1], size[0]), Image.Resampling.BICUBIC)
    return to_tensor(pil)


def contact_sheet(rows: list[list[Tensor | None]], gap: int = 4) -> Tensor:
    """Tiles (1, 3, H, W), all one size, laid out in rows on white with ``gap`` px between.

    ``None`` leaves a cell blank. Returns (1, 3, rows * (H + gap) - gap, cols * (W + gap) - gap).
    """
    tiles = [t for row in rows for t in row if t is not None]
    if not tiles:
        raise InputError("a contact sheet needs at least one image")
    th, tw = tiles[0].shape[-2:]
    cols = max(len(row) for row in rows)
    sheet = torch.ones(1, 3, len(rows) * (th + gap) - gap, cols * (tw + gap) - gap)
    for i, row in enumerate(rows):
        for j, tile in enumerate(row):
            if tile is not None:
                top, left = i * (th + gap), j * (tw + gap)
                sheet[..., top : top + th, left : left + tw] = tile.detach().float().cpu()
    return sheet

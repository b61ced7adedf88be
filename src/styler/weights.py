"""Known pretrained weights: where they come from, where they live, and safe loading.

The table follows torchvision's ``Weights`` idea (url, hash, metadata) without its
registry. The pytorch-AdaIN release publishes no checksums, so a fetched file is checked
structurally (safe unpickling, exact keys and shapes, finite values) and its SHA-256 is
recorded beside it; ``styler weights verify`` then detects later corruption.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from .errors import WeightsError
from .files import atomic_path

RELEASE = "https://github.com/naoto0804/pytorch-AdaIN/releases/download/v0.0.0"
ENV_DIR = "STYLER_WEIGHTS_DIR"

Progress = Callable[[int, int | None], None]  # (bytes done, total bytes or None)


@dataclass(frozen=True)
class KnownWeights:
    name: str          # "vgg" or "decoder": the CLI flag that overrides it
    filename: str
    url: str
    sha256: str | None  # None where the publisher gives none
    meta: dict = field(default_factory=dict)


VGG = KnownWeights(
    "vgg", "vgg_normalised.pth", f"{RELEASE}/vgg_normalised.pth", None,
    {"arch": "vgg19_normalised", "layers": "conv1_1..relu5_4 (53 modules)", "used_up_to": "relu4_1",
     "input": "RGB in [0, 1], NCHW", "source": "Gatys et al. normalised VGG-19, converted by pytorch-AdaIN"},
)
DECODER = KnownWeights(
    "decoder", "decoder.pth", f"{RELEASE}/decoder.pth", None,
    {"arch": "adain_decoder", "encoder": "vgg19_normalised relu4_1", "output": "RGB, about [0, 1]",
     "trained_on": "MS-COCO content, WikiArt styles (Huang & Belongie 2017)"},
)
KNOWN = {w.name: w for w in (VGG, DECODER)}


def default_dir() -> Path:
    """``$STYLER_WEIGHTS_DIR`` if set, else ``$XDG_CACHE_HOME/styler`` (``~/.cache/styler``)."""
    if os.environ.get(ENV_DIR):
        return Path(os.environ[ENV_DIR]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "styler"


def resolve(known: KnownWeights, explicit: Path | None = None, *, download: bool = True,
            progress: Progress | None = None) -> Path:
    """The file to load: ``explicit`` if given, else the weights directory's copy,
    downloaded there first if it is missing and ``download`` allows."""
    if explicit is not None:
        path = Path(explicit).expanduser()
        if path.is_dir():
            raise WeightsError(f"--{known.name} {path} is a directory; pass the {known.filename} file itself")
        if not path.is_file():
            raise WeightsError(f"--{known.name} {path} does not exist; check the path")
        return path
    path = default_dir() / known.filename
    if path.is_file():
        return path
    if not download:
        raise WeightsError(f"{known.filename} is not in {path.parent}; run `styler weights download`")
    return fetch(known, path.parent, progress=progress)


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


Check = Callable[[Path], None]  # raises WeightsError if the file is not usable as weights


def fetch(known: KnownWeights, directory: Path, *, progress: Progress | None = None,
          url: str | None = None, check: Check | None = None) -> Path:
    """Download ``known`` into ``directory`` atomically (temp file, checks, rename)."""
    url = url or known.url
    dest = directory / known.filename
    with atomic_path(dest, f"set {ENV_DIR} to a writable directory") as tmp:
        try:
            with urllib.request.urlopen(url, timeout=30) as resp, open(tmp, "wb") as out:
                total = int(resp.headers.get("Content-Length") or 0) or None
                done = 0
                while chunk := resp.read(1 << 20):
                    out.write(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, total)
        except (urllib.error.URLError, OSError, ValueError) as e:
            reason = getattr(e, "reason", None) or e
            raise WeightsError(
                f"cannot download {known.filename} from {url} ({reason}); offline? download it by hand "
                f"and put it in {directory} (or run `styler weights import FILE`)") from None
        if total is not None and done != total:
            raise WeightsError(f"download of {url} was cut short ({done} of {total} bytes); run it again")
        digest = sha256_of(tmp)
        if known.sha256 and digest != known.sha256:
            raise WeightsError(f"{url} has SHA-256 {digest[:12]}..., expected {known.sha256[:12]}...; "
                               "the file may be tampered with, do not use it")
        (check or load_state_dict)(tmp)  # structural check before it takes the real name
    record_hash(dest, digest)
    return dest


def install(known: KnownWeights, source: Path, directory: Path, *, check: Check | None = None) -> Path:
    """Copy a local file into ``directory`` under its known name, checked, atomically."""
    source = Path(source).expanduser()
    (check or load_state_dict)(source)
    dest = directory / known.filename
    if not (dest.exists() and os.path.samefile(source, dest)):
        with atomic_path(dest, f"set {ENV_DIR} to a writable directory") as tmp:
            shutil.copyfile(source, tmp)
    record_hash(dest, sha256_of(dest))
    return dest


def record_hash(path: Path, digest: str) -> None:
    """Write ``path.sha256`` so later ``verify`` runs can detect corruption."""
    path.with_name(path.name + ".sha256").write_text(f"{digest}  {path.name}\n")


def recorded_hash(path: Path) -> str | None:
    side = path.with_name(path.name + ".sha256")
    return side.read_text().split()[0] if side.is_file() else None


def safe_load(path: Path, label: str, fix: str) -> object:
    """``torch.load`` that never executes pickled code; any failure is one ``WeightsError``
    line naming ``label`` and ending with ``fix`` (what the user should do)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise WeightsError(f"{label} does not exist; check the path") from None
    except IsADirectoryError:
        raise WeightsError(f"{label} is a directory; pass the file itself") from None
    except Exception as e:  # torch raises many types for truncated, corrupt or hostile files
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if "weights_only" in str(e) or "Unsupported global" in str(e):
            first = "it contains pickled code, which is never executed"
        raise WeightsError(f"{label} cannot be read ({first[:120]}); {fix}") from None


def load_state_dict(path: Path, label: str | None = None) -> dict[str, Tensor]:
    """Load a state dict without executing pickled code; one-line ``WeightsError`` otherwise.

    Accepts a plain state dict (the public release layout) or a training checkpoint
    holding one under ``"decoder"``.
    """
    label = label or str(path)
    obj = safe_load(path, label, "it is not a readable weights file: download it again or pass the right file")
    if isinstance(obj, dict) and isinstance(obj.get("decoder"), dict):
        obj = obj["decoder"]
    if not isinstance(obj, dict) or not all(isinstance(k, str) and isinstance(v, Tensor) for k, v in obj.items()):
        raise WeightsError(f"{label} holds no state dict of tensors; pass a .pth file in the pytorch-AdaIN layout")
    for k, v in obj.items():
        if v.is_floating_point() and not torch.isfinite(v).all():
            raise WeightsError(f"{label} has non-finite values in {k}; the file is corrupt, download it again")
    return obj

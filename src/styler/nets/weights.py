"""Known pretrained weights: where they come from, where they live, and safe loading.

The table follows torchvision's ``Weights`` idea (url, hash, metadata) without its
registry. The release files are pinned by size and SHA-256 (computed from the pytorch-AdaIN
v0.0.0 release): a download that differs is deleted and refused. Files placed by hand or
passed explicitly (trained decoders) are checked structurally instead (safe unpickling, exact
keys and shapes, finite values); the SHA-256 of every file put in the weights directory is
recorded beside it, so ``styler weights verify`` detects later corruption and tells the
release files from custom ones. The download itself (resumable, locked) is ``download``'s.
"""

from __future__ import annotations

import os
import re
import shutil
from functools import partial
from pathlib import Path

import torch
from torch import Tensor

from ..errors import Param, WeightsError
from ..media.files import atomic_path
from ..paths import cache_root
from . import download
from .download import ENV_DIR, ENV_MIRROR, Check, KnownWeights, Progress, record_hash, sha256_of
from .vgg import Encoder, check_finite, load_decoder, load_encoder

__all__ = ["ENV_DIR", "ENV_MIRROR", "KnownWeights", "Progress", "record_hash", "sha256_of"]  # from ``download``

RELEASE = "https://github.com/naoto0804/pytorch-AdaIN/releases/download/v0.0.0"
VGG = KnownWeights(
    "vgg",
    "vgg_normalised.pth",
    f"{RELEASE}/vgg_normalised.pth",
    "804ca2835ecf7539f0cd2a7ac3c18ce81e6f8468969ae7117ac0c148d286bb4a",
    80_102_481,
    {
        "arch": "vgg19_normalised",
        "layers": "conv1_1..relu5_4 (53 modules)",
        "used_up_to": "relu4_1",
        "input": "RGB in [0, 1], NCHW",
        "source": "Gatys et al. normalised VGG-19, converted by pytorch-AdaIN",
    },
)
DECODER = KnownWeights(
    "decoder",
    "decoder.pth",
    f"{RELEASE}/decoder.pth",
    "379ca41d59f3a37eed3599bbbc2560c19da5c458870a5ffd3a9dd41aa88f9472",
    14_023_458,
    {
        "arch": "adain_decoder",
        "encoder": "vgg19_normalised relu4_1",
        "output": "RGB, about [0, 1]",
        "trained_on": "MS-COCO content, WikiArt styles (Huang & Belongie 2017)",
    },
)
# AesFA (Kwon, Kim et al., AAAI 2024): the authors' main.pth on Google Drive. No hash is published,
# so it stays unpinned: its layout (the three networks' keys and shapes) is what is checked, by the
# method that owns it (``methods.check_weights``; nets cannot import methods).
AESFA = KnownWeights(
    "aesfa",
    "main.pth",
    "https://drive.google.com/uc?export=download&id=1Y3OutPAsmPmJcnZs07ZVbDFf6nn3RzxR",
    None,
    None,
    {
        "arch": "aesfa (netE, netS, netG)",
        "input": "RGB, ImageNet-normalised inside the method",
        "trained_on": "MS-COCO content, WikiArt styles (Kwon, Kim et al. 2024)",
        "source": "github.com/Sooyyoungg/AesFA (Google Drive)",
    },
    method="aesfa",
)
KNOWN = {w.name: w for w in (VGG, DECODER, AESFA)}


def default_dir() -> Path:
    """``$STYLER_WEIGHTS_DIR`` if set, else the user cache folder (``paths.cache_root``:
    ``$XDG_CACHE_HOME/styler``, i.e. ``~/.cache/styler``, on Linux)."""
    if os.environ.get(ENV_DIR):
        return Path(os.environ[ENV_DIR]).expanduser()
    return cache_root()


def download_url(known: KnownWeights) -> str:
    """``$STYLER_WEIGHTS_MIRROR`` + the file name if the mirror is set (a URL, or a local folder),
    else the release URL. Mirrored files get the same size and hash checks."""
    mirror = os.environ.get(ENV_MIRROR, "").strip()
    if not mirror:
        return known.url
    if not re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*://", mirror):
        mirror = Path(mirror).expanduser().absolute().as_uri()
    return f"{mirror.rstrip('/')}/{known.filename}"


def resolve(
    known: KnownWeights,
    explicit: Path | None = None,
    *,
    download: bool = True,
    progress: Progress | None = None,
    check: Check | None = None,
) -> Path:
    """The file to load: ``explicit`` if given, else the weights directory's copy,
    downloaded there first if it is missing and ``download`` allows (``check``: as ``fetch``'s)."""
    if explicit is not None:
        path = Path(explicit).expanduser()
        if path.is_dir():
            raise WeightsError(Param(known.name, path), f" is a directory; pass the {known.filename} file itself")
        if not path.is_file():
            raise WeightsError(Param(known.name, path), " does not exist; check the path")
        return path
    path = default_dir() / known.filename
    if path.is_file():
        return path
    if not download:
        raise WeightsError(f"{known.filename} is not in {path.parent}; run `styler weights download`")
    return resolve_all([(known, None)], progress=progress, checks={known.name: check} if check else None)[0]


def resolve_all(
    wanted: list[tuple[KnownWeights, Path | None]],
    *,
    progress: Progress | None = None,
    checks: dict[str, Check] | None = None,
) -> list[Path]:
    """``resolve`` for several files at once: explicit files are checked first; the missing ones
    are downloaded, and if the network cannot be reached, one ``WeightsError`` lists every file
    still missing, where to get it, and the ways to install it (``missing_message``). ``checks``:
    a file's own layout check by name (default ``check_file``)."""
    checks = checks or {}
    found: dict[str, Path] = {}
    missing = []
    for known, explicit in wanted:
        if explicit is not None:
            found[known.name] = resolve(known, explicit)
        elif (default_dir() / known.filename).is_file():
            found[known.name] = default_dir() / known.filename
        else:
            missing.append(known)
    if missing:
        for known, explicit in wanted:  # a bad explicit file is reported before any download
            if explicit is not None:
                checks.get(known.name, partial(check_file, known))(found[known.name])
    unreachable: list[KnownWeights] = []
    reason = ""
    for known in missing:
        if unreachable:  # offline: trying the others would only wait for the same timeout
            unreachable.append(known)
            continue
        try:
            found[known.name] = fetch(known, default_dir(), progress=progress, check=checks.get(known.name))
        except download.Unreachable as e:
            unreachable.append(known)
            reason = e.reason
    if unreachable:
        raise WeightsError(missing_message(unreachable, reason))
    return [found[known.name] for known, _ in wanted]


def missing_message(files: list[KnownWeights], reason: str) -> str:
    """Every missing file with where to get it, and the two ways to install them (several lines)."""
    where = default_dir()
    width = max(len(k.filename) for k in files)
    listed = "\n".join(f"  {k.filename:<{width}}  {(k.size or 0) / 1e6:5.1f} MB  {download_url(k)}" for k in files)
    names = " ".join(k.filename for k in files)
    return (
        f"{len(files)} weights file(s) missing from {where}, and the download failed ({reason}):\n{listed}\n"
        f"Download them on a machine with internet access, then either:\n"
        f"  export {ENV_DIR}=/folder/holding/them        (use them where they are)\n"
        f"  styler weights import {names}   (copy them into {where})\n"
        f"or set {ENV_MIRROR} to a reachable copy (a URL or a folder)."
    )


def is_release(known: KnownWeights, path: Path, digest: str | None = None) -> bool:
    """Whether ``path`` is the pinned release file (same size and SHA-256)."""
    if known.sha256 is None or (known.size is not None and Path(path).stat().st_size != known.size):
        return False
    return (digest or sha256_of(path)) == known.sha256


def check_file(known: KnownWeights, path: Path) -> None:
    """Raise ``WeightsError`` unless ``path`` loads safely with ``known``'s exact layout
    (the release's keys and shapes; a training checkpoint's ``decoder`` entry counts).

    A method's model file (``known.method``) is only checked to unpickle safely here; its
    layout is the method's to check (``methods.check_weights``)."""
    if known.method is not None:
        safe_load(path, str(path), f"it is not a readable {known.filename}: download it again or pass the right file")
        return
    loader = load_encoder if known.name == VGG.name else load_decoder
    loader(load_state_dict(path), label=str(path))


def fetch(
    known: KnownWeights,
    directory: Path,
    *,
    progress: Progress | None = None,
    url: str | None = None,
    check: Check | None = None,
    force: bool = False,
) -> Path:
    """``download.fetch`` from ``download_url`` (the mirror, if set) with ``check_file`` as its check."""
    check = check or (lambda p: check_file(known, p))
    return download.fetch(known, directory, progress=progress, url=url or download_url(known), check=check, force=force)


def install(known: KnownWeights, source: Path, directory: Path, *, check: Check | None = None) -> Path:
    """Put a local file into ``directory`` under its known name, checked (default: ``check_file``),
    atomically. A training checkpoint is reduced to its network state (``is_checkpoint``): no
    optimizer state or RNG goes into the weights folder."""
    source = Path(source).expanduser()
    (check or (lambda p: check_file(known, p)))(source)
    dest = directory / known.filename
    if not (dest.exists() and os.path.samefile(source, dest)):
        with atomic_path(dest, f"set {ENV_DIR} to a writable directory") as tmp:
            if is_checkpoint(source):
                torch.save(load_state_dict(source), tmp)
            else:
                shutil.copyfile(source, tmp)
    record_hash(dest, sha256_of(dest))
    return dest


def is_checkpoint(path: Path) -> bool:
    """Whether ``path`` is a training checkpoint (the state dict under ``"decoder"``, beside the
    optimizer state and the rest) rather than a plain state dict."""
    obj = safe_load(path, str(path), "pass a weights file")
    return isinstance(obj, dict) and isinstance(obj.get("decoder"), dict)


def describe(known: KnownWeights, path: Path) -> str:
    """What a file in the weights folder is, for ``weights list`` and ``weights import``'s notices:
    the release file, a custom one, or one placed by hand (no recorded hash)."""
    if known.sha256 is None:  # no published hash: `weights verify` checks the layout instead
        return "unpinned (no published hash; the layout is verified)"
    recorded = recorded_hash(path)
    release = is_release(known, path, recorded)  # no recorded hash: the file is hashed now
    if recorded is None:
        return "placed by hand, the release file" if release else "placed by hand, NOT the release"
    return "the release file" if release else "custom, not the release"


def recorded_hash(path: Path) -> str | None:
    side = path.with_name(path.name + ".sha256")
    return side.read_text().split()[0] if side.is_file() else None


# What a file that is not a PyTorch file usually is, by its first bytes.
MAGIC = {
    b"\xff\xd8\xff": "a JPEG image",
    b"\x89PNG": "a PNG image",
    b"GIF8": "a GIF image",
    b"BM": "a BMP image",
    b"II*\x00": "a TIFF image",
    b"MM\x00*": "a TIFF image",
    b"%PDF": "a PDF",
    b"<": "an HTML or XML page (a saved download page?)",
}


def sniff(path: Path) -> str | None:
    """Why ``path`` is not a PyTorch file (zip or pickle) by its first bytes: 'it is a JPEG image',
    ...; None when it may be one (or cannot be read: ``torch.load`` says why)."""
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError:
        return None
    if head[:4] == b"PK\x03\x04" or head[:1] == b"\x80" or not head:
        return None
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "it is a WebP image"
    if head[4:8] == b"ftyp":
        return "it is a video or HEIF image"
    what = next((what for magic, what in MAGIC.items() if head.startswith(magic)), None)
    return f"it is {what}" if what else "not a file torch.save wrote"


def safe_load(path: Path, label: str, fix: str) -> object:
    """``torch.load`` that never executes pickled code; any failure is one ``WeightsError``
    line naming ``label`` and ending with ``fix`` (what the user should do)."""
    if Path(path).is_file() and (kind := sniff(Path(path))) is not None:
        raise WeightsError(f"{label} cannot be read ({kind}, not weights); pass a weights file written by torch.save")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise WeightsError(f"{label} does not exist; check the path") from None
    except IsADirectoryError:
        raise WeightsError(f"{label} is a directory; pass the file itself") from None
    except Exception as e:  # torch raises many types for truncated, corrupt or hostile files
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if "Unsupported global" in str(e):
            first = "it contains pickled code, which is never executed"
        elif "weights_only" in str(e) or "Weights only load failed" in str(e):
            first = "it is not a file torch.save wrote"
        raise WeightsError(f"{label} cannot be read ({first[:120]}); {fix}") from None


def load_state_dict(path: Path, label: str | None = None, *, finite: bool = True) -> dict[str, Tensor]:
    """Load a state dict without executing pickled code; one-line ``WeightsError`` otherwise.

    Accepts a plain state dict (the public release layout) or a training checkpoint
    holding one under ``"decoder"``. ``finite=False`` leaves the non-finite check to the
    network loader (``vgg.check_layout`` checks the tensors it keeps: AdaIN uses 3.5 M of the
    public VGG file's 20 M values, and checking all of them cost a second at start-up).
    """
    label = label or str(path)
    obj = safe_load(path, label, "download it again or pass the right weights file")
    if isinstance(obj, dict) and isinstance(obj.get("decoder"), dict):
        obj = obj["decoder"]
    if not isinstance(obj, dict) or not all(isinstance(k, str) and isinstance(v, Tensor) for k, v in obj.items()):
        raise WeightsError(f"{label} holds no state dict of tensors; pass a .pth file in the pytorch-AdaIN layout")
    if finite:
        check_finite(obj, label)
    return obj


def load_vgg(path: str | Path | None = None) -> Encoder:
    """The normalised VGG-19 up to relu4_1 from ``path`` or the weights folder (downloaded on first
    use), in eval mode on the CPU: the frozen loss network of every trainable method."""
    vgg = resolve(VGG, Path(path) if path else None)
    return load_encoder(load_state_dict(vgg), label=str(vgg)).eval()

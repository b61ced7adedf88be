"""Known pretrained weights: where they come from, where they live, and safe loading.

The table follows torchvision's ``Weights`` idea (url, hash, metadata) without its
registry. The release files are pinned by size and SHA-256 (computed from the pytorch-AdaIN
v0.0.0 release): a download that differs is deleted and refused. Files placed by hand or
passed explicitly (trained decoders) are checked structurally instead (safe unpickling, exact
keys and shapes, finite values); the SHA-256 of every file put in the weights directory is
recorded beside it, so ``styler weights verify`` detects later corruption and tells the
release files from custom ones.

Downloads go to a fixed hidden partial file (``.decoder.pth.part``) under a file lock
(``.decoder.pth.lock``, kept: removing a lock file that others may be waiting on breaks the
lock): concurrent processes (torchrun ranks, two shells) download once, the others wait and
then use the file; a download cut short keeps its partial file and the next run resumes it
with an HTTP Range request where the server honours ranges (else it starts over). The
partial only takes the real name after the size, hash and layout checks pass.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import shutil
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import torch
from torch import Tensor

from ..errors import OutputError, WeightsError
from ..media.files import atomic_path
from .vgg import Encoder, load_decoder, load_encoder

RELEASE = "https://github.com/naoto0804/pytorch-AdaIN/releases/download/v0.0.0"
ENV_DIR = "STYLER_WEIGHTS_DIR"
ENV_MIRROR = "STYLER_WEIGHTS_MIRROR"  # a base URL (or folder) serving the same file names
TIMEOUT = 30  # seconds without data before a download attempt gives up
LOCK_TIMEOUT = 1800  # seconds to wait for another process's download of the same file
CHUNK = 1 << 20

Progress = Callable[[int, int | None], None]  # (bytes done, total bytes or None)


@dataclass(frozen=True)
class KnownWeights:
    name: str  # "vgg" or "decoder": the parameter that overrides it
    filename: str
    url: str  # the release URL; ``download_url`` applies $STYLER_WEIGHTS_MIRROR
    sha256: str | None  # the release file's hash; None = unpinned (structural checks only)
    size: int | None = None  # the release file's size in bytes
    meta: dict = field(default_factory=dict)


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
KNOWN = {w.name: w for w in (VGG, DECODER)}


def default_dir() -> Path:
    """``$STYLER_WEIGHTS_DIR`` if set, else ``$XDG_CACHE_HOME/styler`` (``~/.cache/styler``)."""
    if os.environ.get(ENV_DIR):
        return Path(os.environ[ENV_DIR]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "styler"


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
    known: KnownWeights, explicit: Path | None = None, *, download: bool = True, progress: Progress | None = None
) -> Path:
    """The file to load: ``explicit`` if given, else the weights directory's copy,
    downloaded there first if it is missing and ``download`` allows."""
    if explicit is not None:
        path = Path(explicit).expanduser()
        if path.is_dir():
            raise WeightsError(f"{known.name}={path} is a directory; pass the {known.filename} file itself")
        if not path.is_file():
            raise WeightsError(f"{known.name}={path} does not exist; check the path")
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
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def is_release(known: KnownWeights, path: Path, digest: str | None = None) -> bool:
    """Whether ``path`` is the pinned release file (same size and SHA-256)."""
    if known.sha256 is None or (known.size is not None and Path(path).stat().st_size != known.size):
        return False
    return (digest or sha256_of(path)) == known.sha256


Check = Callable[[Path], None]  # raises WeightsError if the file is not usable as weights


def check_file(known: KnownWeights, path: Path) -> None:
    """Raise ``WeightsError`` unless ``path`` loads safely with ``known``'s exact layout
    (the release's keys and shapes; a training checkpoint's ``decoder`` entry counts)."""
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
    """Download ``known`` into ``directory`` (default ``download_url``), checked, under a lock.

    If another process holds the lock this waits, and then uses the file it fetched (unless
    ``force``). The file appears under its name only after the size and SHA-256 (if pinned)
    and ``check`` (default: ``check_file``) pass; otherwise it is deleted, with one line."""
    from filelock import FileLock, Timeout

    url = url or download_url(known)
    dest = Path(directory) / known.filename
    part = dest.with_name(f".{known.filename}.part")
    hint = f"set {ENV_DIR} to a writable directory"
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(dest.with_name(f".{known.filename}.lock"), timeout=LOCK_TIMEOUT)
        lock.acquire()
    except Timeout:
        raise WeightsError(
            f"another process has been downloading {known.filename} into {dest.parent} for "
            f"{LOCK_TIMEOUT // 60} minutes; wait for it or stop it"
        ) from None
    except OSError as e:
        raise OutputError(f"cannot write to {dest.parent} ({e.strerror or e}); {hint}") from None
    try:
        if dest.is_file() and not force:
            return dest  # another process fetched it while this one waited
        _download(url, part, known, progress, dest.parent)
        digest = _verify(url, part, known, check or (lambda p: check_file(known, p)))
        try:
            os.replace(part, dest)
        except OSError as e:
            raise OutputError(f"cannot write {dest} ({e.strerror or e}); {hint}") from None
        record_hash(dest, digest)
        return dest
    finally:
        lock.release()


def _download(url: str, part: Path, known: KnownWeights, progress: Progress | None, directory: Path) -> None:
    """Stream ``url`` into ``part``, continuing a partial file from an earlier cut where the
    server answers a Range request with 206; a 200 answer rewrites it from the start."""
    have = part.stat().st_size if part.is_file() else 0
    if known.size is not None and have > known.size:
        part.unlink()
        have = 0
    if known.size is not None and have == known.size:
        return  # complete but never checked (the run stopped before the rename): check it now
    done, total = have, None  # done > have: this attempt received data
    try:
        request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
        try:
            resp = urllib.request.urlopen(request, timeout=TIMEOUT)
        except urllib.error.HTTPError as e:
            if e.code != 416 or not have:  # 416: the partial is not a prefix of this file
                raise
            part.unlink()
            done, have = 0, 0
            resp = urllib.request.urlopen(url, timeout=TIMEOUT)
        with resp:
            ranged = re.match(rf"bytes {have}-\d+/(\d+)", resp.headers.get("Content-Range") or "")
            if have and getattr(resp, "status", None) == 206 and ranged:
                total, mode = int(ranged.group(1)), "ab"
            else:  # the server sent the whole file
                done, total, mode = 0, int(resp.headers.get("Content-Length") or 0) or None, "wb"
            if known.size is not None and total is not None and total != known.size:
                _refuse(part, f"{url} is {total} bytes, not the {known.size} of the release {known.filename}")
            try:
                out = open(part, mode)  # noqa: SIM115  (closed below; write errors are not network errors)
            except OSError as e:
                raise OutputError(
                    f"cannot write {part} ({e.strerror or e}); set {ENV_DIR} to a writable directory"
                ) from None
            with out:
                while chunk := resp.read(CHUNK):
                    _write(out, chunk, part)
                    done += len(chunk)
                    if known.size is not None and done > known.size:
                        _refuse(part, f"{url} sent more than the {known.size} bytes of the release {known.filename}")
                    if progress:
                        progress(done, total)
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as e:
        reason = getattr(e, "reason", None) or e
        if done > have:
            raise WeightsError(
                f"download of {known.filename} from {url} stopped after {done} bytes ({reason}); run it again to resume"
            ) from None
        raise WeightsError(
            f"cannot download {known.filename} from {url} ({reason}); offline? set {ENV_MIRROR} to a reachable "
            f"copy, or download it by hand and put it in {directory} (or run `styler weights import FILE`)"
        ) from None
    if total is not None and done < total:
        raise WeightsError(
            f"download of {known.filename} from {url} was cut short ({done} of {total} bytes); run it again to resume"
        )


def _write(out: IO[bytes], chunk: bytes, part: Path) -> None:
    try:
        out.write(chunk)
    except OSError as e:
        raise OutputError(
            f"cannot write {part} ({e.strerror or e}); free some space or set {ENV_DIR} to another directory"
        ) from None


def _verify(url: str, part: Path, known: KnownWeights, check: Check) -> str:
    """Size, pinned hash and ``check`` of a finished partial file; on any failure it is deleted."""
    size = part.stat().st_size
    if known.size is not None and size != known.size:
        _refuse(part, f"{url} gave {size} bytes, not the {known.size} of the release {known.filename}")
    digest = sha256_of(part)
    if known.sha256 and digest != known.sha256:
        _refuse(
            part,
            f"{url} gave a file with SHA-256 {digest[:12]}..., not the release {known.filename}'s "
            f"{known.sha256[:12]}...",
        )
    try:
        check(part)  # structural check before it takes the real name
    except WeightsError:
        part.unlink(missing_ok=True)
        raise
    return digest


def _refuse(part: Path, why: str) -> None:
    part.unlink(missing_ok=True)
    raise WeightsError(f"{why}; refused and deleted (check the URL or {ENV_MIRROR})")


def install(known: KnownWeights, source: Path, directory: Path, *, check: Check | None = None) -> Path:
    """Copy a local file into ``directory`` under its known name, checked (default:
    ``check_file``), atomically."""
    source = Path(source).expanduser()
    (check or (lambda p: check_file(known, p)))(source)
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


def load_vgg(path: str | Path | None = None) -> Encoder:
    """The normalised VGG-19 up to relu4_1 from ``path`` or the weights folder (downloaded on first
    use), in eval mode on the CPU: the frozen loss network of every trainable method."""
    vgg = resolve(VGG, Path(path) if path else None)
    return load_encoder(load_state_dict(vgg), label=str(vgg)).eval()

"""Where styler keeps things on this machine: the user cache folder and the lock folder.

The cache root follows the platforms' conventions (what ``platformdirs.user_cache_dir`` gives,
written out here to need no dependency):

* ``$STYLER_CACHE_DIR`` if set;
* Linux and other Unix: ``$XDG_CACHE_HOME/styler``, else ``~/.cache/styler``;
* macOS: ``~/Library/Caches/styler``;
* Windows: ``%LOCALAPPDATA%\\styler\\Cache``.

Each cache is a sub-folder (``cache_dir("styles")``: AdaIN style statistics; other methods add
their own, e.g. exported models or LoRAs). A cache folder is marked with a ``CACHEDIR.TAG`` file
(the Cache Directory Tagging spec, which backup tools honour) when its first entry is written;
``styler cache clear`` removes exactly the tagged folders, so the weights, which live in the
cache root by default, are never touched. Lock files go to a per-user runtime folder
(``$XDG_RUNTIME_DIR/styler``, else the temp folder), never beside the files they guard.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ENV_CACHE = "STYLER_CACHE_DIR"
TAG = "CACHEDIR.TAG"
TAG_TEXT = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This folder is a cache made by styler; `styler cache clear` removes it.\n"
    "# For information about cache directory tags see https://bford.info/cachedir/\n"
)


def cache_root() -> Path:
    """The user cache folder of styler (see the module docstring)."""
    if os.environ.get(ENV_CACHE):
        return Path(os.environ[ENV_CACHE]).expanduser()
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "styler"
    if sys.platform == "win32":
        local = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(local) / "styler" / "Cache"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "styler"


def cache_dir(kind: str) -> Path:
    """The folder of one cache (``styles``, ``exports``, ``loras``, ...); not created here."""
    if not kind or "/" in kind or "\\" in kind or kind.startswith("."):
        raise ValueError(f"a cache name is one plain folder name, got {kind!r}")
    return cache_root() / kind


def mark_cache(folder: Path) -> None:
    """Create ``folder`` and tag it as a cache (best effort: a read-only place is left alone)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tag = folder / TAG
        if not tag.exists():
            tag.write_text(TAG_TEXT)
    except OSError:
        pass


@dataclass(frozen=True)
class CacheInfo:
    name: str
    path: Path
    files: int
    bytes: int


def caches(root: Path | None = None) -> list[CacheInfo]:
    """Every tagged cache folder under ``root`` (default ``cache_root()``), by name."""
    root = cache_root() if root is None else root
    if not root.is_dir():
        return []
    found = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and (p / TAG).is_file()):
        files = [f for f in folder.rglob("*") if f.is_file() and f.name != TAG]
        found.append(CacheInfo(folder.name, folder, len(files), sum(f.stat().st_size for f in files)))
    return found


def clear_cache(info: CacheInfo) -> None:
    """Remove one tagged cache folder (refuses anything untagged)."""
    if not (info.path / TAG).is_file():
        raise ValueError(f"{info.path} is not a tagged cache folder")
    shutil.rmtree(info.path)


def lock_path(target: Path) -> Path:
    """The lock file guarding ``target`` (e.g. a download): one per target and user, in the
    runtime folder (``$XDG_RUNTIME_DIR/styler/locks``, else ``<temp>/styler-<user>/locks``)."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and Path(runtime).is_dir():
        base = Path(runtime) / "styler"
    else:
        user = str(os.getuid()) if hasattr(os, "getuid") else os.environ.get("USERNAME", "user")
        base = Path(tempfile.gettempdir()) / f"styler-{user}"
    digest = hashlib.sha256(os.path.abspath(target).encode()).hexdigest()[:16]
    return base / "locks" / f"{Path(target).name}.{digest}.lock"

"""On-disk caches: learned style LoRAs and content inversions, so a style is learned once and a content
is inverted once per base model and setting.

* LoRAs: ``<dir>/loras/<key>.safetensors``, the adapter's tensors plus metadata (base model, settings,
  style hash, a label, first and last loss), keyed by sha256(style pixels | base model identity | LoRA
  settings). ``cached_loras`` lists them from the metadata alone (``styler models``).
* Inversions: ``<dir>/inversions/<key[:2]>/<key>.pt``, the trajectory (n, 1, 4, h, w) float32, keyed by
  sha256(content pixels at the working size | base model identity | steps | precision).

Every entry is written through ``atomic_path``: it appears complete under its name or not at all
(Ctrl-C included). A corrupt or foreign entry is a miss, never an error; an unwritable cache still
serves hits and skips stores.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from ...media.files import atomic_path
from ...paths import cache_dir, mark_cache

FORMAT = "styler.diffstyler.lora/1"
VERSION = 1  # bump when what an entry means changes


def default_cache_dir() -> Path:
    """The user cache's ``diffstyler`` folder (``paths.cache_dir``), tagged so ``styler cache`` lists it."""
    folder = cache_dir("diffstyler")
    mark_cache(folder)
    return folder


def pixels_hash(image: Tensor) -> str:
    """sha256 of an image tensor's shape and float32 values (C-order): same pixels, same hash."""
    x = image.detach().to("cpu", torch.float32).contiguous()
    h = hashlib.sha256(str(tuple(x.shape)).encode())
    h.update(x.numpy().tobytes())
    return h.hexdigest()


def key_of(*parts: object) -> str:
    return hashlib.sha256("|".join(map(str, (f"v{VERSION}", *parts))).encode()).hexdigest()


@dataclass(frozen=True)
class LoraInfo:
    """A cached LoRA as ``styler models`` shows it."""

    path: Path
    key: str
    label: str  # the style's name when it was learned (e.g. its file name), or ""
    base: str  # the base model's id or folder
    settings: dict
    style_size: str  # "WxH" of the style image it was learned on
    loss_first: float
    loss_last: float
    created: str  # ISO 8601, UTC
    size: int  # bytes


class Caches:
    """Both caches under one folder."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = Path(directory) if directory is not None else default_cache_dir()
        self.writable = True

    def lora_path(self, key: str) -> Path:
        return self.directory / "loras" / f"{key}.safetensors"

    def inversion_path(self, key: str) -> Path:
        return self.directory / "inversions" / key[:2] / f"{key}.pt"

    def load_lora(self, key: str) -> tuple[dict[str, Tensor], dict[str, str]] | None:
        from safetensors import safe_open

        path = self.lora_path(key)
        if not path.is_file():
            return None
        try:
            with safe_open(str(path), framework="pt", device="cpu") as f:
                meta = dict(f.metadata() or {})
                tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open has no iterator)
        except Exception:
            return None
        if meta.get("format") != FORMAT or meta.get("key") != key or not tensors:
            return None
        if not all(torch.isfinite(v).all() for v in tensors.values()):
            return None
        return tensors, meta

    def store_lora(self, key: str, tensors: dict[str, Tensor], meta: dict[str, str]) -> Path | None:
        from safetensors.torch import save_file

        full = {**meta, "format": FORMAT, "key": key, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        return self._store(self.lora_path(key), lambda tmp: save_file(tensors, str(tmp), metadata=full))

    def load_inversion(self, key: str) -> Tensor | None:
        path = self.inversion_path(key)
        if not path.is_file():
            return None
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:
            return None
        if not (isinstance(obj, dict) and obj.get("key") == key and isinstance(obj.get("latents"), Tensor)):
            return None
        latents = obj["latents"]
        return latents if bool(torch.isfinite(latents).all()) else None

    def store_inversion(self, key: str, latents: Tensor) -> Path | None:
        state = {"key": key, "latents": latents.detach().to("cpu", torch.float32).contiguous()}
        return self._store(self.inversion_path(key), lambda tmp: torch.save(state, tmp))

    def _store(self, path: Path, write) -> Path | None:
        if not self.writable:
            return None
        try:
            with atomic_path(path) as tmp:
                write(tmp)
        except Exception:  # a full or read-only disk costs a recomputation next time, nothing more
            self.writable = False
            return None
        return path


def read_metadata(path: Path, limit: int = 1 << 24) -> dict[str, str]:
    """A safetensors file's ``__metadata__`` from its header alone (8 bytes little-endian length, then
    JSON): no tensors read, and no safetensors package needed, so ``styler models`` lists LoRAs without
    the extra. ValueError when the file is not safetensors."""
    with open(path, "rb") as f:
        size = int.from_bytes(f.read(8), "little")
        if not 2 <= size <= limit:
            raise ValueError("not a safetensors header")
        header = json.loads(f.read(size))
    meta = header.get("__metadata__", {}) if isinstance(header, dict) else {}
    return {str(k): str(v) for k, v in meta.items()} if isinstance(meta, dict) else {}


def cached_loras(directory: Path | None = None) -> list[LoraInfo]:
    """Every readable LoRA in the cache, newest first (metadata only, no tensors loaded)."""
    folder = (Path(directory) if directory is not None else default_cache_dir()) / "loras"
    found = []
    for path in sorted(folder.glob("*.safetensors")) if folder.is_dir() else []:
        try:
            meta = read_metadata(path)
            if meta.get("format") != FORMAT:
                continue
            found.append(
                LoraInfo(
                    path=path,
                    key=meta.get("key", ""),
                    label=meta.get("label", ""),
                    base=meta.get("base", ""),
                    settings=json.loads(meta.get("settings", "{}")),
                    style_size=meta.get("style_size", ""),
                    loss_first=float(meta.get("loss_first", "nan")),
                    loss_last=float(meta.get("loss_last", "nan")),
                    created=meta.get("created", ""),
                    size=path.stat().st_size,
                )
            )
        except Exception:  # a foreign or half-written file is not a LoRA of ours
            continue
    return sorted(found, key=lambda i: i.created, reverse=True)

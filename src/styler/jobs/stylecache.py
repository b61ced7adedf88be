"""On-disk cache of style representations (AdaIN: relu4_1 mean and std, (1, 512, 1, 1) each).

A dataset job over 80k WikiArt styles encodes every style once per run; the second run of a
recipe (or a resumed one) reads the statistics back instead. An entry is keyed by what
determines it: the style file's bytes (sha256, so a renamed copy hits and an edited file
misses), the resize settings, and the method's ``style_key`` (for AdaIN a hash of the encoder's
weights, dtype and device type). Entries are written atomically and read with
``torch.load(weights_only=True)``; a corrupt or foreign entry is a miss, never an error.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..engine import Engine
from ..errors import StylerError
from ..media.files import atomic_path
from ..media.images import load_image
from ..methods.base import Bands
from ..nets.weights import default_dir, sha256_of
from .pairing import Source
from .spec import Job

VERSION = 1  # bump when what an entry means changes
Entry = dict[str, Tensor]


def default_cache_dir() -> Path:
    """``<weights dir>/styles``: next to the weights the statistics were computed with."""
    return default_dir() / "styles"


class StyleCache:
    """``get(path, compute)`` returns the cached entry for the style file at ``path`` or computes,
    stores and returns it. ``hits`` and ``misses`` count what a job did."""

    def __init__(self, identity: str, directory: Path | None = None, *, settings: str = "") -> None:
        self.identity, self.settings = identity, settings
        self.directory = Path(directory) if directory is not None else default_cache_dir()
        self.hits = self.misses = 0
        self.writable = True  # a read-only cache still serves hits; stores are then skipped

    def key(self, path: Path) -> str:
        """Content hash of the file + resize settings + model identity."""
        parts = f"v{VERSION}|{sha256_of(path)}|{self.settings}|{self.identity}"
        return hashlib.sha256(parts.encode()).hexdigest()

    def entry_path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.pt"

    def load(self, key: str) -> Entry | None:
        path = self.entry_path(key)
        if not path.is_file():
            return None
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:
            return None
        if not (isinstance(obj, dict) and obj.get("key") == key and isinstance(obj.get("tensors"), dict)):
            return None
        tensors = obj["tensors"]
        if not all(
            isinstance(k, str) and isinstance(v, Tensor) and torch.isfinite(v).all() for k, v in tensors.items()
        ):
            return None
        return tensors

    def store(self, key: str, tensors: Entry) -> None:
        if not self.writable:
            return
        try:
            with atomic_path(self.entry_path(key)) as tmp:
                torch.save({"key": key, "tensors": {k: v.detach().cpu() for k, v in tensors.items()}}, tmp)
        except Exception:
            self.writable = False

    def get(self, path: Path, compute: Callable[[], Entry]) -> Entry:
        """The entry for ``path`` (cached or computed now). ``compute`` errors propagate."""
        try:
            key = self.key(path)
        except OSError:  # unreadable: ``compute`` reports it properly
            self.misses += 1
            return compute()
        cached = self.load(key)
        if cached is not None:
            self.hits += 1
            return cached
        self.misses += 1
        tensors = compute()
        self.store(key, tensors)
        return tensors


def represent_styles(
    engine: Engine, job: Job, styles: Iterable[Source]
) -> tuple[dict[str, Any], list[StylerError], StyleCache | None]:
    """Each style read and represented once: (representation by relative path, the errors of the
    styles that could not be read, the cache used). Through this cache where the method keeps one;
    with colour preservation the image itself is kept: it is adapted to each content. With the
    job's ``low_style`` each style becomes ``Bands`` (its high band, that file's low band), the low
    style read and represented once (an unreadable one fails the job: every pair needs it)."""
    inputs, reading, controls = job.inputs, job.reading, job.controls
    key = engine.style_key() if job.run.style_cache and controls.color is None and not inputs.named_styles else None
    cache = (
        StyleCache(key, job.run.cache_dir, settings=f"size={reading.style_size}|crop={reading.crop}") if key else None
    )

    def read(path: Path) -> Tensor:
        return load_image(path, reading.style_size, reading.crop, max_pixels=reading.max_pixels, size_name="style_size")

    def compute(path: Path) -> dict[str, Tensor]:
        return engine.pack(engine.represent(read(path)))

    def one(path: Path) -> Any:
        if cache is not None:
            return engine.unpack(cache.get(path, partial(compute, path)))
        return read(path) if controls.color is not None else engine.represent(read(path))

    if inputs.low_style is not None:
        engine.check_bands()
    low = None if inputs.low_style is None else one(inputs.low_style)
    reps: dict[str, Any] = {}
    failures: list[StylerError] = []
    for style in styles:
        try:
            if inputs.named_styles:
                reps[style.rel] = engine.represent(style.rel)
            elif low is None:
                reps[style.rel] = one(style.path)
            else:  # with colour preservation both images stay images, adapted per content
                bands = Bands(one(style.path), low)
                reps[style.rel] = bands if controls.color is not None else engine.represent(bands)
        except StylerError as e:
            failures.append(e)
    return reps, failures, cache

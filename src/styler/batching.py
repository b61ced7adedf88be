"""Feeding many images to the model: decode ahead in background threads, batch same-size ones.

Pillow releases the GIL while it decodes and resizes, so reading the next images overlaps the
model's work on the current ones. Only a few images are read ahead (``AHEAD``) to keep memory
bounded when the inputs are large photos.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from PIL import Image

from .errors import StylerError

AHEAD = 2  # images decoded ahead of the one in use
# Images stacked into one model call on CUDA. On CPU batching measured slower per image (512 px
# bf16, 2 cores: 0.31 s alone, 0.36 s in pairs, 0.41 s in fours: the maps fall out of cache),
# so CPU runs take one image at a time.
MAX_BATCH = 4
MAX_BATCH_PIXELS = 4 * 1024 * 1024  # a batch holds at most this many pixels in all (big images run alone)

Loaded = tuple[Path, Image.Image | StylerError]


def prefetch(paths: Iterable[Path], load: Callable[[Path], Image.Image], ahead: int = AHEAD) -> Iterator[Loaded]:
    """``(path, load(path))`` in order, loading up to ``ahead`` images in background threads.
    A ``StylerError`` from ``load`` is yielded in place of the image, so one bad file is skipped."""
    todo = iter(paths)
    with ThreadPoolExecutor(max_workers=ahead, thread_name_prefix="styler-load") as pool:
        pending: deque[tuple[Path, Future]] = deque()

        def submit() -> None:
            path = next(todo, None)
            if path is not None:
                pending.append((path, pool.submit(load, path)))

        for _ in range(ahead + 1):
            submit()
        while pending:
            path, future = pending.popleft()
            submit()
            try:
                yield path, future.result()
            except StylerError as e:
                yield path, e
            del future  # the generator frame must not keep the image alive


def same_size_batches(
    items: Iterable[Loaded], max_batch: int = MAX_BATCH, max_pixels: int = MAX_BATCH_PIXELS
) -> Iterator[list[Loaded]]:
    """Group consecutive images of one size (at most ``max_batch`` and ``max_pixels`` in all);
    a failed load comes alone as ``[(path, error)]``."""
    batch: list[Loaded] = []
    for path, img in items:
        if isinstance(img, StylerError):
            if batch:
                yield _drain(batch)
            yield [(path, img)]
            continue
        fits = (
            batch
            and len(batch) < max_batch
            and batch[0][1].size == img.size
            and (len(batch) + 1) * img.size[0] * img.size[1] <= max_pixels
        )
        if batch and not fits:
            yield _drain(batch)
        batch.append((path, img))
        del img
    if batch:
        yield _drain(batch)


def _drain(batch: list[Loaded]) -> list[Loaded]:
    """Move the items to a new list, so the generator's frame does not keep the images alive
    while the caller works (and frees them)."""
    out = batch[:]
    batch.clear()
    return out

"""The dataset pipeline around the model: decode and encode in worker processes, uint8 on the wire.

    decode workers:  file -> Pillow (``draft`` for big JPEGs) -> resize/crop -> uint8 (H, W, 3)
    this process:    size buckets -> uint8 batch (pinned, non-blocking copy on CUDA) -> float on
                     the device -> model -> uint8 on the device -> one copy back per batch
    encode workers:  uint8 (H, W, 3) -> PNG/JPEG -> atomic rename

Only uint8 pixels cross process boundaries (4x less than float32), and the device is
synchronised once per batch, never per image. ``workers=0`` keeps everything in this process
(decoding and encoding on background threads; Pillow and zlib release the GIL).
Worker processes ignore Ctrl-C and SIGTERM: the job stops them itself after the writes in
flight have finished, so an interrupt never leaves a half-written file.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Hashable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from ..errors import InputError, OutputError, StylerError
from ..media.files import atomic_path
from ..media.images import MAX_PIXELS, open_rgb, output_format, prepare

NICE = 10  # worker processes' priority below the model's (Linux nice levels: 0 normal, 19 lowest)
Pixels = np.ndarray  # (H, W, 3) uint8
Item = tuple[Hashable, Pixels | StylerError]


@dataclass(frozen=True)
class Encoding:
    """How results are written: PNG zlib level (0 = none, 9 = smallest) and JPEG/WebP quality."""

    png_level: int = 6
    jpeg_quality: int = 95

    def __post_init__(self) -> None:
        if isinstance(self.png_level, bool) or not isinstance(self.png_level, int) or not 0 <= self.png_level <= 9:
            raise InputError(f"png_level must be a whole number in [0, 9], got {self.png_level}")
        if (
            isinstance(self.jpeg_quality, bool)
            or not isinstance(self.jpeg_quality, int)
            or not 1 <= self.jpeg_quality <= 100
        ):
            raise InputError(f"jpeg_quality must be a whole number in [1, 100], got {self.jpeg_quality}")

    def options(self, fmt: str) -> dict[str, int]:
        if fmt == "PNG":
            return {"compress_level": self.png_level}
        if fmt in ("JPEG", "WEBP"):
            return {"quality": self.jpeg_quality}
        return {}


def check_workers(workers: int) -> int:
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise InputError(f"workers must be a whole number >= 0, got {workers}; 0 = decode in this process")
    return workers


# -- work done in the workers (plain functions: they are pickled by name) ------------------


def decode(path: Path, size: int, crop: bool, max_pixels: int = MAX_PIXELS) -> Pixels:
    """A content file -> resized uint8 pixels. JPEGs much larger than ``size`` are decoded at a
    reduced DCT scale (``draft``) that keeps both sides >= ``size``, which skips most of the work."""
    img = prepare(open_rgb(path, draft=size), size, crop, max_pixels=max_pixels)
    return np.asarray(img, dtype=np.uint8)


def save(pixels: Pixels, path: Path, encoding: Encoding, protect: tuple[Path, ...] = ()) -> Path:
    """Write pixels atomically (complete under ``path`` or absent); never over ``protect``.
    uint16 pixels (TIFF outputs) go through imageio: Pillow writes 8-bit RGB only."""
    path = Path(path)
    fmt = output_format(path)
    for p in protect:
        try:
            if path.exists() and os.path.samefile(path, p):
                raise OutputError(f"refusing to overwrite input {path}; choose another output folder or name")
        except OSError:
            pass
    with atomic_path(path, "choose a writable output folder") as tmp:
        if pixels.dtype == np.uint16:
            import imageio.v3 as iio

            iio.imwrite(tmp, pixels, extension=".tif")
        else:
            Image.fromarray(pixels, "RGB").save(tmp, format=fmt, **encoding.options(fmt))
    return path


def _worker_init(parent: int) -> None:
    """The job handles interrupts; a worker only dies with its parent (checked every second).

    Workers run at a lower priority: the model's threads meet at a barrier after every layer, so
    a model thread preempted by a decoder stalls all of them; niced, the workers fill idle time."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with contextlib.suppress(OSError):  # not allowed here: normal priority
        os.nice(NICE)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


def pool(workers: int, name: str) -> Executor:
    """``workers`` processes, or (0) two threads of this process."""
    if workers == 0:
        return ThreadPoolExecutor(max_workers=2, thread_name_prefix=f"styler-{name}")
    # fork: workers start in milliseconds and only run Pillow/numpy code (no torch ops).
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context(method),
        initializer=_worker_init,
        initargs=(os.getpid(),),
    )


# -- this process ---------------------------------------------------------------------------


def decoded(
    items: Iterable[tuple[Hashable, Path]],
    executor: Executor,
    size: int,
    crop: bool,
    ahead: int,
    max_pixels: int = MAX_PIXELS,
) -> Iterator[Item]:
    """``(key, pixels)`` in input order with up to ``ahead`` files decoding; a ``StylerError``
    from a file comes in place of its pixels, so one bad file is skipped and reported."""
    todo = iter(items)
    pending: deque[tuple[Hashable, Future]] = deque()

    def submit() -> None:
        nxt = next(todo, None)
        if nxt is not None:
            pending.append((nxt[0], executor.submit(decode, nxt[1], size, crop, max_pixels)))

    for _ in range(max(1, ahead)):
        submit()
    try:
        while pending:
            key, future = pending.popleft()
            submit()
            try:
                yield key, future.result()
            except StylerError as e:
                yield key, e
            del future
    finally:
        for _, f in pending:
            f.cancel()


def buckets(items: Iterable[Item], max_batch: int, max_pixels: int, hold: int) -> Iterator[list[Item]]:
    """Batches of same-size images: a bucket goes out when it is full (``max_batch`` images or
    ``max_pixels`` in all); when more than ``hold`` images wait, the fullest bucket goes out.
    Failed loads come alone as ``[(key, error)]``. Order is not kept (the caller names by key)."""
    waiting: OrderedDict[tuple[int, ...], list[Item]] = OrderedDict()
    count = 0  # images waiting in all buckets
    for key, px in items:
        if isinstance(px, StylerError):
            yield [(key, px)]
            continue
        shape = px.shape
        if shape in waiting and (len(waiting[shape]) + 1) * shape[0] * shape[1] > max_pixels:
            count -= len(waiting[shape])
            yield waiting.pop(shape)  # popped in the yield, so this frame keeps no reference
        waiting.setdefault(shape, []).append((key, px))
        count += 1
        del px
        if len(waiting[shape]) >= max_batch:
            count -= len(waiting[shape])
            yield waiting.pop(shape)
        elif count > hold:
            fullest = max(waiting, key=lambda s: len(waiting[s]))
            count -= len(waiting[fullest])
            yield waiting.pop(fullest)
    while waiting:
        yield waiting.popitem(last=False)[1]


def to_device(pixels: list[Pixels], device: torch.device) -> Tensor:
    """Same-size uint8 images -> (N, 3, H, W) float32 in [0, 1] on ``device`` (channels_last).

    The uint8 batch crosses to a GPU from pinned memory without blocking; the division runs there."""
    x = torch.from_numpy(np.stack(pixels))  # (N, H, W, 3) uint8
    if device.type == "cuda":
        x = x.pin_memory().to(device, non_blocking=True)
    return x.permute(0, 3, 1, 2).float().div_(255)  # (N, 3, H, W), NHWC in memory


def to_pixels(images: Tensor, ext: str = "png") -> list[Pixels]:
    """(N, 3, H, W) float in [0, 1] -> N (H, W, 3) arrays for files of extension ``ext``: uint8,
    rounded as ``images.to_pil``, or for TIFF uint16 (16 bits per channel, as ``images.save_image``).
    Converted on the device, one copy (one synchronisation) per batch."""
    if ext.lower() in ("tif", "tiff"):
        q = images.detach().float().mul(65535).add_(0.5).clamp_(0, 65535).to(torch.int32)
        return list(q.permute(0, 2, 3, 1).contiguous().cpu().numpy().astype(np.uint16))
    u8 = images.detach().float().mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8)
    arr = u8.permute(0, 2, 3, 1).contiguous().cpu().numpy()  # (N, H, W, 3)
    return list(arr)


class Writer:
    """Encodes and saves on ``executor``, at most ``limit`` files in flight (memory stays bounded).

    ``submit`` returns at once; ``finished()`` gives ``(key, error or None)`` of completed saves;
    ``drain()`` waits for every save in flight."""

    def __init__(self, executor: Executor, encoding: Encoding, limit: int, protect: tuple[Path, ...] = ()) -> None:
        self.executor, self.encoding, self.limit, self.protect = executor, encoding, max(1, limit), protect
        self.pending: deque[tuple[Hashable, Future]] = deque()

    def submit(self, key: Hashable, pixels: Pixels, path: Path) -> list[tuple[Hashable, StylerError | None]]:
        """Queue one save; returns the saves that completed meanwhile (waiting if over the limit)."""
        done = self.finished()
        while len(self.pending) >= self.limit:
            done.append(self._result(*self.pending.popleft()))
        self.pending.append((key, self.executor.submit(save, pixels, path, self.encoding, self.protect)))
        return done

    def finished(self) -> list[tuple[Hashable, StylerError | None]]:
        done = []
        while self.pending and self.pending[0][1].done():
            done.append(self._result(*self.pending.popleft()))
        return done

    def drain(self) -> list[tuple[Hashable, StylerError | None]]:
        done = []
        while self.pending:
            done.append(self._result(*self.pending.popleft()))
        return done

    @staticmethod
    def _result(key: Hashable, future: Future) -> tuple[Hashable, StylerError | None]:
        try:
            future.result()
            return key, None
        except StylerError as e:
            return key, e


FEW = 2  # contents up to which threads of this process decode: no process start for a photo or two


def default_workers(device: torch.device, contents: int) -> int:
    """A few contents: 0 (threads). CPU: 1. On 2 cores (bench/bench_dataset.py) worker processes beat
    threads of this process (0: 85% of model-only speed; niced workers take idle time rather than the
    model's), and 1 and 2 were within noise, so the cheaper. CUDA: enough processes to feed the GPU."""
    if contents <= FEW:
        return 0
    if device.type == "cuda":
        return max(1, min(8, (os.cpu_count() or 2) - 1))
    return 1

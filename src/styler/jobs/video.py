"""A whole video through an Engine: decode, stylize and encode overlapped on three threads.

    reader thread:  ffmpeg -> uint8 frames -> (N, 3, H, W) float batches  --q_in-->
    this thread:    Engine.frames (the model; torch releases the GIL)  --q_out-->
    writer thread:  batches -> uint8 frames -> ffmpeg (encode, then audio mux)

The queues are short (a couple of batches), so memory stays flat for any length and
the model never waits on I/O unless I/O is the slower side.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import Tensor

from ..controls import Controls
from ..engine import Engine
from ..errors import InputError, Param
from ..media import video
from ..runtime import autotune
from ..temporal import FlickerMeter

_END = object()  # end-of-stream marker on a queue
DEPTH = 2  # batches in flight per queue


@dataclass(frozen=True)
class VideoReport:
    """What a run did; ``flicker`` is ``temporal.FlickerMeter.ratio`` of the run."""

    path: Path
    frames: int
    seconds: float
    size: tuple[int, int]
    flicker: float
    input_change: float  # mean |x_t - x_{t-1}|, [0, 1] pixel units
    output_change: float

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


class _Stopped(Exception):
    """Another stage failed or was interrupted; this one just leaves."""


def _put(q: queue.Queue, item, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return
        except queue.Full:
            continue
    raise _Stopped


def _get(q: queue.Queue, stop: threading.Event):
    while not stop.is_set():
        try:
            return q.get(timeout=0.1)
        except queue.Empty:
            continue
    raise _Stopped


def stylize_video(
    engine: Engine,
    info: video.VideoInfo,
    dest: Path,
    styles: Sequence[Any],
    controls: Controls = Controls(),
    *,
    masks: Tensor | None = None,
    size: int = 0,
    batch: int = 4,
    codec: str = "libx264",
    crf: int = 18,
    max_pixels: int = video.MAX_PIXELS,
    progress: Callable[[int], None] | None = None,
) -> VideoReport:
    """Stylize every frame of ``info.path`` into ``dest`` (atomic: complete or absent).

    ``size``: shorter side in px (0 = the input's); ``masks`` (R, H, W), any size, one per style.
    The styles, controls and masks are ``Engine.frames``'.
    ``progress(frames_done)`` is called from this thread after each batch. Raises
    ``StylerError`` subclasses; Ctrl-C stops all stages."""
    if not isinstance(batch, int) or batch < 1:
        raise InputError(Param("batch"), " must be a whole number >= 1, got ", Param("batch", batch))
    frame_wh = video.frame_size(info, size, max_pixels)
    stop = threading.Event()
    q_in: queue.Queue = queue.Queue(DEPTH)
    q_out: queue.Queue = queue.Queue(DEPTH)
    failures: list[BaseException] = []

    def read() -> None:
        frames: list[video.Frame] = []
        try:
            for frame in video.read_frames(info, size, max_pixels):
                frames.append(frame)
                if len(frames) == batch:
                    _put(q_in, video.to_batch(frames), stop)
                    frames = []
            if frames:
                _put(q_in, video.to_batch(frames), stop)
            _put(q_in, _END, stop)
        except _Stopped:
            pass
        except BaseException as e:  # handed to the model thread, which raises it
            failures.append(e)
            stop.set()

    def write(send: Callable[[video.Frame], None]) -> None:
        try:
            while (item := _get(q_out, stop)) is not _END:
                for frame in video.from_batch(item):
                    send(frame)
        except _Stopped:
            pass
        except BaseException as e:
            failures.append(e)
            stop.set()

    def batches(pending: deque) -> Iterator[Tensor]:
        while (item := _get(q_in, stop)) is not _END:
            pending.append(item)
            yield item

    meter, done, start = FlickerMeter(), 0, time.perf_counter()
    # Every frame has one shape, so cuDNN's autotuning pays off (on CUDA; a no-op elsewhere).
    with autotune(engine.runtime), video.open_writer(dest, info, frame_wh, codec=codec, crf=crf) as send:
        threads = [
            threading.Thread(target=read, name="styler-read", daemon=True),
            threading.Thread(target=write, args=(send,), name="styler-write", daemon=True),
        ]
        for t in threads:
            t.start()
        try:
            pending: deque = deque()
            for out in engine.frames(batches(pending), styles, controls, masks):
                meter.update(pending.popleft(), out)
                _put(q_out, out, stop)
                done += out.shape[0]
                if progress is not None:
                    progress(done)
            _put(q_out, _END, stop)
            threads[1].join()
        except _Stopped:
            pass
        except BaseException:
            stop.set()
            raise
        finally:
            stop.set()  # on success both stages are done already; otherwise this ends them
            for t in threads:
                t.join(timeout=5)
        if failures:
            raise failures[0]
        if done == 0:
            raise InputError(f"{info.path} has no video frames that could be decoded; the file may be corrupt")
    return VideoReport(
        Path(dest), done, time.perf_counter() - start, frame_wh, meter.ratio, meter.input_change, meter.output_change
    )

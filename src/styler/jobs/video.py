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


class _Stages:
    """The reader and writer threads' shared state: the two queues, the stop flag, the first failure."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.q_in: queue.Queue = queue.Queue(DEPTH)
        self.q_out: queue.Queue = queue.Queue(DEPTH)
        self.failures: list[BaseException] = []

    def thread(self, work: Callable[..., None], *args: Any, name: str) -> threading.Thread:
        """A daemon thread running ``work``: its failure is kept for the model thread to raise."""

        def guarded() -> None:
            try:
                work(*args)
            except _Stopped:
                pass
            except BaseException as e:
                self.failures.append(e)
                self.stop.set()

        return threading.Thread(target=guarded, name=name, daemon=True)

    def read(self, frames: Iterator[video.Frame], batch: int) -> None:
        pending: list[video.Frame] = []
        for frame in frames:
            pending.append(frame)
            if len(pending) == batch:
                _put(self.q_in, video.to_batch(pending), self.stop)
                pending = []
        if pending:
            _put(self.q_in, video.to_batch(pending), self.stop)
        _put(self.q_in, _END, self.stop)

    def write(self, send: Callable[[video.Frame], None]) -> None:
        while (item := _get(self.q_out, self.stop)) is not _END:
            for frame in video.from_batch(item):
                send(frame)

    def batches(self, pending: deque) -> Iterator[Tensor]:
        """The read batches, in order; each is also kept in ``pending`` for the flicker meter."""
        while (item := _get(self.q_in, self.stop)) is not _END:
            pending.append(item)
            yield item


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
    stages = _Stages()
    meter, done, start = FlickerMeter(), 0, time.perf_counter()
    # Every frame has one shape, so cuDNN's autotuning pays off (on CUDA; a no-op elsewhere).
    with autotune(engine.runtime), video.open_writer(dest, info, frame_wh, codec=codec, crf=crf) as send:
        reader = stages.thread(stages.read, video.read_frames(info, size, max_pixels), batch, name="styler-read")
        writer = stages.thread(stages.write, send, name="styler-write")
        reader.start()
        writer.start()
        try:
            pending: deque = deque()
            for out in engine.frames(stages.batches(pending), styles, controls, masks):
                meter.update(pending.popleft(), out)
                _put(stages.q_out, out, stages.stop)
                done += out.shape[0]
                if progress is not None:
                    progress(done)
            _put(stages.q_out, _END, stages.stop)
            writer.join()
        except _Stopped:
            pass
        except BaseException:
            stages.stop.set()
            raise
        finally:
            stages.stop.set()  # on success both stages are done already; otherwise this ends them
            reader.join(timeout=5)
            writer.join(timeout=5)
        if stages.failures:
            raise stages.failures[0]
        if done == 0:
            raise InputError(f"{info.path} has no video frames that could be decoded; the file may be corrupt")
    return VideoReport(
        Path(dest), done, time.perf_counter() - start, frame_wh, meter.ratio, meter.input_change, meter.output_change
    )

"""The one runner of transfer jobs: a content file or a whole dataset, any method.

``plan`` lists the inputs, pairs and names every result and checks everything that can fail on
the user's input (before any weights or work); ``run`` does this process's share:

* under torchrun (RANK / WORLD_SIZE set) each rank takes a disjoint shard of the sorted pair
  list and writes exactly the files a single process would; rank 0 merges the manifest parts
  after a barrier;
* ``skip_existing`` skips pairs whose output exists (writes are atomic: an existing file is
  complete) and keeps their manifest records, so an interrupted job resumes where it stopped;
* SIGTERM finishes the batch in flight, Ctrl-C drops it; either way the writes in flight
  complete, no partial file is left under an output name, and the report says ``interrupted``.

Every style is read and represented once (through the on-disk style cache where the method
keeps one); contents are decoded beside the model (``loader``) and go to the engine in
same-size batches, each image with its own styles (``Engine.render_batch``). Results that write
themselves (a method with ``Method.writes``, such as curves' SVG and report, or any result with
further outputs, ``Naming.also``) go content by content through ``Engine.result`` instead.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..dist import dist_env
from ..engine import Engine
from ..errors import InputError, Interrupted, Param, StylerError
from ..media.files import check_writable
from ..media.images import is_video
from ..runtime import autotune
from . import loader, manifest, results
from .naming import free_path
from .pairing import Pair, Source, list_tree, list_trees, make_pairs, shard
from .spec import Job
from .stylecache import represent_styles

CUDA_BATCH = 8  # same-size images per model call on CUDA (CPU: 1, measured faster)
CUDA_BATCH_PIXELS = 8 * 1024 * 1024  # ... and at most this many pixels in all


@dataclass
class Report:
    rank: int = 0
    world: int = 1
    total: int = 0  # pairs of the whole job
    assigned: int = 0  # pairs of this rank
    written: int = 0
    existing: int = 0  # skipped: output already there
    failed: int = 0  # pairs not written (bad content or style file, failed write)
    failures: list[StylerError] = field(default_factory=list)  # one per bad input or failed write
    interrupted: bool = False
    partial: tuple[Path, Any] | None = None  # interrupted: (output, best image so far) of an optimisation
    partial_also: tuple[Path, ...] = ()  # ... and that result's further outputs (``Naming.also``)
    seconds: float = 0.0
    manifest: Path | None = None  # written (rank 0, or alone) when the job ended
    listed: int = 0  # records in that manifest: the whole job's outputs
    style_hits: int = 0
    style_misses: int = 0
    replaced: int = 0  # outputs written over an existing file


Progress = Callable[[int, int], None]  # (pairs done on this rank, pairs of this rank); rank 0 only
OnResult = Callable[[Path, StylerError | None], None]  # each output as it is written (or fails)
OnStart = Callable[[Path], None]  # the output about to be computed where it is computed alone (Gatys)


def plan(job: Job) -> list[Pair]:
    """Every pair of the job with its output name; all input errors are raised here, before any work."""
    inputs, naming = job.inputs, job.naming
    out = naming.folder
    if not naming.to_file and out.exists() and not out.is_dir():
        raise InputError(Param("output", out), " is a file without an image extension; pass a folder or an image name")
    check_writable(out / manifest.MANIFEST, "choose a writable output folder")
    if inputs.content.is_file() and is_video(inputs.content):
        raise InputError(f"{inputs.content} is a video; stylize it with `styler video {inputs.content} STYLE`")
    contents = list_tree(inputs.content, inputs.reads)
    if inputs.content.is_dir() and _inside(out, inputs.content):
        # An output folder inside the content tree: never read earlier results as contents.
        contents = [c for c in contents if not _inside(c.path, out)] or contents
    styles = (
        [Source(Path(s), str(s)) for s in inputs.styles]
        if inputs.named_styles
        else list_trees([Path(s) for s in inputs.styles])
    )
    pairing = dict(mode=inputs.pairs, per_content=inputs.per_content, seed=inputs.seed, alpha=job.controls.alpha)
    pairing["writes"] = naming.writes
    if naming.to_file:  # one result, named by the file: more would collide under any name
        count = len(make_pairs(contents, styles, **pairing))  # type: ignore[arg-type]
        if count > 1:
            raise InputError(
                Param("output", naming.output), f" is one file but there are {count} results; pass a folder"
            )
    pairs = make_pairs(contents, styles, name=job.template(), ext=naming.suffix, **pairing)  # type: ignore[arg-type]
    if not job.run.skip_existing:  # (skip_existing keeps what is there)
        pairs = _existing(pairs, out, naming.keep_existing)
    low = inputs.low_style
    for a in naming.also:
        if a.to_file and len(pairs) > 1:
            raise InputError(Param(a.name, a.path), f" is one file but there are {len(pairs)} results; pass a folder")
        check_writable(a.target(pairs[0].output), "choose a writable output")
        if any(os.path.realpath(a.target(p.output)) == os.path.realpath(out / p.output) for p in pairs):
            raise InputError(Param(a.name, a.path), " would write over the output itself; choose another name")
    given = (inputs.content,) if inputs.named_styles else (inputs.content, *inputs.styles)
    given += (low,) if low is not None else ()
    if any(_inside(out, Path(p)) or _inside(Path(p), out) for p in given):
        sources = {os.path.realpath(p.content.path) for p in pairs} | {os.path.realpath(p.style.path) for p in pairs}
        sources |= {os.path.realpath(low)} if low is not None else set()
        for p in pairs:
            if os.path.realpath(out / p.output) in sources:
                raise InputError(f"refusing to overwrite input {out / p.output}; choose another output folder or name")
    return pairs


def _existing(pairs: list[Pair], out: Path, keep: bool) -> list[Pair]:
    """Mark the pairs whose output exists (they replace it), or with ``keep`` move them to the
    first free numbered name (``naming.free_path``), clear of every other pair's name."""
    if not keep:
        return [dataclasses.replace(p, replaces=True) if (out / p.output).exists() else p for p in pairs]
    taken = {p.output for p in pairs}
    moved = []
    for p in pairs:
        if (out / p.output).exists():
            name = free_path(out / p.output, {str(out / t) for t in taken}).relative_to(out).as_posix()
            taken.add(name)
            p = dataclasses.replace(p, output=name)
        moved.append(p)
    return moved


def _inside(path: Path, folder: Path) -> bool:
    a, b = os.path.realpath(path), os.path.realpath(folder)
    return a == b or a.startswith(b.rstrip(os.sep) + os.sep)


@contextmanager
def _stop_on_sigterm(stop: threading.Event) -> Iterator[None]:
    """SIGTERM sets ``stop`` (the batch in flight finishes); restored afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(
    engine: Engine,
    job: Job,
    pairs: list[Pair] | None = None,
    *,
    progress: Progress | None = None,
    on_result: OnResult | None = None,
    on_start: OnStart | None = None,
    stop: threading.Event | None = None,
) -> Report:
    """This process's share of the job (all of it when run alone); see the module docstring."""
    start = time.perf_counter()
    pairs = plan(job) if pairs is None else pairs
    results.check(engine, job)
    rank, world, _ = dist_env()
    out = job.naming.folder
    mine = shard(pairs, rank, world)
    report = Report(rank=rank, world=world, total=len(pairs), assigned=len(mine))
    records: dict[str, dict[str, object]] = {}
    todo = []
    for p in mine:
        if job.run.skip_existing and (out / p.output).is_file():
            records[p.output] = manifest.record(p, job.controls.alpha, job.inputs.low_style)
            report.existing += 1
        else:
            todo.append(p)
    stop = stop or threading.Event()

    def tick() -> None:
        if progress is not None and rank == 0:
            progress(report.written + report.existing + report.failed, len(mine))

    tick()
    current: list[Path] = []  # the output in progress, where a method reports it (Gatys)

    def started(path: Path) -> None:
        current[:] = [path]
        if on_start is not None:
            on_start(path)

    work = _Work(engine, job, out, report, records, tick, on_result, started)
    with _stop_on_sigterm(stop), autotune(engine.runtime):
        try:
            work.run(todo, stop)
        except (KeyboardInterrupt, Interrupted) as e:
            # An optimisation's best-so-far image is not a finished result: it goes to the report,
            # never under its output name (skip_existing would take it as complete).
            report.interrupted = True
            if isinstance(e, Interrupted) and e.partial is not None and current:
                report.partial = (current[0], e.partial)
                report.partial_also = tuple(job.naming.others(current[0].relative_to(out).as_posix()))
    report.interrupted = report.interrupted or stop.is_set()
    if job.manifest:
        report.manifest = manifest.finish(out, rank, world, records.values(), interrupted=report.interrupted)
        if report.manifest is not None:
            report.listed = len(manifest.read(report.manifest)) if world > 1 else len(records)
    report.seconds = time.perf_counter() - start
    return report


class _Work:
    """One run's state: the styles' representations, the pools, the writer, the bookkeeping."""

    def __init__(
        self,
        engine: Engine,
        job: Job,
        out: Path,
        report: Report,
        records: dict,
        tick: Callable[[], None],
        on_result: OnResult | None,
        on_start: OnStart,
    ) -> None:
        self.engine, self.job, self.out, self.report, self.records = engine, job, out, report, records
        self.tick, self.on_result, self.on_start = tick, on_result, on_start
        self.pairs: dict[str, Pair] = {}

    def settle(self, done: list) -> None:
        for output, error in done:
            pair = self.pairs[output]
            if error is None:
                self.records[output] = manifest.record(pair, self.job.controls.alpha, self.job.inputs.low_style)
                self.report.written += 1
                self.report.replaced += pair.replaces
            else:
                self.report.failures.append(error)
                self.report.failed += 1
            if self.on_result is not None:
                self.on_result(self.out / output, error)
            self.tick()

    def fail(self, error: StylerError, count: int) -> None:
        self.report.failures.append(error)
        self.report.failed += count
        self.tick()

    def run(self, todo: list[Pair], stop: threading.Event) -> None:
        reps, failures, cache = represent_styles(self.engine, self.job, dict.fromkeys(p.style for p in todo))
        self.report.failures += failures
        if cache is not None:
            self.report.style_hits, self.report.style_misses = cache.hits, cache.misses
        by_content: dict[str, list[Pair]] = {}
        for p in todo:
            if p.style.rel in reps:
                by_content.setdefault(p.content.rel, []).append(p)
            else:
                self.report.failed += 1
        self.tick()
        self.pairs = {p.output: p for ps in by_content.values() for p in ps}
        paths = {p.content.rel: p.content.path for p in todo}
        if self.engine.method.writes or self.job.naming.also:
            results.run(self, by_content, paths, reps, stop)
            return
        device = self.engine.runtime.device
        workers = self.job.run.workers
        workers = loader.default_workers(device, len(by_content)) if workers is None else workers
        max_batch = CUDA_BATCH if device.type == "cuda" else 1
        decode_pool, encode_pool = loader.pool(workers, "decode"), loader.pool(workers, "encode")
        protect = tuple(p.content.path for p in todo) + tuple(p.style.path for p in todo)
        protect += (self.job.inputs.low_style,) if self.job.inputs.low_style is not None else ()
        writer = loader.Writer(encode_pool, self.job.run.encoding, 2 * max(workers, 1) + max_batch, protect)
        reading = self.job.reading
        try:
            items = loader.decoded(
                ((rel, paths[rel]) for rel in by_content),
                decode_pool,
                reading.content_size,
                reading.crop,
                ahead=max(4, 2 * workers + max_batch),
                max_pixels=reading.max_pixels,
            )
            for batch in loader.buckets(items, max_batch, CUDA_BATCH_PIXELS, hold=4 * max_batch):
                if stop.is_set():
                    break
                keys = [k for k, _ in batch]
                if isinstance(batch[0][1], StylerError):
                    self.fail(batch[0][1], len(by_content[keys[0]]))
                    continue
                x = loader.to_device([px for _, px in batch], device)  # (B, 3, H, W) float on the device
                del batch
                self.render(x, [by_content[k] for k in keys], reps, writer)
                del x
                self.settle(writer.finished())
        finally:
            # Ctrl-C included: every write in flight completes (atomically) before the pools stop.
            self.settle(writer.drain())
            decode_pool.shutdown(wait=True, cancel_futures=True)
            encode_pool.shutdown(wait=True)

    def render(self, x: torch.Tensor, pairs: list[list[Pair]], reps: dict[str, Any], writer: loader.Writer) -> None:
        """A content batch x (B, 3, H, W); content i takes ``pairs[i]``'s styles."""
        submitted = 0
        rows = [[reps[p.style.rel] for p in ps] for ps in pairs]
        try:
            for keys, result in self.engine.render_batch(
                x, rows, self.job.controls, lambda i, j: self.on_start(self.out / pairs[i][j].output)
            ):
                for (i, j), pixels in zip(keys, loader.to_pixels(result, self.job.naming.suffix), strict=True):
                    output = pairs[i][j].output
                    self.settle(writer.submit(output, pixels, self.out / output))
                    submitted += 1
        except StylerError as e:  # e.g. a content too small for the encoder: the whole batch is that size
            names = ", ".join(ps[0].content.rel for ps in pairs)
            self.fail(type(e)(f"{names}: ", *e.parts), sum(len(ps) for ps in pairs) - submitted)

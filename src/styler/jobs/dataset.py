"""Stylize a dataset: content trees x style folders -> a mirrored output tree and a manifest.

``plan`` lists the trees, pairs and names every result and checks everything that can fail on
the user's input (before any weights or work); ``run`` does this process's share:

* under torchrun (RANK / WORLD_SIZE set) each rank takes a disjoint shard of the sorted pair
  list and writes exactly the files a single process would; rank 0 merges the manifest parts
  after a barrier;
* ``skip_existing`` skips pairs whose output exists (writes are atomic: an existing file is
  complete) and keeps their manifest records, so an interrupted job resumes where it stopped;
* SIGTERM finishes the batch in flight, Ctrl-C drops it; either way the writes in flight
  complete, no partial file is left, and the report says ``interrupted``.

AdaIN runs the fast path: every style's statistics once (cached on disk), content batches
encoded once for all their styles, each image of a batch with its own style's statistics.
Other methods (Gatys; CIN, whose styles are names), colour preservation and alpha sweeps
render pair by pair through the engine.
"""

from __future__ import annotations

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

from ..engine import Engine, check_alpha, check_color
from ..errors import InputError, Interrupted, StylerError
from ..media.files import check_writable
from ..media.images import FORMATS, MAX_PIXELS, contact_sheet, load_image
from ..methods.adain.method import AdaIN, StyleStats
from ..methods.base import Mix
from ..runtime import autotune
from . import loader, manifest
from .pairing import DEFAULT_NAME, Pair, PairMode, Source, dist_env, list_tree, list_trees, make_pairs, shard
from .stylecache import StyleCache, model_identity

CUDA_BATCH = 8  # same-size images per model call on CUDA (CPU: 1, measured faster)
CUDA_BATCH_PIXELS = 8 * 1024 * 1024  # ... and at most this many pixels in all


@dataclass(frozen=True)
class DatasetJob:
    content: Path
    style: Path | tuple[Path, ...]  # style files or folders
    output: Path
    pairs: PairMode | str = PairMode.ALL
    per_content: int = 1
    seed: int = 0
    name: str = DEFAULT_NAME
    ext: str = "png"
    alpha: float = 1.0
    sweep: tuple[float, ...] | None = None  # one strip per pair, a tile per alpha (replaces alpha)
    color: str | None = None
    named_styles: bool = False  # styles are names or indices of a CIN model, not files
    content_size: int = 512
    style_size: int = 512
    crop: bool = False
    max_pixels: int = MAX_PIXELS  # contents and styles over this after resizing are refused
    skip_existing: bool = False
    workers: int | None = None  # decode/encode worker processes; None = the device's default
    encoding: loader.Encoding = field(default_factory=loader.Encoding)
    style_cache: bool = True
    cache_dir: Path | None = None  # None = <weights dir>/styles


@dataclass
class DatasetReport:
    rank: int = 0
    world: int = 1
    total: int = 0  # pairs of the whole job
    assigned: int = 0  # pairs of this rank
    written: int = 0
    existing: int = 0  # skipped: output already there
    failed: int = 0  # pairs not written (bad content or style file, failed write)
    failures: list[str] = field(default_factory=list)  # one line per bad input or failed write
    interrupted: bool = False
    seconds: float = 0.0
    manifest: Path | None = None  # written (rank 0, or alone) when the job ended
    listed: int = 0  # records in that manifest: the whole job's outputs
    style_hits: int = 0
    style_misses: int = 0


def plan(job: DatasetJob) -> list[Pair]:
    """Every pair of the job with its output name; all input errors are raised here, before any work."""
    check_alpha(job.alpha)
    for a in job.sweep or ():
        check_alpha(a)
    check_color(job.color)
    if job.workers is not None:
        loader.check_workers(job.workers)
    out = Path(job.output).expanduser()
    if out.exists() and not out.is_dir():
        raise InputError(f"output={out} is a file; a dataset job writes into a folder")
    check_writable(out / manifest.MANIFEST, "choose a writable output folder")
    contents = list_tree(Path(job.content))
    if Path(job.content).is_dir() and _inside(out, Path(job.content)):
        # An output folder inside the content tree: never read earlier results as contents.
        contents = [c for c in contents if not _inside(c.path, out)] or contents
    styles = [Source(Path(s), str(s)) for s in _styles_of(job)] if job.named_styles else list_trees(_styles_of(job))
    pairs = make_pairs(
        contents,
        styles,
        mode=job.pairs,
        per_content=job.per_content,
        seed=job.seed,
        name=job.name,
        ext=job.ext,
        alpha=job.alpha,
    )
    if out.suffix.lower() in FORMATS and not out.is_dir():
        raise InputError(f"output={out} is one file but there are {len(pairs)} results; pass a folder as output")
    inputs_given = (job.content,) if job.named_styles else (job.content, *_styles_of(job))
    if any(_inside(out, Path(p)) or _inside(Path(p), out) for p in inputs_given):
        inputs = {os.path.realpath(p.content.path) for p in pairs} | {os.path.realpath(p.style.path) for p in pairs}
        for p in pairs:
            if os.path.realpath(out / p.output) in inputs:
                raise InputError(
                    f"{p.content.rel} + {p.style.rel} would overwrite the input {out / p.output}; "
                    "choose another output folder or name"
                )
    return pairs


def _styles_of(job: DatasetJob) -> list[Path]:
    return [Path(s) for s in job.style] if isinstance(job.style, (tuple, list)) else [Path(job.style)]


def _inside(path: Path, folder: Path) -> bool:
    a, b = os.path.realpath(path), os.path.realpath(folder)
    return a == b or a.startswith(b.rstrip(os.sep) + os.sep)


def job_device(device: str) -> str:
    """The device a rank uses: ``cuda:LOCAL_RANK`` under torchrun on a GPU machine, else ``device``."""
    from ..runtime import pick_device

    _, world, local = dist_env()
    if world > 1 and pick_device(device).type == "cuda":
        return f"cuda:{local}"
    return device


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


Progress = Callable[[int, int], None]  # (pairs done on this rank, pairs of this rank); rank 0 only
OnStart = Callable[[Path], None]  # the output about to be computed (Gatys writes intermediates beside it)


def run(
    engine: Engine,
    job: DatasetJob,
    pairs: list[Pair] | None = None,
    *,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
    on_start: OnStart | None = None,
) -> DatasetReport:
    """This process's share of the job (all of it when run alone); see the module docstring."""
    start = time.perf_counter()
    pairs = plan(job) if pairs is None else pairs
    rank, world, _ = dist_env()
    out = Path(job.output).expanduser()
    mine = shard(pairs, rank, world)
    report = DatasetReport(rank=rank, world=world, total=len(pairs), assigned=len(mine))
    records: dict[str, dict[str, object]] = {}
    todo = []
    for p in mine:
        if job.skip_existing and (out / p.output).is_file():
            records[p.output] = manifest.record(p, job.alpha)
            report.existing += 1
        else:
            todo.append(p)
    stop = stop or threading.Event()
    tick = (
        (lambda: progress(report.written + report.existing + report.failed, len(mine)))
        if progress is not None and rank == 0
        else (lambda: None)
    )
    tick()
    with _stop_on_sigterm(stop), autotune(engine.runtime):
        try:
            _work(engine, job, todo, out, report, records, stop, tick, on_start)
        except (KeyboardInterrupt, Interrupted):
            # A Gatys optimisation's best-so-far image is not a finished result: writing it
            # under its output name would make skip_existing take it as complete.
            report.interrupted = True
    report.interrupted = report.interrupted or stop.is_set()
    report.manifest = manifest.finish(out, rank, world, records.values(), interrupted=report.interrupted)
    if report.manifest is not None:
        report.listed = len(manifest.read(report.manifest)) if world > 1 else len(records)
    report.seconds = time.perf_counter() - start
    return report


def _styles(engine: Engine, job: DatasetJob, todo: list[Pair], report: DatasetReport) -> dict[str, Any]:
    """Each style of the job read and represented once (AdaIN statistics through the disk cache)."""
    method, rt = engine.method, engine.runtime
    cache = None
    if job.style_cache and isinstance(method, AdaIN) and job.color is None:
        cache = StyleCache(
            model_identity(method.encoder, rt.dtype, rt.device),
            job.cache_dir,
            settings=f"size={job.style_size}|crop={job.crop}",
        )
    reps: dict[str, Any] = {}
    for style in dict.fromkeys(p.style for p in todo):
        try:

            def compute(path: Path = style.path) -> dict[str, torch.Tensor]:
                s = engine.represent(
                    load_image(path, job.style_size, job.crop, max_pixels=job.max_pixels, size_name="style_size")
                )
                return {"mean": s.mean, "std": s.std}

            if job.named_styles:
                reps[style.rel] = engine.represent(style.rel)
            elif cache is not None:
                entry = cache.get(style.path, compute)
                reps[style.rel] = StyleStats(entry["mean"].to(rt.device), entry["std"].to(rt.device))
            else:
                image = load_image(
                    style.path, job.style_size, job.crop, max_pixels=job.max_pixels, size_name="style_size"
                )
                # colour preservation renders from the image (adapted to each content)
                reps[style.rel] = image if job.color is not None else engine.represent(image)
        except StylerError as e:
            report.failures.append(str(e))
    if cache is not None:
        report.style_hits, report.style_misses = cache.hits, cache.misses
    return reps


def _work(
    engine: Engine,
    job: DatasetJob,
    todo: list[Pair],
    out: Path,
    report: DatasetReport,
    records: dict,
    stop: threading.Event,
    tick: Callable[[], None],
    on_start: OnStart | None,
) -> None:
    reps = _styles(engine, job, todo, report)
    by_content: dict[str, list[Pair]] = {}
    for p in todo:
        if p.style.rel in reps:
            by_content.setdefault(p.content.rel, []).append(p)
        else:
            report.failed += 1
    tick()
    paths = {p.content.rel: p.content.path for p in todo}
    device = engine.runtime.device
    cuda = device.type == "cuda"
    workers = loader.default_workers(device) if job.workers is None else job.workers
    max_batch = CUDA_BATCH if cuda else 1
    decode_pool, encode_pool = loader.pool(workers, "decode"), loader.pool(workers, "encode")
    writer = loader.Writer(encode_pool, job.encoding, limit=2 * max(workers, 1) + max_batch)
    by_output = {p.output: p for ps in by_content.values() for p in ps}

    def settle(done: list) -> None:
        for output, error in done:
            if error is None:
                records[output] = manifest.record(by_output[output], job.alpha)
                report.written += 1
            else:
                report.failures.append(str(error))
                report.failed += 1
            tick()

    try:
        items = loader.decoded(
            ((rel, paths[rel]) for rel in by_content),
            decode_pool,
            job.content_size,
            job.crop,
            ahead=max(4, 2 * workers + max_batch),
            max_pixels=job.max_pixels,
        )
        for batch in loader.buckets(items, max_batch, CUDA_BATCH_PIXELS, hold=4 * max_batch):
            if stop.is_set():
                break
            keys = [k for k, _ in batch]
            if isinstance(batch[0][1], StylerError):
                report.failures.append(str(batch[0][1]))
                report.failed += len(by_content[keys[0]])
                tick()
                continue
            x = loader.to_device([px for _, px in batch], device)  # (B, 3, H, W) float on the device
            del batch
            submitted = 0
            try:
                for group, result in _render(
                    engine,
                    job,
                    x,
                    [by_content[k] for k in keys],
                    reps,
                    lambda p: on_start(out / p.output) if on_start else None,
                ):
                    for pair, pixels in zip(group, loader.to_pixels(result), strict=True):
                        settle(writer.submit(pair.output, pixels, out / pair.output))
                        submitted += 1
            except StylerError as e:  # e.g. a content too small for the encoder: the whole batch is that size
                report.failures.append(f"{', '.join(keys)}: {e}")
                report.failed += sum(len(by_content[k]) for k in keys) - submitted
                tick()
            del x
            settle(writer.finished())
    finally:
        # Ctrl-C included: every write in flight completes (atomically) before the pools stop.
        settle(writer.drain())
        decode_pool.shutdown(wait=True, cancel_futures=True)
        encode_pool.shutdown(wait=True)


def _render(
    engine: Engine,
    job: DatasetJob,
    x: torch.Tensor,
    pairs: list[list[Pair]],
    reps: dict[str, Any],
    start: Callable[[Pair], None] = lambda p: None,
) -> Iterator[tuple[list[Pair], torch.Tensor]]:
    """(pairs, images (len(pairs), 3, H, W)) for a content batch x; content i takes ``pairs[i]``'s styles.

    AdaIN: x is encoded once; round j decodes every content's j-th style in one call, each image
    with its own style statistics ((n, 512, 1, 1) stacked)."""
    method = engine.method
    if isinstance(method, AdaIN) and job.color is None and not job.sweep:
        fc = method.encode(x, engine.tile)  # (B, 512, h, w)
        size = (x.shape[-2], x.shape[-1])
        for j in range(max(len(ps) for ps in pairs)):
            idx = [i for i, ps in enumerate(pairs) if len(ps) > j]
            group = [pairs[i][j] for i in idx]
            stats = StyleStats(
                torch.cat([reps[p.style.rel].mean for p in group]),  # (n, 512, 1, 1)
                torch.cat([reps[p.style.rel].std for p in group]),
            )
            f = fc if len(idx) == len(pairs) else fc[idx]
            yield group, method.decode_target(f, [stats], Mix((1.0,)), alpha=job.alpha, size=size, tile=engine.tile)
        return
    for i, ps in enumerate(pairs):
        for p in ps:
            start(p)
            style, c = reps[p.style.rel], x[i : i + 1]
            if job.sweep:
                yield [p], contact_sheet([[engine.render(c, [style], alpha=a, color=job.color) for a in job.sweep]])
            else:
                yield [p], engine.render(c, [style], alpha=job.alpha, color=job.color)

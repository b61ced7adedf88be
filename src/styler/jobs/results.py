"""Jobs whose results write themselves: a method with ``Method.writes`` (curves: SVG curves, a
JSON report, a render) or results with further outputs (``Naming.also``). The runner (``runner``)
plans, shards, resumes and reports such jobs as any other; here each content goes on its own
through ``Engine.result``, and each result is written to every output it has. Nothing here names
a method: what a result is, and which content files a method reads itself, are the method's
capabilities (``Method.writes``, ``Method.reads``)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from ..engine import Engine
from ..errors import InputError, Param, StylerError
from ..media.images import FORMATS
from . import loader
from .pairing import Pair
from .spec import Job


def check(engine: Engine, job: Job) -> None:
    """Refuse, before any work, controls or output types the engine's method does not take."""
    engine.check(job.controls)
    method = engine.method
    naming = job.naming
    if job.controls.sweep is not None and (method.writes or naming.also):
        raise InputError(
            Param("alpha_sweep"),
            f" makes a sheet of images, not a result of method {method.name}; pass ",
            Param("alpha"),
        )
    outputs = [(Param("output", naming.output) if naming.to_file else Param("ext", naming.suffix), naming.suffix)]
    outputs += [(Param(a.name, a.path), a.path.suffix if a.to_file else a.ext) for a in naming.also]
    for param, suffix in outputs:
        suffix = "." + suffix.lstrip(".").lower()
        if suffix not in FORMATS and suffix not in method.writes:
            raise InputError(param, f": method {method.name} writes images, not {suffix} files; use an image format")


def run(
    work: Any, by_content: dict[str, list[Pair]], paths: dict[str, Path], reps: dict[str, Any], stop: threading.Event
) -> None:
    """Content by content through ``Engine.result``, each result written by itself: to its further
    outputs, then under its own name, so an existing output means a finished pair. Contents of a
    type the method reads itself (``Method.reads``) reach it as paths, the rest as images. ``work``
    is the runner's ``_Work`` (its job, engine, output folder and bookkeeping)."""
    reading, method = work.job.reading, work.engine.method
    protect = tuple(paths.values()) + tuple(p.style.path for ps in by_content.values() for p in ps)
    for rel, pairs in by_content.items():
        if stop.is_set():
            break
        path = paths[rel]
        content: Any = path
        if path.suffix.lower() not in method.reads:
            try:
                pixels = loader.decode(path, reading.content_size, reading.crop, reading.max_pixels)
            except StylerError as e:
                work.fail(e, len(pairs))
                continue
            content = loader.to_device([pixels], work.engine.runtime.device)
        for p in pairs:
            if stop.is_set():
                break
            target = work.out / p.output
            work.on_start(target)
            error: StylerError | None = None
            try:
                result = work.engine.result(content, [reps[p.style.rel]], work.job.controls)
                for where in (*work.job.naming.others(p.output), target):
                    result.save(where, protect=protect)
            except StylerError as e:
                error = type(e)(f"{rel}: ", *e.parts)
            work.settle([(p.output, error)])

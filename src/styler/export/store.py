"""Exported graphs kept in ``cache_dir("exports")``: built on first use, reused after.

A folder per (method, its weights, precision, calibration, torch and ONNX Runtime versions)
holds one ``NAME.onnx`` per graph; it is built in a temporary folder and renamed complete, under
a lock, so concurrent runs build it once and an interrupted build leaves nothing."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch

from ..errors import OutputError
from ..methods.base import Graph, Method, weights_digest
from ..paths import cache_dir, lock_path, mark_cache
from ..runtime import Runtime
from . import graph, quantize

CACHE = "exports"
VERSION = 1  # of the graphs' layout: bump when what a method exports changes
LOCK_TIMEOUT = 600  # s: another process building the same graphs

# Progress of a build: (what, steps done, steps in all); a step is a graph written or a calibration input run.
OnBuild = Callable[[str, int, int], None]


def key(graphs: dict[str, Graph], precision: str, calibration: str) -> str:
    """What the graphs depend on, as a short hash (the weights' values included)."""
    import onnxruntime

    fp32 = Runtime(torch.device("cpu"), "fp32")  # what graphs are exported from
    h = hashlib.sha256(f"{VERSION}|{torch.__version__}|{onnxruntime.__version__}|{precision}|{calibration}".encode())
    for name, g in sorted(graphs.items()):
        h.update(f"{name}:{weights_digest(g.module, fp32)}".encode())
    return h.hexdigest()[:20]


def graph_files(
    method: Method,
    graphs: dict[str, Graph],
    precision: str,
    files: list[Path],
    on_build: OnBuild | None = None,
) -> dict[str, Path]:
    """Each of ``method``'s ``graphs`` as an ONNX file in ``precision`` (fp32 or int8, calibrated
    on ``files`` or synthetic images), from the cache or built now (``on_build`` follows it)."""
    folder = cache_dir(CACHE) / f"{method.name}-{precision}-{key(graphs, precision, quantize.calibration_id(files))}"
    wanted = {name: folder / f"{name}.onnx" for name in graphs}
    if all(p.is_file() for p in wanted.values()):
        return wanted
    from filelock import FileLock

    mark_cache(folder.parent)
    lock = lock_path(folder)
    lock.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(lock, timeout=LOCK_TIMEOUT):
        if not all(p.is_file() for p in wanted.values()):
            shutil.rmtree(folder, ignore_errors=True)
            try:
                tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
            except OSError as e:
                raise OutputError(
                    f"cannot write exported graphs to {folder.parent} ({e.strerror or e}); set $STYLER_CACHE_DIR "
                    "to a writable folder"
                ) from None

            def step(done: int, total: int) -> None:
                if on_build is not None:
                    on_build(f"exporting {method.name} to ONNX ({precision}, once)", done, total)

            try:
                build(method, graphs, precision, files, tmp, step)
                os.replace(tmp, folder)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    return wanted


def build(
    method: Method,
    graphs: dict[str, Graph],
    precision: str,
    files: list[Path],
    folder: Path,
    step: Callable[[int, int], None],
) -> None:
    """Write each of ``graphs`` into ``folder``: fp32, then int8 from it when asked (calibrated on
    ``method``'s own intermediate inputs); ``step(done, total)`` after each graph and input."""
    step(0, len(graphs))
    inputs = method.calibration(*quantize.calibration_images(files)) if precision == "int8" else {}
    total, done = len(graphs) + sum(len(v) for v in inputs.values()), 0

    def advance() -> None:
        nonlocal done
        done += 1
        step(done, total)

    for name, g in graphs.items():
        path = graph.write(g, folder / f"{name}.onnx")
        if precision == "int8":
            fp32 = path.rename(folder / f"{name}.fp32.onnx")
            quantize.quantize(fp32, path, g.input_names, inputs[name], advance)
            fp32.unlink()
        advance()

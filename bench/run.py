"""`make bench`: every benchmark section, each printing its own table.

Sections live in bench/bench_*.py and expose ``run(console)``. Ratios are measured side by
side in one process, since this machine is noisy.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from rich.console import Console

HERE = Path(__file__).resolve().parent
SECTIONS = [
    "bench_speed",
    "bench_onnx",
    "bench_images",
    "bench_video",
    "bench_train",
    "bench_cin",
    "bench_gatys",
    "bench_dataset",
    "bench_aesfa",
    "bench_sheet",
    "bench_curves",
    "bench_diffstyler",
    "bench_gpu",  # the GPU rows of `make gpu-check`; skipped without CUDA
]


def main(argv: list[str]) -> None:
    # bench/ for helpers.py; tests/ for reference.py, the plain pytorch-AdaIN baseline.
    sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]
    console = Console(highlight=False, width=max(Console().width, 150))  # whole tables in logs too
    wanted = argv or SECTIONS
    for name in wanted:
        if not (HERE / f"{name}.py").exists():
            continue
        importlib.import_module(name).run(console)


if __name__ == "__main__":
    main(sys.argv[1:])

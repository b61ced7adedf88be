"""Dataset benchmark: end-to-end images/s of a folder job (decode, model, encode, write) against the
model alone on the same images, per worker count, in one process; and the style cache's saving.

A folder of generated 640 x 512 JPEGs (smooth colour fields plus fine texture, so the PNG
encoder has real work) and one 512 px style. Weights are random He-initialised in the public
layout (speed does not depend on the values). ``BENCH_QUICK=1``: a few small images only;
``BENCH_DATASET_COUNT=N``: N images instead of 100.
Model-only runs are taken before and after the end-to-end runs and averaged, since this
machine is shared and noisy.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from helpers import random_layout
from styler.engine import Engine
from styler.jobs import loader, runner
from styler.jobs.spec import make_job
from styler.jobs.stylecache import StyleCache
from styler.media import images
from styler.methods.adain.method import AdaIN
from styler.methods.base import Mix
from styler.nets.vgg import decoder_layers, load_decoder, load_encoder, vgg_normalised_layers
from styler.runtime import runtime

QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
COUNT, SIZE = (8, 128) if QUICK else (int(os.environ.get("BENCH_DATASET_COUNT", "100")), 512)
WORKERS = (0, 1, 2)


def make_engine(device: str = "cpu", precision: str = "auto") -> Engine:
    vgg = random_layout(vgg_normalised_layers(), 0)
    dec = random_layout(decoder_layers(), 1)
    dec["28.weight"] *= 0.1  # keep the random decoder's output mostly inside [0, 1]
    dec["28.bias"].fill_(0.5)
    return Engine(AdaIN(load_encoder(vgg), load_decoder(dec), runtime(device, precision)))


def photo(path: Path, w: int, h: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    base = Image.fromarray(rng.uniform(0, 255, (6, 8, 3)).astype(np.uint8)).resize((w, h), Image.Resampling.BICUBIC)
    grain = rng.normal(0, 12, (h, w, 3))
    arr = np.clip(np.asarray(base, np.float64) + grain, 0, 255).astype(np.uint8)
    Image.fromarray(arr).save(path, quality=90)


def model_only(engine: Engine, files: list[Path], style) -> float:
    """images/s of the model on pre-decoded tensors, as the job runs it (batch 1 on CPU)."""
    xs = [images.to_tensor(images.prepare(images.open_rgb(f), SIZE)) for f in files]
    method = engine.method
    start = time.perf_counter()
    for x in xs:
        fc = method.encode(x)
        out = method.decode_target(fc, [style], Mix((1.0,)), alpha=1.0, size=tuple(x.shape[-2:]))
        out.sum().item()  # make sure the work is done (a no-op on CPU)
    return len(xs) / (time.perf_counter() - start)


def run(console: Console) -> None:
    torch.manual_seed(0)
    engine = make_engine()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "c").mkdir()
        files = []
        for i in range(COUNT):
            files.append(root / "c" / f"img{i:04d}.jpg")
            photo(files[-1], SIZE * 5 // 4, SIZE, i)
        photo(root / "style.jpg", SIZE, SIZE, 999)
        style = engine.represent(images.load_image(root / "style.jpg", SIZE))
        sample = files[: max(4, COUNT // 5)]
        model_only(engine, files[:2], style)  # warm-up (oneDNN kernel selection)

        model = [model_only(engine, sample, style)]
        console.print(f"  model only: {model[0]:.3f} images/s", style="dim")
        rows = []
        for workers in WORKERS:
            job = make_job(
                root / "c",
                [root / "style.jpg"],
                root / f"out{workers}",
                content_size=SIZE,
                style_size=SIZE,
                workers=workers,
                style_cache=False,
            )
            report = runner.run(engine, job)
            assert report.written == COUNT and not report.failures, report
            rows.append((workers, COUNT / report.seconds))
            console.print(f"  workers={workers}: {rows[-1][1]:.3f} images/s end to end", style="dim")
        model.append(model_only(engine, sample, style))
        reference = sum(model) / len(model)

        # Style cache: encoding one 512 px style vs reading its statistics back.
        cache = StyleCache(engine.style_key(), root / "cache", settings=f"size={SIZE}")

        def compute() -> dict[str, torch.Tensor]:
            return engine.pack(engine.represent(images.load_image(root / "style.jpg", SIZE)))

        t0 = time.perf_counter()
        cache.get(root / "style.jpg", compute)
        miss = time.perf_counter() - t0
        t0 = time.perf_counter()
        cache.get(root / "style.jpg", compute)
        hit = time.perf_counter() - t0

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    table = Table(
        title=f"dataset job: {COUNT} JPEGs {SIZE * 5 // 4}x{SIZE} -> PNG, one style, "
        f"{engine.describe()}, {cores} cores, torch threads {torch.get_num_threads()}"
    )
    table.add_column("pipeline")
    table.add_column("images/s", justify="right")
    table.add_column("vs model only", justify="right")
    table.add_row(
        "model only (tensors in, tensors out)",
        f"{reference:.2f}",
        f"100%  ({model[0]:.2f} before, {model[1]:.2f} after)",
    )
    for workers, speed in rows:
        label = "in-process threads" if workers == 0 else f"{workers} worker process(es)"
        table.add_row(f"end to end, workers={workers} ({label})", f"{speed:.2f}", f"{speed / reference:.0%}")
    console.print(table)
    console.print(
        f"style cache, one {SIZE} px style: encode {miss * 1000:.0f} ms (miss, incl. hashing and "
        f"storing), cached {hit * 1000:.1f} ms (hit): {miss - hit:.3f} s saved per style per run"
    )
    console.print(f"default workers on CPU: {loader.default_workers(torch.device('cpu'), COUNT)}")


def main() -> None:
    run(Console(highlight=False))


if __name__ == "__main__":
    main()

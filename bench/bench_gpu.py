"""The GPU rows of `make gpu-check` (`python bench/run.py bench_gpu`): per method and precision,
images/s at 512 x 512 for the model alone (batches in GPU memory) and end to end (a folder of JPEG
photos in, PNG files out, through `styler.transfer`), and video frames/s at 1080p end to end
(decode, stylize, encode). Random weights (speed does not depend on their values). Without CUDA it
prints that it skipped. Knobs: STYLER_BENCH_GPU_IMAGES (folder size, default 32),
STYLER_BENCH_GPU_FRAMES (clip frames, default 48).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from bench_speed import METHODS, SAMPLES, STYLE, setup
from helpers import restored_env

IMAGES = int(os.environ.get("STYLER_BENCH_GPU_IMAGES", "32"))
FRAMES = int(os.environ.get("STYLER_BENCH_GPU_FRAMES", "48"))
BATCH = 8


def precisions() -> list[str]:
    native = torch.cuda.is_bf16_supported(including_emulation=False)
    return ["fp32", *(["bf16"] if native else []), "fp16"]


def style_of(engine):
    from styler.media.images import load_image

    return engine.represent("b" if not engine.method.takes_images else load_image(STYLE, 512).cuda())


def model_rate(engine, reps: int = 5) -> float:
    """Images/s of ``stylize`` on a (BATCH, 3, 512, 512) batch already on the GPU (after a warm-up)."""
    from styler.methods.base import Mix

    x = torch.rand(BATCH, 3, 512, 512, device="cuda")
    style = style_of(engine)
    run = lambda: engine.method.stylize(x, [style], Mix((1.0,)), alpha=1.0)
    run()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(reps):
        run()
    torch.cuda.synchronize()
    return BATCH * reps / (time.perf_counter() - start)


def photo_folder(tmp: Path) -> Path:
    """IMAGES JPEG photos (the samples, repeated under new names) in one folder."""
    folder = tmp / "photos"
    folder.mkdir()
    photos = sorted((SAMPLES / "content").glob("*.jpg"))
    for i in range(IMAGES):
        shutil.copy(photos[i % len(photos)], folder / f"p{i:03d}.jpg")
    return folder


def end_to_end_rate(engine, name: str, folder: Path, tmp: Path, label: str) -> float:
    import styler

    style = ["b"] if name == "cin" else [STYLE]
    styler.transfer(engine, folder, style, tmp / f"warm_{label}")  # warm-up: kernels, style cache
    start = time.perf_counter()
    styler.transfer(engine, folder, style, tmp / f"out_{label}")
    return IMAGES / (time.perf_counter() - start)


def rates(name: str, p: str, options: dict, photos: Path, clip, tmp: Path) -> tuple[float, float, float]:
    """(model img/s, end-to-end img/s, video fps at 1080p) of method ``name`` in precision ``p``."""
    from styler.engine import Engine
    from styler.jobs.video import stylize_video

    engine = Engine.load(name, device="cuda", precision=p, **options[name])
    label = f"{name}_{p}"
    model = model_rate(engine)
    e2e = end_to_end_rate(engine, name, photos, tmp, label)
    report = stylize_video(engine, clip, tmp / f"{label}.mp4", [style_of(engine)], size=1080, batch=8)
    del engine
    torch.cuda.empty_cache()
    return model, e2e, report.fps


def run(console: Console) -> None:
    if not torch.cuda.is_available():
        console.print("gpu: skipped, no CUDA GPU visible to torch")
        return
    from bench_video import trimmed
    from styler.media import video

    names = ("STYLER_WEIGHTS_DIR", "STYLER_CACHE_DIR", "STYLER_PRECISIONS")
    with restored_env(*names), tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        options = setup(tmp)
        photos = photo_folder(tmp)
        clip = video.probe(trimmed(SAMPLES / "video" / "cutBunny.mp4", FRAMES, tmp))
        table = Table(title=f"gpu: {torch.cuda.get_device_name(0)}, torch {torch.__version__} (random weights)")
        for col in ("method", "precision", "model img/s 512", f"end-to-end img/s 512 ({IMAGES} files)"):
            table.add_column(col, justify="right")
        table.add_column("video fps 1080p", justify="right")
        for name in METHODS:
            for p in precisions():
                model, e2e, fps = rates(name, p, options, photos, clip, tmp)
                table.add_row(name, p, f"{model:.1f}", f"{e2e:.1f}", f"{fps:.1f}")
                console.print(f"  {name} {p}: model {model:.1f} img/s, end to end {e2e:.1f} img/s, {fps:.1f} fps")
        console.print(table)

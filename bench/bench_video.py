"""Video: end-to-end frames/s of `styler video` next to the model alone on the same frames,
and the flicker ratio with and without --smooth. Random weights (He-initialised, as the
tests'), so speeds are real but the pictures, and so the flicker numbers, are not those
of the trained decoder.

Knobs (environment): STYLER_SAMPLES (default ../shared/samples), STYLER_BENCH_VIDEO_FRAMES
(first N frames of the clip, default all 240), STYLER_BENCH_FLICKER_SIZE (shorter side for
the flicker table, default 180).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from styler.controls import Controls

HERE = Path(__file__).resolve().parent
SAMPLES = Path(os.environ.get("STYLER_SAMPLES", HERE.parent.parent / "shared" / "samples"))
CLIP = SAMPLES / "video" / "cutBunny.mp4"
STYLE = SAMPLES / "style" / "la_muse.jpg"
FRAMES = int(os.environ.get("STYLER_BENCH_VIDEO_FRAMES", "0"))
FLICKER_SIZE = int(os.environ.get("STYLER_BENCH_FLICKER_SIZE", "180"))
SMOOTHS = (0.0, 0.5, 0.8, 0.9)


def trimmed(clip: Path, frames: int, folder: Path) -> Path:
    """The first ``frames`` frames, stream-copied (starts at a keyframe, so it decodes)."""
    from styler.media.video import ffmpeg_exe

    if not frames:
        return clip
    dest = folder / f"{clip.stem}_{frames}{clip.suffix}"
    subprocess.run(
        [
            ffmpeg_exe(),
            "-loglevel",
            "error",
            "-y",
            "-i",
            str(clip),
            "-map",
            "0",
            "-c",
            "copy",
            "-frames:v",
            str(frames),
            str(dest),
        ],
        check=True,
    )
    return dest


def model_fps(engine, x: torch.Tensor, stats, batch: int) -> float:
    """Frames/s of Engine.frames on frames already in memory (after one warm-up batch)."""
    cuda = engine.runtime.device.type == "cuda"
    list(engine.frames([x[:batch]], [stats], Controls()))
    if cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in engine.frames((x[i : i + batch] for i in range(0, len(x), batch)), [stats], Controls()):
        pass
    if cuda:
        torch.cuda.synchronize()
    return len(x) / (time.perf_counter() - start)


def run(console: Console, tables=("speed", "flicker")) -> None:
    from helpers import write_random_weights  # bench/run.py puts bench/ on sys.path
    from styler.media import video

    if not CLIP.is_file() or not STYLE.is_file():
        console.print(f"[yellow]video: skipped, {CLIP} or {STYLE} is missing (set STYLER_SAMPLES)[/]")
        return
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        vgg, dec = write_random_weights(tmp)
        info = video.probe(trimmed(CLIP, FRAMES, tmp))
        if "speed" in tables:
            console.print(speed_table(info, vgg, dec, tmp))
        if "flicker" in tables:
            console.print(flicker_table(info, vgg, dec))


def speed_table(info, vgg: Path, dec: Path, tmp: Path) -> Table:
    from styler.engine import Engine
    from styler.jobs.video import stylize_video
    from styler.media import video
    from styler.media.images import load_image

    runs = [("cpu", "auto", 0, 4)]
    if torch.cuda.is_available():
        runs += [("cuda", "auto", 720, 8), ("cuda", "auto", 1080, 8)]
    speed = Table(title=f"video: {CLIP.name}, {info.frames} frames (random weights)")
    for col in ("device", "precision", "frames", "batch", "model fps", "end-to-end fps", "I/O overhead"):
        speed.add_column(col, justify="right")
    for device, precision, size, batch in runs:
        engine = Engine.load("adain", device=device, precision=precision, vgg=vgg, decoder=dec)
        stats = engine.represent(load_image(STYLE, 512))
        x = video.to_batch(list(video.read_frames(info, size)))
        pure = model_fps(engine, x, stats, batch)
        del x
        report = stylize_video(engine, info, tmp / "out.mp4", [stats], size=size, batch=batch)
        w, h = report.size
        speed.add_row(
            str(engine.runtime.device),
            engine.runtime.precision,
            f"{w}x{h}",
            str(batch),
            f"{pure:.2f}",
            f"{report.fps:.2f}",
            f"{1 - report.fps / pure:+.0%}",
        )
    return speed


def flicker_table(info, vgg: Path, dec: Path) -> Table:
    from styler.engine import Engine
    from styler.media import video
    from styler.media.images import load_image
    from styler.temporal import FlickerMeter

    # Flicker: same frames, smaller, in memory; deviation = how far the smoothed frames are
    # from the plain per-frame result (the price of smoothing: ghosting or lag would show here).
    engine = Engine.load("adain", device="cpu", precision="fp32", vgg=vgg, decoder=dec)
    stats = engine.represent(load_image(STYLE, 512))
    x = video.to_batch(list(video.read_frames(info, FLICKER_SIZE)))
    flick = Table(
        title=f"flicker: {CLIP.name}, {info.frames} frames at {x.shape[-1]}x{x.shape[-2]}, fp32 (random weights)"
    )
    for col in ("--smooth", "flicker (out/in change)", "output change /255", "mean dev. /255", "p99 dev. /255"):
        flick.add_column(col, justify="right")
    plain = None
    for smooth in SMOOTHS:
        meter, outs = FlickerMeter(), []
        for xb, yb in zip(
            (x[i : i + 4] for i in range(0, len(x), 4)),
            engine.frames((x[i : i + 4] for i in range(0, len(x), 4)), [stats], Controls(smooth=smooth)),
        ):
            meter.update(xb, yb)
            outs.append(yb)
        y = torch.cat(outs)
        plain = y if plain is None else plain
        dev = (y - plain).abs().flatten()
        p99 = dev[torch.randperm(dev.numel())[:1_000_000]].quantile(0.99)  # quantile() caps its input size
        flick.add_row(
            f"{smooth:g}",
            f"{meter.ratio:.3f}",
            f"{meter.output_change * 255:.2f}",
            f"{dev.mean() * 255:.2f}",
            f"{p99 * 255:.2f}",
        )
    return flick

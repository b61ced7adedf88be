"""Curve-based transfer (``--method curves``): seconds per optimisation iteration and per image at
512 and 1024 px, with the parts (vectorising, rendering, render + backward) beside them.

A synthetic sketch of about 200 curves (random smooth strokes, drawn here) and random He-initialised
VGG weights in the public layout: speed does not depend on the weights' values. The style is
../shared/samples/style/sketch.png when present, else a generated scribble. Each figure is the
median of several runs after a warm-up; wall-clock and process CPU seconds (all threads) are both
shown, since on a shared machine the CPU time is the steadier of the two. "Per image" is
vectorise + the default number of iterations x the measured iteration + the SVG, PNG and report
writes: a full 50-iteration run at 1024 px takes half an hour on a 2-core CPU, so it is added up
from its measured parts rather than run. On CUDA (when present) the same rows run on the GPU.
``BENCH_QUICK=1``: 128 and 256 px, one repeat (a smoke test of this file).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from rich.console import Console
from rich.table import Table

from helpers import random_layout
from styler.methods.base import Mix
from styler.methods.curves.config import CurvesConfig, runtime_for
from styler.methods.curves.method import CurvesMethod, read_sketch
from styler.methods.curves.render import render
from styler.nets.vgg import load_encoder, vgg_normalised_layers

QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples"
STROKES = 30 if QUICK else 140  # random strokes; crossings split them: about 200 curves at 512 px
SIDES = (128, 256) if QUICK else (512, 1024)
REPEATS = 1 if QUICK else 3
STEPS = 2  # optimisation steps timed per run (after the first, which also vectorises and sets up)


def sketch(side: int, strokes: int = STROKES, seed: int = 0) -> Image.Image:
    """A side x side line drawing of ``strokes`` smooth random strokes, 3 px wide at 512."""
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", (side, side), "white")
    draw = ImageDraw.Draw(img)
    width = max(2, round(3 * side / 512))
    for _ in range(strokes):
        x, y = rng.uniform(0.05, 0.95, 2) * side
        angle, pts = rng.uniform(0, 2 * np.pi), []
        for _ in range(12):
            pts.append((x, y))
            angle += rng.normal(0, 0.3)
            x, y = x + np.cos(angle) * side / 160, y + np.sin(angle) * side / 160
        draw.line(pts, fill="black", width=width, joint="curve")
    return img


def style() -> torch.Tensor:
    path = SAMPLES / "style" / "sketch.png"
    img = Image.open(path).convert("RGB") if path.is_file() else sketch(256, 60, seed=1)
    img = img.resize((256, round(256 * img.height / img.width))) if QUICK else img
    return torch.from_numpy(np.asarray(img, dtype=np.float32) / 255).permute(2, 0, 1)[None]


def timed(fn, repeats: int = REPEATS, sync=lambda: None) -> tuple[float, float]:
    """Median (wall, CPU) seconds of ``fn()`` after one warm-up call."""
    fn()
    sync()
    wall, cpu = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        fn()
        sync()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return statistics.median(wall), statistics.median(cpu)


def table(console: Console, device: torch.device) -> None:
    encoder = load_encoder(random_layout(vgg_normalised_layers(), 0))
    sync = torch.cuda.synchronize if device.type == "cuda" else lambda: None
    drawn = {side: sketch(side) for side in SIDES}
    curves = read_sketch(drawn[SIDES[0]]).to(device)  # one sketch, rendered and optimised at both sizes
    where = (
        f"{torch.cuda.get_device_name(device)}" if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    )
    title = f"curves: a {SIDES[0]} px sketch of {len(curves)} curves at each size, {where} (wall / CPU s)"
    out = Table(title=title)
    for col in ("", *(f"{s} px" for s in SIDES)):
        out.add_column(col)
    rows: dict[str, list[str]] = {k: [] for k in ("vectorise (a drawing this size)", "render", "render + backward")}
    rows["one iteration (render + VGG + backward + step)"] = []
    rows[f"one image ({CurvesConfig().iters} iterations, vectorise, writes)"] = []
    cell = "{:.3f} / {:.3f}".format
    moving = curves.with_geometry(curves.points.clone().requires_grad_(True), curves.widths)
    rep_style = style().to(device)
    for side in SIDES:
        vec = timed(lambda d=drawn[side]: read_sketch(d), 1)
        rows["vectorise (a drawing this size)"].append(cell(*vec))
        rows["render"].append(cell(*timed(lambda s=side: render(curves, (s, s)), sync=sync)))
        back = timed(lambda s=side: render(moving, (s, s)).mean().backward(), sync=sync)
        rows["render + backward"].append(cell(*back))
        method = CurvesMethod(encoder, runtime_for(str(device)), CurvesConfig(iters=STEPS, size=side))
        rep = method.represent(rep_style)
        one = timed(lambda m=method, r=rep: m.transfer(curves, [r]), 1, sync)
        setup = timed(lambda m=method, r=rep: m.transfer(curves, [r], Mix((1.0,)), alpha=0.0), 1, sync)
        step = ((one[0] - setup[0]) / STEPS, (one[1] - setup[1]) / STEPS)
        rows["one iteration (render + VGG + backward + step)"].append(cell(*step))
        result = method.transfer(curves, [rep], alpha=0.0)
        with tempfile.TemporaryDirectory() as tmp:
            writes = timed(
                lambda r=result, s=side, t=Path(tmp): [
                    r.save(t / n, size=(s, s)) for n in ("a.svg", "a.png", "a.json")
                ],
                1,
            )
        iters = CurvesConfig().iters
        total = tuple(v + setup[i] + iters * step[i] + writes[i] for i, v in enumerate(vec))
        rows[f"one image ({iters} iterations, vectorise, writes)"].append(cell(*total))
    for name, cells in rows.items():
        out.add_row(name, *cells)
    console.print(out)


def run(console: Console) -> None:
    torch.manual_seed(0)
    table(console, torch.device("cpu"))
    if torch.cuda.is_available():
        table(console, torch.device("cuda"))


if __name__ == "__main__":
    run(Console(highlight=False))

"""Curve-based transfer: vectorising, rendering (forward and with gradients) and seconds per
optimisation step at 512 and 1024 px, and a whole sketch end to end.

A synthetic sketch of about 200 curves (random smooth strokes, drawn here) and random He-initialised VGG
weights in the public layout: speed does not depend on the weights' values. The style is
../shared/samples/style/sketch.png when present, else a generated scribble. Each figure is the
median of several runs after a warm-up; wall-clock and process CPU seconds (all threads) are both
shown, since on a shared machine the CPU time is the steadier of the two.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from rich.console import Console
from rich.table import Table

from helpers import random_layout
from styler.methods.curves import CurvesConfig, CurvesMethod, read_sketch, runtime_for
from styler.methods.curves.render import render
from styler.nets.vgg import load_encoder, vgg_normalised_layers

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples"
STROKES = 140  # random strokes; crossings split them: about 200 curves at 512 px
SIDES = (512, 1024)


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
    return torch.from_numpy(np.asarray(img, dtype=np.float32) / 255).permute(2, 0, 1)[None]


def timed(fn, repeats: int = 3) -> tuple[float, float]:
    """Median (wall, CPU) seconds of ``fn()`` after one warm-up call."""
    fn()
    wall, cpu = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return statistics.median(wall), statistics.median(cpu)


def run(console: Console) -> None:
    torch.manual_seed(0)
    encoder = load_encoder(random_layout(vgg_normalised_layers(), 0))
    drawn = {side: sketch(side) for side in SIDES}
    curves = read_sketch(drawn[512])  # one sketch, rendered and optimised at both sizes
    title = f"curves: a 512 px sketch of {len(curves)} curves, CPU, {torch.get_num_threads()} threads (wall / CPU s)"
    table = Table(title=title)
    for col in ("step", *(f"{s} px" for s in SIDES)):
        table.add_column(col)
    rows: dict[str, list[str]] = {"vectorise (a drawing this size)": [], "render": [], "render + backward": []}
    rows["optimisation step (render + VGG + backward)"] = []
    cell = "{:.3f} / {:.3f}".format
    moving = curves.with_geometry(curves.points.clone().requires_grad_(True), curves.widths)
    for side in SIDES:
        rows["vectorise (a drawing this size)"].append(cell(*timed(lambda d=drawn[side]: read_sketch(d), 1)))
        rows["render"].append(cell(*timed(lambda s=side: render(curves, (s, s)))))
        rows["render + backward"].append(cell(*timed(lambda s=side: render(moving, (s, s)).mean().backward())))
        method = CurvesMethod(encoder, runtime_for("cpu"), CurvesConfig(iters=2, size=side))
        rep = method.represent(style())
        wall, cpu = timed(lambda m=method, r=rep: m.transfer(curves, [r]), 1)
        rows["optimisation step (render + VGG + backward)"].append(cell(wall / 2, cpu / 2))
    for name, cells in rows.items():
        table.add_row(name, *cells)
    console.print(table)
    console.print(f"a whole image: vectorise + iters x step (default iters {CurvesConfig().iters}) + writing")


if __name__ == "__main__":
    run(Console(highlight=False))

"""Gatys optimisation: seconds per iteration, fp32 vs bf16, convergence by init, peak memory.

Random He-initialised weights in the public layout (no download): speed and memory do not
depend on the weights' values, but the loss values and how fast they fall do, so the
convergence table shows the mechanics (how much a head start from AdaIN saves), not the
numbers real weights would give. Photo/painting pair: ../shared/samples (chicago.jpg,
la_muse.jpg) when present, else generated images. Each timing runs warm-up iterations
first (oneDNN / cuDNN kernel choice) that are not counted.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image
from rich.console import Console
from rich.table import Table

from helpers import random_layout
from styler.methods.base import Mix
from styler.methods.gatys.config import GatysConfig, GatysStep, resize
from styler.methods.gatys.method import Gatys
from styler.nets.vgg import decoder_layers, load_decoder, load_deep_encoder, load_encoder, vgg_normalised_layers
from styler.runtime import Runtime

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples"
CHECKPOINTS = (0, 25, 50, 100, 200)
ONE = Mix((1.0,))


def _image(path: Path, short: int, seed: int) -> torch.Tensor:
    """(1, 3, h, w) in [0, 1] with shorter side ``short``: the sample file, else a smooth random image."""
    if path.is_file():
        img = Image.open(path).convert("RGB")
        x = torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8).view(img.height, img.width, 3)
        x = x.permute(2, 0, 1)[None].float() / 255
    else:
        gen = torch.Generator().manual_seed(seed)
        x = F.interpolate(torch.rand(1, 3, 6, 8, generator=gen), size=(300, 400), mode="bicubic").clamp(0, 1)
    h, w = x.shape[-2:]
    return resize(x, (round(h * short / min(h, w)), round(w * short / min(h, w)))).clamp(0, 1)


def _encoder():
    return load_deep_encoder(random_layout(vgg_normalised_layers(), 0))


def _adain(rt: Runtime):
    """AdaIN for init="adain" (random decoder, as tests/conftest.py makes it), or None if not available."""
    try:
        from styler.methods.adain.method import AdaIN
    except ImportError:
        return None
    dec = random_layout(decoder_layers(), 1)
    dec["28.weight"] *= 0.1  # keep the random decoder's output mostly inside [0, 1]
    dec["28.bias"].fill_(0.5)
    return AdaIN(load_encoder(random_layout(vgg_normalised_layers(), 0)), load_decoder(dec), rt)


def _run(
    rt: Runtime, content: torch.Tensor, style: torch.Tensor, iters: int, **config: object
) -> tuple[list[float], list[GatysStep], torch.Tensor]:
    """Seconds of each iteration, the steps, and the output."""
    stamps: list[float] = []
    steps: list[GatysStep] = []

    def on_step(step: GatysStep) -> None:
        stamps.append(time.perf_counter())
        steps.append(step)

    adain = _adain(rt) if config.get("init") == "adain" else None
    g = Gatys(_encoder(), rt, GatysConfig(iters=iters, **config), adain=adain, on_step=on_step)
    rep = g.represent(style)
    start = time.perf_counter()
    out = g.stylize(content, [rep], ONE, alpha=1.0)
    return [b - a for a, b in zip([start, *stamps], stamps)], steps, out


def speed(console: Console, content: torch.Tensor, style: torch.Tensor) -> None:
    table = Table(title="gatys: seconds per L-BFGS iteration (forward + backward through relu5_1), median")
    for col in ("device", "precision", "size", "s/it", "500 its (min)"):
        table.add_column(col, justify="left" if col in ("device", "precision") else "right")
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for dev in devices:
        for short, warm, timed in ((256, 2, 5), (512, 1, 3)):
            c, s = resize(content, _scaled(content, short)), resize(style, _scaled(style, short))
            rt = Runtime(torch.device(dev), "fp32")
            times, _, _ = _run(rt, c.to(dev), s.to(dev), warm + timed)
            sec = statistics.median(times[warm:])
            table.add_row(dev, "fp32", f"{c.shape[-1]}x{c.shape[-2]}", f"{sec:.2f}", f"{500 * sec / 60:.1f}")
    console.print(table)


def _scaled(x: torch.Tensor, short: int) -> tuple[int, int]:
    h, w = x.shape[-2:]
    return round(h * short / min(h, w)), round(w * short / min(h, w))


def precision(console: Console, content: torch.Tensor, style: torch.Tensor, iters: int = 20) -> None:
    """bf16 autocast vs fp32 on CPU at 256 px: speed, and the loss reached (scored in fp32)."""
    table = Table(title=f"gatys on CPU at 256 px: fp32 vs bf16 autocast, {iters} L-BFGS iterations from the content")
    for col in ("precision", "s/it (median)", "loss at start", f"loss after {iters} (fp32)"):
        table.add_column(col, justify="left" if col == "precision" else "right")
    scorer = Gatys(_encoder(), Runtime(torch.device("cpu"), "fp32"), GatysConfig(iters=0))
    targets = scorer.targets(content, [scorer.represent(style)], ONE, 1.0)
    for prec in ("fp32", "bf16"):
        times, steps, out = _run(Runtime(torch.device("cpu"), prec), content, style, iters)
        final = scorer.losses(out, targets, 1.0)[0].item()
        table.add_row(prec, f"{statistics.median(times[2:]):.2f}", f"{steps[0].loss:.4g}", f"{final:.4g}")
    console.print(table)


def convergence(console: Console, content: torch.Tensor, style: torch.Tensor, iters: int = 200) -> None:
    """Loss after 25..200 iterations from the content and from the AdaIN result, at 256 px."""
    rt = Runtime(torch.device("cpu"), "fp32")
    inits = ["content"] + (["adain"] if _adain(rt) is not None else [])
    curves: dict[str, list[GatysStep]] = {}
    for init in inits:
        _, steps, _ = _run(rt, content, style, iters + 1, init=init)  # step i reports the loss after i - 1
        curves[init] = steps
    table = Table(
        title=f"gatys convergence at {content.shape[-1]}x{content.shape[-2]} px, L-BFGS, fp32: "
        "total (style, content) loss after N iterations"
    )
    table.add_column("init")
    marks = [n for n in CHECKPOINTS if n <= iters]
    for n in marks:
        table.add_column(f"{n}", justify="right")
    for init, steps in curves.items():
        table.add_row(
            init, *(f"{steps[n].loss:.3g} ({steps[n].style_loss:.2g}, {steps[n].content_loss:.2g})" for n in marks)
        )
    console.print(table)
    if "adain" in curves:
        for ref in ("content", "adain"):
            for n in (n for n in (50, iters) if n <= iters):
                goal = curves[ref][n].loss
                need = {
                    init: next((i for i, s in enumerate(steps) if s.loss <= goal), None)
                    for init, steps in curves.items()
                }
                console.print(
                    f"to reach {goal:.4g} (init {ref} after {n}): "
                    + ", ".join(f"init {k} needs {'> ' + str(iters) if v is None else v}" for k, v in need.items())
                )


_RSS = """
import re, sys, torch
from pathlib import Path
sys.path.insert(0, {bench!r})
from helpers import random_layout
from styler.methods.base import Mix
from styler.methods.gatys.method import Gatys
from styler.methods.gatys.config import GatysConfig
from styler.nets.vgg import load_deep_encoder, vgg_normalised_layers
from styler.runtime import Runtime
side = {side}
g = Gatys(load_deep_encoder(random_layout(vgg_normalised_layers(), 0)), Runtime(torch.device("cpu"), "fp32"),
          GatysConfig(iters=2))
style = g.represent(torch.rand(1, 3, side, side))
def peak():  # VmHWM: this process's own peak (ru_maxrss would carry the parent's over fork + exec)
    return re.search(r"VmHWM:\\s+(\\d+) kB", Path("/proc/self/status").read_text()).group(1)
base = peak()
g.stylize(torch.rand(1, 3, side, side), [style], Mix((1.0,)), alpha=1.0)
print(base, peak())
"""


def memory(console: Console, sides: tuple[int, ...] = (512, 1024)) -> None:
    """Peak RSS of a fresh process running 2 L-BFGS iterations at side x side (CPU, fp32)."""
    table = Table(title="gatys peak memory on CPU, fp32, 2 L-BFGS iterations (fresh process each)")
    for col in ("size", "RSS before (MB)", "peak RSS (MB)", "growth per px (bytes)", "+ full L-BFGS history (MB)"):
        table.add_column(col, justify="right")
    for side in sides:
        code = _RSS.format(bench=str(Path(__file__).resolve().parent), side=side)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        base, peak = (int(v) * 1024 for v in out.stdout.split())
        history = GatysConfig().history * 2 * 3 * side * side * 4  # (s, y) pairs of the image's size, fp32
        table.add_row(
            f"{side}x{side}",
            f"{base / 2**20:.0f}",
            f"{peak / 2**20:.0f}",
            f"{(peak - base) / side**2:.0f}",
            f"{history / 2**20:.0f}",
        )
    console.print(table)


def run(console: Console) -> None:
    content = _image(SAMPLES / "content" / "chicago.jpg", 256, 0)
    style = _image(SAMPLES / "style" / "la_muse.jpg", 256, 1)
    source = "chicago.jpg / la_muse.jpg" if (SAMPLES / "content" / "chicago.jpg").is_file() else "generated images"
    console.print(f"gatys bench: {source}; random weights; torch threads {torch.get_num_threads()}")
    speed(console, content, style)
    precision(console, content, style)
    convergence(console, content, style)
    memory(console)


def main() -> None:
    run(Console(highlight=False))


if __name__ == "__main__":
    main()

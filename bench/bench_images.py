"""Image benchmark: seconds per image, images/s, peak memory and PSNR per size and precision,
against the plain reference pipeline (tests/reference.py) measured in the same process.

Model time only (tensors in, tensors out; no file I/O). Weights are random He-initialised in
the public layout: the speed of a conv net does not depend on its weight values. Timings on a
shared machine are noisy, so every ratio is taken from runs interleaved in one process.
``BENCH_QUICK=1`` runs small sizes only (a smoke test of this file).
"""

from __future__ import annotations

import math
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn.functional as F
from rich.console import Console
from rich.table import Table

from helpers import random_weights
from reference import load_reference, style_transfer  # tests/reference.py (bench/run.py puts tests/ on the path)
from styler.engine import Engine
from styler.media import images
from styler.methods.adain.method import AdaIN
from styler.nets.vgg import load_decoder, load_encoder
from styler.runtime import Runtime, pick_precision

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DIRS = [ROOT.parent / "shared" / "samples", ROOT.parent.parent / "shared" / "samples"]
QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
# (label, height, width, repeats, with the reference and untiled fp32)
SIZES = [
    ("256", 256, 256, 3, True),
    ("512", 512, 512, 2, True),
    ("1024", 1024, 1024, 1, True),
    ("2048", 2048, 2048, 1, True),
    ("4K", 2160, 3840, 1, False),
    ("8K", 4320, 7680, 1, False),
]
if QUICK:
    SIZES = [("128", 128, 128, 1, True), ("256", 256, 256, 1, True), ("400x1200", 400, 1200, 1, False)]
BATCH = 4


def sample(name: str, kind: str, h: int, w: int) -> torch.Tensor:
    """A sample image resized and centre-cropped to h x w; a smooth random image without samples."""
    for folder in SAMPLE_DIRS:
        if (folder / kind / name).is_file():
            img = images.open_rgb(folder / kind / name)
            scale = max(h / img.height, w / img.width)
            img = images.prepare(img, math.ceil(min(img.width, img.height) * scale))
            left, top = (img.width - w) // 2, (img.height - h) // 2
            return images.to_tensor(img.crop((left, top, left + w, top + h)))
    g = torch.Generator().manual_seed(hash(name) % 1000)
    return F.interpolate(torch.rand(1, 3, 16, 16, generator=g), size=(h, w), mode="bilinear").clamp(0, 1)


class PeakRSS:
    """Highest resident set size (VmRSS, whole process) while the block runs, sampled every 2 ms;
    ``added``: that peak over the RSS just before (what the call itself needed)."""

    def __enter__(self) -> PeakRSS:
        self.base = self.peak = rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def _poll(self) -> None:
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, rss())

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss())
        self.added = self.peak - self.base


def rss() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = ((a.float() - b.float()) ** 2).mean().item()
    return 10 * math.log10(1 / max(mse, 1e-12))


def timed(fn, device: torch.device, repeats: int) -> tuple[float, int, torch.Tensor]:
    """(best seconds per call, peak memory in bytes, last output)."""
    best, peak, out = math.inf, 0, None
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats(device)
        with PeakRSS() as mem:
            start = time.perf_counter()
            out = fn()
            if device.type == "cuda":
                torch.cuda.synchronize()
            best = min(best, time.perf_counter() - start)
        peak = max(peak, torch.cuda.max_memory_allocated(device) if device.type == "cuda" else mem.added)
    return best, peak, out


def auto_precision(device: torch.device) -> str:
    """What ``--precision auto`` runs AdaIN in here: on CUDA the rule, on a CPU a fresh measurement
    (``styler.precision``, in a throw-away cache, so this run measures whatever was cached before)."""
    if device.type != "cpu":
        return pick_precision("auto", device)
    from helpers import write_random_weights
    from styler.precision import load_method

    saved = os.environ.get("STYLER_CACHE_DIR")
    with tempfile.TemporaryDirectory() as tmp:
        vgg, dec = write_random_weights(Path(tmp))
        os.environ["STYLER_CACHE_DIR"] = str(Path(tmp) / "cache")
        try:
            return load_method("adain", vgg=vgg, decoder=dec, device="cpu").runtime.precision
        finally:
            os.environ.pop("STYLER_CACHE_DIR") if saved is None else os.environ.__setitem__("STYLER_CACHE_DIR", saved)


def run_device(console: Console, device: torch.device) -> None:
    vgg_sd, dec_sd = random_weights()
    ref_vgg, ref_dec = load_reference(vgg_sd, dec_sd)
    ref_vgg, ref_dec = ref_vgg.to(device), ref_dec.to(device)
    fp32 = AdaIN(load_encoder(vgg_sd), load_decoder(dec_sd), Runtime(device, "fp32"))
    auto = AdaIN(load_encoder(vgg_sd), load_decoder(dec_sd), Runtime(device, auto_precision(device)))
    # One method each, several engines: the tiling is an engine's setting, never state on the method.
    untiled32, engine32, engine_auto = Engine(fp32, tile="off"), Engine(fp32), Engine(auto)
    tiled_auto = Engine(auto, tile=256 if not QUICK else 64)
    style = sample("la_muse.jpg", "style", 512, 512).to(device)
    stats32, stats_auto = fp32.represent(style), auto.represent(style)
    precision = auto.runtime.precision
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    table = Table(
        title=f"styler transfer, model time per image ({name}; auto = {precision})",
        caption="random He-initialised weights in the public layout; reference = plain fp32 NCHW "
        "pytorch-AdaIN pipeline, 512 px style re-encoded per image; vs fp32 = PSNR against "
        "untiled fp32 (MAD: mean absolute difference, tiled vs untiled); +peak = "
        + (
            "max allocated"
            if device.type == "cuda"
            else "peak process RSS during the call over the RSS before it (models, input excluded)"
        ),
    )
    for col in ("size", "run", "tile", "s/img", "img/s", "+peak MB", "vs fp32", "x ref"):
        table.add_column(col, justify="left" if col in ("size", "run") else "right")

    def row(size, run, tile, sec, peak, quality="", ratio=""):
        table.add_row(size, run, tile, f"{sec:.3f}", f"{1 / sec:.2f}", f"{peak / 2**20:.0f}", quality, ratio)

    for label, h, w, repeats, full in SIZES:
        content = sample("chicago.jpg", "content", h, w).to(device)
        auto_tile = auto.tile_for("auto", 1, h, w)
        if full:
            with torch.inference_mode():  # warm-up: oneDNN / cuDNN pick kernels on first use
                if h <= 1024:
                    style_transfer(ref_vgg, ref_dec, content, style)
                    engine32.render(content, [stats32])
                    engine_auto.render(content, [stats_auto])
            t_ref, m_ref, _ = timed(lambda x=content: style_transfer(ref_vgg, ref_dec, x, style), device, repeats)
            t32, m32, want = timed(lambda x=content: untiled32.render(x, [stats32]), device, repeats)
            row(label, "ref", "-", t_ref, m_ref, "", "1.0")
            row(label, "fp32", "-", t32, m32, "", f"{t_ref / t32:.1f}")
        else:
            t_ref, want = None, None
        t_auto, m_auto, got = timed(lambda x=content: engine_auto.render(x, [stats_auto]), device, repeats)
        row(
            label,
            f"auto ({precision})",
            str(auto_tile or "-"),
            t_auto,
            m_auto,
            f"{psnr(got, want):.1f} dB" if want is not None else "",
            f"{t_ref / t_auto:.1f}" if t_ref else "",
        )
        if label in ("512", "256" if QUICK else "512"):
            batch = content.expand(BATCH, -1, -1, -1).contiguous()
            t_b, m_b, _ = timed(lambda x=batch: engine_auto.render(x, [stats_auto]), device, repeats)
            row(label, f"auto, batch {BATCH}", "-", t_b / BATCH, m_b, "", f"{t_ref * BATCH / t_b:.1f}")
        if label == ("1024" if not QUICK else "256"):
            # tiled vs untiled accuracy where both fit: 256 px tiles on the same image
            t_t, m_t, tiled = timed(lambda x=content: tiled_auto.render(x, [stats_auto]), device, 1)
            mad = (tiled - got).abs().mean().item() * 255
            row(label, "auto, tiled", str(tiled_auto.tile), t_t, m_t, f"MAD {mad:.3f}/255", f"{t_ref / t_t:.1f}")
        del content, want, got
        console.print(f"  [dim]{label} done[/]", highlight=False)
    console.print(table, width=max(console.width, 100))


@contextmanager
def true_fp32() -> Iterator[None]:
    """cuDNN runs fp32 convolutions in TF32 on Ampere and later unless told not to (torch's
    default), which would make the fp32 rows and the "vs fp32" baseline TF32: switch it off."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def run(console: Console) -> None:
    run_device(console, torch.device("cpu"))
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            with true_fp32():
                run_device(console, torch.device("cuda", i))
    else:
        console.print("no CUDA device: GPU numbers not measured")

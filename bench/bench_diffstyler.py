"""DiffStyler's costs on this machine with random weights (no download).

* the tiny test model (bench/diffstyler_models.py): UNet seconds per call at a 512-px image's latent
  (64 x 64, batch 1 and the sampler's batch 3), and the whole pipeline at 64 px: seconds per LoRA
  step, inversion step and sampling step. Mechanics only: the tiny UNet has ~200x fewer FLOPs, but
  its full-resolution attention (4096 tokens, 2-channel heads) makes it slow for its size;
* a UNet of SD 2.1-base's architecture (865.9 M parameters, random init): one forward at 64 x 64
  (batch 1 and 3) and one LoRA training step, then what they make of a real run (200 LoRA steps,
  50 inversion steps, 50 sampling steps).

``BENCH_QUICK=1``: the tiny model only. ``bench/run.py bench_diffstyler``, or directly:
``PYTHONPATH=src python bench/bench_diffstyler.py [--device cuda]``.
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
LATENT = (64, 64)  # SD's latent of a 512 x 512 image


def timed(fn, reps: int, device: str, warmup: bool = True) -> float:
    """Median seconds of ``fn()`` over ``reps`` runs (after one untimed warm-up)."""
    if warmup:
        fn()
    times = []
    for _ in range(reps):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def unet_call(unet, batch: int, device: str, dtype: torch.dtype):
    dim = unet.config.cross_attention_dim
    x = torch.randn(batch, unet.config.in_channels, *LATENT, device=device, dtype=dtype)
    emb = torch.randn(batch, 77, dim, device=device, dtype=dtype)
    t = torch.full((batch,), 500, device=device)

    def call() -> None:
        with torch.no_grad():
            unet(x, t, emb)

    return call


def lora_step(unet, device: str, dtype: torch.dtype):
    """One step of LoRA learning as ``lora.train_lora`` takes it (forward, backward, AdamW)."""
    from styler.methods.diffstyler.config import LoraSettings
    from styler.methods.diffstyler.lora import adapter_parameters, add_adapter, autocast

    add_adapter(unet, "bench", LoraSettings(), torch.float32)
    params = adapter_parameters(unet, "bench")
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.AdamW(params, lr=2e-4)
    x = torch.randn(1, unet.config.in_channels, *LATENT, device=device, dtype=dtype)
    emb = torch.randn(1, 77, unet.config.cross_attention_dim, device=device, dtype=dtype)

    def step() -> None:
        with autocast(torch.device(device), dtype):
            loss = unet(x, torch.tensor([500], device=device), emb).sample.float().square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step, sum(p.numel() for p in params)


def flops(unet, batch: int) -> int:
    from styler.methods.diffstyler.estimate import forward_flops, meta_copy

    meta = meta_copy(unet)
    x = torch.empty(batch, meta.config.in_channels, *LATENT, device="meta")
    return forward_flops(meta, x, 500, torch.empty(batch, 77, meta.config.cross_attention_dim, device="meta"))


def pipeline(console: Console, folder: Path, device: str) -> None:
    """The whole method on the tiny model: seconds per step of each phase (mechanics)."""
    from styler.methods.base import Mix
    from styler.methods.diffstyler.config import DiffStylerConfig, LoraSettings
    from styler.methods.diffstyler.method import load

    stamps: dict[str, list[float]] = {}
    cfg = DiffStylerConfig(
        sd=str(folder), steps=5, size=64, lora=LoraSettings(steps=5, size=64), cache_dir=folder / "cache"
    )
    m = load(
        diffstyler=cfg, device=device, on_step=lambda s: stamps.setdefault(s.phase, []).append(time.perf_counter())
    )
    g = torch.Generator().manual_seed(0)
    content, style = torch.rand(1, 3, 64, 80, generator=g), torch.rand(1, 3, 64, 64, generator=g)
    start = time.perf_counter()
    m.stylize(content, [style], Mix((1.0,)), alpha=1.0)
    total = time.perf_counter() - start
    table = Table(title="tiny model, whole pipeline at 64 px (a 32 x 32 latent)")
    for col in ("phase", "steps", "s/step"):
        table.add_column(col, justify="right")
    for phase, name in (("lora", "LoRA learning"), ("invert", "inversion"), ("sample", "sampling (batch 3)")):
        ts = stamps[phase]
        table.add_row(name, str(len(ts)), f"{(ts[-1] - ts[0]) / max(1, len(ts) - 1):.3f}")
    console.print(table)
    console.print(f"whole stylize call (learn, invert, sample, decode): {total:.2f} s")


def run(console: Console, device: str = "cpu") -> None:
    from diffusers import UNet2DConditionModel

    from diffstyler_models import sd21_base_configs, write_tiny
    from styler.methods.diffstyler.estimate import probe_rate
    from styler.methods.diffstyler.method import runtime_for

    rt = runtime_for(device)
    dtype, dev = rt.dtype, rt.device.type
    rate = probe_rate(dev, dtype)
    console.print(
        f"diffstyler bench: {rt.describe()}, torch threads {torch.get_num_threads()}, "
        f"load average {os.getloadavg()[0]:.1f}, matmul probe {rate / 1e9:.0f} GFLOP/s; random weights"
    )
    table = Table(title="UNet forward at a 512-px image's latent (64 x 64)")
    for col in ("model", "batch", "s/call", "TFLOP", "GFLOP/s", "x probe"):
        table.add_column(col, justify="right")
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_tiny(Path(tmp))
        tiny = UNet2DConditionModel.from_pretrained(folder, subfolder="unet").to(dev, dtype).eval()
        for batch in (1, 3):
            s, f = timed(unet_call(tiny, batch, dev, dtype), 1 if QUICK else 3, dev), flops(tiny, batch)
            table.add_row(
                "tiny", str(batch), f"{s:.3f}", f"{f / 1e12:.4f}", f"{f / s / 1e9:.0f}", f"{f / s / rate:.2f}"
            )
        if QUICK:
            console.print(table)
            pipeline(console, folder, device)
            return
        pipeline(console, folder, device)
    torch.manual_seed(0)
    unet = UNet2DConditionModel(**sd21_base_configs()["unet"]).to(dev, dtype).eval().requires_grad_(False)
    params = sum(p.numel() for p in unet.parameters()) / 1e6
    seconds = {}
    for batch in (1, 3):  # the batch-1 warm-up picks the kernels for both
        seconds[batch] = timed(unet_call(unet, batch, dev, dtype), 1, dev, warmup=batch == 1)
        f = flops(unet, batch)
        table.add_row(
            f"SD 2.1-base ({params:.0f} M)",
            str(batch),
            f"{seconds[batch]:.2f}",
            f"{f / 1e12:.3f}",
            f"{f / seconds[batch] / 1e9:.0f}",
            f"{f / seconds[batch] / rate:.2f}",
        )
    console.print(table)
    step, lora_params = lora_step(unet, dev, dtype)
    lora = timed(step, 1, dev)
    console.print(
        f"LoRA rank 16 ({lora_params / 1e6:.2f} M parameters): one step (forward, backward, AdamW) {lora:.2f} s"
    )
    real = Table(title="a real SD 2.1-base run at 512 px, from the figures above (UNet only; the VAE adds seconds)")
    for col in ("phase", "calls", "measured per call", "total"):
        real.add_column(col, justify="right")
    for name, calls, per in (
        ("learn a style (LoRA)", 200, lora),
        ("invert the content", 50, seconds[1]),
        ("sample (batch 3)", 50, seconds[3]),
    ):
        real.add_row(name, str(calls), f"{per:.2f} s", _duration(calls * per))
    console.print(real)
    console.print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.1f} GB")


def _duration(s: float) -> str:
    return f"{s / 3600:.1f} h" if s >= 5400 else f"{s / 60:.0f} min" if s >= 90 else f"{s:.0f} s"


def main() -> None:
    sys.path[:0] = [str(Path(__file__).resolve().parent)]
    device = sys.argv[sys.argv.index("--device") + 1] if "--device" in sys.argv else "cpu"
    run(Console(highlight=False), device)


if __name__ == "__main__":
    main()

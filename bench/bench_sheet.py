"""Style-sheet benchmark: `styler sheet photo.jpg styles/` end to end in one process, one photo in
N styles at the sheet's 256 px (each style read, encoded once, decoded on the one content
encoding, tiles captioned and laid out, the sheet written), split into its parts.

The issue's peer renders 26 styles on one photo in 1.4 s; this measures ours on this machine.
Weights are random He-initialised in the public layout (speed does not depend on the values).
``BENCH_QUICK=1``: 4 styles at 64 px.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_dataset import make_engine
from styler.controls import Controls
from styler.media import images, sheets

QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
COUNT, SIZE = (4, 64) if QUICK else (26, 256)


def picture(path: Path, seed: int, size: tuple[int, int] = (640, 480)) -> Path:
    rng = np.random.default_rng(seed)
    base = Image.fromarray(rng.uniform(0, 255, (6, 8, 3)).astype(np.uint8)).resize(size, Image.Resampling.BICUBIC)
    grain = rng.normal(0, 10, (size[1], size[0], 3))
    Image.fromarray(np.clip(np.asarray(base, np.float64) + grain, 0, 255).astype(np.uint8)).save(path, quality=90)
    return path


def sheet_once(engine, photo: Path, styles: list[Path], out: Path) -> dict[str, float]:
    """The `styler sheet` render path, timed by part."""
    t = {"read": 0.0, "render": 0.0, "sheet": 0.0}
    start = time.perf_counter()
    content = images.load_image(photo, SIZE)
    inputs = [images.load_image(s, SIZE, size_name="style_size") for s in styles]
    t["read"] = time.perf_counter() - start
    start = time.perf_counter()
    tiles = [content, *(r.float().cpu() for r in engine.render_each(content, inputs, Controls()))]
    t["render"] = time.perf_counter() - start
    start = time.perf_counter()
    h, w = content.shape[-2:]
    cols = sheets.columns_for(len(tiles), w / (h + int(sheets.font_size(w) * 1.6)))
    rows = [tiles[k : k + cols] for k in range(0, len(tiles), cols)]
    labels = [["content", *(s.stem for s in styles)][k : k + cols] for k in range(0, len(tiles), cols)]
    images.save_image(sheets.contact_sheet(rows, labels=labels), out)
    t["sheet"] = time.perf_counter() - start
    return t


def run(console: Console) -> None:
    console.rule(f"[bold]styler sheet: one photo in {COUNT} styles at {SIZE} px (CPU, random weights)")
    engine = make_engine("cpu", "auto")
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d)
        photo = picture(folder / "photo.jpg", 0)
        styles = [picture(folder / f"style{i:02d}.jpg", 100 + i, (512, 512)) for i in range(COUNT)]
        sheet_once(engine, photo, styles[:2], folder / "warm.png")  # warm-up: first-call allocations
        runs = [sheet_once(engine, photo, styles, folder / "sheet.png") for _ in range(1 if QUICK else 3)]
    table = Table("part", "median s", "per style ms")
    for part in ("read", "render", "sheet"):
        med = float(np.median([r[part] for r in runs]))
        table.add_row(part, f"{med:.2f}", f"{1000 * med / COUNT:.0f}")
    total = float(np.median([sum(r.values()) for r in runs]))
    table.add_row("total", f"{total:.2f}", f"{1000 * total / COUNT:.0f}")
    console.print(table)
    console.print(f"{engine.describe()}; {os.cpu_count()} CPU(s) visible; excludes start-up and weight loading")


if __name__ == "__main__":
    run(Console(highlight=False))

"""styler train: train a decoder with the paper's recipe; a Rich bar over ``train_decoder``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import ProgressColumn, TextColumn
from rich.text import Text

from .common import err, escape, fail, guarded, out, progress_bar
from .options import Device, Vgg

TrainPrecision = Annotated[str, typer.Option(
    help="auto (bf16 autocast on CUDA when supported, else fp32), bf16 or fp32.")]


class Rate(ProgressColumn):
    def render(self, task) -> Text:
        return Text(f"{task.speed:.2f} it/s" if task.speed else "-- it/s")


@guarded
def train(
    coco: Annotated[Path, typer.Option("--coco", help="Content images (MS-COCO train2014 in the paper), "
                                       "searched recursively.", show_default=False)],
    wikiart: Annotated[Path, typer.Option("--wikiart", help="Style images (WikiArt in the paper), "
                                          "searched recursively.", show_default=False)],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Run folder: checkpoints/, decoder.pth, "
                                          "log.jsonl, samples/.", show_default=False)],
    max_iter: Annotated[int, typer.Option(help="Iterations (batches) in all.")] = 160_000,
    batch_size: Annotated[int, typer.Option(help="Images per batch, per process (torchrun: x processes).")] = 8,
    lr: Annotated[float, typer.Option(help="Adam learning rate.")] = 1e-4,
    lr_decay: Annotated[float, typer.Option(help="Learning rate at iteration i: lr / (1 + lr_decay * i).")] = 5e-5,
    content_weight: Annotated[float, typer.Option(help="Weight of the content loss.")] = 1.0,
    style_weight: Annotated[float, typer.Option(help="Weight of the style loss.")] = 10.0,
    save_every: Annotated[int, typer.Option(help="Checkpoint every N iterations (and at the end).")] = 10_000,
    keep: Annotated[int, typer.Option(help="Checkpoints kept; older ones are deleted.")] = 3,
    log_every: Annotated[int, typer.Option(help="A log.jsonl record (mean losses) every N iterations.")] = 100,
    sample_every: Annotated[int, typer.Option(help="A content | style | output grid every N iterations "
                                              "(0 = none).")] = 1000,
    resize: Annotated[int, typer.Option(help="Shorter side before cropping (0 = keep).")] = 512,
    crop: Annotated[int, typer.Option(help="Random square crop size.")] = 256,
    workers: Annotated[int, typer.Option(help="Data-loading processes per training process.")] = 4,
    seed: Annotated[int, typer.Option(help="Seed for the initial decoder, data order and crops.")] = 0,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in -o from its newest checkpoint.")] = False,
    device: Device = "auto",
    precision: TrainPrecision = "auto",
    vgg: Vgg = None,
) -> None:
    """Train a decoder on content (COCO) and style (WikiArt) folders; the result is -o/decoder.pth.

    Ctrl-C or SIGTERM saves a checkpoint and stops; --resume continues exactly there.
    Multi-GPU: torchrun --nproc-per-node N -m styler train ...
    """
    from ..train import TrainConfig, train_decoder

    cfg = TrainConfig(
        content_dir=str(coco), style_dir=str(wikiart), out=str(out_dir), max_iter=max_iter, batch_size=batch_size,
        lr=lr, lr_decay=lr_decay, content_weight=content_weight, style_weight=style_weight, resize=resize,
        crop=crop, save_every=save_every, keep=keep, log_every=log_every, sample_every=sample_every,
        workers=workers, seed=seed, device=device, precision=precision, vgg=str(vgg) if vgg else None,
        resume=resume)
    main = int(os.environ.get("RANK", "0")) == 0  # under torchrun only rank 0 talks
    bar = progress_bar(Rate(), TextColumn("{task.fields[losses]}"), show=main)
    task = None

    def on_start(summary: str, start: int) -> None:
        nonlocal task
        if main:
            err.print(escape(summary))
        task = bar.add_task("training", total=cfg.max_iter, completed=start, losses="")  # resumed: starts there

    def on_step(info) -> None:
        losses = f"loss {info.loss:.4g} (c {info.content_loss:.3g}, s {info.style_loss:.3g}) lr {info.lr:.2e}"
        bar.update(task, completed=info.iter, losses=losses)
        if main and info.checkpoint:
            bar.console.print(f"iter {info.iter}: {losses}; saved {info.checkpoint}")

    try:
        with bar:
            result = train_decoder(cfg, on_step=on_step, on_start=on_start)
    except KeyboardInterrupt:  # a second Ctrl-C: no new checkpoint, the existing ones are intact
        raise fail(f"interrupted; the checkpoints in {escape(str(out_dir))} are intact; "
                   "continue with the same command plus --resume", 130) from None
    if not main:
        return
    if result.skipped:
        shown = ", ".join(result.skipped[:3]) + (", ..." if len(result.skipped) > 3 else "")
        err.print(f"[yellow]skipped {len(result.skipped)} unreadable file(s):[/] {escape(shown)}", markup=True)
    if result.interrupted:
        raise fail(escape(f"stopped at iteration {result.iter}; checkpoint {result.checkpoint}; "
                           "continue with the same command plus --resume"), 130)
    out.print(str(result.decoder))
    err.print(escape(f"done: {result.iter} iterations; use it with "
                      f"`styler transfer CONTENT STYLE --decoder {result.decoder}`"))

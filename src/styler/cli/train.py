"""styler train: an AdaIN decoder or a multi-style CIN network; a Rich bar over the shared loop."""

from __future__ import annotations

import os
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import ProgressColumn, TextColumn
from rich.text import Text

from .common import alias_flags, err, escape, fail, guarded, out, progress_bar
from .options import Device, Vgg

TrainPrecision = Annotated[
    str, typer.Option(help="auto (bf16 autocast on CUDA when supported, else fp32), bf16 or fp32.")
]


class TrainMethod(str, Enum):
    adain = "adain"  # a decoder for arbitrary styles (--coco, --wikiart)
    cin = "cin"  # one network for the styles in a folder (--coco, --styles)


class Rate(ProgressColumn):
    def render(self, task) -> Text:
        return Text(f"{task.speed:.2f} it/s" if task.speed else "-- it/s")


def fresh_run(base: Path) -> Path:
    """``runs/train``, else ``runs/train-2``, ``-3``, ...: the first that does not exist yet."""
    candidate, n = base, 1
    while candidate.exists():
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    return candidate


def _defaulted(ctx: typer.Context, name: str) -> bool:
    """Whether the user left option ``name`` at its default (not on the command line or in the environment)."""
    source = ctx.get_parameter_source(name)
    return source is None or getattr(source, "name", "") in ("DEFAULT", "DEFAULT_MAP")


@guarded
def train(
    ctx: typer.Context,
    method: Annotated[
        TrainMethod,
        typer.Option(
            help="adain: a decoder for any style (needs --coco, --wikiart); "
            "cin: one network for the styles in --styles (needs --coco, "
            "--styles)."
        ),
    ] = TrainMethod.adain,
    content_dir: Annotated[
        Path | None,
        typer.Option(
            "--coco", help="Content images (MS-COCO train2014 in the papers), searched recursively.", show_default=False
        ),
    ] = None,
    wikiart: Annotated[
        Path | None,
        typer.Option(
            "--wikiart", help="adain: style images (WikiArt in the paper), searched recursively.", show_default=False
        ),
    ] = None,
    styles: Annotated[
        Path | None,
        typer.Option(
            "--styles",
            help="cin: a folder of style images; each is one style, named by its file stem.",
            show_default=False,
        ),
    ] = None,
    extend: Annotated[
        Path | None,
        typer.Option(
            "--extend",
            help="cin: a trained model.pth; add the --styles to it, its convs and styles frozen.",
            show_default=False,
        ),
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Run folder: checkpoints/, the model, "
            "log.jsonl, samples/. Default: a new runs/train[-N] "
            "(cin: runs/cin[-N]).",
            show_default=False,
        ),
    ] = None,
    max_iter: Annotated[int, typer.Option(help="Iterations (batches) in all (cin: 40000).")] = 160_000,
    batch_size: Annotated[int, typer.Option(help="Images per batch, per process (cin: 16).")] = 8,
    lr: Annotated[float, typer.Option(help="Adam learning rate (cin: 1e-3).")] = 1e-4,
    lr_decay: Annotated[
        float, typer.Option(help="Learning rate at iteration i: lr / (1 + lr_decay * i) (cin: 0).")
    ] = 5e-5,
    content_weight: Annotated[float, typer.Option(help="Weight of the content loss.")] = 1.0,
    style_weight: Annotated[float, typer.Option(help="Weight of the style loss (cin: 1000).")] = 10.0,
    save_every: Annotated[int, typer.Option(help="Checkpoint every N iterations and at the end (cin: 5000).")] = 10_000,
    keep: Annotated[int, typer.Option(help="Checkpoints kept; older ones are deleted.")] = 3,
    log_every: Annotated[int, typer.Option(help="A log.jsonl record (mean losses) every N iterations.")] = 100,
    sample_every: Annotated[int, typer.Option(help="A sample grid every N iterations (0 = none).")] = 1000,
    resize: Annotated[int, typer.Option(help="Content shorter side before cropping, 0 = keep (cin: 256).")] = 512,
    crop: Annotated[int, typer.Option(help="Random square crop size.")] = 256,
    style_size: Annotated[
        int, typer.Option(help="cin: style images' shorter side, 0 = keep (the stroke scale the network learns).")
    ] = 512,
    workers: Annotated[int, typer.Option(help="Data-loading processes per training process.")] = 4,
    seed: Annotated[int, typer.Option(help="Seed for the initial weights, data order, crops, style draws.")] = 0,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the run in -o from its newest checkpoint.")
    ] = False,
    device: Device = "auto",
    precision: TrainPrecision = "auto",
    vgg: Vgg = None,
) -> None:
    """Train a decoder (adain: COCO + WikiArt) or a multi-style network (cin: COCO + a folder of styles).

    Ctrl-C or SIGTERM saves a checkpoint and stops; --resume continues exactly there.
    Multi-GPU: torchrun --nproc-per-node N -m styler train ... -o RUN
    """
    from ..methods.cin.train import CINConfig
    from ..training.loop import TrainConfig, train_cin, train_decoder

    cin = method is TrainMethod.cin
    need = ("--coco", "--styles") if cin else ("--coco", "--wikiart")
    given = {"--coco": content_dir, "--wikiart": wikiart, "--styles": styles, "--extend": extend}
    if missing := [f for f in need if given[f] is None]:
        raise fail(f"--method {method.value} needs {' and '.join(missing)}")
    if not cin and not _defaulted(ctx, "style_size"):
        given["--style-size"] = style_size
    if wrong := [f for f, v in given.items() if v is not None and f not in need and not (cin and f == "--extend")]:
        raise fail(f"{wrong[0]} does not apply to --method {method.value}; drop it or use the other method")
    torchrun = int(os.environ.get("WORLD_SIZE", "1")) > 1
    if out_dir is None and (resume or torchrun):
        raise fail("--resume and torchrun runs need the run folder: pass -o RUN")
    run = out_dir if out_dir is not None else fresh_run(Path("runs") / ("cin" if cin else "train"))
    options = dict(
        max_iter=max_iter,
        batch_size=batch_size,
        lr=lr,
        lr_decay=lr_decay,
        content_weight=content_weight,
        style_weight=style_weight,
        save_every=save_every,
        keep=keep,
        log_every=log_every,
        sample_every=sample_every,
        resize=resize,
        crop=crop,
        workers=workers,
        seed=seed,
        device=device,
        precision=precision,
        resume=resume,
    )
    if cin:  # options left at their (adain) defaults take the cin recipe's
        defaults = CINConfig()
        options = {k: (getattr(defaults, k) if _defaulted(ctx, k) else v) for k, v in options.items()}
        cfg: TrainConfig | CINConfig = CINConfig(
            content_dir=str(content_dir),
            style_dir=str(styles),
            out=str(run),
            extend=str(extend) if extend else None,
            style_size=style_size,
            vgg=str(vgg) if vgg else None,
            **options,
        )
        fit = train_cin
    else:
        cfg = TrainConfig(
            content_dir=str(content_dir), style_dir=str(wikiart), out=str(run), vgg=str(vgg) if vgg else None, **options
        )
        fit = train_decoder
    alias_flags(content_dir="--coco", style_dir="--styles" if cin else "--wikiart", out="-o")  # core's names
    main = int(os.environ.get("RANK", "0")) == 0  # under torchrun only rank 0 talks
    bar = progress_bar(Rate(), TextColumn("{task.fields[losses]}"), show=main)
    task = None

    def on_start(summary: str, start: int) -> None:
        nonlocal task
        if main:
            err.print(escape(summary))
        task = bar.add_task("training", total=cfg.max_iter, completed=start, losses="")  # resumed: starts there

    def on_step(info) -> None:
        if not info.synced:  # reading the losses would wait for the GPU: only where the loop synced
            bar.update(task, completed=info.iter)
            return
        losses = f"loss {info.loss:.4g} (c {info.content_loss:.3g}, s {info.style_loss:.3g}) lr {info.lr:.2e}"
        bar.update(task, completed=info.iter, losses=losses)
        if main and info.checkpoint:
            bar.console.print(f"iter {info.iter}: {losses}; saved {info.checkpoint}")

    try:
        with bar:
            result = fit(cfg, on_step=on_step, on_start=on_start)
    except KeyboardInterrupt:  # a second Ctrl-C: no new checkpoint, the existing ones are intact
        raise fail(
            f"interrupted; the checkpoints in {escape(str(run))} are intact; "
            "continue with the same command plus --resume",
            130,
        ) from None
    if not main:
        return
    if result.skipped:
        shown = ", ".join(result.skipped[:3]) + (", ..." if len(result.skipped) > 3 else "")
        err.print(f"[yellow]skipped {len(result.skipped)} unreadable file(s):[/] {escape(shown)}", markup=True)
    if result.interrupted:
        raise fail(
            escape(
                f"stopped at iteration {result.iter}; checkpoint {result.checkpoint}; "
                f"continue with the same command plus --resume{'' if out_dir else f' -o {run}'}"
            ),
            130,
        )
    out.print(str(result.decoder))
    use = (
        f"`styler transfer CONTENT --model {result.decoder} --style NAME`"
        if cin
        else f"`styler transfer CONTENT STYLE --decoder {result.decoder}`"
    )
    err.print(escape(f"done: {result.iter} iterations in {run}; use it with {use}"))

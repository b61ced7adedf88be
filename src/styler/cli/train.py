"""styler train: an AdaIN decoder, a multi-style CIN network or AesFA's networks; a Rich bar over the shared loop."""

from __future__ import annotations

import dataclasses
import os
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import ProgressColumn, TextColumn
from rich.text import Text

from ..methods.adain.config import AdaINTrainConfig
from ..methods.aesfa.config import AesFATrainConfig
from ..methods.cin.config import CINTrainConfig
from . import options as o
from .console import err, fail, guarded, out, progress_bar
from .signature import command

# each method's recipe: the defaults below
CONFIGS = {"adain": AdaINTrainConfig, "cin": CINTrainConfig, "aesfa": AesFATrainConfig}


class TrainPrecision(str, Enum):
    auto = "auto"  # bf16 autocast on CUDA when supported, else fp32
    bf16 = "bf16"
    fp32 = "fp32"


PrecisionOpt = Annotated[
    TrainPrecision,
    typer.Option(help="auto: bf16 autocast on CUDA when supported, else fp32.", rich_help_panel=o.PERFORMANCE),
]


class TrainMethod(str, Enum):
    adain = "adain"  # a decoder for arbitrary styles (--coco, --wikiart)
    cin = "cin"  # one network for the styles in a folder (--coco, --styles)
    aesfa = "aesfa"  # AesFA's three networks for any style (--coco, --wikiart)


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


def _per_method(name: str) -> str:
    """Each method's default, read from its config dataclass: 'adain 512, cin 256' (or one value)."""
    values = {m: f"{getattr(cls(), name):g}" for m, cls in CONFIGS.items()}
    if len(set(values.values())) == 1:
        return next(iter(values.values()))
    return ", ".join(f"{m} {v}" for m, v in values.items())


def _num(name: str, what: str, kind: type = int, panel: str = o.RECIPE) -> Any:
    return Annotated[kind | None, typer.Option(help=what, show_default=_per_method(name), rich_help_panel=panel)]


@guarded
@command
def train(
    method: Annotated[
        TrainMethod,
        typer.Option(
            help="adain: a decoder for any style (needs --coco, --wikiart); "
            "cin: one network for the styles in --styles (needs --coco, --styles); "
            "aesfa: AesFA's encoders and generator for any style, the release's recipe (needs --coco, --wikiart).",
            rich_help_panel=o.METHOD,
        ),
    ] = TrainMethod.adain,
    content_dir: Annotated[
        Path | None,
        typer.Option(
            "--coco",
            help="Content images (MS-COCO train2014 in the papers), searched recursively.",
            show_default="required",
            rich_help_panel=o.DATA,
        ),
    ] = None,
    wikiart: Annotated[
        Path | None,
        typer.Option(
            "--wikiart",
            help="adain, aesfa: style images (WikiArt in the papers), searched recursively.",
            show_default="required for adain and aesfa",
            rich_help_panel=o.DATA,
        ),
    ] = None,
    styles: Annotated[
        Path | None,
        typer.Option(
            "--styles",
            help="cin: a folder of style images; each is one style, named by its file stem.",
            show_default="required for cin",
            rich_help_panel=o.DATA,
        ),
    ] = None,
    extend: Annotated[
        Path | None,
        typer.Option(
            "--extend",
            help="cin: a trained model.pth; add the --styles to it, its convs and styles frozen.",
            show_default="a new model",
            rich_help_panel=o.METHOD,
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Run folder: checkpoints/, the model, log.jsonl, samples/.",
            show_default="a new runs/train[-N] (cin: runs/cin[-N], aesfa: runs/aesfa[-N])",
            rich_help_panel=o.RUN,
        ),
    ] = None,
    max_iter: _num("max_iter", "Iterations (batches) in all.") = None,
    batch_size: _num("batch_size", "Images per batch, per process.") = None,
    lr: _num("lr", "Adam learning rate.", float) = None,
    lr_decay: _num("lr_decay", "Learning rate at iteration i: lr / (1 + lr_decay * i).", float) = None,
    content_weight: _num("content_weight", "Weight of the content loss.", float) = None,
    style_weight: _num("style_weight", "Weight of the style loss (aesfa: EFDM).", float) = None,
    contrast_weight: Annotated[
        float | None,
        typer.Option(
            help="aesfa: weight of the contrastive loss (each output against its style and a hard negative; 0 = off).",
            show_default=f"{AesFATrainConfig().contrast_weight:g}",
            rich_help_panel=o.RECIPE,
        ),
    ] = None,
    save_every: _num("save_every", "Checkpoint every N iterations and at the end.", panel=o.RUN) = None,
    keep: _num("keep", "Checkpoints kept; older ones are deleted.", panel=o.RUN) = None,
    log_every: _num("log_every", "A log.jsonl record (mean losses) every N iterations.", panel=o.RUN) = None,
    sample_every: _num("sample_every", "A sample grid every N iterations (0 = none).", panel=o.RUN) = None,
    content_size: _num(
        "resize",
        "Content images' shorter side before cropping, 0 = keep (aesfa: both sides, squashed square as the release).",
        panel=o.DATA,
    ) = None,
    crop_size: _num("crop", "Random square crop of every training image, in px.", panel=o.DATA) = None,
    style_size: Annotated[
        int | None,
        typer.Option(
            help="cin: style images' shorter side, 0 = keep (the stroke scale the network learns).",
            show_default=str(CINTrainConfig().style_size),
            rich_help_panel=o.DATA,
        ),
    ] = None,
    workers: _num("workers", "Data-loading processes per training process.", panel=o.PERFORMANCE) = None,
    seed: _num("seed", "Seed for the initial weights, data order, crops, style draws.") = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the run in -o from its newest checkpoint.", rich_help_panel=o.RUN)
    ] = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the result as one JSON record on stdout.", rich_help_panel=o.RUN)
    ] = False,
    device: Annotated[
        str,
        typer.Option(
            parser=o.device_arg,
            metavar="DEVICE",
            help="auto (CUDA when available, else CPU), cpu, cuda, cuda:N or mps.",
            rich_help_panel=o.PERFORMANCE,
        ),
    ] = "auto",
    precision: PrecisionOpt = TrainPrecision.auto,
    vgg: Annotated[
        Path | None,
        typer.Option(
            help="Encoder weights (vgg_normalised.pth).", show_default="the weights folder's", rich_help_panel=o.WEIGHTS
        ),
    ] = None,
) -> None:
    """Train a decoder (adain: COCO + WikiArt), a multi-style network (cin: COCO + a folder of styles) or
    AesFA's networks (aesfa: COCO + WikiArt).

    Ctrl-C or SIGTERM saves a checkpoint and stops; --resume continues exactly there. Off a
    terminal (a log, CI) progress is a plain line every few seconds.

    Several GPUs: torchrun --nproc-per-node N -m styler train ... -o RUN
    """
    from ..errors import InputError, Param

    config = CONFIGS[method.value]
    folders = {"--wikiart": wikiart, "--styles": styles}
    need = "--styles" if method is TrainMethod.cin else "--wikiart"
    if content_dir is None or folders[need] is None:
        missing = [f for f, v in (("--coco", content_dir), (need, folders[need])) if v is None]
        raise InputError(Param("method", method.value), f" needs {' and '.join(missing)}")
    numbers = dict(
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
        resize=content_size,
        crop=crop_size,
        workers=workers,
        seed=seed,
    )
    extra = {
        "style_size": style_size,
        "extend": None if extend is None else str(extend),
        "contrast_weight": contrast_weight,
    }
    given = {k: v for k, v in {**numbers, **extra}.items() if v is not None}
    if wrong := [k for k in given if k not in {f.name for f in dataclasses.fields(config)}]:
        raise InputError(
            Param(wrong[0]), " does not apply to ", Param("method", method.value), "; drop it or use the other method"
        )
    if folders["--styles" if need == "--wikiart" else "--wikiart"] is not None:
        other = "--styles" if need == "--wikiart" else "--wikiart"
        raise InputError(
            f"{other} does not apply to ", Param("method", method.value), "; drop it or use the other method"
        )
    torchrun = int(os.environ.get("WORLD_SIZE", "1")) > 1
    if output is None and (resume or torchrun):
        raise InputError(Param("resume"), " and torchrun runs need the run folder: pass ", Param("output", "RUN"))
    run = output if output is not None else fresh_run(Path(config.out))
    cfg = config(
        content_dir=str(content_dir),
        style_dir=str(folders[need]),
        out=str(run),
        vgg=str(vgg) if vgg else None,
        device=device,
        precision=precision.value,
        resume=resume,
        **given,
    )
    _fit(cfg, run, resumed_hint="" if output else f" -o {run}", json_out=json_out)


def _fit(cfg, run: Path, resumed_hint: str, *, json_out: bool = False) -> None:
    """Run the shared loop under a progress bar; report where the model went and how to use it."""
    from ..training.loop import train as fit

    main = int(os.environ.get("RANK", "0")) == 0  # under torchrun only rank 0 talks
    bar = progress_bar(Rate(), TextColumn("{task.fields[losses]}"), show=main)
    task = None

    def on_start(summary: str, start: int) -> None:
        nonlocal task
        if main:
            err.print(escape(summary))
        task = bar.add_task("training", total=cfg.max_iter, completed=start, losses="", unit="iterations")

    def on_step(info) -> None:
        if not info.synced:  # reading the losses would wait for the GPU: only where the loop synced
            bar.update(task, completed=info.iter)
            return
        more = "".join(f", {name} {value:.3g}" for name, value in info.extra_losses.items())
        losses = f"loss {info.loss:.4g} (c {info.content_loss:.3g}, s {info.style_loss:.3g}{more}) lr {info.lr:.2e}"
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
                f"continue with the same command plus --resume{resumed_hint}"
            ),
            130,
        )
    if json_out:
        from .common import record

        record(output=result.decoder, run=run, method=cfg.method, iterations=result.iter, skipped=len(result.skipped))
    else:
        out.print(escape(str(result.decoder)))
    use = {
        "cin": f"`styler transfer CONTENT --model {result.decoder} --style NAME`",
        "aesfa": f"`styler transfer CONTENT STYLE --method aesfa --model {result.decoder}`",
    }.get(cfg.method, f"`styler transfer CONTENT STYLE --decoder {result.decoder}`")
    err.print(escape(f"done: {result.iter} iterations in {run}; use it with {use}"))

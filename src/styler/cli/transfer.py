"""styler transfer: content x style pairs, for every method.

A content file is a file job (``jobs``: results named in the current folder or as -o says).
A content folder, or any dataset option, is a dataset job (``dataset``): trees read
recursively and mirrored, pairing modes, name templates, manifest.jsonl, resume, torchrun
shards and the worker pipeline."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from . import options as o
from .common import err, exit_for_failures, fail, guarded, load_engine, out, parse_numbers, progress_bar, style_inputs
from .steps import gatys_steps, save_partial


class Pairs(str, Enum):
    all = "all"
    random = "random"
    zip = "zip"


DATASET_HELP = "Dataset jobs (content folders)"
PairsOpt = Annotated[
    Pairs,
    typer.Option(
        help="all: every content x style; random: --per-content styles per content, drawn with --seed and the "
        "content's path (the same on every run and number of processes); zip: sorted contents with sorted "
        "styles, the shorter list cycled.",
        rich_help_panel=DATASET_HELP,
    ),
]
PerContent = Annotated[
    int, typer.Option(min=1, help="Styles per content with --pairs random.", rich_help_panel=DATASET_HELP)
]
NameOpt = Annotated[
    str,
    typer.Option(
        help="Output name template: {content}, {style} (file stems), {alpha}, {index} (the pair's number); "
        "the extension comes from --ext. Outputs mirror each content's sub-folder.",
        rich_help_panel=DATASET_HELP,
    ),
]
SkipExisting = Annotated[
    bool,
    typer.Option(
        "--skip-existing",
        help="Skip pairs whose output exists (outputs are written atomically, so they are "
        "complete) and keep them in manifest.jsonl: resumes an interrupted job.",
        rich_help_panel=DATASET_HELP,
    ),
]
Workers = Annotated[
    int | None,
    typer.Option(
        min=0,
        help="Processes that decode and encode images beside the model (0 = threads of this process; "
        "default: 1 on CPU, up to 8 on CUDA).",
        show_default=False,
        rich_help_panel=DATASET_HELP,
    ),
]
JpegQuality = Annotated[
    int, typer.Option(min=1, max=100, help="JPEG/WebP quality of the outputs.", rich_help_panel=DATASET_HELP)
]
PngLevel = Annotated[
    int,
    typer.Option(
        min=0,
        max=9,
        help="PNG compression level of the outputs (0 = none, fastest; 9 = smallest).",
        rich_help_panel=DATASET_HELP,
    ),
]
DATASET_ONLY = ("pairs", "per_content", "name", "skip_existing", "workers", "jpeg_quality", "png_level")


@guarded
@o.command
def transfer(
    ctx: typer.Context,
    content: Annotated[
        Path, typer.Argument(help="Content image, or a folder of them (searched recursively).", show_default=False)
    ],
    styles: Annotated[
        list[Path] | None, typer.Argument(help="Style images or folders (or use --style).", show_default=False)
    ] = None,
    style: o.Styles = None,
    output: o.Output = None,
    alpha: o.Alpha = 1.0,
    color: o.ColorOpt = None,
    alpha_sweep: Annotated[
        str | None,
        typer.Option(
            metavar="A,A,...", help="One strip per pair, a tile per alpha, e.g. 0,0.25,0.5,0.75,1.", show_default=False
        ),
    ] = None,
    ext: o.Ext = "png",
    reading: o.Reading = o.Reading(),
    model: o.Model = o.Model(),
    gatys: o.Gatys = o.Gatys(),
    pairs: PairsOpt = Pairs.all,
    per_content: PerContent = 1,
    name: NameOpt = "{content}_stylized_{style}",
    skip_existing: SkipExisting = False,
    workers: Workers = None,
    jpeg_quality: JpegQuality = 95,
    png_level: PngLevel = 6,
) -> None:
    """Repaint CONTENT in the style of each STYLE (files or folders: every pair is done).

    Results are named {content}_stylized_{style}.{ext} in the current folder, or as -o says.
    A content folder is a dataset job: read recursively, its sub-folders mirrored under -o, every
    result listed in manifest.jsonl (see the Dataset options; works under torchrun).
    """
    from ..engine import check_alpha
    from ..errors import InputError, Interrupted
    from ..jobs import files as jobs

    check_alpha(alpha)
    reading = o.with_scales(reading, gatys)
    sweep = None
    if alpha_sweep is not None:
        if ctx.get_parameter_source("alpha").name != "DEFAULT":
            raise InputError("alpha and alpha_sweep both set the style strength; pass only one")
        sweep = [check_alpha(a) for a in parse_numbers(alpha_sweep, "alpha_sweep")]
    given = [n for n in DATASET_ONLY if ctx.get_parameter_source(n).name != "DEFAULT"]
    one_file = output is not None and output.suffix != "" and not output.is_dir()  # -o x.png: not a folder job
    if (content.is_dir() and not one_file) or given:
        if sweep is not None and ctx.get_parameter_source("name").name == "DEFAULT":
            name += "_sweep"
        from ..jobs import dataset, loader

        job = dataset.DatasetJob(
            content,
            tuple(style_inputs(model, styles, style)),
            output if output is not None else Path.cwd(),
            pairs=pairs.value,
            per_content=per_content,
            seed=gatys.seed or 0,
            name=name,
            ext=ext,
            alpha=alpha,
            sweep=tuple(sweep) if sweep else None,
            color=None if color is None else color.value,
            named_styles=model.method.value == "cin",
            content_size=reading.content_size,
            style_size=reading.style_size,
            crop=reading.crop,
            max_pixels=reading.budget(),
            skip_existing=skip_existing,
            workers=workers,
            encoding=loader.Encoding(png_level, jpeg_quality),
        )
        return _dataset(job, model, gatys)
    tasks = jobs.plan(content, style_inputs(model, styles, style), output, ext=ext, suffix="_sweep" if sweep else "")
    current: list = [None]  # the output being computed: Gatys writes its intermediates beside it
    with progress_bar() as bar, gatys_steps(bar, model, current) as on_step:
        engine = load_engine(model, gatys, on_step=on_step)
        task = bar.add_task(f"stylizing on {engine.describe()}", total=len(tasks))

        def done(t: jobs.Task, error: str | None) -> None:
            if error is None:
                out.print(str(t.output))
            bar.advance(task)

        def start(t: jobs.Task) -> None:
            current[0] = t.output

        try:
            report = jobs.run(
                engine,
                tasks,
                alpha=alpha,
                sweep=sweep,
                color=color,
                on_task=done,
                on_start=start,
                reading=jobs.Reading(reading.content_size, reading.style_size, reading.crop, reading.budget()),
            )
        except Interrupted as e:
            save_partial(e.partial, current[0], tuple(t.content for t in tasks))
            raise
    exit_for_failures(report.failures, len(report.written))
    err.print(f"done: {len(report.written)} image(s) with {engine.describe()}")


def _dataset(job, model, gatys) -> None:
    """A dataset job: plan (every input error before the weights load), run this process's share, report.

    Under torchrun only rank 0 draws progress and prints the closing line; every rank reports
    its own skipped files. Interrupted (Ctrl-C, SIGTERM; Gatys too): a summary line and exit
    status 130, no partial file under an output name, so --skip-existing finishes the job."""
    import dataclasses

    from rich.markup import escape

    from ..jobs import dataset
    from ..jobs.pairing import dist_env

    planned = dataset.plan(job)
    rank, world, _ = dist_env()
    current: list = [None]  # the output being computed: Gatys writes its intermediates beside it
    with progress_bar(show=rank == 0) as bar, gatys_steps(bar, model, current) as on_step:
        engine = load_engine(
            dataclasses.replace(model, device=dataset.job_device(model.device)), gatys, on_step=on_step
        )
        where = f" (rank 0 of {world})" if world > 1 else ""
        task = bar.add_task(f"stylizing on {engine.describe()}{where}", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        report = dataset.run(engine, job, planned, progress=progress, on_start=lambda p: current.__setitem__(0, p))
    folder = Path(job.output)
    summary = f"{report.written} written, {report.existing} already there, {report.failed} failed" + (
        f" (this process, {world} in all)" if world > 1 else ""
    )
    if report.interrupted:
        for why in report.failures:
            err.print(f"[red]skipped:[/] {escape(why)}", markup=True)
        raise fail(f"interrupted: {summary}; no partial file was left; rerun with --skip-existing to finish", 130)
    if report.failures:
        exit_for_failures(report.failures, report.written + report.existing)
    if rank == 0:
        listed = f"{report.listed} image(s) in {report.manifest}" if report.manifest else f"manifest parts in {folder}"
        err.print(f"done: {summary}; {listed}; {engine.describe()}")

"""styler transfer: content x style pairs, for every method, through the one job runner.

A content file is a job of one content (results named in the current folder or as -o says); a
content folder is read recursively and mirrored under -o with a manifest.jsonl (so is a content
file given any dataset option): pairing modes, name templates, resume, torchrun shards and the
worker pipeline. ``-`` reads the content from stdin, ``-o -`` writes the one result to stdout."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from . import options as o
from .common import parse_numbers, record, say_path, send_stdout, stdin_image, stdout_folder
from .console import err, exit_for_failures, fail, guarded, progress_bar, say
from .loading import also_outputs, check_low_style, load_engine, method_kind, method_options, style_inputs
from .signature import command
from .steps import method_steps, save_partial


class Pairs(str, Enum):
    all = "all"
    random = "random"
    zip = "zip"


DATASET_HELP = o.DATASET
PairsOpt = Annotated[
    Pairs | None,
    typer.Option(
        help="all: every content x style; random: --per-content styles per content, drawn with --seed and the "
        "content's path (the same on every run and number of processes); zip: sorted contents with sorted "
        "styles, the shorter list cycled.",
        show_default="all",
        rich_help_panel=DATASET_HELP,
    ),
]
PerContent = Annotated[
    int | None,
    typer.Option(min=1, help="Styles per content with --pairs random.", show_default="1", rich_help_panel=DATASET_HELP),
]
NameOpt = Annotated[
    str | None,
    typer.Option(
        help="Output name template: {content}, {style} (file stems), {alpha}, {index} (the pair's number); "
        "the extension comes from --ext. Outputs mirror each content's sub-folder.",
        show_default="{content}_stylized_{style} and a tag per setting, e.g. _a0.5",
        rich_help_panel=DATASET_HELP,
    ),
]
SkipExisting = Annotated[
    bool | None,
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
        help="Processes that decode and encode images beside the model (0 = threads of this process).",
        show_default="1 on CPU, up to 8 on CUDA",
        rich_help_panel=DATASET_HELP,
    ),
]
JpegQuality = Annotated[
    int | None,
    typer.Option(
        min=1, max=100, help="JPEG/WebP quality of the outputs.", show_default="95", rich_help_panel=DATASET_HELP
    ),
]
PngLevel = Annotated[
    int | None,
    typer.Option(
        min=0,
        max=9,
        help="PNG compression level of the outputs (0 = none, fastest; 9 = smallest).",
        show_default="6",
        rich_help_panel=DATASET_HELP,
    ),
]


@guarded
@command
def transfer(
    content: Annotated[
        Path,
        typer.Argument(
            help="Content image, a folder of them (searched recursively), or - to read an image from stdin.",
            show_default=False,
        ),
    ],
    styles: Annotated[
        list[Path] | None, typer.Argument(help="Style images or folders (or use --style).", show_default=False)
    ] = None,
    style: o.Styles = None,
    low_style: o.LowStyle = None,
    alpha: Annotated[
        float | None,
        typer.Option(
            "--alpha",
            "-a",
            metavar="A",
            help="Style strength in [0, 1]: 1 = full style, 0 = the content.",
            show_default="1",
        ),
    ] = None,
    color: o.ColorOpt = None,
    alpha_sweep: Annotated[
        str | None,
        typer.Option(
            metavar="A,A,...",
            help="One strip per pair, a tile per alpha, e.g. 0,0.25,0.5,0.75,1.",
            show_default="no sweep",
        ),
    ] = None,
    labels: o.Labels = True,
    results: o.Results = o.Results(),
    reading: o.Reading = o.Reading(),
    model: o.Model = o.Model(),
    gatys: o.Gatys = o.Gatys(),
    curves: o.Curves = o.Curves(),
    diffstyler: o.DiffStyler = o.DiffStyler(),
    pairs: PairsOpt = None,
    per_content: PerContent = None,
    name: NameOpt = None,
    skip_existing: SkipExisting = None,
    workers: Workers = None,
    jpeg_quality: JpegQuality = None,
    png_level: PngLevel = None,
) -> None:
    """Repaint CONTENT in the style of each STYLE (files or folders: every pair is done).

    Results are named {content}_stylized_{style}.{ext} in the current folder, with a tag for every
    setting that differs from its default (_a0.5, _luminance, _gatys, ...), or as -o says. An
    existing result is replaced, with a notice (--no-clobber numbers the new one instead). A
    content folder is a dataset job: read recursively, its sub-folders mirrored under -o, every
    result listed in manifest.jsonl (see "Dataset jobs" below; works under torchrun).
    With --method curves (line drawings, or SVG files): -o x.svg writes the curves, -o x.png a
    render; --render and --report add the render and the report beside any output.
    """
    from ..controls import Controls
    from ..errors import InputError, Param
    from ..jobs import loader
    from ..jobs.spec import Inputs, Job, RunOptions

    check_low_style(model, low_style)
    sweep = None
    if alpha_sweep is not None:
        if alpha is not None:
            raise InputError(
                Param("alpha"), " and ", Param("alpha_sweep"), " both set the style strength; pass only one"
            )
        sweep = tuple(parse_numbers(alpha_sweep, "alpha_sweep"))
    elif not labels:
        raise InputError(Param("no_labels"), " only applies to ", Param("alpha_sweep"), "; drop it")
    dataset = (pairs, per_content, name, skip_existing, workers, jpeg_quality, png_level)
    encoding = loader.Encoding(png_level if png_level is not None else 6, jpeg_quality or 95)
    method_options(model, gatys, curves, diffstyler)  # another method's options: refused before any work (stdin too)
    kind = method_kind(model)
    controls = Controls(1.0 if alpha is None else alpha, color, sweep=sweep, labels=labels)
    kind.check_controls(controls)
    with stdin_image(content) as source, stdout_folder(results) as tmp:
        if tmp is not None and any(v is not None for v in dataset):
            raise InputError(Param("output", "-"), " writes one image to stdout; dataset options need a folder")
        job = Job(
            Inputs(
                source,
                tuple(style_inputs(model, styles, style)),
                named_styles=not kind.takes_images,
                pairs=(pairs or Pairs.all).value,
                per_content=per_content or 1,
                seed=gatys.seed or 0,
                reads=kind.reads,
                low_style=low_style,
            ),
            controls,
            results.naming(
                tmp,
                name=name,
                manifest=True if any(v is not None for v in dataset) else None,
                tags=model.name_tags(gatys),
                writes=kind.writes,
                also=also_outputs(curves),
            ),
            o.with_scales(reading, gatys).spec(),
            RunOptions(bool(skip_existing), workers, encoding),
        )
        _run(job, model, gatys, results, curves, diffstyler, stdout=tmp is not None)


def _run(job, model, gatys, results, curves=None, diffstyler=None, *, stdout: bool = False) -> None:
    """Plan (every input error before the weights load), run this process's share, report.

    A job of single files prints each result's path (or its JSON record, or with ``stdout`` pipes
    its one image out); a dataset job (manifest.jsonl) prints a summary. Under torchrun only rank 0
    draws progress and prints the closing line; every rank reports its own skipped files.
    Interrupted (Ctrl-C, SIGTERM; Gatys too): exit status 130, nothing partial under an output name
    of a dataset job, so --skip-existing finishes it."""
    import dataclasses
    import time

    from ..dist import dist_env, rank_device
    from ..errors import InputError, Param
    from ..jobs import runner

    start = time.perf_counter()
    planned = runner.plan(job)
    if stdout and len(planned) != 1:
        raise InputError(
            Param("output", "-"), f" writes one image to stdout, but this job makes {len(planned)}; pass a folder"
        )
    by_path = {job.naming.folder / p.output: p for p in planned}
    rank, world, _ = dist_env()
    current: list = [None]  # the output being computed: Gatys writes its intermediates beside it
    with progress_bar(show=rank == 0) as bar, method_steps(bar, model, current) as on_step:
        model = dataclasses.replace(model, device=rank_device(model.device))
        engine = load_engine(model, gatys, diffstyler, curves=curves, on_step=on_step)
        if model.method.value == "diffstyler":
            from .diffusion import estimate_job

            estimate_job(engine, job, planned, show=rank == 0)
        where = f" (rank 0 of {world})" if world > 1 else ""
        unit = "strips" if job.controls.sweep else "images"
        task = bar.add_task(f"stylizing with {engine.describe()}{where}", total=len(planned), unit=unit)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        printed = _printer(job, model, results, by_path, start, stdout=stdout)
        report = runner.run(
            engine, job, planned, progress=progress, on_result=printed, on_start=lambda p: current.__setitem__(0, p)
        )
    _finish(job, report, planned, engine, world, stdout=stdout)


def _printer(job, model, results, by_path: dict, start: float, *, stdout: bool):
    """The per-result callback of a job of single files: each result's path (and the files it wrote
    besides), or its JSON record; nothing for a dataset job, a failure or a result piped to stdout."""
    import time

    def printed(path: Path, error) -> None:
        if error is not None or stdout:
            return
        pair = by_path.get(path)
        others = job.naming.others(path.relative_to(job.naming.folder).as_posix())
        if results.json_out:
            record(
                output=path,
                also=[str(a) for a in others],
                content=pair.content.path if pair else None,
                style=pair.style.rel if pair else None,
                method=model.method,
                alpha=list(job.controls.sweep) if job.controls.sweep else job.controls.alpha,
                color=job.controls.color,
                replaced=bool(pair and pair.replaces),
                elapsed=round(time.perf_counter() - start, 3),
            )
        elif not job.manifest:
            for written in (*others, path):
                say_path(written)
            if pair is not None and pair.replaces:
                err.print(f"replaced {path} (it existed; --no-clobber keeps it and numbers the new one)")

    return printed


def _finish(job, report, planned, engine, world: int, *, stdout: bool) -> None:
    """After the run: a dataset job's summary; else the interruption (the best result so far kept
    under its own name), the failures, the piped image and the closing line."""
    if job.manifest:
        _summary(job, report, engine, world)
        return
    if report.interrupted:
        if report.partial is not None:
            protect = (job.inputs.content, *(s for s in job.inputs.styles if isinstance(s, Path)))
            save_partial(report.partial[1], report.partial[0], protect, report.partial_also)
        raise fail(
            f"interrupted; {'the best result so far was written' if report.partial else 'no partial output was left'}",
            130,
        )
    exit_for_failures(report.failures, report.written)
    if stdout:
        send_stdout(job.naming.folder / planned[0].output)
    err.print(f"done: {report.written} image(s) with {engine.describe()}")


def _summary(job, report, engine, world: int) -> None:
    """A dataset job's closing line (rank 0), or its interruption and failures."""
    replaced = f" ({report.replaced} over existing files)" if report.replaced else ""
    summary = f"{report.written} written{replaced}, {report.existing} already there, {report.failed} failed" + (
        f" (this process, {world} in all)" if world > 1 else ""
    )
    if report.interrupted:
        for why in report.failures:
            err.print(f"[red]skipped:[/] {say(why)}", markup=True)
        raise fail(f"interrupted: {summary}; no partial file was left; rerun with --skip-existing to finish", 130)
    if report.failures:
        exit_for_failures(report.failures, report.written + report.existing)
    if report.rank == 0:
        where = job.naming.folder
        listed = f"{report.listed} image(s) in {report.manifest}" if report.manifest else f"manifest parts in {where}"
        err.print(f"done: {summary}; {listed}; {engine.describe()}")

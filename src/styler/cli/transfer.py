"""styler transfer: every content x style pair, files or folders (``jobs.plan`` + ``jobs.run``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import options as o
from .common import err, exit_for_failures, guarded, load_engine, out, parse_numbers, progress_bar, style_inputs
from .steps import gatys_steps, save_partial


@guarded
@o.command
def transfer(
    ctx: typer.Context,
    content: Annotated[Path, typer.Argument(help="Content image, or a folder of them (searched recursively).",
                                            show_default=False)],
    styles: Annotated[list[Path] | None, typer.Argument(
        help="Style images or folders (or use --style).", show_default=False)] = None,
    style: o.Styles = None,
    output: o.Output = None,
    alpha: o.Alpha = 1.0,
    color: o.ColorOpt = None,
    alpha_sweep: Annotated[str | None, typer.Option(
        metavar="A,A,...", help="One strip per pair, a tile per alpha, e.g. 0,0.25,0.5,0.75,1.",
        show_default=False)] = None,
    ext: o.Ext = "png",
    reading: o.Reading = o.Reading(),
    model: o.Model = o.Model(),
    gatys: o.Gatys = o.Gatys(),
) -> None:
    """Repaint CONTENT in the style of each STYLE (files or folders: every pair is done).

    Results are named {content}_stylized_{style}.{ext} in the current folder, or as -o says.
    """
    from .. import jobs
    from ..engine import check_alpha
    from ..errors import InputError, Interrupted

    check_alpha(alpha)
    sweep = None
    if alpha_sweep is not None:
        if ctx.get_parameter_source("alpha").name != "DEFAULT":
            raise InputError("alpha and alpha_sweep both set the style strength; pass only one")
        sweep = [check_alpha(a) for a in parse_numbers(alpha_sweep, "alpha_sweep")]
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
            report = jobs.run(engine, tasks, alpha=alpha, sweep=sweep, color=color, on_task=done, on_start=start,
                              reading=jobs.Reading(reading.content_size, reading.style_size, reading.crop))
        except Interrupted as e:
            save_partial(e.partial, current[0], tuple(t.content for t in tasks))
            raise
    exit_for_failures(report.failures, len(report.written))
    err.print(f"done: {len(report.written)} image(s) with {engine.describe()}")

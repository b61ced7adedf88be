"""Progress of long per-image work: Gatys and curves optimisation (a bar with the losses and an
ETA, intermediate images every ``save_every`` steps, the best result kept on Ctrl-C) and
DiffStyler's phases (``diffusion.diffusion_steps``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.progress import Progress

from .console import err, out


@contextmanager
def method_steps(bar: Progress, model: Any, current: list[Path | None] | None = None) -> Iterator[Callable | None]:
    """An ``on_step`` callback for the methods that report steps (gatys, curves, diffstyler) driving
    a row of ``bar``; None for the others. Gatys: ``current[0]``, when set, is the output file:
    intermediates go beside it as ``{stem}_step{N}{suffix}`` (N counts over every scale)."""
    if model.method.value == "diffstyler":
        from .diffusion import diffusion_steps

        with diffusion_steps(bar) as on_step:
            yield on_step
        return
    if model.method.value == "curves":
        task = bar.add_task("optimising curves", total=None)

        def on_step(step: Any) -> None:  # a methods.curves.config.CurvesStep, one sketch at a time
            losses = f"style loss {step.loss:.4g}, best {step.best:.4g}"
            bar.update(task, total=step.total, completed=step.iteration, description=f"optimising curves ({losses})")

        yield on_step
        return
    with gatys_steps(bar, model, current) as on_step:
        yield on_step


@contextmanager
def gatys_steps(bar: Progress, model: Any, current: list[Path | None] | None = None) -> Iterator[Callable | None]:
    """An ``on_step`` callback for ``methods.gatys`` driving a row of ``bar``; None for other
    methods. ``current[0]``, when set, is the output file: intermediates go beside it as
    ``{stem}_step{N}{suffix}`` (N counts over every scale)."""
    if model.method.value != "gatys":
        yield None
        return
    task = bar.add_task("optimising", total=None, losses="")

    def on_step(step: Any) -> None:  # a methods.gatys.GatysStep
        losses = f"content {step.content_loss:.4g}, style {step.style_loss:.4g}"
        name = f"scale {step.scale + 1}/{step.scales} " if step.scales > 1 else ""
        # step/steps count over every image and scale of the call: the bar's ETA covers them all
        bar.update(task, total=step.steps, completed=step.step, description=f"optimising {name}({losses})")
        image = getattr(step, "image", None)
        if image is not None and current and current[0] is not None:
            from ..media.images import save_image

            target: Path = current[0]
            path = save_image(image, target.with_name(f"{target.stem}_step{step.step}{target.suffix}"))
            bar.console.print(f"step {step.step}: {path}")

    yield on_step


def save_partial(partial: Any, target: Path, protect: tuple[Path, ...], others: Sequence[Path] = ()) -> Path | None:
    """Write the best result so far (``errors.Interrupted.partial``: an image, or a result that writes
    itself) atomically to ``target`` and ``others``, if there is one."""
    from ..media.images import save_image

    if partial is None:
        return None
    for path in (*others, target):
        path = (
            partial.save(path, protect=protect)
            if hasattr(partial, "save")
            else save_image(partial, path, protect=protect)
        )
        out.print(str(path))
    err.print(f"interrupted: the best result so far is in {target}")
    return target

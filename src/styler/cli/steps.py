"""Progress of long per-image work (Gatys optimisation): a bar with the losses and an ETA,
intermediate images every ``save_every`` steps, and the best image kept on Ctrl-C."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.progress import Progress

from .console import err, out


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


def save_partial(partial: Any, target: Path, protect: tuple[Path, ...]) -> Path | None:
    """Write the best image so far (``errors.Interrupted.partial``) atomically, if there is one."""
    from ..media.images import save_image

    if partial is None:
        return None
    path = save_image(partial, target, protect=protect)
    out.print(str(path))
    err.print(f"interrupted: the best image so far is in {path}")
    return path

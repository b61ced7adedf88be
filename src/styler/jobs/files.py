"""File jobs: pair the content files a command names with its styles, name the outputs, write.

A library user runs a folder job in three lines::

    from styler import Engine, jobs
    engine = Engine.load("adain")
    report = jobs.transfer(engine, "photos/", ["paintings/"], "out/")   # a folder: ``dataset.run``

``plan`` checks everything that can be checked without the model (inputs exist, output names
and folders are valid), so a command can fail before weights are resolved; ``run`` does the
work, collecting per-file errors instead of stopping, and reports each finished task to a
callback (the CLI's progress bar).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch import Tensor

from ..engine import Color, Engine, check_alpha, check_color
from ..errors import InputError, StylerError
from ..media import images
from ..media.files import check_writable

if TYPE_CHECKING:
    from .dataset import DatasetReport

Style = Path | str  # a style image file, or (CIN) a style name or index


@dataclass(frozen=True)
class Task:
    content: Path
    style: Style
    output: Path


@dataclass(frozen=True)
class Reading:
    """How input images are read: shorter side in px (0 = as is), centre crop to a square."""

    content_size: int = 512
    style_size: int = 512
    crop: bool = False
    max_pixels: int = images.MAX_PIXELS  # refused before resizing when over (0 = no limit)


@dataclass
class Report:
    written: list[Path] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # one line per input or pair that failed


def label(style: Style) -> str:
    """The name a style gets in output names: a file's stem, or a CIN style's name."""
    return style.stem if isinstance(style, Path) else str(style)


def output_paths(output: Path | None, names: list[str]) -> list[Path]:
    """Where each result goes. ``output`` is a file (one result) or a folder (any number); a
    path with no image extension, or an existing folder, is a folder. None = the current folder."""
    if output is not None and output.suffix and not output.is_dir():
        images.output_format(output)  # unknown extensions fail here, before any compute
        check_writable(output, "choose a writable output")
        if len(names) > 1:
            raise InputError(f"output={output} is one file but there are {len(names)} results; pass a folder as output")
        return [output]
    folder = output if output is not None else Path.cwd()
    if folder.exists() and not folder.is_dir():
        raise InputError(f"output={folder} is a file without an image extension; pass a folder or an image name")
    for name in names:
        images.output_format(Path(name))
    check_writable(folder / "x", "choose a writable output")
    return [folder / name for name in names]


def plan(
    contents: Path, styles: Sequence[Style], output: Path | None = None, *, ext: str = "png", suffix: str = ""
) -> list[Task]:
    """Every content x style pair (contents and style folders listed, content-major, so each
    content is read and encoded once), named ``{content}_stylized_{style}{suffix}.{ext}``."""
    if not styles:
        raise InputError("no style given; pass at least one style")
    content_files = images.list_images(Path(contents))
    style_items: list[Style] = []
    for s in styles:
        style_items += images.list_images(s) if isinstance(s, Path) else [s]
    pairs = list(product(content_files, style_items))
    names = [f"{c.stem}_stylized_{label(s)}{suffix}.{ext.lstrip('.')}" for c, s in pairs]
    return [Task(c, s, out) for (c, s), out in zip(pairs, output_paths(output, names), strict=True)]


OnTask = Callable[[Task, str | None], None]  # (task, error line or None) after each task
OnStart = Callable[[Task], None]  # before each task's image is computed


def run(
    engine: Engine,
    tasks: Sequence[Task],
    *,
    alpha: float = 1.0,
    sweep: Sequence[float] | None = None,
    color: str | Color | None = None,
    reading: Reading = Reading(),
    on_task: OnTask | None = None,
    on_start: OnStart | None = None,
) -> Report:
    """Stylize every task, content by content; bad inputs are skipped and reported, never fatal.

    Styles are read and represented once, each content once for all its styles (AdaIN encodes
    it once). ``sweep``: one strip per pair, a tile per alpha. Folders of contents are dataset
    jobs (``dataset``: worker processes, batching, manifest); this runs the few files a command
    names."""
    alpha, color = check_alpha(alpha), check_color(color)
    sweep = [check_alpha(a) for a in sweep] if sweep else None
    report, finished = Report(), set()
    protect = tuple({t.content for t in tasks} | {t.style for t in tasks if isinstance(t.style, Path)})

    def finish(task: Task, error: str | None) -> None:
        if task.output in finished:
            return
        finished.add(task.output)
        if error is None:
            report.written.append(task.output)
        else:
            report.failures.append(error)
        if on_task is not None:
            on_task(task, error)

    reps: dict[Style, Any] = {}
    for style in dict.fromkeys(t.style for t in tasks):
        try:
            # With colour preservation the style image itself is kept: it is adapted to each content.
            image = (
                images.load_image(
                    style, reading.style_size, reading.crop, max_pixels=reading.max_pixels, size_name="style_size"
                )
                if isinstance(style, Path)
                else style
            )
            reps[style] = image if color is not None else engine.represent(image)
        except StylerError as e:  # one line for the style, every task of it reported as failed
            report.failures.append(str(e))
            for t in tasks:
                if t.style == style:
                    finished.add(t.output)
                    if on_task is not None:
                        on_task(t, str(e))
    by_content: dict[Path, list[Task]] = {}
    for t in tasks:
        if t.style in reps:
            by_content.setdefault(t.content, []).append(t)
    for content, mine in by_content.items():
        try:
            x = images.load_image(content, reading.content_size, reading.crop, max_pixels=reading.max_pixels)
            if sweep:
                results: Iterator[Tensor] = (_sweep(engine, x, reps[t.style], sweep, color) for t in mine)
            else:
                results = engine.render_each(x, [reps[t.style] for t in mine], alpha=alpha, color=color)
                del x  # render_each holds what it needs: at 8K the image is freed before the decoder runs
            for t in mine:
                if on_start is not None:
                    on_start(t)
                out = next(results)
                try:
                    images.save_image(out, t.output, protect=protect)
                    finish(t, None)
                except StylerError as e:
                    finish(t, str(e))
                del out
        except StylerError as e:
            for t in mine:
                finish(t, str(e))
    return report


def _sweep(engine: Engine, x: Tensor, style: Any, alphas: Sequence[float], color: Color | None) -> Tensor:
    """Content (1, 3, H, W) at each alpha side by side: (1, 3, H, len(alphas) * W + gaps)."""
    return images.contact_sheet([[engine.render(x, [style], alpha=a, color=color) for a in alphas]])


def transfer(
    engine: Engine,
    contents: Path | str,
    styles: Sequence[Style | str],
    output: Path | str | None = None,
    *,
    ext: str = "png",
    alpha: float = 1.0,
    color: str | None = None,
    reading: Reading = Reading(),
    on_task: OnTask | None = None,
) -> Report | DatasetReport:
    """Every content x style pair into ``output``, as ``styler transfer`` does it: a content folder
    is a dataset job (``dataset.run``: the tree mirrored under ``output``, ``manifest.jsonl``; its
    ``DatasetReport`` counts), a content file a file job (``plan`` + ``run``; its ``Report``)."""
    if Path(contents).is_dir():
        from .dataset import DatasetJob
        from .dataset import run as run_dataset

        job = DatasetJob(
            Path(contents),
            tuple(Path(s) if engine.method.takes_images else s for s in styles),
            Path.cwd() if output is None else Path(output),
            ext=ext,
            alpha=alpha,
            color=color,
            named_styles=not engine.method.takes_images,
            content_size=reading.content_size,
            style_size=reading.style_size,
            crop=reading.crop,
            max_pixels=reading.max_pixels,
        )
        return run_dataset(engine, job)
    style_list = [Path(s) if engine.method.takes_images else s for s in styles]
    tasks = plan(Path(contents), style_list, None if output is None else Path(output), ext=ext)
    return run(engine, tasks, alpha=alpha, color=color, reading=reading, on_task=on_task)

"""What the image commands do for --method diffstyler: its settings from the flags, a word before the
base model downloads, the progress rows of its long phases, and on a CPU the time estimate first."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.progress import Progress

from .console import err

PHASES = {"lora": "learning style", "invert": "inverting the content", "sample": "sampling"}


@dataclass(frozen=True)
class Work:
    """What a one-image command renders, for the estimate: ``renders`` images (a grid: N x N),
    with ``regions`` (a model per style plus the base model at every step) and colour preservation
    (each style adapted to the content: learned again for it)."""

    renders: int = 1
    regions: bool = False
    color: Any = None


def config(options: Any, seed: int | None) -> Any:
    """``options.DiffStyler`` (and ``--seed``) -> the method's ``DiffStylerConfig``. Images reach the
    method already read at --content-size / --style-size, so it samples and learns at their own size
    (0): the sizes stay one flag each."""
    from ..methods.diffstyler.config import DiffStylerConfig, LoraSettings

    given = options.given()
    lora = {"size": 0, **({"steps": given.pop("lora_steps")} if "lora_steps" in given else {})}
    if seed is not None:
        lora["seed"] = seed
    return DiffStylerConfig(size=0, lora=LoraSettings(**lora), **given)


def before_loading(cfg: Any) -> None:
    """One line naming the extra when it is missing; a word when the base model is about to download."""
    from ..methods.diffstyler.config import require

    require()
    from ..methods.diffstyler.sd import is_available, offline_mode

    if not offline_mode() and not is_available(cfg.sd):
        err.print(f"downloading {cfg.sd} into the Hugging Face cache (about 5 GB, once)")


@contextmanager
def diffusion_steps(bar: Progress) -> Iterator[Callable[[Any], None]]:
    """An ``on_step`` callback for ``methods.diffstyler`` driving one row of ``bar``: LoRA learning
    (with its loss), the content's inversion, the sampling."""
    task = bar.add_task(PHASES["sample"], total=None)
    current: list[tuple[str, str] | None] = [None]

    def on_step(step: Any) -> None:  # a methods.diffstyler.DiffStep
        name = PHASES.get(step.phase, step.phase)
        if step.phase == "lora" and step.label:
            name += f" {step.label}"
        if current[0] != (step.phase, step.label):
            current[0] = (step.phase, step.label)
            bar.reset(task, total=step.steps, description=name)
        loss = f" (loss {step.loss:.4f})" if step.loss is not None else ""
        bar.update(task, completed=step.step, description=name + loss)

    yield on_step


def prepare(engine: Any, styles: Sequence[Any], names: Sequence[Any]) -> list[tuple[int, int]]:
    """Name each style image for the LoRA cache (``styler models list``); the (h, w) of those whose
    LoRA is not cached yet (to learn)."""
    method, learn = engine.method, []
    for image, name in zip(styles, names):
        method.label(image, Path(name).name if isinstance(name, Path) else str(name))
        if not method.is_cached(image):
            learn.append(tuple(image.shape[-2:]))
    return learn


def estimate_one(engine: Any, content: Any, styles: Sequence[Any], names: Sequence[Any], work: Work) -> None:
    """The one-image commands: label the styles and, on a CPU, say how long this will take."""
    learn = prepare(engine, styles, names)
    if engine.runtime.device.type != "cpu":
        return
    hw = tuple(content.shape[-2:])
    if work.color is not None:  # every style adapted to this content: a LoRA of its own
        learn = [tuple(s.shape[-2:]) for s in styles]
    e = engine.method.estimate(
        [hw] * work.renders,
        invert=[] if engine.method.is_inverted(content) else [hw],
        learn=learn,
        models=len(styles) + 1 if work.regions else 1,
    )
    say(e, work.renders)


def estimate_job(engine: Any, job: Any, pairs: Sequence[Any], *, show: bool = True) -> None:
    """``styler transfer``: label the styles and, on a CPU (and when ``show``), say how long the job
    will take (contents by their header's size; every inversion counted unless a single content's is
    cached)."""
    from ..errors import StylerError
    from ..media.images import load_image, result_size

    reading = job.reading
    images = {}
    for path in dict.fromkeys(p.style.path for p in pairs):
        try:  # read as the runner reads them, so the pixels (and the LoRA keys) are the same
            images[path] = load_image(
                path, reading.style_size, reading.crop, max_pixels=reading.max_pixels, size_name="style_size"
            )
        except StylerError:  # the runner reports it
            continue
    pairs = [p for p in pairs if p.style.path in images]
    learn = prepare(engine, list(images.values()), list(images))
    if not show or engine.runtime.device.type != "cpu" or not pairs:
        return
    sizes: dict[Path, tuple[int, int]] = {}
    for path in dict.fromkeys(p.content.path for p in pairs):
        wh = header_size(path)
        if wh is not None:  # an unreadable file: the runner reports it
            w, h = result_size(*wh, reading.content_size, reading.crop)
            sizes[path] = (h, w)
    pairs = [p for p in pairs if p.content.path in sizes]
    invert = list(sizes.values())
    if len(sizes) == 1:
        (path,) = sizes
        content = load_image(path, reading.content_size, reading.crop, max_pixels=reading.max_pixels)
        invert = [] if engine.method.is_inverted(content) else invert
    if job.controls.color is not None:  # every style adapted to each content: a LoRA per pair
        learn = [tuple(images[p.style.path].shape[-2:]) for p in pairs]
    renders = len(job.controls.sweep or (1,))
    contents = [sizes[p.content.path] for p in pairs for _ in range(renders)]
    say(engine.method.estimate(contents, invert=invert, learn=learn), len(contents))


def header_size(path: Path) -> tuple[int, int] | None:
    """(w, h) from the image file's header (no pixels decoded); None when it cannot be read."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            return img.size
    except Exception:
        return None


def say(estimate: Any, images: int) -> None:
    err.print(
        f"diffstyler on this CPU: {estimate.describe()} for {images} image(s); running anyway "
        "(a GPU takes minutes; Ctrl-C stops it and leaves no partial file)"
    )

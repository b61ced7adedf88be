"""What the image commands share: pipes, JSON records, the one-image flow, small parsers."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from .console import err, progress_bar
from .loading import also_outputs, load_engine, method_kind, method_options, with_low_style

# -- pipes and records --------------------------------------------------------------------


@contextmanager
def stdin_image(content: Path) -> Iterator[Path]:
    """``content`` itself, or for ``-`` the image piped to stdin, spooled to a temporary
    ``stdin.<format>`` (so default names start with ``stdin``) that is gone afterwards."""
    import io
    import tempfile

    from PIL import Image, UnidentifiedImageError

    from ..errors import InputError

    if str(content) != "-":
        yield content
        return
    if sys.stdin is None or sys.stdin.isatty():
        raise InputError(
            "- reads the content image from stdin, but nothing is piped in; e.g. cat photo.jpg | styler ..."
        )
    data = getattr(sys.stdin, "buffer", sys.stdin).read()
    if not data:
        raise InputError("- reads the content image from stdin, but stdin was empty")
    try:
        with Image.open(io.BytesIO(data)) as img:
            kind = (img.format or "png").lower()
    except (UnidentifiedImageError, OSError):
        raise InputError("stdin does not hold an image Pillow can read; pipe a PNG or JPEG") from None
    with tempfile.TemporaryDirectory(prefix="styler-stdin-") as folder:
        path = Path(folder) / f"stdin.{'jpg' if kind == 'jpeg' else kind}"
        path.write_bytes(data)
        yield path


@contextmanager
def stdout_folder(results) -> Iterator[Path | None]:
    """For ``-o -`` a temporary folder to write the one result into (``send_stdout`` pipes it
    out); None otherwise. ``--json`` needs stdout too, so the two are refused together."""
    import tempfile

    from ..errors import InputError, Param

    if not results.to_stdout:
        yield None
        return
    if results.json_out:
        raise InputError(
            Param("output", "-"), " writes the image to stdout, where ", Param("json_out"), " writes too; drop one"
        )
    with tempfile.TemporaryDirectory(prefix="styler-stdout-") as folder:
        yield Path(folder)


def send_stdout(path: Path) -> None:
    """The bytes of ``path`` to stdout (the image of ``-o -``)."""
    sys.stdout.flush()
    stream = getattr(sys.stdout, "buffer", sys.stdout)
    stream.write(Path(path).read_bytes())
    stream.flush()


def record(**fields: Any) -> None:
    """One JSON line on stdout (``--json``): paths as strings, enums as their values."""
    typer.echo(json.dumps(fields, default=lambda v: getattr(v, "value", str(v))))


def say_path(path: Path) -> None:
    typer.echo(str(path))


# -- the one-image flow -------------------------------------------------------------------


def single_result(
    content: Path,
    styles: list,
    kind: str,
    results,
    reading,
    model,
    gatys,
    controls,
    render: Callable,
    summary,
    *,
    curves=None,
    results_write: bool = False,
    extra_inputs: tuple[Path, ...] = (),
    steps: int = 0,
    sizes: tuple[int, int] = (512, 512),
    style_label: str | None = None,
    low_style: Path | None = None,
    diffstyler=None,
    work=None,
) -> None:
    """The flow of the one-image commands (interpolate, mask, color-preserve, sheet): name and
    check the output, read the inputs, load the engine, ``render(engine, content, styles, tick)``,
    write, report. ``kind`` is the default name's middle word ('interpolated', 'grid5', ...);
    ``render`` returns an image, or with ``results_write`` a result that writes itself
    (``Engine.result``), which may go to any file type the method writes (curves: SVG, a report).
    ``summary``: the closing line's detail, a string or a list the render fills; ``steps``: how
    many ticks the render makes (a progress row; 0 = none); ``sizes``: the command's default
    content and style sizes (names tag others); ``style_label``: the styles' part of the name;
    ``low_style``: each style becomes ``Bands`` with that image's low band (``check_low_style`` first);
    ``diffstyler``: that method's options; ``work`` (``diffusion.Work``): what the render does, for
    its time estimate."""
    from ..errors import Interrupted
    from ..jobs.naming import low_tags
    from ..media.images import load_image
    from .options import with_scales
    from .steps import method_steps, save_partial

    start = time.perf_counter()
    method_options(model, gatys, curves, diffstyler)  # another method's options: refused before anything is read
    writes = method_kind(model).writes if results_write else frozenset()
    reading = with_scales(reading, gatys)
    with stdin_image(content) as source, stdout_folder(results) as tmp:
        tags = model.name_tags(gatys) + low_tags(low_style)
        naming = results.naming(tmp, tags=tags, writes=writes, also=also_outputs(curves))
        label = [style_label] if style_label else [style_name(s) for s in styles]
        target = naming.result("stdin" if str(content) == "-" else source.stem, label, kind, controls, reading, sizes)
        others = naming.others(target.name)
        replaces = target.exists()
        image = load_image(source, reading.content_size, reading.crop, max_pixels=reading.budget())
        inputs = read_styles(styles, reading)
        inputs = with_low_style(inputs, None if low_style is None else read_styles([low_style], reading)[0])
        low = [low_style] if low_style else []
        protect = (source, *(s for s in styles if isinstance(s, Path)), *extra_inputs, *low)
        with progress_bar() as bar, method_steps(bar, model, [target]) as on_step:
            engine = load_engine(model, gatys, diffstyler, curves=curves, on_step=on_step)
            if model.method.value == "diffstyler":
                from .diffusion import Work, estimate_one

                estimate_one(engine, image, inputs, styles, work or Work())
            try:
                result = render(engine, image, inputs, _ticker(bar, f"{kind} with {engine.describe()}", steps))
            except Interrupted as e:
                save_partial(e.partial, target, protect, others)
                raise
        written = _write_result(result, target, others, protect)
        if tmp is not None:
            send_stdout(target)
        detail = summary if isinstance(summary, str) else "; ".join(summary)
        if results.json_out:
            record(
                output=target,
                content=content,
                styles=[str(s) for s in styles],
                kind=kind,
                method=model.method,
                elapsed=round(time.perf_counter() - start, 3),
                replaced=replaces,
                also=[str(p) for p in others],
                **({"size": list(result.shape[-2:][::-1])} if hasattr(result, "shape") else {}),
            )
        elif tmp is None:
            for path in written:
                say_path(path)
        if replaces and tmp is None:
            err.print(
                f"replaced {target} (it existed; --no-clobber keeps it and writes {target.stem}_2{target.suffix})"
            )
        err.print(f"done: 1 image with {engine.describe()}; {detail}")


def _ticker(bar, description: str, steps: int) -> Callable[[int], None]:
    """A progress row of ``steps`` ticks (none for 0) and the callback that advances it."""
    task = bar.add_task(description, total=steps, unit="tiles") if steps else None

    def tick(done: int) -> None:
        if task is not None:
            bar.update(task, completed=done)

    return tick


def _write_result(result, target: Path, others: list[Path], protect: tuple) -> list[Path]:
    """An image, or a result that writes itself (curves), to its further outputs, then ``target``."""
    from ..media.images import save_image

    if not hasattr(result, "save"):
        save_image(result, target, protect=protect)
        return [target]
    for path in (*others, target):
        result.save(path, protect=protect)
    return [*others, target]


def style_name(style) -> str:
    return style.stem if isinstance(style, Path) else str(style)


def read_styles(styles: list, reading) -> list:
    """Style files read as images (1, 3, h, w) as ``reading`` says; a model's style names pass through."""
    from ..media.images import load_image

    return [
        load_image(s, reading.style_size, reading.crop, max_pixels=reading.budget(), size_name="style_size")
        if isinstance(s, Path)
        else s
        for s in styles
    ]


def parse_numbers(text: str, what: str) -> list[float]:
    """'1,2.5,0' -> [1.0, 2.5, 0.0]; anything but finite numbers is one InputError line."""
    import math

    from ..errors import InputError, Param

    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        raise InputError(Param(what), f" must be comma-separated numbers such as 1,2,1; got '{text}'") from None
    if not all(math.isfinite(v) for v in values):
        raise InputError(Param(what), f" must be finite numbers; got '{text}'")
    return values


def stems(styles: list) -> str:
    """Style stems (or CIN names) joined: a.jpg, b.png -> 'a+b'."""
    return "+".join(style_name(s) for s in styles)


def region_summary(styles: list, regions) -> str:
    """'regions sky.jpg 40%, sea.jpg 60%': each style's share of the (content or frame) pixels."""
    shares = regions.mean((1, 2)).tolist()  # regions: (R, H, W) 0/1 masks, before feathering
    return "regions " + ", ".join(f"{getattr(s, 'name', s)} {f:.0%}" for s, f in zip(styles, shares))

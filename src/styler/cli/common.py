"""What the image commands share: engine loading, style inputs, pipes, JSON records, the
one-image flow, small parsers."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from .console import download_progress, err, progress_bar
from .options import DiffStyler as DiffStylerOptions

# -- model loading ------------------------------------------------------------------------


CURVES_TAKES = ("iters", "optimizer", "seed")  # the optimisation options curves shares with gatys


def method_options(model, gatys=None, curves=None, diffstyler=None) -> dict:
    """The method's own ``load`` options from the option groups (``options.Gatys``, ``options.Curves``,
    ``options.DiffStyler``); an option of another method is refused in one line, before any work."""
    from ..errors import InputError, Param

    method = model.method.value
    given = gatys.given() if gatys is not None else {}
    own = curves.given() if curves is not None else {}
    takes = set(given) if method == "gatys" else set(CURVES_TAKES) if method == "curves" else {"seed"}
    extra = [Param(k, v) for k, v in given.items() if k not in takes]  # --seed: pairing and LoRAs too
    if extra:
        listed = [part for p in extra for part in (", ", p)][1:]
        gatys_ = Param("method", "gatys")
        also = (" or ", Param("method", "curves")) if all(p.name in CURVES_TAKES for p in extra) else ()
        raise InputError(*listed, " only apply to ", gatys_, *also, "; add ", gatys_, " or drop them")
    refuse_others(method, "curves", own)
    refuse_others(method, "diffstyler", diffstyler.given() if diffstyler is not None else {})
    if method == "gatys":
        from ..methods.gatys.config import GatysConfig

        return {"gatys": GatysConfig(**given)}
    if method == "curves":
        from ..methods.curves.config import CurvesConfig, RuleBounds

        config = {k: v for k, v in given.items() if k in CURVES_TAKES}
        if "lr" in own:
            config["lr"] = own["lr"]
        if "reach" in own:
            config["bounds"] = RuleBounds(reach=own["reach"])
        return {"curves": CurvesConfig(**config), "curve_mask": own.get("curve_mask")}
    if method == "diffstyler":
        from . import diffusion

        return {"diffstyler": diffusion.config(diffstyler or DiffStylerOptions(), given.get("seed"))}
    return {}


def load_engine(model, gatys=None, diffstyler=None, *, curves=None, on_step=None):
    """Resolve and load the weights (downloading on first use) for ``model`` (``options.Model``),
    with the option groups of the methods that have them (``method_options``). Commands name the
    device and precision in their progress bar and closing line, so an error stays a single line."""
    from ..engine import Engine
    from ..precision import load_method

    own = method_options(model, gatys, curves, diffstyler)
    if "diffstyler" in own:
        from . import diffusion

        diffusion.before_loading(own["diffstyler"])
    with download_progress() as cb:
        loaded = load_method(
            model.method,
            device=model.device,
            precision=model.precision.value,
            vgg=model.vgg,
            decoder=model.decoder,
            model=model.model,
            on_step=on_step,
            progress=cb,
            on_measure=lambda what: err.print(what, markup=False),
            **own,
        )
    return Engine(loaded, tile=model.tile)


def refuse_others(method: str, owner: str, given: dict) -> None:
    """Options of method ``owner`` given with another method: one line naming them."""
    from ..errors import InputError, Param

    if method == owner or not given:
        return
    listed = [part for k, v in given.items() for part in (", ", Param(k, v))][1:]
    flag = Param("method", owner)
    raise InputError(*listed, " only apply to ", flag, "; add ", flag, " or drop them")


def also_outputs(curves) -> tuple:
    """The further outputs of every result that ``--render`` and ``--report`` ask for (``jobs.spec.Also``)."""
    from ..jobs.spec import Also

    if curves is None:
        return ()
    wanted = ((curves.render, "png", "render"), (curves.report, "json", "report"))
    return tuple(Also(path, ext, name) for path, ext, name in wanted if path is not None)


def method_kind(model):
    """The class of ``model.method`` (``methods.kind``): what it reads, writes and refuses, before it loads."""
    from ..methods import kind

    return kind(model.method)


def style_inputs(model, positional, options) -> list:
    """Styles given positionally and with ``--style`` (in that order); CIN styles stay names."""
    from ..errors import InputError, Param

    styles = [*(positional or []), *(options or [])]
    if not styles:
        raise InputError(
            "no style given; pass a style image (or with ",
            Param("method", "cin"),
            " a style name) as an argument or with ",
            Param("style"),
        )
    if model.method.value == "cin":
        return [str(s) for s in styles]
    return [Path(s) for s in styles]


def check_low_style(model, low_style: Path | None) -> None:
    """``--low-style`` only with a method that splits styles into frequency bands (aesfa)."""
    from ..errors import InputError, Param

    if low_style is not None and model.method.value != "aesfa":
        raise InputError(
            Param("low_style"),
            f" takes colour and broad strokes from another style by frequency band, which method {model.method.value}"
            " does not split; add ",
            Param("method", "aesfa"),
            " or drop ",
            Param("low_style"),
        )


def with_low_style(inputs: list, low) -> list:
    """Each style input as ``Bands``: its own high band, the low band of ``low`` (an image); as is without."""
    if low is None:
        return inputs
    from ..methods.base import Bands

    return [Bands(s, low) for s in inputs]


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
            task = bar.add_task(f"{kind} with {engine.describe()}", total=steps, unit="tiles") if steps else None

            def tick(done: int) -> None:
                if task is not None:
                    bar.update(task, completed=done)

            try:
                result = render(engine, image, inputs, tick)
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

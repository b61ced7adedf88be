"""What the image commands share: engine loading, style inputs, the one-image flow, small parsers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .console import download_progress, err, out, progress_bar

# -- model loading ------------------------------------------------------------------------


CURVES_TAKES = ("iters", "optimizer", "seed")  # the optimisation options curves shares with gatys


def method_options(model, gatys=None, curves=None) -> dict:
    """The method's own ``load`` options from the option groups (``options.Gatys``, ``options.Curves``);
    an option of another method is refused in one line, before any work."""
    from ..errors import InputError, Param

    method = model.method.value
    given = gatys.given() if gatys is not None else {}
    own = curves.given() if curves is not None else {}
    takes = set(given) if method == "gatys" else set(CURVES_TAKES) if method == "curves" else {"seed"}
    extra = [Param(k, v) for k, v in given.items() if k not in takes]  # --seed also seeds dataset pairing
    if extra:
        listed = [part for p in extra for part in (", ", p)][1:]
        gatys_ = Param("method", "gatys")
        also = (" or ", Param("method", "curves")) if all(p.name in CURVES_TAKES for p in extra) else ()
        raise InputError(*listed, " only apply to ", gatys_, *also, "; add ", gatys_, " or drop them")
    if own and method != "curves":
        listed = [part for k, v in own.items() for part in (", ", Param(k, v))][1:]
        curves_ = Param("method", "curves")
        raise InputError(*listed, " only apply to ", curves_, "; add ", curves_, " or drop them")
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
    return {}


def load_engine(model, gatys=None, *, curves=None, on_step=None):
    """Resolve and load the weights (downloading on first use) for ``model`` (``options.Model``),
    with ``gatys`` (``options.Gatys``) and ``curves`` (``options.Curves``) for those methods. Commands
    name the device and precision in their progress bar and closing line, so an error stays a single line."""
    from ..engine import Engine
    from ..methods import load

    own = method_options(model, gatys, curves)
    with download_progress() as cb:
        method = load(
            model.method,
            device=model.device,
            precision=model.precision.value,
            vgg=model.vgg,
            decoder=model.decoder,
            model=model.model,
            on_step=on_step,
            progress=cb,
            **own,
        )
    return Engine(method, tile=model.tile)


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


def low_suffix(low_style: Path | None) -> str:
    """The default output names' mark of frequency blending: '_low_b' for --low-style b.jpg."""
    return "" if low_style is None else f"_low_{low_style.stem}"


def single_result(
    content: Path,
    styles: list,
    stem: str,
    ext: str,
    output: Path | None,
    reading,
    model,
    gatys,
    render: Callable,
    summary,
    *,
    curves=None,
    results: bool = False,
    extra_inputs: tuple[Path, ...] = (),
    low_style: Path | None = None,
) -> None:
    """The flow of the one-image commands (interpolate, mask, color-preserve): check the output,
    read the inputs, load the engine, ``render(engine, content, styles)``, write, report.
    ``render`` returns an image, or with ``results`` a result that writes itself (``Engine.result``),
    which may go to any file type the method writes (curves: SVG, a report).
    ``summary``: the closing line's detail, a string or a list the render fills. ``low_style``:
    each style becomes ``Bands`` with that image's low band (``check_low_style`` first)."""
    from ..errors import Interrupted
    from ..jobs.spec import Naming
    from ..media.images import load_image, save_image
    from .options import with_scales
    from .steps import method_steps, save_partial

    method_options(model, gatys, curves)  # another method's options: refused before anything is read
    writes = method_kind(model).writes if results else frozenset()
    naming = Naming(output, ext=ext, writes=writes, also=also_outputs(curves))
    target = naming.one(stem)
    others = naming.others(target.name)
    reading = with_scales(reading, gatys)
    image = load_image(content, reading.content_size, reading.crop, max_pixels=reading.budget())
    inputs = read_styles(styles, reading)
    low = None if low_style is None else read_styles([low_style], reading)[0]
    inputs = with_low_style(inputs, low)
    protect = (content, *(s for s in styles if isinstance(s, Path)), *extra_inputs, *([low_style] if low_style else []))
    with progress_bar() as bar, method_steps(bar, model, [target]) as on_step:
        engine = load_engine(model, gatys, curves=curves, on_step=on_step)
        try:
            result = render(engine, image, inputs)
        except Interrupted as e:
            save_partial(e.partial, target, protect, others)
            raise
    if not hasattr(result, "save"):
        save_image(result, target, protect=protect)
    for path in (*others, target):
        if hasattr(result, "save"):
            result.save(path, protect=protect)
        out.print(str(path))
    detail = summary if isinstance(summary, str) else "; ".join(summary)
    err.print(f"done: 1 image with {engine.describe()}; {detail}")


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
    """Style stems (or CIN names) joined for output names: a.jpg, b.png -> 'a+b'."""
    return "+".join(s.stem if isinstance(s, Path) else str(s) for s in styles)


def region_summary(styles: list, regions) -> str:
    """'regions sky.jpg 40%, sea.jpg 60%': each style's share of the (content or frame) pixels."""
    shares = regions.mean((1, 2)).tolist()  # regions: (R, H, W) 0/1 masks, before feathering
    return "regions " + ", ".join(f"{getattr(s, 'name', s)} {f:.0%}" for s, f in zip(styles, shares))

"""From a command's option groups to a loaded engine: each method's own options (refused for the
others), the style inputs it takes, and the weights loaded with a download bar."""

from __future__ import annotations

from pathlib import Path

from .console import err, loading_progress
from .options import DiffStyler as DiffStylerOptions

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
    with loading_progress() as loading:
        loaded = load_method(
            model.method,
            device=model.device,
            precision=model.precision.value,
            backend=model.backend.value,
            calibrate=model.calibrate,
            vgg=model.vgg,
            decoder=model.decoder,
            model=model.model,
            on_step=on_step,
            progress=loading.download,
            on_measure=lambda what: err.print(what, markup=False),
            on_build=loading.build,
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
    if not method_kind(model).takes_images:
        return [str(s) for s in styles]  # names or indices of a network's own styles
    return [Path(s) for s in styles]


def check_low_style(model, low_style: Path | None) -> None:
    """``--low-style`` only with a method that splits styles into frequency bands (aesfa)."""
    from ..errors import InputError, Param

    if low_style is not None and not method_kind(model).takes_bands:
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

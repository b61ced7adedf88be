"""Style methods: each turns styles into a representation and stylizes content with it.

``adain`` (Huang & Belongie 2017, arbitrary styles, fast), ``gatys`` (Gatys et al. 2016,
optimisation, best quality, slow), ``cin`` (Dumoulin et al. 2017, many fixed styles in one
fast network), ``aesfa`` (Kwon, Kim et al. 2024, arbitrary styles, octave features and
style-predicted kernels, cheapest at high resolution), ``curves`` (Chen, Kara & Cagan 2023, line
drawings edited as curves, SVG out), ``diffstyler`` (Li 2024, Stable Diffusion with a LoRA per
style; the optional ``styler[diffusion]`` extra). Each method is a package whose ``method`` module
has a ``load(**options)`` function; ``load`` here finds it by name (imported on first use) and
says in one line which options do not apply.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import InputError, Param
from ..names import MethodName

if TYPE_CHECKING:
    from pathlib import Path

    from ..nets.download import KnownWeights
    from .base import Method

__all__ = ["MethodName", "check_options", "check_video", "check_weights", "kind", "load"]


def kind(name: str | MethodName) -> type[Method]:
    """The class of method ``name``, imported without any weights, so its capabilities (``reads``,
    ``writes``, ``check_controls``) are known before a job starts: the ``Method`` subclass its
    ``method`` module defines (``METHOD`` names it where there are several)."""
    from .base import Method

    chosen = _kind(name)
    module = importlib.import_module(f"{__name__}.{chosen.value}.method")
    if hasattr(module, "METHOD"):
        return module.METHOD  # type: ignore[no-any-return]
    own = [
        v
        for v in vars(module).values()
        if isinstance(v, type) and issubclass(v, Method) and v.__module__ == module.__name__
    ]
    return own[0] if len(own) == 1 else Method


def load(name: str | MethodName = "adain", **options: Any) -> Method:
    """A method by name with its weights resolved (and downloaded on first use).

    ``options`` are the method's ``load`` keywords: always ``device``, ``precision`` and
    ``progress``; ``vgg``/``decoder`` (adain, gatys), ``vgg`` (curves), ``model`` (cin, aesfa), ``gatys``
    (a ``GatysConfig``), ``curves`` (a ``CurvesConfig``) and ``curve_mask`` (curves), ``diffstyler`` (a
    ``DiffStylerConfig``), ``on_step`` (gatys, curves, diffstyler). Options left at None are not passed on."""
    kind = _kind(name)
    given = {k: v for k, v in options.items() if v is not None}
    if kind is MethodName.gatys:
        # Gatys may start from the AdaIN result (init="adain"): the registry builds that method
        # here, so the gatys package imports no other method.
        decoder = given.pop("decoder", None)
        if getattr(given.get("gatys"), "init", None) == "adain":
            shared = {k: given[k] for k in ("vgg", "device", "precision", "progress") if k in given}
            given["init_method"] = load(MethodName.adain, decoder=decoder, **shared)
    return check_options(kind, **given)(**given)


def check_options(name: str | MethodName, **options: Any) -> Callable[..., Method]:
    """The loader of method ``name``, after checking that every option given (not None) applies
    to it: one line naming the option and the method otherwise, before anything is loaded."""
    kind = _kind(name)
    loader = importlib.import_module(f"{__name__}.{kind.value}.method").load
    accepted = set(inspect.signature(loader).parameters) | ({"decoder"} if kind is MethodName.gatys else set())
    extra = [k for k, v in options.items() if v is not None and k not in accepted]
    if "model" in extra:
        raise InputError(
            Param("model"),
            " is a CIN or AesFA network file, which conflicts with ",
            Param("method", kind.value),
            "; drop ",
            Param("method", kind.value),
            f" (a model alone means {MethodName.cin.value}, a main.pth {MethodName.aesfa.value}) or drop ",
            Param("model"),
        )
    if extra:
        raise InputError(Param(extra[0]), f" does not apply to method {kind.value}; drop it or choose another method")
    return loader  # type: ignore[no-any-return]


def check_video(name: str | MethodName) -> None:
    """Refuse, in one line naming the methods that can, a method that cannot stylize video."""
    why = kind(name).no_video
    if why:
        able = [m.value for m in MethodName if not kind(m).no_video]
        choices: list[Any] = [part for m in able for part in (", ", Param("method", m))][1:]
        choices[-2:-1] = [" or "] if len(able) > 1 else []
        raise InputError(Param("method", _kind(name).value), f" {why}, so it does not run on video; use ", *choices)


def _kind(name: str | MethodName) -> MethodName:
    try:
        return MethodName(name)
    except ValueError:
        raise InputError(f"unknown method '{name}'; use one of {', '.join(m.value for m in MethodName)}") from None


def check_weights(known: KnownWeights, path: Path) -> None:
    """Raise ``WeightsError`` unless ``path`` has ``known``'s layout: a method's model file is
    checked by that method's ``modelfile.check_file``, the shared files by ``nets.weights``."""
    if known.method is None:
        from ..nets.weights import check_file

        check_file(known, path)
        return
    MethodName(known.method)  # only the registry's own packages are imported
    importlib.import_module(f"{__name__}.{known.method}.modelfile").check_file(path)

"""Style methods: each turns styles into a representation and stylizes content with it.

``adain`` (Huang & Belongie 2017, arbitrary styles, fast), ``gatys`` (Gatys et al. 2016,
optimisation, best quality, slow), ``cin`` (Dumoulin et al. 2017, many fixed styles in one
fast network), ``curves`` (Chen, Kara & Cagan 2023, line drawings edited as curves, SVG out).
Each method is a package whose ``method`` module has a ``load(**options)`` function; ``load``
here finds it by name (imported on first use) and says in one line which options do not apply.
"""

from __future__ import annotations

import importlib
import inspect
from typing import TYPE_CHECKING, Any

from ..errors import InputError, Param
from ..names import MethodName

if TYPE_CHECKING:
    from .base import Method

__all__ = ["MethodName", "files", "load"]


def files(name: str | MethodName) -> tuple[frozenset[str], frozenset[str]]:
    """The file types (suffixes) method ``name`` reads as content and writes as results besides
    images, known before any weights load (a job checks its names with them): the ``READS`` and
    ``WRITES`` of its ``method`` module; none for a method of images only."""
    try:
        kind = MethodName(name)
    except ValueError:
        raise InputError(f"unknown method '{name}'; use one of {', '.join(m.value for m in MethodName)}") from None
    module = importlib.import_module(f"{__name__}.{kind.value}.method")
    return frozenset(getattr(module, "READS", ())), frozenset(getattr(module, "WRITES", ()))


def load(name: str | MethodName = "adain", **options: Any) -> Method:
    """A method by name with its weights resolved (and downloaded on first use).

    ``options`` are the method's ``load`` keywords: always ``device``, ``precision`` and
    ``progress``; ``vgg``/``decoder`` (adain, gatys), ``vgg`` (curves), ``model`` (cin), ``gatys`` (a
    ``GatysConfig``), ``curves`` (a ``CurvesConfig``) and ``curve_mask`` (curves), ``on_step`` (gatys,
    curves). Options left at None are not passed on."""
    try:
        kind = MethodName(name)
    except ValueError:
        raise InputError(f"unknown method '{name}'; use one of {', '.join(m.value for m in MethodName)}") from None
    given = {k: v for k, v in options.items() if v is not None}
    if kind is MethodName.gatys:
        # Gatys may start from the AdaIN result (init="adain"): the registry builds that method
        # here, so the gatys package imports no other method.
        decoder = given.pop("decoder", None)
        if getattr(given.get("gatys"), "init", None) == "adain":
            shared = {k: given[k] for k in ("vgg", "device", "precision", "progress") if k in given}
            given["init_method"] = load(MethodName.adain, decoder=decoder, **shared)
    loader = importlib.import_module(f"{__name__}.{kind.value}.method").load
    extra = [k for k in given if k not in inspect.signature(loader).parameters]
    if extra and extra[0] == "model":
        raise InputError(
            Param("model"),
            f" is a CIN network file; it does not apply to method {kind.value} (use ",
            Param("method", "cin"),
            ")",
        )
    if extra:
        raise InputError(Param(extra[0]), f" does not apply to method {kind.value}; drop it or choose another method")
    return loader(**given)

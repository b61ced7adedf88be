"""Style methods: each turns styles into a representation and stylizes content with it.

``adain`` (Huang & Belongie 2017, arbitrary styles, fast), ``gatys`` (Gatys et al. 2016,
optimisation, best quality, slow), ``cin`` (Dumoulin et al. 2017, many fixed styles in one
fast network). ``load`` builds one by name with its weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import InputError
from ..names import MethodName
from ..runtime import runtime
from .base import Method, Mix

__all__ = ["Method", "MethodName", "Mix", "load"]


def load(
    name: str | MethodName = "adain",
    *,
    device: str = "auto",
    precision: str = "auto",
    vgg: Path | None = None,
    decoder: Path | None = None,
    model: Path | None = None,
    gatys: Any = None,
    on_step: Any = None,
    progress: Any = None,
) -> Method:
    """A method by name on ``device``/``precision``, its weights resolved (and downloaded on first
    use): ``vgg``/``decoder`` for adain and gatys (decoder only for gatys' AdaIN init), ``model``
    for cin. ``gatys`` is a ``GatysConfig``; ``on_step`` its progress callback."""
    try:
        kind = MethodName(name)
    except ValueError:
        raise InputError(f"unknown method '{name}'; use one of {', '.join(m.value for m in MethodName)}") from None
    if kind is not MethodName.cin and model is not None:
        raise InputError(f"model is a CIN network file; it does not apply to method {kind.value} (use method=cin)")
    if kind is MethodName.cin and model is None:
        raise InputError("method cin needs model=FILE, a network trained with `styler train --method cin`")
    if kind is MethodName.gatys:  # its own precision rule: fp32 unless bf16 is asked for (see gatys.py)
        from .gatys.config import runtime_for
        from .gatys.method import Gatys

        return Gatys.load(
            vgg=vgg,
            decoder=decoder,
            rt=runtime_for(device, precision),
            config=gatys,
            on_step=on_step,
            progress=progress,
        )
    rt = runtime(device, precision)
    if kind is MethodName.adain:
        from .adain.method import AdaIN

        return AdaIN.load(vgg=vgg, decoder=decoder, rt=rt, progress=progress)
    from .cin.method import CIN

    return CIN.load(model, rt)

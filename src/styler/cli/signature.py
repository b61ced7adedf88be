"""Typer signatures from option groups: ``command(fn)`` splices each group's fields into the
command's parameters and rebuilds the groups when it runs; ordinary metavars for every option,
and a help panel for every option (``options``: the option's own, its group's, or ``PANEL_OF``)."""

from __future__ import annotations

import copy
import functools
import inspect
import types
import typing
from collections.abc import Callable
from dataclasses import fields
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, TypeVar, get_type_hints

import typer

from .options import GROUPS, PANEL_OF


def _metavar(kind: Any) -> str | None:
    """An ordinary metavar for a parameter type (Typer's default is '<list[Path]>' and the like)."""
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    if typing.get_origin(kind) in (list, typing.Union, types.UnionType) and args:
        return _metavar(args[0])
    if isinstance(kind, type) and issubclass(kind, Enum):
        return "[" + "|".join(m.value for m in kind) + "]"
    names = {Path: "PATH", int: "N", float: "X", str: "TEXT"}
    return names.get(kind) if isinstance(kind, type) else None


def with_metavar(name: str, annotation: Any, panel: str | None = None) -> Any:
    """``annotation`` with its Typer option/argument given an ordinary metavar if it has none,
    and (options) the help panel ``panel`` if it names none."""
    if typing.get_origin(annotation) is not Annotated:
        return annotation
    kind, *extras = typing.get_args(annotation)
    out = []
    for info in extras:
        if isinstance(info, (typer.models.OptionInfo, typer.models.ArgumentInfo)):
            info = copy.copy(info)
            if info.metavar is None and kind is not bool:
                is_argument = isinstance(info, typer.models.ArgumentInfo)
                info.metavar = name.upper() if is_argument else _metavar(kind)
            if isinstance(info, typer.models.OptionInfo) and info.rich_help_panel is None:
                info.rich_help_panel = panel
        out.append(info)
    return Annotated[(kind, *out)]  # type: ignore[valid-type]


F = TypeVar("F", bound=Callable[..., Any])


def command(fn: F) -> F:
    """Expand the option-group parameters of ``fn`` (annotated with a class from ``GROUPS``)
    into their fields for Typer, and rebuild the groups when the command runs."""
    hints = get_type_hints(fn, include_extras=True)
    params: list[inspect.Parameter] = []
    groups: dict[str, tuple[type, list[str]]] = {}
    for p in inspect.signature(fn).parameters.values():
        cls = hints.get(p.name)
        if cls in GROUPS:  # the parameter's default instance gives the command's defaults
            group_hints = get_type_hints(cls, include_extras=True)
            spliced = [f for f in fields(cls) if f.init]
            groups[p.name] = (cls, [f.name for f in spliced])
            panels = getattr(cls, "PANELS", {})
            params += [
                inspect.Parameter(
                    f.name,
                    inspect.Parameter.KEYWORD_ONLY,
                    default=getattr(p.default, f.name),
                    annotation=with_metavar(
                        f.name, group_hints[f.name], panels.get(f.name, getattr(cls, "PANEL", None))
                    ),
                )
                for f in spliced
            ]
        else:
            params.append(
                p.replace(
                    kind=inspect.Parameter.KEYWORD_ONLY,
                    annotation=with_metavar(p.name, hints.get(p.name, p.annotation), PANEL_OF.get(p.name)),
                )
            )

    @functools.wraps(fn)
    def wrapper(**kwargs: Any) -> Any:
        for name, (cls, names) in groups.items():
            kwargs[name] = cls(**{n: kwargs.pop(n) for n in names})
        return fn(**kwargs)

    wrapper.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    del wrapper.__wrapped__  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]

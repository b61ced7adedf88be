"""styler cache: what the user cache folder holds (style statistics, exported models, ...), and clearing it."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from .console import err, guarded, out
from .help import Command, sub_app
from .options import Json

cache_app = sub_app(
    "Show or clear the caches in the user cache folder.\n\nCaches hold style statistics and what other "
    "methods keep (exported models, LoRAs); the weights are never touched."
)


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.1f} kB"


@cache_app.command(cls=Command)
@guarded
def info(json_out: Json = False) -> None:
    """List each cache: its folder, entries and size (set $STYLER_CACHE_DIR to move them all)."""
    import json

    from ..paths import ENV_CACHE, cache_root, caches

    found = caches()
    if json_out:
        for c in found:
            out.print(json.dumps({"cache": c.name, "path": str(c.path), "files": c.files, "bytes": c.bytes}))
        return
    out.print(escape(f"cache folder: {cache_root()}  (set ${ENV_CACHE} to change)"))
    if not found:
        out.print("no caches yet")
    for c in found:
        out.print(escape(f"{c.name:<12} {c.files:>7} file(s) {_size(c.bytes):>10}  {c.path}"))
    if found:
        out.print(
            escape(f"{'total':<12} {sum(c.files for c in found):>7} file(s) {_size(sum(c.bytes for c in found)):>10}")
        )


@cache_app.command(cls=Command)
@guarded
def clear(
    names: Annotated[
        list[str] | None,
        typer.Argument(metavar="NAME", help="Caches to clear (see `styler cache info`).", show_default="all"),
    ] = None,
) -> None:
    """Delete caches (all, or the NAMEs); they are rebuilt when needed. Weights are never deleted."""
    from ..errors import InputError
    from ..paths import caches, clear_cache

    found = {c.name: c for c in caches()}
    unknown = [n for n in names or [] if n not in found]
    if unknown:
        raise InputError(f"no cache named {', '.join(unknown)}; there are: {', '.join(found) or 'none'}")
    chosen = [found[n] for n in names] if names else list(found.values())
    for c in chosen:
        clear_cache(c)
        err.print(escape(f"cleared {c.name}: {c.files} file(s), {_size(c.bytes)} ({c.path})"))
    if not chosen:
        err.print("nothing to clear")

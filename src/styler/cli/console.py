"""The CLI's edge: the two consoles, progress bars, and domain errors turned into one line and an exit code.

Core errors name parameters as data (``errors.Param``); ``FLAGS`` says each as this CLI's flag,
so no message text is ever rewritten.
"""

from __future__ import annotations

import contextvars
import functools
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)

# The core's parameter -> this CLI's flag, where the flag is not "--" + the name with dashes.
# Keys "COMMAND" or "COMMAND METHOD" hold what one command (run with one method) says differently.
FLAGS: dict[str, dict[str, str]] = {
    "": {"sweep": "--alpha-sweep", "encoding": "--png-level"},
    "train": {"content_dir": "--coco", "style_dir": "--wikiart", "out": "--out"},
    "train cin": {"style_dir": "--styles"},
}


def spelling(command: str = "", method: str | None = None) -> Callable[[Any], str]:
    """How ``command`` (run with ``method``) says a core ``Param``: ``--content-size 0``, ``--crop``."""
    table = {**FLAGS[""], **FLAGS.get(command, {}), **FLAGS.get(f"{command} {method}", {})}

    def spell(param: Any) -> str:
        flag = table.get(param.name, "--" + param.name.replace("_", "-"))
        if not param.has_value or param.value is True:
            return flag
        return f"{flag} {param.value}"

    return spell


def debug_enabled() -> bool:
    return os.environ.get("STYLER_DEBUG", "") not in ("", "0")


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print one red error line (``message`` is Rich-escaped by the caller where needed)."""
    err.print(f"[bold red]error:[/] {message}", markup=True, highlight=False)
    return typer.Exit(code)


# How the running command says parameters (set by ``guarded`` for the command's duration).
_SPELL: contextvars.ContextVar[Callable[[Any], str] | None] = contextvars.ContextVar("spell", default=None)


def say(error: Exception) -> str:
    """A domain error's line with its parameters as the running command's flags, escaped for Rich."""
    from ..errors import StylerError

    return escape(error.render(_SPELL.get() or spelling()) if isinstance(error, StylerError) else str(error))


def guarded(fn: Callable) -> Callable:
    """Turn domain errors into one red line and a non-zero exit; no traceback unless debugging."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from ..errors import Interrupted, StylerError

        method = kwargs.get("method", getattr(kwargs.get("model"), "method", None))
        token = _SPELL.set(spelling(fn.__name__, getattr(method, "value", method)))
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except StylerError as e:
            if debug_enabled():
                raise
            raise fail(say(e)) from None
        except Interrupted as e:  # long work (Gatys) kept its best result: save_partial said where
            what = "the best image so far was written" if e.partial is not None else "no partial output was left"
            raise fail(f"interrupted; {what}", 130) from None
        except KeyboardInterrupt:
            raise fail("interrupted; no partial output was left", 130) from None
        except MemoryError:
            raise fail("out of memory; lower --content-size/--style-size or use --tile 512") from None
        except Exception as e:  # a bug or an environment problem: still one line, with a way to see more
            if debug_enabled():
                raise
            msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
            raise fail(
                escape(f"{type(e).__name__}: {msg[:200]} (rerun with STYLER_DEBUG=1 or --debug for the traceback)")
            ) from None
        finally:
            _SPELL.reset(token)

    return wrapper


def exit_for_failures(failures: list, written: int) -> None:
    """A batch reports every skipped input, then exits non-zero if any failed."""
    if not failures:
        return
    if written == 0 and len(failures) == 1:
        raise fail(say(failures[0]))
    for why in failures:
        err.print(f"[red]skipped:[/] {say(why)}", markup=True)
    raise fail(f"{len(failures)} input(s) failed (see above); {written} result(s) were written")


# -- progress -----------------------------------------------------------------------------


def progress_bar(*extra: ProgressColumn | str, show: bool = True) -> Progress:
    """Description, bar, done/total, ``extra`` columns, elapsed time and ETA, on stderr.
    Drawn only on a terminal (and when ``show``), so logs and pipes stay clean."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        *extra,
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=err,
        disable=not (show and err.is_terminal),
    )


@contextmanager
def download_progress() -> Iterator[Callable[[int, int | None], None]]:
    """A callback for ``weights.fetch`` that drives a Rich download bar."""
    bar = Progress(
        TextColumn("downloading weights"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )
    tasks: dict[int | None, int] = {}

    def update(done: int, total: int | None) -> None:
        if total not in tasks:
            tasks[total] = bar.add_task("", total=total)
        bar.update(tasks[total], completed=done)

    with bar:
        yield update

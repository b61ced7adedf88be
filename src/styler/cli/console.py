"""The CLI's edge: the two consoles, progress, and domain errors turned into one line and an exit code.

Core errors name parameters as data (``errors.Param``); ``FLAGS`` says each as this CLI's flag,
so no message text is ever rewritten. Everything but results goes to stderr: stdout carries only
result paths, ``--json`` records or (``-o -``) the image itself. Progress is a Rich bar on a
terminal and a plain line every few seconds elsewhere (a log file, CI, a pipe).
"""

from __future__ import annotations

import contextvars
import functools
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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
from rich.text import Text

err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)

# The core's parameter -> this CLI's flag, where the flag is not "--" + the name with dashes.
# Keys "COMMAND" or "COMMAND METHOD" hold what one command (run with one method) says differently.
FLAGS: dict[str, dict[str, str]] = {
    "": {
        "sweep": "--alpha-sweep",
        "encoding": "--png-level",
        "json_out": "--json",
        "keep_existing": "--no-clobber",
        "masks": "--mask",
        "no_labels": "--no-labels",
    },
    "train": {
        "content_dir": "--coco",
        "style_dir": "--wikiart",
        "out": "--output",
        "resize": "--content-size",
        "crop": "--crop-size",
    },
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

        method = kwargs.get("method", kwargs.get("requested"))  # --method (``options.Model.requested``)
        if method is None and kwargs.get("model") is not None:
            method = "cin"  # --model alone
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
            if type(e).__name__ == "OutOfMemoryError":  # torch.cuda.OutOfMemoryError, without importing torch
                raise fail(
                    "CUDA out of memory; lower --content-size, use --tile 512, or --precision fp16 (half the memory)"
                ) from None
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


PROGRESS_SECONDS = "STYLER_PROGRESS_SECONDS"  # seconds between plain progress lines (default 5)


class Bar(Progress):
    """A Rich progress bar on a terminal; elsewhere a plain line on stderr every few seconds
    (``$STYLER_PROGRESS_SECONDS``, default 5) with the percentage, rate and ETA, and a last
    line at 100% when any was printed. A task's ``unit`` field names what it counts."""

    def __init__(self, *columns: ProgressColumn | str, show: bool = True, **kw: Any) -> None:
        console = kw.pop("console", err)
        self.plain = show and not console.is_terminal
        super().__init__(*columns, console=console, disable=not (show and console.is_terminal), **kw)
        self.every = float(os.environ.get(PROGRESS_SECONDS, "") or 5)
        self._said: dict[Any, float | None] = {}  # task -> when its last line was printed (None: finished)
        self._started: dict[Any, float] = {}

    def add_task(self, description: str, *args: Any, **kw: Any) -> Any:
        task = super().add_task(description, *args, **kw)
        self._said[task] = self._started[task] = time.monotonic()
        return task

    def update(self, task_id: Any, *args: Any, **kw: Any) -> None:
        super().update(task_id, *args, **kw)
        if self.plain:
            self._say(task_id)

    def advance(self, task_id: Any, advance: float = 1) -> None:
        super().advance(task_id, advance)
        if self.plain:
            self._say(task_id)

    def _say(self, task_id: Any) -> None:
        last, now = self._said.get(task_id), time.monotonic()
        if last is None:
            return  # its 100% line is out
        task = self._tasks[task_id]
        if task.total is not None and task.completed >= task.total:
            if last != self._started[task_id] or now - last >= self.every:  # a long task: say it ended
                self.console.print(plain_line(task), markup=False, highlight=False)
            self._said[task_id] = None
        elif now - last >= self.every:
            self.console.print(plain_line(task), markup=False, highlight=False)
            self._said[task_id] = now


def plain_line(task: Any) -> str:
    """'stylizing with adain on cpu (bf16): 12/40 images (30%), 0.52/s, 0:00:23 elapsed, eta 0:00:54; loss ...'"""
    unit = task.fields.get("unit", "")
    done, total = task.completed, task.total

    def amount(n: float) -> str:
        return f"{n / 1e6:.1f} MB" if unit == "bytes" else f"{n:g}"

    line = f"{task.description}: {amount(done)}"
    if total:
        line += f"/{amount(total)}{'' if unit in ('', 'bytes') else ' ' + unit} ({100 * done / total:.0f}%)"
    elif unit and unit != "bytes":
        line += f" {unit}"
    speed = task.speed
    if speed:
        line += f", {speed / 1e6:.2f} MB/s" if unit == "bytes" else f", {speed:.3g}/s"
    line += f", {_clock(task.elapsed)} elapsed"
    if total and task.time_remaining is not None and done < total:
        line += f", eta {_clock(task.time_remaining)}"
    extra = [v for k, v in task.fields.items() if k != "unit" and isinstance(v, str) and v and not v.startswith("-")]
    return line + ("; " + "; ".join(extra) if extra else "")


def _clock(seconds: float | None) -> str:
    s = int(seconds or 0)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def progress_bar(*extra: ProgressColumn | str, show: bool = True) -> Bar:
    """Description, bar, done/total, ``extra`` columns, elapsed time and ETA, on stderr; plain
    lines every few seconds where stderr is not a terminal (``Bar``). Nothing when not ``show``."""
    return Bar(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        *extra,
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        show=show,
    )


class _Amount(ProgressColumn):
    """Bytes and their rate for a download, done/total steps for other work."""

    def __init__(self) -> None:
        super().__init__()
        self.bytes, self.rate, self.steps = DownloadColumn(), TransferSpeedColumn(), MofNCompleteColumn()

    def render(self, task: Any) -> Any:
        if task.fields.get("unit") != "bytes":
            return self.steps.render(task)
        return Text.assemble(self.bytes.render(task), " ", self.rate.render(task))


@dataclass(frozen=True)
class Loading:
    """The callbacks of loading a method: ``download(done, total)`` bytes of weights (``weights.fetch``)
    and ``build(what, done, total)`` steps of exporting its graphs (``export.OnBuild``)."""

    download: Callable[[int, int | None], None]
    build: Callable[[str, int, int], None]


@contextmanager
def loading_progress() -> Iterator[Loading]:
    """One bar for everything loading a method may do once: downloads, graph exports (plain
    lines off a terminal)."""
    bar = Bar(TextColumn("{task.description}"), BarColumn(), _Amount(), TimeRemainingColumn(), transient=True)
    tasks: dict[Any, Any] = {}

    def download(done: int, total: int | None) -> None:
        if total not in tasks:
            tasks[total] = bar.add_task("downloading weights", total=total, unit="bytes")
        bar.update(tasks[total], completed=done)

    def build(what: str, done: int, total: int) -> None:
        if what not in tasks:
            tasks[what] = bar.add_task(what, total=total, unit="steps")
        bar.update(tasks[what], completed=done, total=total)

    with bar:
        yield Loading(download, build)


@contextmanager
def download_progress() -> Iterator[Callable[[int, int | None], None]]:
    """A callback for ``weights.fetch`` that drives a download bar (plain lines off a terminal)."""
    with loading_progress() as loading:
        yield loading.download

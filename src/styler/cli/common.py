"""What every command shares: error rendering, progress bars, engine loading, small parsers."""

from __future__ import annotations

import contextvars
import functools
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

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


def debug_enabled() -> bool:
    return os.environ.get("STYLER_DEBUG", "") not in ("", "0")


# The running command's parameter -> flag map (set by ``guarded``), for every error line it prints.
_FLAGS: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("flags", default=None)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print one red error line (core parameter names said as the running command's flags)."""
    err.print(f"[bold red]error:[/] {flagify(message, _FLAGS.get() or {})}", markup=True, highlight=False)
    return typer.Exit(code)


def guarded(fn: Callable) -> Callable:
    """Turn domain errors into one red line and a non-zero exit; no traceback unless debugging."""
    flags = option_flags(fn)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from ..errors import Interrupted, StylerError

        token = _FLAGS.set(dict(flags))  # a copy: alias_flags may add to it for this call
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except StylerError as e:
            if debug_enabled():
                raise
            raise fail(escape(str(e))) from None
        except Interrupted as e:  # long work (Gatys) kept its best result: save_partial said where
            what = "the best image so far was written" if e.partial is not None else "no partial output was left"
            raise fail(f"interrupted; {what}", 130) from None
        except KeyboardInterrupt:
            raise fail("interrupted; no partial output was left", 130) from None
        except MemoryError:
            raise fail("out of memory; lower content_size/style_size or use tile=512") from None
        except Exception as e:  # a bug or an environment problem: still one line, with a way to see more
            if debug_enabled():
                raise
            msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
            raise fail(
                escape(f"{type(e).__name__}: {msg[:200]} (rerun with STYLER_DEBUG=1 or --debug for the traceback)")
            ) from None
        finally:
            _FLAGS.reset(token)

    return wrapper


def option_flags(fn: Callable) -> dict[str, str]:
    """Parameter name -> its long flag, from a Typer command's signature."""
    import inspect
    import typing

    flags = {}
    for p in inspect.signature(fn, eval_str=True).parameters.values():  # annotations may be strings
        info = next((m for m in typing.get_args(p.annotation)[1:] if type(m).__name__ == "OptionInfo"), None)
        if info is None:
            continue
        decls = [d for d in (getattr(info, "param_decls", None) or ()) if d.startswith("--")]
        flags[p.name] = max(decls, key=len) if decls else "--" + p.name.replace("_", "-")
    return flags


def alias_flags(**flags: str) -> None:
    """For the running command: core parameters whose flag has another name (``content_dir`` is
    ``--coco``) are said as that flag in its error lines too."""
    current = _FLAGS.get()
    if current is not None:
        current.update(flags)


def flagify(message: str, flags: dict[str, str]) -> str:
    """Core errors name parameters (``content_size``, ``tile=512``); say them as this command's
    flags (``--content-size``, ``--tile 512``). Only the command's own options are rewritten;
    bare names only when they contain an underscore (plain words stay words)."""
    for name, flag in flags.items():
        message = re.sub(rf"(?<![\w-]){name}=True\b", flag, message)
        message = re.sub(rf"(?<![\w-]){name}=", f"{flag} ", message)
        if "_" in name:
            message = re.sub(rf"(?<![\w-]){name}\b", flag, message)
    return message


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


# -- model loading ------------------------------------------------------------------------


def load_engine(model, gatys=None, *, on_step=None):
    """Resolve and load the weights (downloading on first use) for ``model`` (``options.Model``),
    with ``gatys`` (``options.Gatys``) for that method. Commands name the device and precision
    in their progress bar and closing line, so an error stays a single line."""
    from ..engine import Engine
    from ..errors import InputError
    from ..methods import load

    config = None
    given = gatys.given() if gatys is not None else {}
    if model.method.value != "gatys":
        extra = [f"{k}={v}" for k, v in given.items() if k != "seed"]  # --seed also seeds dataset pairing
        if extra:
            raise InputError(f"{', '.join(extra)} only apply to method=gatys; add method=gatys or drop them")
    else:
        from ..methods.gatys.config import GatysConfig

        config = GatysConfig(**given)
    with download_progress() as cb:
        method = load(
            model.method,
            device=model.device,
            precision=model.precision.value,
            vgg=model.vgg,
            decoder=model.decoder,
            model=model.model,
            gatys=config,
            on_step=on_step,
            progress=cb,
        )
    return Engine(method, tile=model.tile)


def style_inputs(model, positional, options) -> list:
    """Styles given positionally and with ``--style`` (in that order); CIN styles stay names."""
    from ..errors import InputError

    styles = [*(positional or []), *(options or [])]
    if not styles:
        raise InputError(
            "no style given; pass a style image (or with method=cin a style name) as an argument or with --style"
        )
    if model.method.value == "cin":
        return [str(s) for s in styles]
    return [Path(s) for s in styles]


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
    extra_inputs: tuple[Path, ...] = (),
) -> None:
    """The flow of the one-image commands (interpolate, mask, color-preserve): check the output,
    read the inputs, load the engine, ``render(engine, content, styles)``, write, report.
    ``summary``: the closing line's detail, a string or a list the render fills."""
    from ..errors import Interrupted
    from ..jobs import files as jobs
    from ..media.images import load_image, save_image
    from .options import with_scales
    from .steps import gatys_steps, save_partial

    (target,) = jobs.output_paths(output, [f"{stem}.{ext.lstrip('.')}"])
    reading = with_scales(reading, gatys)
    image = load_image(content, reading.content_size, reading.crop, max_pixels=reading.budget())
    files = [s for s in styles if isinstance(s, Path)]
    inputs = (
        [
            load_image(s, reading.style_size, reading.crop, max_pixels=reading.budget(), size_name="style_size")
            for s in files
        ]
        if files
        else styles
    )
    protect = (content, *files, *extra_inputs)
    with progress_bar() as bar, gatys_steps(bar, model, [target]) as on_step:
        engine = load_engine(model, gatys, on_step=on_step)
        try:
            result = render(engine, image, inputs)
        except Interrupted as e:
            save_partial(e.partial, target, protect)
            raise
    save_image(result, target, protect=protect)
    out.print(str(target))
    detail = summary if isinstance(summary, str) else "; ".join(summary)
    err.print(f"done: 1 image with {engine.describe()}; {detail}")


def exit_for_failures(failures: list[str], written: int) -> None:
    """A batch reports every skipped input, then exits non-zero if any failed."""
    if not failures:
        return
    if written == 0 and len(failures) == 1:
        raise fail(escape(failures[0]))
    for why in failures:
        err.print(f"[red]skipped:[/] {escape(why)}", markup=True)
    raise fail(f"{len(failures)} input(s) failed (see above); {written} result(s) were written")


def parse_numbers(text: str, what: str) -> list[float]:
    """'1,2.5,0' -> [1.0, 2.5, 0.0]; anything but finite numbers is one InputError line."""
    import math

    from ..errors import InputError

    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        raise InputError(f"{what} must be comma-separated numbers such as 1,2,1; got '{text}'") from None
    if not all(math.isfinite(v) for v in values):
        raise InputError(f"{what} must be finite numbers; got '{text}'")
    return values


def stems(styles: list) -> str:
    """Style stems (or CIN names) joined for output names: a.jpg, b.png -> 'a+b'."""
    return "+".join(s.stem if isinstance(s, Path) else str(s) for s in styles)


def region_summary(styles: list, regions) -> str:
    """'regions sky.jpg 40%, sea.jpg 60%': each style's share of the (content or frame) pixels."""
    shares = regions.mean((1, 2)).tolist()  # regions: (R, H, W) 0/1 masks, before feathering
    return "regions " + ", ".join(f"{getattr(s, 'name', s)} {f:.0%}" for s, f in zip(styles, shares))

"""The ``styler`` command: a thin Typer layer over the engine.

Each subcommand lives in its own module (Typer's one-file-per-command); they share the
option vocabulary (``options``), the help layout (``help``) and the error edge (``console``).
Only this package prints or exits.
"""

from __future__ import annotations

import os
import sys

import typer

from .. import __version__
from .cache import cache_app
from .color import color_preserve
from .console import err, fail
from .export import export
from .help import Command, Group, context_settings
from .info import info
from .interpolate import interpolate
from .mask import mask
from .models import models_app
from .sheet import sheet
from .train import train
from .transfer import transfer
from .video import video
from .weights import weights_app

IMAGES = "Images and video"
TRAINING = "Training and models"
SETUP = "Setup"


class Root(Group):
    """Usage errors (unknown option, a word where a number goes) as one line, not a panel; a
    group run without a command prints its help and exits 0."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            code = super().main(args, prog_name or "styler", complete_var, standalone_mode=False, **extra)
        except Exception as e:
            if type(e).__name__ == "NoArgsIsHelpError":  # `styler`, `styler weights`: the help, no error
                typer.echo(e.ctx.get_help())  # type: ignore[attr-defined]
                code = 0
                if standalone_mode:
                    sys.exit(0)
                return 0
            # Click's usage errors carry format_message/exit_code; others are ours to re-raise.
            if not (hasattr(e, "format_message") and hasattr(e, "exit_code")):
                raise
            ctx = getattr(e, "ctx", None)
            where = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
            err.print(f"[bold red]error:[/] {e.format_message()}{where}", markup=True)
            code = e.exit_code
        if standalone_mode:
            sys.exit(code or 0)
        return code


app = typer.Typer(
    cls=Root,
    name="styler",
    help="Neural style transfer: repaint photos, folders, datasets and videos in the style of any painting. "
    "AdaIN (any style, fast), Gatys optimisation (best quality), multi-style CIN networks, AesFA, line "
    "drawings as curves and DiffStyler (diffusion).",
    epilog="Start with: styler transfer photo.jpg painting.jpg   (weights download on first use; offline: "
    "styler weights --help). Every command has -h.",
    no_args_is_help=True,
    context_settings=context_settings(),
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"styler {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks (also STYLER_DEBUG=1)."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    if debug:
        os.environ["STYLER_DEBUG"] = "1"


def _add(fn, name: str | None = None, panel: str = IMAGES) -> None:
    app.command(name, cls=Command, rich_help_panel=panel, context_settings=context_settings())(fn)


_add(transfer)
_add(interpolate)
_add(mask)
_add(color_preserve, "color-preserve")
_add(sheet)
_add(video)
_add(train, panel=TRAINING)
_add(export, panel=TRAINING)
app.add_typer(models_app, name="models", rich_help_panel=TRAINING)
app.add_typer(weights_app, name="weights", rich_help_panel=SETUP)
app.add_typer(cache_app, name="cache", rich_help_panel=SETUP)
_add(info, panel=SETUP)


def main() -> None:
    try:
        app(prog_name="styler")
    except SystemExit as e:
        _exit(e.code)
    _exit(0)


def _exit(code: int | str | None) -> None:
    """Exit without the interpreter's teardown where nothing is left to do: once the command has
    returned, freeing torch's modules and a gigabyte of tensors one by one took 0.6 s of a 6 s
    `styler transfer` and serves no result. Exit handlers run and the streams are flushed first;
    with other live threads, a profiler or tracer, or STYLER_DEBUG, the ordinary exit runs."""
    import atexit
    import threading

    if code is not None and not isinstance(code, int):
        sys.exit(code)  # a message: the ordinary way prints it
    watched = sys.gettrace() is not None or sys.getprofile() is not None  # a profiler or debugger writes at exit
    if watched or threading.active_count() > 1 or os.environ.get("STYLER_DEBUG", "") not in ("", "0"):
        sys.exit(code)
    try:
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:
        sys.exit(code)
    os._exit(code or 0)


__all__ = ["app", "fail", "main"]

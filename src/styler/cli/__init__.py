"""The ``styler`` command: a thin Typer layer over the engine.

Each subcommand lives in its own module (Typer's one-file-per-command); they share the
option vocabulary (``options``) and the error edge (``console``). Only this package prints or exits.
"""

from __future__ import annotations

import os
import sys

import typer
from typer.core import TyperGroup

from .. import __version__
from .color import color_preserve
from .console import err, fail
from .interpolate import interpolate
from .mask import mask
from .models import models_app
from .train import train
from .transfer import transfer
from .video import video
from .weights import weights_app


class OneLineErrors(TyperGroup):
    """Usage errors (unknown option, a word where a number goes) as one line, not a panel."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except Exception as e:
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
    cls=OneLineErrors,
    name="styler",
    help="Neural style transfer: AdaIN (any style, fast), Gatys optimisation (best quality) and "
    "multi-style CIN networks, for images, folders, datasets and video.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
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


app.command()(transfer)
app.command()(interpolate)
app.command()(mask)
app.command("color-preserve")(color_preserve)
app.command()(train)
app.command()(video)
app.add_typer(weights_app, name="weights")
app.add_typer(models_app, name="models")


def main() -> None:
    app()


__all__ = ["app", "fail", "main"]

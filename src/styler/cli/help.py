"""``--help`` as plain text in panels: usage, description, then the options grouped under the
panel each one names (``rich_help_panel``, which ``signature.command`` fills in from
``options.PANEL_OF`` and the option groups' ``PANEL``), in ``options.PANEL_ORDER``.

Every option shows its default (or what leaving it out means), choices are listed, usage lines
use plain metavars (``CONTENT [STYLES]...``), and the command list gives each command's whole
first line. Plain text, so it reads the same in a terminal, a pipe and a log.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from typer.core import TyperCommand, TyperGroup

from .options import OTHER, PANEL_ORDER, panel_rank

WIDTH = 100  # help text width at most (the terminal's when narrower)
# Click's classes are typer's own copy in recent typer versions: parameters are told apart by
# ``param_type_name`` ("option", "argument"), not by class.
Param = Any
Context = Any
Formatter = Any


def is_argument(param: Param) -> bool:
    return getattr(param, "param_type_name", "") == "argument"


def is_option(param: Param) -> bool:
    return getattr(param, "param_type_name", "") == "option"


def _default(param: Param, ctx: Context) -> str | None:
    """The default as the help shows it, or None when there is nothing to show."""
    shown = getattr(param, "show_default", None)
    if isinstance(shown, str):
        return shown or None
    if is_option(param) and param.is_flag:
        if param.secondary_opts:  # --labels/--no-labels: the spelling that is on by default
            return (param.opts if param.default else param.secondary_opts)[0].lstrip("-")
        return None  # a plain switch is off unless given
    value = getattr(param, "default", None)
    if value is None or callable(value) or value == () or value == []:
        return None
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _range(param: Param) -> str | None:
    kind = getattr(param, "type", None)
    low = getattr(param, "min", getattr(kind, "min", None))
    high = getattr(param, "max", getattr(kind, "max", None))
    return f"{low}..{high}" if low is not None and high is not None else None


def record(param: Param, ctx: Context) -> tuple[str, str]:
    """(the name column, the help column) of one parameter."""
    if is_argument(param):
        name = param.metavar or param.name.upper()
        return name + ("..." if param.nargs != 1 else ""), getattr(param, "help", None) or ""
    opts = param.get_help_record(ctx)[0]  # the option's spellings and metavar, as Click writes them
    extra = []
    if (default := _default(param, ctx)) is not None:
        extra.append(f"default: {default}")
    if (span := _range(param)) is not None:
        extra.append(span)
    if param.required:
        extra.append("required")
    text = param.help or ""
    return opts, f"{text}  [{'; '.join(extra)}]" if extra else text


def panel_of(param: Param) -> str:
    if is_argument(param):
        return "Arguments"
    return getattr(param, "rich_help_panel", None) or OTHER


def panels(command: Any, ctx: Context) -> list[tuple[str, list[tuple[str, str]]]]:
    """The command's parameters as (panel, records), in the panels' order."""
    grouped: dict[str, list[tuple[str, str]]] = {}
    for param in command.get_params(ctx):
        if getattr(param, "hidden", False):
            continue
        grouped.setdefault(panel_of(param), []).append(record(param, ctx))
    order = list(grouped)
    return sorted(grouped.items(), key=lambda kv: (panel_rank(kv[0]), order.index(kv[0])))


def write_panels(command: Any, ctx: Context, formatter: Formatter) -> None:
    for title, rows in panels(command, ctx):
        with formatter.section(title):
            formatter.write_dl(rows, col_max=34)


class Command(TyperCommand):
    """A command whose help is in panels and whose usage line has plain argument names."""

    def collect_usage_pieces(self, ctx: Context) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if is_argument(param):
                name = param.metavar or (param.name or "").upper()
                name = name if param.required else f"[{name}]"
                pieces.append(name + ("..." if param.nargs != 1 else ""))
        return pieces

    def format_help(self, ctx: Context, formatter: Formatter) -> None:
        self.format_usage(ctx, formatter)
        self.format_help_text(ctx, formatter)
        write_panels(self, ctx, formatter)
        self.format_epilog(ctx, formatter)


class Group(TyperGroup):
    """A command group: its options in panels, then its commands in panels, each with its whole
    first line (no truncation)."""

    def format_help(self, ctx: Context, formatter: Formatter) -> None:
        self.format_usage(ctx, formatter)
        self.format_help_text(ctx, formatter)
        write_panels(self, ctx, formatter)
        self.format_commands(ctx, formatter)
        self.format_epilog(ctx, formatter)

    def format_commands(self, ctx: Context, formatter: Formatter) -> None:
        grouped: dict[str, list[tuple[str, str]]] = {}
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is None or cmd.hidden:
                continue
            title = getattr(cmd, "rich_help_panel", None) or "Commands"
            grouped.setdefault(title, []).append((name, summary(cmd)))
        for title, rows in grouped.items():
            with formatter.section(title):
                formatter.write_dl(rows)


def summary(cmd: Any) -> str:
    """A command's first paragraph, whole."""
    text = cmd.short_help or cmd.help or ""
    return " ".join(text.strip().split("\n\n")[0].split())


def context_settings(**extra: Any) -> dict[str, Any]:
    return {"help_option_names": ["-h", "--help"], "max_content_width": WIDTH, **extra}


__all__ = ["PANEL_ORDER", "Command", "Group", "context_settings", "panels", "record", "summary"]


def sub_app(help: str) -> Any:
    """A command group (``styler weights``, ``styler cache``, ...) laid out like the root."""
    import typer

    return typer.Typer(
        cls=Group, help=help, no_args_is_help=True, context_settings=context_settings(), rich_markup_mode=None
    )

"""The one option vocabulary: every flag means the same in every command that has it.

Options that several commands share are grouped in dataclasses (``Model``, ``Reading``,
``Gatys``, ``DiffStyler``); ``command(fn)`` (``signature``) splices a group's fields into the command's
signature, so Typer lists them in ``--help`` and the function receives the group as one object.
Choices are enums (listed in ``--help``, rejected at parse time); ``--device`` and ``--tile``
are checked at parse time too, before any weights are resolved.

Help panels: an option shows under the panel its ``typer.Option(rich_help_panel=...)`` names;
otherwise ``command`` gives it its group's panel (the group's ``PANELS`` entry for the field, else
its ``PANEL``), or for a plain parameter ``PANEL_OF[name]``. A new group only declares ``PANEL``
(e.g. "Speed" or "AesFA (--method aesfa)"); panels not in ``PANEL_ORDER`` are method panels and
show right after "Method". Every option shows a default: give ``show_default="..."`` text where
the default is None.
"""

from .groups import AESFA_FILE, Model, Reading, Results
from .methods import Curves, DiffStyler, Gatys, with_scales
from .vocabulary import (
    DATA,
    DATASET,
    GATYS,
    INPUTS,
    METHOD,
    OTHER,
    PANEL_OF,
    PANEL_ORDER,
    PERFORMANCE,
    RECIPE,
    RUN,
    STYLE,
    VIDEO,
    WEIGHTS,
    Alpha,
    Calibrate,
    ColorOpt,
    Content,
    Device,
    Ext,
    Feather,
    Init,
    Json,
    Labels,
    LowStyle,
    NoClobber,
    Optimizer,
    Output,
    Precision,
    Styles,
    Vgg,
    device_arg,
    panel_rank,
)

__all__ = [
    "AESFA_FILE",
    "DATA",
    "DATASET",
    "GATYS",
    "GROUPS",
    "INPUTS",
    "METHOD",
    "OTHER",
    "PANEL_OF",
    "PANEL_ORDER",
    "PERFORMANCE",
    "RECIPE",
    "RUN",
    "STYLE",
    "VIDEO",
    "WEIGHTS",
    "Alpha",
    "Calibrate",
    "ColorOpt",
    "Content",
    "Curves",
    "Device",
    "DiffStyler",
    "Ext",
    "Feather",
    "Gatys",
    "Init",
    "Json",
    "Labels",
    "LowStyle",
    "Model",
    "NoClobber",
    "Optimizer",
    "Output",
    "Precision",
    "Reading",
    "Results",
    "Styles",
    "Vgg",
    "device_arg",
    "panel_rank",
    "with_scales",
]

GROUPS = (
    Model,
    Gatys,
    Reading,
    Results,
    Curves,
    DiffStyler,
)  # spliced into command signatures by ``signature.command``

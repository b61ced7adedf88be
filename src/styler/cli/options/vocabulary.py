"""Panels, choices, parse-time checks and the options several commands share one by one."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from ...names import Color

INPUTS = "Inputs and outputs"
STYLE = "Style controls"
METHOD = "Method"
GATYS = "Gatys (--method gatys)"
DATASET = "Dataset jobs (content folders)"
VIDEO = "Video"
DATA = "Training data"
RECIPE = "Training recipe"
RUN = "Run folder"
PERFORMANCE = "Performance"
WEIGHTS = "Weights"
OTHER = "Options"
# Panels in the order help shows them; any other panel is a method's and goes right after METHOD.
PANEL_ORDER = ["Arguments", INPUTS, STYLE, METHOD, DATASET, VIDEO, DATA, RECIPE, RUN, PERFORMANCE, WEIGHTS, OTHER]
# The panel of a command's own parameters, by name, where the option does not name one.
PANEL_OF = {
    **dict.fromkeys(("style", "output", "ext", "no_clobber", "json_out", "mask"), INPUTS),
    **dict.fromkeys(("alpha", "alpha_sweep", "color", "weights", "grid", "show_styles", "labels", "low_style"), STYLE),
    **dict.fromkeys(("feather", "smooth", "columns"), STYLE),
    **dict.fromkeys(("pairs", "per_content", "name", "skip_existing", "jpeg_quality", "png_level"), DATASET),
    **dict.fromkeys(("crf", "codec", "start", "duration"), VIDEO),
    **dict.fromkeys(("workers", "batch"), PERFORMANCE),
}


def panel_rank(title: str) -> float:
    """Where a panel goes in help: its place in ``PANEL_ORDER``, a method panel right after METHOD."""
    return PANEL_ORDER.index(title) if title in PANEL_ORDER else PANEL_ORDER.index(METHOD) + 0.5


class Precision(str, Enum):
    auto = "auto"
    fp32 = "fp32"
    bf16 = "bf16"
    fp16 = "fp16"
    int8 = "int8"


class Backend(str, Enum):
    auto = "auto"
    torch = "torch"
    onnx = "onnx"


class Init(str, Enum):
    content = "content"
    noise = "noise"
    adain = "adain"


class Optimizer(str, Enum):
    lbfgs = "lbfgs"
    adam = "adam"


def device_arg(value: str) -> str:
    from ...errors import DeviceError
    from ...runtime import check_device_name

    try:
        return check_device_name(value)
    except DeviceError as e:
        raise typer.BadParameter(str(e)) from None


def tile_arg(value: str) -> str | int:
    from ...errors import InputError
    from ...tiling import parse_tile

    try:
        return parse_tile(value)
    except InputError:
        raise typer.BadParameter(f"'{value}' is not auto, off or a tile size in px (a multiple of 8, >= 64)") from None


def scales_arg(value: str | None) -> tuple[int, ...] | None:
    if value is None:
        return None
    try:
        sizes = tuple(int(v) for v in value.split(","))
    except ValueError:
        raise typer.BadParameter(f"'{value}' is not a comma-separated list of sizes in px, e.g. 256,512,1024") from None
    if any(s < 16 for s in sizes) or list(sizes) != sorted(sizes):
        raise typer.BadParameter(f"'{value}': sizes must be at least 16 px and increasing, e.g. 256,512,1024")
    return sizes


Content = Annotated[Path, typer.Argument(help="Content image (- reads it from stdin).", show_default=False)]
Styles = Annotated[
    list[Path] | None,
    typer.Option(
        "--style",
        "-s",
        help="A style image (or with --method cin a style name or index); repeat for several.",
        show_default="the STYLES arguments",
    ),
]
Alpha = Annotated[
    float, typer.Option("--alpha", "-a", metavar="A", help="Style strength in [0, 1]: 1 = full style, 0 = the content.")
]
ColorOpt = Annotated[
    Color | None,
    typer.Option(
        "--color",
        help="Keep the content's colours: coral (match each style image's colours to the content first, as "
        "the AdaIN paper) or luminance (stylize the luminance only, Gatys et al. 2016).",
        show_default="off: the style's colours",
    ),
]
Output = Annotated[
    Path | None,
    typer.Option(
        "--output",
        "-o",
        help="Output file, or a folder for many results; - writes the image to stdout as PNG.",
        show_default="a name saying every setting, in the current folder",
    ),
]
Ext = Annotated[
    str,
    typer.Option(
        metavar="png|jpg|webp|tif|bmp",
        help="Format of default output names (.tif: 16 bits per channel).",
    ),
]
NoClobber = Annotated[
    bool,
    typer.Option(
        "--no-clobber",
        help="Never replace an existing output: write to the first free name_2, name_3, ... instead "
        "(without it an existing output is replaced, and the run says so).",
    ),
]
Json = Annotated[
    bool,
    typer.Option(
        "--json",
        help="Print one JSON record per result on stdout (paths, settings, timing); messages stay on stderr.",
    ),
]
Feather = Annotated[
    float, typer.Option(metavar="PX", help="Soften region boundaries over about PX pixels (0 = hard edges).")
]
Labels = Annotated[
    bool, typer.Option("--labels/--no-labels", help="Write each tile's setting (alpha, weights, style) under it.")
]
LowStyle = Annotated[
    Path | None,
    typer.Option(
        "--low-style",
        help="[aesfa] Frequency blending: colour and broad strokes (the low band) from this style image, fine "
        "texture (the high band) from each --style.",
        show_default="none",
    ),
]


Device = Annotated[
    str,
    typer.Option(
        parser=device_arg, metavar="DEVICE", help="auto (CUDA when available, else CPU), cpu, cuda, cuda:N or mps."
    ),
]
Calibrate = Annotated[
    Path | None,
    typer.Option(
        metavar="DIR",
        help="With --precision int8: calibrate on these photos and paintings (up to 8, each used as content and "
        "as style).",
        show_default="synthetic images",
    ),
]
Vgg = Annotated[
    Path | None,
    typer.Option(help="Encoder weights (vgg_normalised.pth).", show_default="the weights folder's"),
]

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

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, ClassVar

import typer

from ..methods.diffstyler.config import DEFAULT_MODEL as DEFAULT_SD
from ..methods.diffstyler.config import DiffStylerConfig, LoraSettings
from ..names import Color, MethodName

AESFA_FILE = "main.pth"  # the AesFA release's model file name (training runs export the same)
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


class Init(str, Enum):
    content = "content"
    noise = "noise"
    adain = "adain"


class Optimizer(str, Enum):
    lbfgs = "lbfgs"
    adam = "adam"


def _device(value: str) -> str:
    from ..errors import DeviceError
    from ..runtime import check_device_name

    try:
        return check_device_name(value)
    except DeviceError as e:
        raise typer.BadParameter(str(e)) from None


def _tile(value: str) -> str | int:
    from ..errors import InputError
    from ..tiling import parse_tile

    try:
        return parse_tile(value)
    except InputError:
        raise typer.BadParameter(f"'{value}' is not auto, off or a tile size in px (a multiple of 8, >= 64)") from None


def _scales(value: str | None) -> tuple[int, ...] | None:
    if value is None:
        return None
    try:
        sizes = tuple(int(v) for v in value.split(","))
    except ValueError:
        raise typer.BadParameter(f"'{value}' is not a comma-separated list of sizes in px, e.g. 256,512,1024") from None
    if any(s < 16 for s in sizes) or list(sizes) != sorted(sizes):
        raise typer.BadParameter(f"'{value}': sizes must be at least 16 px and increasing, e.g. 256,512,1024")
    return sizes


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
        parser=_device, metavar="DEVICE", help="auto (CUDA when available, else CPU), cpu, cuda, cuda:N or mps."
    ),
]
Vgg = Annotated[
    Path | None,
    typer.Option(help="Encoder weights (vgg_normalised.pth).", show_default="the weights folder's"),
]


@dataclass(frozen=True)
class Model:
    """Which method runs, with which weights, where."""

    PANEL: ClassVar[str] = METHOD
    PANELS: ClassVar[dict[str, str]] = {
        **dict.fromkeys(("device", "precision", "tile"), PERFORMANCE),
        **dict.fromkeys(("vgg", "decoder"), WEIGHTS),
    }

    requested: Annotated[
        MethodName | None,
        typer.Option(
            "--method",
            help="adain (fast, any style), gatys (optimisation: best quality, slow), cin (a trained "
            "multi-style network, --model), aesfa (any style, octave features: sharper, cheapest at high "
            "resolution; --model main.pth or the weights folder's), curves (line drawings edited as "
            "curves: SVG out) or diffstyler (Stable Diffusion + a LoRA per style: a GPU method; "
            "pip install 'styler[diffusion]').",
            show_default="adain; cin with --model, aesfa with a main.pth",
        ),
    ] = None
    model: Annotated[
        Path | None,
        typer.Option(
            help="A network file: CIN (from `styler train --method cin`; styles are then names or indices) or "
            "AesFA (main.pth, the release's or a trained one, or its folder). Alone it selects cin, or aesfa "
            "for a main.pth or a folder holding one.",
            show_default="none",
        ),
    ] = None
    device: Device = "auto"
    precision: Annotated[
        Precision,
        typer.Option(
            help="auto = bf16 where native and measured faster (CPUs with AVX512-BF16/AMX, Ampere+ GPUs), "
            "fp16 on older GPUs, else fp32."
        ),
    ] = Precision.auto
    tile: Annotated[
        str,
        typer.Option(
            parser=_tile,
            metavar="auto|off|PX",
            help="Run the networks on overlapping PX x PX tiles so any resolution fits in memory (matches untiled "
            "within 1/255). auto tiles only what would not fit (free GPU memory; on CPU half the free RAM, "
            "at most 1 GiB).",
        ),
    ] = "auto"
    vgg: Vgg = None
    decoder: Annotated[
        Path | None,
        typer.Option(help="Decoder weights (decoder.pth or a trained decoder).", show_default="the weights folder's"),
    ] = None

    def __post_init__(self) -> None:
        # With a --method it does not apply to, --model is refused by the core in one line, before anything is read.
        if self.requested is not None and self.model is not None:
            from ..methods import check_options

            check_options(self.requested, model=self.model)

    @property
    def method(self) -> MethodName:
        """--method as given; else, with --model, the method that reads it (aesfa for the release's file
        name main.pth or a folder holding one, else cin: `--model m.pth --style x` works); else adain."""
        if self.requested is not None:
            return self.requested
        if self.model is None:
            return MethodName.adain
        aesfa = self.model.name == AESFA_FILE or (self.model / AESFA_FILE).is_file()
        return MethodName.aesfa if aesfa else MethodName.cin

    def name_tags(self, gatys: Gatys | None = None) -> tuple[str, ...]:
        """The method and the options given to it, as default-name tags (``jobs.naming``)."""
        from ..jobs.naming import method_tags

        given = {k: v for k, v in (gatys.given() if gatys is not None else {}).items() if k != "save_every"}
        if given.get("init") != "noise":
            given.pop("seed", None)  # the seed changes the picture only from noise
        return method_tags(self.method.value, {"model": self.model, "decoder": self.decoder, **given})


@dataclass(frozen=True)
class Gatys:
    """--method gatys (--iters, --optimizer, --seed: curves too); None = the method's default."""

    PANEL: ClassVar[str] = GATYS

    iters: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="[gatys, curves] Optimisation steps (gatys: per scale; 0 = the initial image).",
            show_default="gatys 500, curves 50",
        ),
    ] = None
    init: Annotated[
        Init | None,
        typer.Option(
            help="Start from the content, noise, or the AdaIN result (needs the decoder).", show_default="content"
        ),
    ] = None
    optimizer: Annotated[
        Optimizer | None,
        typer.Option(help="[gatys, curves] L-BFGS or Adam.", show_default="gatys lbfgs, curves adam"),
    ] = None
    scales: Annotated[
        str | None,
        typer.Option(
            metavar="PX,PX,...",
            help="Coarse to fine, e.g. 256,512,1024; the last is the output's shorter side.",
            show_default="one scale: --content-size",
        ),
    ] = None
    content_weight: Annotated[
        float | None, typer.Option(min=0, help="Weight of the content loss.", show_default="1")
    ] = None
    style_weight: Annotated[
        float | None, typer.Option(min=0, help="Weight of the style loss.", show_default="1000")
    ] = None
    tv_weight: Annotated[
        float | None, typer.Option(min=0, help="Weight of the total-variation loss.", show_default="0")
    ] = None
    seed: Annotated[
        int | None,
        typer.Option(
            help="Seed for every random choice of the run (gatys noise start, curves wobble phases, diffstyler "
            "LoRA training, --pairs random).",
            show_default="0",
        ),
    ] = None
    save_every: Annotated[
        int | None, typer.Option(min=1, help="Also write the image every N steps.", show_default="never")
    ] = None

    def given(self) -> dict[str, Any]:
        """The options the user set, scales parsed."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}
        if "scales" in out:
            out["scales"] = _scales(out["scales"])
        return {k: (v.value if isinstance(v, Enum) else v) for k, v in out.items()}


DIFFSTYLER_HELP = "DiffStyler"


@dataclass(frozen=True)
class DiffStyler:
    """--method diffstyler only; None = the method's default (docs/diffstyler.md). ``--seed`` (the
    Gatys group's, shared) seeds its LoRA training."""

    PANEL: ClassVar[str] = "DiffStyler (--method diffstyler)"

    sd: Annotated[
        str | None,
        typer.Option(
            metavar="PATH|ID",
            help="[diffstyler] Stable Diffusion base model: a diffusers folder or a Hugging Face id (default "
            f"{DEFAULT_SD}; downloaded once into the Hugging Face cache, about 5 GB; HF_HUB_OFFLINE=1 never "
            "downloads).",
            show_default=False,
            rich_help_panel=DIFFSTYLER_HELP,
        ),
    ] = None
    lora_steps: Annotated[
        int | None,
        typer.Option(
            min=1,
            help=f"[diffstyler] Steps of the LoRA learned on each style (default {LoraSettings.steps}); learned "
            "once per style and cached (`styler models list`).",
            show_default=False,
            rich_help_panel=DIFFSTYLER_HELP,
        ),
    ] = None
    steps: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="[diffstyler] DDIM steps of the content's inversion and of the sampling "
            f"(default {DiffStylerConfig.steps}).",
            show_default=False,
            rich_help_panel=DIFFSTYLER_HELP,
        ),
    ] = None
    guidance: Annotated[
        float | None,
        typer.Option(
            min=0,
            help=f"[diffstyler] Classifier-free guidance scale (default {DiffStylerConfig.guidance}).",
            show_default=False,
            rich_help_panel=DIFFSTYLER_HELP,
        ),
    ] = None

    def given(self) -> dict[str, Any]:
        """The options the user set."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


@dataclass(frozen=True)
class Reading:
    """How input images are read."""

    PANEL: ClassVar[str] = INPUTS
    PANELS: ClassVar[dict[str, str]] = {"style_size": STYLE}

    content_size: Annotated[
        int,
        typer.Option(
            min=0, help="Resize the content's shorter side to N px, smaller photos enlarged too (0 = keep its size)."
        ),
    ] = 512
    style_size: Annotated[
        int,
        typer.Option(
            min=0,
            help="Resize the style's shorter side to N px (0 = keep). The stroke-scale control: smaller = "
            "larger brush strokes and patterns.",
        ),
    ] = 512
    crop: Annotated[bool, typer.Option("--crop", help="Centre-crop content and style to a square after resizing.")] = (
        False
    )
    max_pixels: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Refuse any image (content, style, mask, frame) over N pixels after resizing, before any work "
            "(0 = no limit).",
            show_default="40000000: 8K fits",
        ),
    ] = None

    def budget(self) -> int:
        from ..media.images import MAX_PIXELS

        return MAX_PIXELS if self.max_pixels is None else self.max_pixels

    def spec(self) -> Any:
        """The core's ``jobs.spec.Reading`` (checked there)."""
        from ..jobs.spec import Reading as Spec

        return Spec(self.content_size, self.style_size, self.crop, self.budget())


CURVES_HELP = "Curves (--method curves)"


@dataclass(frozen=True)
class Curves:
    """--method curves only (with --iters, --optimizer, --seed); None = the method's default."""

    PANEL: ClassVar[str] = CURVES_HELP

    render: Annotated[
        Path | None,
        typer.Option(
            help="Also write each result's render (PNG, JPEG, ...): a file, or a folder for many results "
            "(named as the outputs, .png).",
            show_default="none",
            rich_help_panel=CURVES_HELP,
        ),
    ] = None
    report: Annotated[
        Path | None,
        typer.Option(
            help="Also write what each rule did to each curve (JSON): a file, or a folder for many results.",
            show_default="none",
            rich_help_panel=CURVES_HELP,
        ),
    ] = None
    curve_mask: Annotated[
        Path | None,
        typer.Option(
            help="Only curves mostly on this image's white part may change (any size: stretched over the drawing).",
            show_default="none",
            rich_help_panel=CURVES_HELP,
        ),
    ] = None
    reach: Annotated[
        float | None,
        typer.Option(
            min=0,
            help="How far any curve may move from its input, as a share of the drawing's longer side.",
            show_default="0.02",
            rich_help_panel=CURVES_HELP,
        ),
    ] = None
    lr: Annotated[
        float | None,
        typer.Option(
            min=0, help="Adam's step size on the rules' parameters.", show_default="0.1", rich_help_panel=CURVES_HELP
        ),
    ] = None

    def given(self) -> dict[str, Any]:
        """The options the user set."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


def with_scales(reading: Reading, gatys: Gatys) -> Reading:
    """``--scales 256,512,1024``: the last scale is the output's shorter side, so it is the content size."""
    sizes = _scales(gatys.scales)
    return reading if sizes is None else dataclasses.replace(reading, content_size=sizes[-1])


@dataclass(frozen=True)
class Results:
    """Where the image commands write: -o (a file, a folder, or - for stdout), the format of
    default names, clobbering, and JSON records."""

    PANEL: ClassVar[str] = INPUTS

    output: Output = None
    ext: Ext = "png"
    no_clobber: NoClobber = False
    json_out: Json = False

    @property
    def to_stdout(self) -> bool:
        return self.output is not None and str(self.output) == "-"

    def naming(self, folder: Path | None = None, **fields: Any) -> Any:
        """The core's ``jobs.spec.Naming``; ``folder`` replaces -o (a temporary folder for ``-o -``)."""
        from ..jobs.spec import Naming

        output = folder if self.to_stdout else self.output
        return Naming(output, ext=self.ext, keep_existing=self.no_clobber, **fields)


GROUPS = (
    Model,
    Gatys,
    Reading,
    Results,
    Curves,
    DiffStyler,
)  # spliced into command signatures by ``signature.command``

"""The option groups every image command has: the model (method, weights, device), reading and results."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

import typer

from ...names import MethodName
from .vocabulary import (
    INPUTS,
    METHOD,
    PERFORMANCE,
    STYLE,
    WEIGHTS,
    Backend,
    Calibrate,
    Device,
    Ext,
    Json,
    NoClobber,
    Output,
    Precision,
    Vgg,
    tile_arg,
)

if TYPE_CHECKING:
    from .methods import Gatys

AESFA_FILE = "main.pth"  # the AesFA release's model file name (training runs export the same)


@dataclass(frozen=True)
class Model:
    """Which method runs, with which weights, where."""

    PANEL: ClassVar[str] = METHOD
    PANELS: ClassVar[dict[str, str]] = {
        **dict.fromkeys(("device", "precision", "backend", "calibrate", "tile"), PERFORMANCE),
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
            help="auto = on CPUs the fastest of fp32, bf16 and fp16 (where native) and ONNX Runtime fp32, measured "
            "once per method (styler info shows it); bf16 on Ampere+ GPUs, fp16 on older ones. int8: the networks "
            "quantized, run by ONNX Runtime (adain, cin, aesfa; pip install 'styler[onnx]').",
        ),
    ] = Precision.auto
    backend: Annotated[
        Backend,
        typer.Option(
            help="What runs the networks of adain, cin and aesfa on CPUs: torch, onnx (ONNX Runtime; exported on "
            "first use and cached; masks and tiling stay on torch) or auto (the faster, measured).",
        ),
    ] = Backend.auto
    calibrate: Calibrate = None
    tile: Annotated[
        str,
        typer.Option(
            parser=tile_arg,
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
            from ...methods import check_options

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
        from ...jobs.naming import method_tags

        given = {k: v for k, v in (gatys.given() if gatys is not None else {}).items() if k != "save_every"}
        if given.get("init") != "noise":
            given.pop("seed", None)  # the seed changes the picture only from noise
        return method_tags(self.method.value, {"model": self.model, "decoder": self.decoder, **given})


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
        from ...media.images import MAX_PIXELS

        return MAX_PIXELS if self.max_pixels is None else self.max_pixels

    def spec(self) -> Any:
        """The core's ``jobs.spec.Reading`` (checked there)."""
        from ...jobs.spec import Reading as Spec

        return Spec(self.content_size, self.style_size, self.crop, self.budget())


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
        from ...jobs.spec import Naming

        output = folder if self.to_stdout else self.output
        return Naming(output, ext=self.ext, keep_existing=self.no_clobber, **fields)

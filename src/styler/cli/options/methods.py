"""The option groups of one method each: Gatys (shared with curves), DiffStyler, curves."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, ClassVar

import typer

from ...methods.diffstyler.config import DEFAULT_MODEL as DEFAULT_SD
from ...methods.diffstyler.config import DiffStylerConfig, LoraSettings
from .groups import Reading
from .vocabulary import GATYS, Init, Optimizer, scales_arg


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
            out["scales"] = scales_arg(out["scales"])
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
            help="[diffstyler] Stable Diffusion base model: a diffusers folder or a Hugging Face id (downloaded "
            "once into the Hugging Face cache, about 5 GB; HF_HUB_OFFLINE=1 never downloads).",
            show_default=DEFAULT_SD,
            rich_help_panel=DIFFSTYLER_HELP,
        ),
    ] = None
    lora_steps: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="[diffstyler] Steps of the LoRA learned on each style; learned once per style and cached "
            "(`styler models list`).",
            show_default=str(LoraSettings.steps),
            rich_help_panel=DIFFSTYLER_HELP,
        ),
    ] = None
    steps: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="[diffstyler] DDIM steps of the content's inversion and of the sampling.",
            show_default=str(DiffStylerConfig.steps),
            rich_help_panel=DIFFSTYLER_HELP,
        ),
    ] = None
    guidance: Annotated[
        float | None,
        typer.Option(
            min=0,
            help="[diffstyler] Classifier-free guidance scale.",
            show_default=str(DiffStylerConfig.guidance),
            rich_help_panel=DIFFSTYLER_HELP,
        ),
    ] = None

    def given(self) -> dict[str, Any]:
        """The options the user set."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


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
    sizes = scales_arg(gatys.scales)
    return reading if sizes is None else dataclasses.replace(reading, content_size=sizes[-1])

"""styler export: a method's networks as ONNX graphs for ONNX Runtime elsewhere (fp32, or int8
calibrated on photos and paintings), with ``graphs.json`` saying how to run them."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from .console import guarded, loading_progress, out
from .options import Calibrate, Vgg
from .signature import command


class Exportable(str, Enum):
    adain = "adain"
    cin = "cin"
    aesfa = "aesfa"


class GraphPrecision(str, Enum):
    fp32 = "fp32"
    int8 = "int8"


@guarded
@command
def export(
    method: Annotated[
        Exportable | None,
        typer.Option(
            "--method",
            help="adain (encoder, decoder), cin (the network) or aesfa (netE, netS, netG).",
            show_default="adain; cin with --model, aesfa with a main.pth",
        ),
    ] = None,
    model: Annotated[
        Path | None,
        typer.Option(
            help="cin: the model file; aesfa: main.pth or its folder.", show_default="aesfa: the weights folder's"
        ),
    ] = None,
    vgg: Vgg = None,
    decoder: Annotated[
        Path | None, typer.Option(help="adain: decoder weights.", show_default="the weights folder's")
    ] = None,
    precision: Annotated[
        GraphPrecision, typer.Option(help="fp32, or int8 (statically quantized convolutions, fp32 elsewhere).")
    ] = GraphPrecision.fp32,
    calibrate: Calibrate = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="DIR",
            help="Folder for the graphs and graphs.json.",
            show_default="./METHOD-onnx-PRECISION",
        ),
    ] = None,
) -> None:
    """Write the method's networks as ONNX graphs (opset 17, free batch, height and width) and
    graphs.json (inputs, outputs, pixel convention, styles); they run in ONNX Runtime unchanged.
    Needs pip install 'styler[onnx]'."""
    from ..engine import Engine
    from ..export import export as write_graphs
    from ..methods.aesfa.method import MODEL_FILE

    if method is None:
        aesfa = model is not None and (model.name == MODEL_FILE or (model / MODEL_FILE).is_file())
        method = Exportable.adain if model is None else Exportable.aesfa if aesfa else Exportable.cin
    folder = output or Path(f"{method.value}-onnx-{precision.value}")
    with loading_progress() as loading:
        engine = Engine.load(
            method.value,
            device="cpu",
            precision="fp32",
            backend="torch",
            model=model,
            vgg=vgg,
            decoder=decoder,
            progress=loading.download,
        )
        paths = write_graphs(engine.method, folder, precision.value, calibrate, on_build=loading.build)
    for p in paths:
        out.print(escape(str(p)))

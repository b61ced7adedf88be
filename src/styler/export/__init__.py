"""Methods' networks as ONNX graphs: written for deployment (``styler export``) and run inside
styler through ONNX Runtime (``--backend onnx``), in fp32 or statically quantized int8.

A method names its exportable networks (``Method.graph_names``), builds them as ``Graph``\\ s and
takes runners in their place (``Method.use_graphs``); what runs between the networks (AdaIN's
statistics, blends, masks) stays on torch. ONNX Runtime and onnx are the optional extra
``styler[onnx]``: nothing else in styler imports them.

    method = methods.load("adain", device="cpu", precision="fp32")
    export.attach(method, "int8")        # its encoder and decoder now run as int8 graphs
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from dataclasses import replace
from pathlib import Path

from ..errors import DeviceError, InputError, Param
from ..media.files import atomic_path
from ..methods.base import Graph, Method
from . import quantize, store
from .graph import Session
from .store import OnBuild

EXTRA = "pip install 'styler[onnx]'"
PRECISIONS = ("fp32", "int8")

__all__ = ["EXTRA", "PRECISIONS", "OnBuild", "attach", "available", "check", "export"]


def available() -> bool:
    """Whether ONNX Runtime and onnx are installed (the ``styler[onnx]`` extra)."""
    return all(importlib.util.find_spec(m) is not None for m in ("onnxruntime", "onnx"))


def check(method: type[Method] | Method, precision: str, device: str = "cpu") -> None:
    """One line when ``method`` cannot run as graphs here: no exportable network, a precision
    ONNX Runtime does not run, a device other than the CPU, or the extra not installed."""
    if not method.graph_names:
        raise InputError(
            f"method {method.name} has no network that runs as an ONNX graph (it optimises or samples); it runs on "
            "torch: drop ",
            Param("backend", "onnx"),
            " and ",
            Param("precision", "int8"),
        )
    if precision not in PRECISIONS:
        raise DeviceError(
            f"ONNX graphs run in fp32 or int8, not {precision}; use ",
            Param("precision", "fp32"),
            ", int8 or ",
            Param("backend", "torch"),
        )
    if device not in ("cpu", "auto"):
        raise DeviceError(f"ONNX graphs run on the CPU here, not {device}; use ", Param("device", "cpu"))
    if not available():
        raise InputError(f"ONNX export needs ONNX Runtime, which is not installed; run {EXTRA}")


def attach(method: Method, precision: str, calibrate: Path | None = None, on_build: OnBuild | None = None) -> Method:
    """Run ``method``'s networks (loaded fp32 on the CPU) as ONNX graphs in ``precision``,
    exported and cached on first use; returns ``method``."""
    graphs, _, paths = _cached(method, precision, calibrate, on_build)
    method.use_graphs({name: Session(p, batch_one=graphs[name].batch_one) for name, p in paths.items()})
    method.runtime = replace(method.runtime, graphs=f"onnxruntime {precision}")
    return method


def export(
    method: Method,
    folder: Path,
    precision: str = "fp32",
    calibrate: Path | None = None,
    on_build: OnBuild | None = None,
) -> list[Path]:
    """``method``'s graphs as ``folder``/NAME.onnx, with ``graphs.json`` describing their inputs
    and outputs (each file written atomically). Returns the paths written."""
    graphs, files, paths = _cached(method, precision, calibrate, on_build)
    written = []
    for src in paths.values():
        with atomic_path(Path(folder) / src.name) as tmp:
            shutil.copyfile(src, tmp)
        written.append(Path(folder) / src.name)
    with atomic_path(Path(folder) / "graphs.json") as tmp:
        tmp.write_text(json.dumps(describe(method, graphs, precision, files), indent=1))
    return [*written, Path(folder) / "graphs.json"]


def _cached(
    method: Method, precision: str, calibrate: Path | None, on_build: OnBuild | None
) -> tuple[dict[str, Graph], list[Path], dict[str, Path]]:
    """``method``'s graphs, the calibration files, and the graphs' ONNX files (built on a miss)."""
    check(method, precision, method.runtime.device.type)
    files = quantize.calibration_files(calibrate) if precision == "int8" else []
    graphs = method.graphs()
    return graphs, files, store.graph_files(method, graphs, precision, files, on_build)


def describe(method: Method, graphs: dict[str, Graph], precision: str, files: list[Path]) -> dict:
    """What a deployer needs to run the graphs: each one's inputs and outputs with their free
    axes, the pixel convention, the method's own styles, and how int8 was calibrated."""
    return {
        "method": method.name,
        "precision": precision,
        "opset": store.graph.OPSET,
        "calibration": ([str(p) for p in files] or "synthetic") if precision == "int8" else None,
        "styles": method.own_styles(),
        "graphs": {
            name: {
                "file": f"{name}.onnx",
                "inputs": {n: _shape(x.shape, g.dynamic.get(n, {})) for n, x in zip(g.input_names, g.inputs)},
                "outputs": {n: g.dynamic.get(n, {}) for n in g.output_names},
                "one_sample": g.batch_one,
            }
            for name, g in graphs.items()
        },
        "notes": method.graph_notes,
    }


def _shape(shape, dynamic: dict[int, str]) -> list:
    return [dynamic.get(i, int(s)) for i, s in enumerate(shape)]

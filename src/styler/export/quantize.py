"""int8 graphs: ONNX Runtime's static quantization (QDQ), calibrated on real-looking images.

Convolutions only: weights int8 per output channel, activations uint8 per tensor with ranges
measured (min/max) on the method's own intermediate inputs while it stylizes the calibration
images. Everything else (instance norms, pads, resizes) stays float, and so do each graph's first
and last convolution: the first reads raw pixels, the last writes them, and their errors reach
the image unfiltered (``kept_fp32``; measured in ``bench/bench_onnx.py``).

Calibration images: ``--calibrate DIR`` (up to ``MAX_IMAGES`` photos and paintings, each both
content and style), else ``synthetic`` ones: smooth colour fields with fine texture
(``methods.base.sample_image``), the stand-in when no folder is given.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from torch import Tensor

from ..errors import InputError, Param
from ..media.images import IMAGE_SUFFIXES, load_image
from ..methods.base import sample_image
from .graph import as_array

SIDE = 256  # calibration images are resized to this short side
MAX_IMAGES = 8
SYNTHETIC = 4  # synthetic contents and as many styles


def calibration_files(folder: Path | None) -> list[Path]:
    """The image files ``--calibrate`` names (sorted, at most ``MAX_IMAGES``); [] for synthetic."""
    if folder is None:
        return []
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise InputError(Param("calibrate", folder), " is not a folder; pass a folder of photos and paintings")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
    if not files:
        raise InputError(Param("calibrate", folder), " holds no images; put a few photos and paintings in it")
    return files[:MAX_IMAGES]


def calibration_images(files: Sequence[Path]) -> tuple[list[Tensor], list[Tensor]]:
    """(contents, styles), each (1, 3, h, w) in [0, 1]: the files in both roles, or synthetic ones."""
    if not files:
        return [sample_image(SIDE, seed=k) for k in range(SYNTHETIC)], [
            sample_image(SIDE, seed=100 + k) for k in range(SYNTHETIC)
        ]
    images = [load_image(p, SIDE) for p in files]
    return images, images


def calibration_id(files: Sequence[Path]) -> str:
    """What the calibration depends on: the files' bytes (or ``synthetic``), as a short hash."""
    h = hashlib.sha256(b"synthetic" if not files else b"")
    for p in files:
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def kept_fp32(path: Path) -> list[str]:
    """The Conv nodes of the ONNX graph at ``path`` that stay fp32: the first and the last, and
    those whose kernels are computed, not stored (AesFA's predicted kernels change per style:
    one per-tensor scale for all of them would lose the small ones)."""
    import onnx

    graph = onnx.load(str(path)).graph
    stored = {i.name for i in graph.initializer} | {n.output[0] for n in graph.node if n.op_type == "Constant"}
    convs = [n for n in graph.node if n.op_type == "Conv"]
    computed = [n.name for n in convs if n.input[1] not in stored]
    return sorted({convs[0].name, convs[-1].name, *computed}) if convs else []


def quantize(
    fp32: Path, int8: Path, names: Sequence[str], inputs: list[tuple[Tensor, ...]], on_input: Callable[[], None]
) -> Path:
    """The graph at ``fp32`` (inputs ``names``) statically quantized to ``int8`` (QDQ), calibrated
    on ``inputs`` (``on_input()`` as each is taken)."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self.feeds: Iterator[dict] = ({n: as_array(x) for n, x in zip(names, xs, strict=True)} for xs in inputs)

        def get_next(self) -> dict | None:
            feed = next(self.feeds, None)
            if feed is not None:
                on_input()
            return feed

    quantize_static(
        str(fp32),
        str(int8),
        Reader(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        nodes_to_exclude=kept_fp32(fp32),
        op_types_to_quantize=["Conv"],  # the rest (norms, pads, resizes) in float: measured +6-12 dB on CIN and AesFA
    )
    return int8

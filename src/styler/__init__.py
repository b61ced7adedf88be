"""styler: neural style transfer. AdaIN (Huang & Belongie, ICCV 2017), Gatys optimisation
(Gatys et al., CVPR 2016), conditional-instance-norm networks (Dumoulin et al., ICLR 2017) and
AesFA (Kwon, Kim et al., AAAI 2024), vector curves and DiffStyler (diffusion, localized) behind
one engine.

    import styler

    engine = styler.load("adain")                            # weights resolved, fetched on first use
    photo = styler.load_image("photo.jpg")                   # (1, 3, H, W) float RGB in [0, 1]
    art = styler.load_image("art.jpg")
    styler.save_image(engine.render(photo, [art], alpha=0.8), "out.png")

    styler.transfer(engine, "photos/", ["art/"], "out/")     # files, folders, datasets
    styler.stylize_video(engine, "in.mp4", "out.mp4", ["art.jpg"])
    styler.train(styler.AdaINTrainConfig(content_dir="coco/", style_dir="wikiart/"))

Every user mistake raises a ``StylerError`` with a one-line message. Everything not listed in
``__all__`` is internal. Names are imported on first use, so ``import styler`` stays cheap.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from torch import Tensor

    from .engine import Engine
    from .errors import StylerError
    from .jobs.runner import Report
    from .jobs.video import VideoReport
    from .methods.trainable import TrainConfig
    from .training.support import StepInfo, TrainResult

__all__ = [
    "AdaINTrainConfig",
    "AesFATrainConfig",
    "CINTrainConfig",
    "Controls",
    "CurvesConfig",
    "DeviceError",
    "DiffStylerConfig",
    "Engine",
    "GatysConfig",
    "InputError",
    "Interrupted",
    "Job",
    "OutputError",
    "Reading",
    "StylerError",
    "WeightsError",
    "__version__",
    "available_methods",
    "load",
    "load_image",
    "save_image",
    "stylize_video",
    "train",
    "transfer",
]

_CLASSES = {
    "AdaINTrainConfig": "methods.adain.config",
    "AesFATrainConfig": "methods.aesfa.config",
    "CINTrainConfig": "methods.cin.config",
    "Controls": "controls",
    "CurvesConfig": "methods.curves.config",
    "DeviceError": "errors",
    "DiffStylerConfig": "methods.diffstyler.config",
    "Engine": "engine",
    "GatysConfig": "methods.gatys.config",
    "InputError": "errors",
    "Interrupted": "errors",
    "Job": "jobs.spec",
    "OutputError": "errors",
    "Reading": "jobs.spec",
    "StylerError": "errors",
    "WeightsError": "errors",
}


def __getattr__(name: str) -> Any:
    if name in _CLASSES:
        import importlib

        return getattr(importlib.import_module(f".{_CLASSES[name]}", __name__), name)
    raise AttributeError(f"module 'styler' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


def available_methods() -> list[str]:
    """The method names ``load`` takes: adain, gatys, cin, aesfa, curves, diffstyler. (Not called
    ``methods``: that name is the ``styler.methods`` package, which would shadow it once imported.)"""
    from .names import MethodName

    return [m.value for m in MethodName]


def load(
    method: str = "adain", *, device: str = "auto", precision: str = "auto", tile: str | int = "auto", **options: Any
) -> Engine:
    """An engine for ``method`` on ``device`` ("auto": CUDA when available, else CPU) in
    ``precision`` (auto, fp32, bf16, fp16, or int8: quantized ONNX graphs), its weights resolved
    (an explicit file, then ``$STYLER_WEIGHTS_DIR``, then the cache) and downloaded on first use.
    ``backend`` (auto, torch, onnx) says what runs adain's, cin's and aesfa's networks on a CPU
    (onnx: ONNX Runtime, ``pip install 'styler[onnx]'``; auto: the faster, measured once);
    ``calibrate``: a folder of images int8 is calibrated on (default: synthetic ones).

    ``options``: ``vgg``/``decoder`` files (adain, gatys), ``model`` (cin: a trained network file;
    aesfa: a main.pth or its folder, default the weights folder's), ``gatys`` (a ``GatysConfig``),
    ``curves`` (a ``CurvesConfig``) and ``curve_mask`` (curves: an image file, white = curves that
    may change), ``diffstyler`` (a ``DiffStylerConfig``: base model, steps; needs
    ``pip install 'styler[diffusion]'``). ``tile``: auto, off or a tile size in px (memory bound)."""
    from .engine import Engine

    return Engine.load(method, device=device, precision=precision, tile=tile, **options)


def load_image(path: str | Path, size: int = 512, *, crop: bool = False, max_pixels: int | None = None) -> Tensor:
    """An image file -> (1, 3, H, W) float RGB in [0, 1], its shorter side resized to ``size``
    (0 = as is), centre-cropped to a square with ``crop``; EXIF orientation applied."""
    from .media.images import MAX_PIXELS
    from .media.images import load_image as read

    return read(Path(path), size, crop, max_pixels=MAX_PIXELS if max_pixels is None else max_pixels)


def save_image(image: Tensor, path: str | Path) -> Path:
    """(1, 3, H, W) float RGB in [0, 1] -> an image file, written atomically; the format follows
    the extension (.tif: 16 bits per channel)."""
    from .media.images import save_image as write

    return write(image, Path(path))


def transfer(
    engine: Engine,
    content: str | Path,
    styles: Sequence[str | Path],
    output: str | Path | None = None,
    *,
    on_result: Callable[[Path, StylerError | None], None] | None = None,
    **settings: Any,
) -> Report:
    """Every content x style pair into ``output``, as ``styler transfer`` does it: ``content`` is an
    image or a folder (read recursively, its tree mirrored under ``output``, every result listed in
    ``manifest.jsonl``); ``styles`` are image files or folders, or a CIN model's style names.

    ``settings`` are the fields of the job's parts (``jobs.spec``): controls (alpha, color, sweep),
    naming (name, ext), reading (content_size, style_size, crop, max_pixels), pairing (pairs,
    per_content, seed) and running (skip_existing, workers, style_cache, cache_dir).
    ``on_result(path, error)`` is called as each result is written (or fails). With ``curves``,
    ``ext="svg"`` (or an output file ``x.svg``) writes the curves, an image extension a render, and
    ``also=(jobs.spec.Also(path, "json"),)`` further outputs of every result.
    Returns the ``Report`` (counts, failures, manifest)."""
    from .jobs import runner
    from .jobs.spec import make_job

    method = engine.method
    settings = {"reads": method.reads, "writes": method.writes, **settings}
    job = make_job(content, styles, output, named_styles=not method.takes_images, **settings)
    return runner.run(engine, job, on_result=on_result)


def stylize_video(
    engine: Engine,
    source: str | Path,
    output: str | Path,
    styles: Sequence[Any],
    *,
    size: int = 0,
    progress: Callable[[int], None] | None = None,
    **controls: Any,
) -> VideoReport:
    """Every frame of ``source`` stylized into ``output`` (atomic: complete or absent), frame rate,
    frame count and audio kept. ``styles``: image files or tensors (1, 3, h, w), or CIN style names;
    ``controls``: alpha, weights, color, smooth (``Controls``); ``size``: frames' shorter side (0 = as is)."""
    from .controls import Controls
    from .jobs.video import stylize_video as run
    from .media.video import probe

    files = engine.method.takes_images
    styles = [load_image(s) if files and isinstance(s, (str, Path)) else s for s in styles]
    return run(engine, probe(Path(source)), Path(output), styles, Controls(**controls), size=size, progress=progress)


def train(
    config: TrainConfig,
    on_step: Callable[[StepInfo], None] | None = None,
    on_start: Callable[[str, int], None] | None = None,
) -> TrainResult:
    """Train the method ``config`` belongs to (``AdaINTrainConfig``: a decoder; ``CINTrainConfig``:
    a multi-style network; ``AesFATrainConfig``: AesFA's three networks, written as main.pth), or
    with ``resume=True`` continue its run; ``on_step`` gets a
    ``StepInfo`` after every iteration. Ctrl-C/SIGTERM save a checkpoint and stop."""
    from .training.loop import train as run

    return run(config, on_step, on_start)

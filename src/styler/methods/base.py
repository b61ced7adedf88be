"""The style-method interface: what AdaIN, Gatys optimisation and CIN networks have in common.

A method turns each style input into a *representation* once (AdaIN: relu4_1 mean and std;
Gatys: Gram matrices; CIN: a style index into its gamma/beta tables), then stylizes content
with any number of those under the shared controls:

* ``Mix.weights``: interpolation, one normalised weight per style (sum 1);
* ``Mix.masks``: spatial control, region r takes style r (``None`` = no masks);
* ``alpha``: style strength in [0, 1] (each method documents what it means for it);
* ``tile``: a ``tiling.Setting``; methods that can run tile by tile bound their memory by it.

What jobs need beyond that is a capability of the method, never a check of its type:
``stylize_batch`` (several contents, each with its own styles, in as few calls as the method
can), ``style_key``/``pack``/``unpack`` (representations kept in the on-disk style cache),
``takes_bands`` (a style may be ``Bands``: fine texture from one input, colour and broad strokes
from another, for methods whose networks split features by frequency), and what a result is: an
image by default, which jobs encode themselves; a method with ``writes`` (curves: SVG and a JSON
report) makes ``Result`` objects that write themselves (``result``), and may read content files of
its own (``reads``). ``check_controls`` refuses controls that do not apply to a method (curves:
colour preservation), before any work.

Colour preservation, validation and video streams are the engine's: a method sees content that
may already be luminance-only, styles already colour-adapted, and controls already checked.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

import torch
from torch import Tensor, nn

from ..controls import Controls
from ..errors import InputError, Param
from ..media.images import save_image
from ..runtime import Runtime
from ..tiling import Setting

Runner = Callable[..., Any]  # an exported graph as run elsewhere (``styler.export``): tensors in, tensor(s) out
Keys = list[tuple[int, int]]  # (image of the batch, position in that image's style list), one per result
OnStart = Callable[[int, int], None]  # called before a (image, style) result is computed, where it is alone


def check_image(x: Any, what: str, min_side: int, deepest: str) -> Tensor:
    """An image batch (N, 3, H, W) whose ``deepest`` feature map is at least 2 px wide (its
    reflection padding needs it): sides of at least ``min_side`` px. One-line InputError otherwise."""
    if not isinstance(x, Tensor) or x.dim() != 4 or x.shape[1] != 3:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise InputError(f"expected the {what} as an image batch (N, 3, H, W), got {shape}")
    if min(x.shape[-2:]) < min_side:
        h, w = x.shape[-2:]
        raise InputError(
            f"the {what} is {w}x{h} px; at least {min_side} px per side are needed (the {deepest} map must be "
            "2 px wide); use a larger image, ",
            Param("content_size"),
            " or ",
            Param("style_size"),
        )
    return x


@dataclass(frozen=True)
class Bands:
    """A frequency-blended style: the high band (fine texture) of ``high``, the low band (colour,
    broad strokes) of ``low``; each a style image (1, 3, h, w) in [0, 1] or a representation.
    Only methods with ``takes_bands`` accept it; the engine adapts each member for colour."""

    high: Any
    low: Any

    def map(self, fn: Callable[[Any], Any]) -> Bands:
        return Bands(fn(self.high), fn(self.low))


@dataclass(frozen=True)
class Mix:
    """How several styles combine on each content image."""

    weights: tuple[float, ...]  # interpolation weights, one per style, normalised to sum 1
    masks: Tensor | None = None  # (R, H, W) float >= 0 at the content's size, one region per style; feathered


@dataclass(frozen=True)
class Graph:
    """One of a method's networks as an exportable graph (``styler.export`` writes it as ONNX).

    ``module(*inputs)`` is traced with autograd on, so the plain formulas that training runs are
    what is exported (the inference fast paths branch on sizes); its parameters are fp32 on the CPU."""

    module: nn.Module
    inputs: tuple[Tensor, ...]  # example inputs, fp32 on the CPU
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    dynamic: dict[str, dict[int, str]]  # per input or output name: its axes of free size
    batch_one: bool = False  # the graph takes one sample: a runner splits batches (per-sample kernels)


class Call(nn.Module):
    """``fn(*inputs)`` as the forward of a module holding ``net`` (whose weights ``fn`` uses): a
    network's call that is not its own forward (one output of several, tuples in or out) as a
    ``Graph.module``."""

    def __init__(self, net: nn.Module, fn: Callable[..., Any]) -> None:
        super().__init__()
        self.net = net
        self.fn = fn

    def forward(self, *inputs: Tensor) -> Any:
        return self.fn(*inputs)


class Result(Protocol):
    """A result that writes itself, in a format chosen by the path's extension."""

    def save(self, path: Path, *, protect: tuple[Path, ...] = ()) -> Path:
        """Write atomically (complete or absent), never over ``protect``; returns the path."""
        ...


@dataclass(frozen=True, eq=False)
class ImageResult:
    """An image method's result: the stylized image (1, 3, H, W), written as an image file."""

    image: Tensor

    def save(self, path: Path, *, protect: tuple[Path, ...] = ()) -> Path:
        return save_image(self.image, path, protect=protect)


class Method(ABC):
    """A style-transfer method bound to a runtime (device, precision) and its weights."""

    name: ClassVar[str]
    takes_images: ClassVar[bool] = True  # False: styles are names or indices (CIN), not images
    takes_bands: ClassVar[bool] = False  # True: ``represent`` accepts ``Bands`` (frequency blending)
    reads: ClassVar[frozenset[str]] = frozenset()  # content file types ``result`` takes as paths (".svg")
    writes: ClassVar[frozenset[str]] = frozenset()  # result file types besides images (".svg", ".json")
    no_video: ClassVar[str] = ""  # why the method cannot stylize video ("": it can)
    # What ``--precision auto`` measures on CPUs (``precision``), fp32 first; () = not measured, the
    # method's own rule stands (optimisation methods). A method may add precisions of its own.
    auto_precisions: ClassVar[tuple[str, ...]] = ("fp32", "bf16", "fp16")
    # Networks that ``styler.export`` can run as ONNX graphs (``graphs``); () = none. ``graph_notes``:
    # how a deployer runs them (``graphs.json``).
    graph_names: ClassVar[tuple[str, ...]] = ()
    graph_notes: ClassVar[str] = ""
    runtime: Runtime

    @classmethod
    def check_controls(cls, controls: Controls) -> None:
        """Refuse, in one line, controls that do not apply to this method (all apply by default);
        a class method, so jobs ask before any weights load (``methods.kind``)."""
        return None

    @abstractmethod
    def represent(self, style: Any) -> Any:
        """One style input (an image (1, 3, h, w) in [0, 1], or a name/index) -> its representation.

        Computed once per style and reused for every content image and frame."""

    @abstractmethod
    def stylize(
        self, content: Tensor, styles: Sequence[Any], mix: Mix, *, alpha: float, tile: Setting = "auto"
    ) -> Tensor:
        """content (N, 3, H, W) in [0, 1], styles as ``represent`` returned them -> stylized
        (N, 3, H, W) float32 in [0, 1] on the runtime's device."""

    def stylize_each(
        self, content: Tensor, styles: Sequence[Any], *, alpha: float, tile: Setting = "auto"
    ) -> Iterator[Tensor]:
        """One result per style, unmixed (many styles per content). Methods that can share work
        across the styles (AdaIN encodes the content once) override this."""
        for style in styles:
            yield self.stylize(content, [style], Mix((1.0,)), alpha=alpha, tile=tile)

    def stylize_batch(
        self,
        content: Tensor,
        styles: Sequence[Sequence[Any]],
        *,
        alpha: float,
        tile: Setting = "auto",
        on_start: OnStart | None = None,
    ) -> Iterator[tuple[Keys, Tensor]]:
        """content (B, 3, H, W) of one size; ``styles[i]`` the representations image i takes, one
        result each. Yields results as they are made: (their keys, images (n, 3, H, W)).

        This default goes image by image through ``stylize_each``; methods that run several
        images in one call (AdaIN, CIN) override it."""
        for i, reps in enumerate(styles):
            results = self.stylize_each(content[i : i + 1], reps, alpha=alpha, tile=tile)
            for j in range(len(reps)):
                if on_start is not None:
                    on_start(i, j)
                yield [(i, j)], next(results)

    def result(
        self, content: Tensor | Path, styles: Sequence[Any], mix: Mix, *, alpha: float, tile: Setting = "auto"
    ) -> Result:
        """One content (1, 3, H, W), or a file of a type in ``reads`` -> a result that writes itself.
        By default the stylized image; methods with ``writes`` return their own."""
        if not isinstance(content, Tensor):
            raise InputError(f"method {self.name} reads content images only; got the file {content}")
        return ImageResult(self.stylize(content, styles, mix, alpha=alpha, tile=tile))

    # -- the on-disk style cache -------------------------------------------------------

    def style_key(self) -> str | None:
        """What a representation depends on besides the style image (weights, dtype, device type),
        as a short string; None when representations are not worth keeping on disk."""
        return None

    def pack(self, rep: Any) -> dict[str, Tensor]:
        """A representation as CPU tensors for the style cache (only when ``style_key`` is set)."""
        raise NotImplementedError(f"{self.name} representations are not cached")

    def unpack(self, tensors: dict[str, Tensor]) -> Any:
        """The inverse of ``pack``, on the runtime's device."""
        raise NotImplementedError(f"{self.name} representations are not cached")

    def describe(self) -> str:
        return f"{self.name} on {self.runtime.describe()}"

    def benchmark_workload(self, side: int = 256) -> Callable[[], Tensor] | None:
        """A small representative run that ``--precision auto`` times in each precision and compares
        with fp32: by default this method's own ``stylize`` of a ``side`` px synthetic photo with one
        style (its first own style, or a synthetic painting). None: not worth measuring."""
        content = sample_image(side, seed=0).to(self.runtime.device)
        style: Any = self.own_styles()[0] if not self.takes_images else sample_image(side, seed=1)
        rep = self.represent(style.to(self.runtime.device) if isinstance(style, Tensor) else style)
        return lambda: self.stylize(content, [rep], Mix((1.0,)), alpha=1.0)

    # -- exported graphs (``styler.export``) -----------------------------------------

    def graphs(self) -> dict[str, Graph]:
        """The networks named in ``graph_names`` as graphs; the method runs fp32 on the CPU."""
        raise NotImplementedError(f"method {self.name} has no exportable network")

    def calibration(self, contents: Sequence[Tensor], styles: Sequence[Tensor]) -> dict[str, list[tuple[Tensor, ...]]]:
        """Each graph's inputs when stylizing every content (1, 3, h, w) with every style (int8
        calibration): computed in fp32 with this method's own networks."""
        raise NotImplementedError(f"method {self.name} has no exportable network")

    def use_graphs(self, runners: dict[str, Runner]) -> None:
        """Run the networks named in ``runners`` through them from now on (the rest stays on torch)."""
        raise NotImplementedError(f"method {self.name} has no exportable network")

    def own_styles(self) -> list[str]:
        """The styles the method carries itself, by name (a trained multi-style network's); [] for
        methods that take style images."""
        return []


def sample_image(side: int, seed: int = 0) -> Tensor:
    """A deterministic photo-like image (1, 3, side, side) in [0, 1]: smooth colour fields (upsampled
    8 x 8 noise) with fine texture on top, so both the broad and the detailed paths of a network run."""
    g = torch.Generator().manual_seed(seed)
    broad = torch.nn.functional.interpolate(torch.rand(1, 3, 8, 8, generator=g), size=(side, side), mode="bicubic")
    fine = torch.rand(1, 3, side, side, generator=g) - 0.5
    return (broad + 0.15 * fine).clamp_(0, 1)


def weights_digest(module: nn.Module, rt: Runtime) -> str:
    """A short hash of ``module``'s weights as they run (values, dtype, device type, exported
    graphs): a ``style_key`` part. bf16, int8 and fp32 statistics differ, so they differ here."""
    h = hashlib.sha256(f"{rt.dtype}:{rt.device.type}:{rt.graphs}".encode())
    for name, t in module.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().to("cpu", rt.dtype).reshape(-1).view(torch.uint8).numpy().tobytes())  # logical order
    return h.hexdigest()[:32]

"""AesFA (Kwon, Kim et al., AAAI 2024) as a style method: the released network, unchanged.

    code_c = netE(c)                      content code, an octave pair at 1/4 and 1/8
    code_s = pool3x3(netS(s))             style code, (1, 128, 3, 3) per band (high, low)
    output = netG(code_c, kernels(code_s))

A style's representation is its ``StyleCode``. The generator turns a code into convolution
kernels with layers that are affine in the code, so mixing codes mixes the kernels; the controls:

* ``alpha``: the style code is blended with the content's own code (netS on the content):
  ``alpha * code_s + (1 - alpha) * code_c``. alpha 0 is the network's reconstruction of the
  content from its own style, not the content pixels: AesFA has no content path that skips the
  style kernels, so this is the one point where its output carries no foreign style, and the
  sweep between moves the kernels, like AdaIN's statistics blend, not pixels (a pixel blend would
  ghost: stylized strokes over the photo);
* ``Mix.weights``: one code, the weighted sum of the styles' codes, per band;
* ``Mix.masks``: each region is decoded with its own style's kernels; at each adaptive block the
  regions' adaptive convs are composited in feature space with the masks (normalised over the
  regions, area-averaged to the block's grids), so seams are smoothed by the convs that follow;
* frequency blending, the release's own control: ``Bands(high=A, low=B)`` (``methods.base``) is a
  style whose high band code (fine texture) comes from A and low band code (colour, broad
  strokes) from B;
  ``combine(code_a, code_b)`` does the same for codes already computed;
* ``tile``: exact tiling (``aesfa.tiling``) with whole-image instance-norm statistics.

Sizes: the networks need multiples of 8; images are reflect-padded at the bottom and right and
the output is cropped back, so it keeps the content's size. A padded style's maps are cropped to
the cells covering the real image before pooling. Images are ImageNet-normalised inside; the
output is de-normalised and clamped to [0, 1].
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ... import ops
from ... import tiling as shared_tiling
from ...errors import InputError, Param, WeightsError
from ...nets import weights
from ...runtime import Runtime, runtime
from ..base import Bands, Graph, Keys, Method, Mix, OnStart, Runner, check_image, weights_digest
from . import graphs as aesfa_graphs
from .modelfile import MODEL_FILE, check_file, read_model
from .net import STRIDE, AesFANet, BlockKernels, Masks, style_code
from .ops import Oct
from .tiling import code_tiled, encode_tiled, generate_tiled

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
MIN_SIDE = 9  # padded to 16: the 1/8 code is then 2 cells wide, as its reflection padding needs
SCALES = ((4, 8), (2, 4), (1, 2))  # each adaptive block's (high, low) downsampling from the image


def load(
    *,
    model: Path | None = None,
    device: str = "auto",
    precision: str = "auto",
    progress: weights.Progress | None = None,
) -> AesFA:
    """The networks of ``model`` (a ``main.pth``, or a folder holding one: the release's or a
    training run's) on a runtime; by default the weights table's ``main.pth`` (fetched on first use)."""
    rt = runtime(device, precision)
    return AesFA.load(model_path(model, progress), rt)


def model_path(model: Path | None, progress: weights.Progress | None = None) -> Path:
    """``model`` itself, its folder's ``main.pth``, or the weights directory's (downloaded if missing)."""
    if model is None:
        return weights.resolve(weights.AESFA, progress=progress, check=check_file)
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / MODEL_FILE).is_file():
            raise WeightsError(
                Param("model", path), f" is a folder without {MODEL_FILE}; pass the {MODEL_FILE} file or its folder"
            )
        return path / MODEL_FILE
    return path


@dataclass(frozen=True)
class StyleCode:
    """A style as AesFA sees it: netS's last maps pooled to 3 x 3, each (1, 128, 3, 3) float32."""

    high: Tensor  # fine texture
    low: Tensor  # colour and broad strokes


def combine(high: StyleCode, low: StyleCode) -> StyleCode:
    """Fine texture (the high band) of ``high`` with the colour and broad strokes of ``low``."""
    return StyleCode(high.high, low.low)


def pad8(x: Tensor) -> Tensor:
    """Reflect-pad (N, C, H, W) at the bottom and right to multiples of ``STRIDE``."""
    h, w = x.shape[-2:]
    ph, pw = -h % STRIDE, -w % STRIDE
    return F.pad(x, (0, pw, 0, ph), mode="reflect") if ph or pw else x


class AesFA(Method):
    """The three released networks on one runtime; stateless after construction."""

    name = "aesfa"
    takes_bands = True
    graph_names = ("netE", "netS", "netG")
    graph_notes = (
        "Images are ImageNet-normalised RGB (mean 0.485 0.456 0.406, std 0.229 0.224 0.225), NCHW, sides "
        "multiples of 8 (reflect-pad, crop after). Style code = netS's (high, low) each adaptive-average-pooled "
        "to 3 x 3; netG(netE(content), style code) gives the normalised image; netG takes one sample."
    )

    def __init__(self, model: AesFANet, rt: Runtime | None = None, info: dict | None = None) -> None:
        self.runtime = rt if rt is not None else runtime()
        self.info = info or {}
        fmt, dev, dtype = torch.channels_last, self.runtime.device, self.runtime.dtype
        self.model = model.eval().requires_grad_(False).to(dev, dtype, memory_format=fmt)
        shape = (1, 3, 1, 1)
        self._mean = torch.tensor(MEAN, device=dev).view(shape)
        self._std = torch.tensor(STD, device=dev).view(shape)
        # What runs the encoders (-> their last maps) and the generator: torch, or exported graphs.
        self.nets: dict[str, Runner] = {
            "netE": lambda x: self.model.netE(x).stage2,
            "netS": lambda x: self.model.netS(x).stage2,
        }
        self.generator: Runner | None = None  # content code, style code -> image; None: netG on torch

    @classmethod
    def load(cls, path: Path, rt: Runtime | None = None) -> AesFA:
        """A ``main.pth`` (the release's or one styler trained)."""
        model, info = read_model(Path(path))
        return cls(model, rt, info)

    # -- networks ----------------------------------------------------------------------

    def tile_for(self, setting: shared_tiling.Setting, n: int, height: int, width: int) -> int | None:
        """Core tile side (px, a multiple of 64) for an (n, 3, height, width) run; None = untiled."""
        itemsize = torch.finfo(self.runtime.dtype).bits // 8
        return shared_tiling.choose_tile(setting, n, height, width, itemsize, self.runtime.device)

    def _net_input(self, x: Tensor) -> Tensor:
        """[0, 1] RGB -> normalised, in the runtime's device, dtype and memory format."""
        x = (x.to(self.runtime.device, torch.float32) - self._mean) / self._std
        return x.to(self.runtime.dtype).contiguous(memory_format=torch.channels_last)

    def encode(self, net: str, x: Tensor, tile: int | None) -> Oct:
        """An image (N, 3, H, W) in [0, 1], sides multiples of 8 -> the last maps (1/4, 1/8) of
        encoder ``net`` (netE: the content code; netS: the style code before pooling)."""
        run = self.nets[net]
        if tile is None:
            return run(self._net_input(x))
        return encode_tiled(lambda t: run(self._net_input(t)), x, tile)

    def code_of(self, image: Tensor, tile: int | None = None) -> Oct:
        """An image (N, 3, h, w) in [0, 1] of any size -> its style code, (N, 128, 3, 3) float32 each."""
        x, size = pad8(image.to(self.runtime.device)), tuple(image.shape[-2:])
        if tile is not None:
            return code_tiled(lambda t: self.nets["netS"](self._net_input(t)), x, tile, size)
        return Oct(*(c.float() for c in style_code(self.encode("netS", x, None), size)))

    # -- the method --------------------------------------------------------------------

    @torch.inference_mode()
    def represent(self, style: Tensor | StyleCode | Bands) -> StyleCode:
        """A style image (1, 3, h, w) -> its ``StyleCode``; codes pass; ``Bands`` are combined."""
        if isinstance(style, StyleCode):
            return style
        if isinstance(style, Bands):
            return combine(self.represent(style.high), self.represent(style.low))
        if not isinstance(style, Tensor):
            raise InputError(
                f"expected each style as an image tensor (1, 3, h, w), a StyleCode or Bands, got {type(style).__name__}"
            )
        image = check_image(style, "style", MIN_SIDE, "1/8 code")
        tile = self.tile_for("auto", *image.shape[:1], *image.shape[-2:])
        high, low = self.code_of(image, tile)
        return StyleCode(high, low)

    def style_key(self) -> str:
        """A code depends on netS only (its weights, dtype, device type and backend)."""
        return "aesfa-" + weights_digest(self.model.netS, self.runtime)

    def pack(self, rep: StyleCode) -> dict[str, Tensor]:
        return {"high": rep.high.cpu(), "low": rep.low.cpu()}

    def unpack(self, tensors: dict[str, Tensor]) -> StyleCode:
        dev = self.runtime.device
        return StyleCode(tensors["high"].to(dev, torch.float32), tensors["low"].to(dev, torch.float32))

    def _codes(self, styles: Sequence[Any], own: Oct | None, alpha: float) -> list[Oct]:
        """Each style's code on the device, blended with the content's own code when alpha < 1."""
        codes = []
        for s in styles:
            rep = self.represent(s)
            code = Oct(rep.high.to(self.runtime.device), rep.low.to(self.runtime.device))
            if own is not None:
                code = Oct(*(alpha * c + (1 - alpha) * o for c, o in zip(code, own, strict=True)))
            codes.append(code)
        return codes

    def _grids(self, masks: Tensor, size: tuple[int, int]) -> Masks:
        """Region masks (R, H, W) at the content's size -> each block's (high, low) grids (1, R, h, w)."""
        m = ops.region_weights(masks.to(self.runtime.device, torch.float32)[None])  # (1, R, H, W)
        m = pad8(m)
        assert tuple(m.shape[-2:]) == size
        return [Oct(F.avg_pool2d(m, hi) if hi > 1 else m, F.avg_pool2d(m, lo)) for hi, lo in SCALES]

    def _content(
        self, content: Tensor, alpha: float, tile: shared_tiling.Setting
    ) -> tuple[Oct, Oct | None, int | None]:
        """content (N, 3, H, W) -> (its code, its own style code when alpha < 1, the tile size)."""
        if not 0.0 <= alpha <= 1.0:
            raise InputError(Param("alpha"), f" must be in [0, 1], got {alpha}")
        content = check_image(content, "content", MIN_SIDE, "1/8 code")
        x = pad8(content.to(self.runtime.device))
        tile_px = self.tile_for(tile, x.shape[0], *x.shape[-2:])
        code = self.encode("netE", x, tile_px)
        own = self.code_of(content, tile_px) if alpha < 1 else None
        return code, own, tile_px

    @torch.inference_mode()
    def stylize(
        self, content: Tensor, styles: Sequence[Any], mix: Mix, *, alpha: float, tile: shared_tiling.Setting = "auto"
    ) -> Tensor:
        size = (content.shape[-2], content.shape[-1])
        code, own, tile_px = self._content(content, alpha, tile)
        codes = self._codes(styles, own, alpha)
        if mix.masks is None:
            mixed = Oct(*(sum(wt * c[band] for wt, c in zip(mix.weights, codes, strict=True)) for band in (0, 1)))
            return self.styled(code, mixed, size, tile_px)  # type: ignore[arg-type]
        kernels = [self.model.netG.predict(c) for c in codes]
        padded = (code.high.shape[-2] * 4, code.high.shape[-1] * 4)
        return self.generate(code, kernels, self._grids(mix.masks, padded), size, tile_px)

    def stylize_each(
        self, content: Tensor, styles: Sequence[Any], *, alpha: float, tile: shared_tiling.Setting = "auto"
    ) -> Iterator[Tensor]:
        """The content is encoded once (and its own code computed once) for all the styles."""
        with torch.inference_mode():
            size = (content.shape[-2], content.shape[-1])
            code, own, tile_px = self._content(content, alpha, tile)
        del content
        for style in styles:
            with torch.inference_mode():
                (c,) = self._codes([style], own, alpha)
                out = self.styled(code, c, size, tile_px)
            yield out

    def stylize_batch(
        self,
        content: Tensor,
        styles: Sequence[Sequence[Any]],
        *,
        alpha: float,
        tile: shared_tiling.Setting = "auto",
        on_start: OnStart | None = None,
    ) -> Iterator[tuple[Keys, Tensor]]:
        """The batch is encoded once; round j runs every image with its own j-th style in one
        generator call: the kernels are predicted per sample ((n, 128, 3, 3) codes stacked)."""
        with torch.inference_mode():
            size = (content.shape[-2], content.shape[-1])
            code, own, tile_px = self._content(content, alpha, tile)
        del content
        for j in range(max(len(s) for s in styles)):
            idx = [i for i, s in enumerate(styles) if len(s) > j]
            every = len(idx) == len(styles)
            with torch.inference_mode():
                part = code if every else Oct(code.high[idx], code.low[idx])
                mine = None if own is None or every else Oct(own.high[idx], own.low[idx])
                per = [self._codes([styles[i][j]], None, 1.0)[0] for i in idx]
                stacked = Oct(torch.cat([c.high for c in per]), torch.cat([c.low for c in per]))  # (n, 128, 3, 3)
                if own is not None:
                    base = own if mine is None else mine
                    stacked = Oct(*(alpha * c + (1 - alpha) * o for c, o in zip(stacked, base, strict=True)))
                out = self.styled(part, stacked, size, tile_px)
            yield [(i, j) for i in idx], out

    def styled(self, code: Oct, style: Oct, size: tuple[int, int], tile: int | None) -> Tensor:
        """Content code + one style code (per sample, or one for all) -> the image (N, 3, *size)."""
        if self.generator is None or tile is not None:
            return self.generate(code, [self.model.netG.predict(style)], None, size, tile)
        return self._finish(self.generator(*code, *style), size)

    @torch.inference_mode()
    def generate(
        self, code: Oct, kernels: Sequence[BlockKernels], grids: Masks | None, size: tuple[int, int], tile: int | None
    ) -> Tensor:
        """Content code + kernels (one set per region) -> the image (N, 3, *size) in [0, 1], float32."""
        if tile is None:
            out = self.model.netG.run(code, kernels, grids).float()
        else:
            out = generate_tiled(self.model.netG, code, kernels, grids, tile)
        return self._finish(out, size)

    def _finish(self, out: Tensor, size: tuple[int, int]) -> Tensor:
        """The generator's normalised output (N, 3, H', W'), cropped to ``size``, in [0, 1]."""
        out = out[..., : size[0], : size[1]]
        return out.mul_(self._std).add_(self._mean).clamp_(0, 1).contiguous()

    # -- exported graphs (``graphs``) --------------------------------------------------

    def graphs(self) -> dict[str, Graph]:
        return aesfa_graphs.graphs(self.model)

    def calibration(self, contents: Sequence[Tensor], styles: Sequence[Tensor]) -> dict[str, list[tuple]]:
        prepared = [[self._net_input(pad8(x)) for x in images] for images in (contents, styles)]
        return aesfa_graphs.calibration(self.model, *prepared)

    def use_graphs(self, runners: dict[str, Runner]) -> None:
        for name in ("netE", "netS"):
            if name in runners:
                self.nets[name] = lambda x, run=runners[name]: Oct(*run(x))  # (high, low) -> Oct
        self.generator = runners.get("netG", self.generator)

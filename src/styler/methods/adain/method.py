"""AdaIN (Huang & Belongie, ICCV 2017) as a style method.

    t = AdaIN(f(c), f(s));   t = alpha * t + (1 - alpha) * f(c);   output = g(t)

with f the normalised VGG-19 up to relu4_1 and g the decoder. A style's representation is
its relu4_1 per-channel mean and std. Interpolation is one AdaIN with the weighted
statistics; masks give each region its own style's statistics (``ops.masked_adain``). The
networks run in the runtime's precision; the statistics and the blend run in float32.
Large images run tile by tile (``tiling``) with the statistics of the whole map, so the
memory bound holds for every control and no seam appears.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from ... import ops, tiling
from ...errors import InputError
from ...nets import weights
from ...nets.vgg import Decoder, Encoder, load_decoder, load_encoder
from ...runtime import Runtime, runtime
from ..base import Call, Graph, Keys, Method, Mix, OnStart, Runner, weights_digest
from ..base import check_image as check_base

MIN_SIDE = 9  # below this the relu4_1 map is 1 px wide and its reflection padding is undefined


@dataclass(frozen=True)
class StyleStats:
    """A style as AdaIN sees it: per-channel relu4_1 mean and std, each (1, 512, 1, 1) float32."""

    mean: Tensor
    std: Tensor


def check_image(x: Tensor, what: str = "image") -> Tensor:
    """An image batch (N, 3, H, W) large enough for the encoder (``base.check_image``)."""
    return check_base(x, what, MIN_SIDE, "relu4_1")


def load(
    *,
    device: str = "auto",
    precision: str = "auto",
    vgg: Path | None = None,
    decoder: Path | None = None,
    progress: weights.Progress | None = None,
) -> AdaIN:
    """Resolve (explicit file, ``$STYLER_WEIGHTS_DIR``, cache; download if missing) and load.

    Explicit files are checked before anything is downloaded; offline, one error lists every
    missing file."""
    rt = runtime(device, precision)
    vgg_path, dec_path = weights.resolve_all([(weights.VGG, vgg), (weights.DECODER, decoder)], progress=progress)
    enc = load_encoder(weights.load_state_dict(vgg_path, finite=False), label=str(vgg_path))
    dec = load_decoder(weights.load_state_dict(dec_path, finite=False), label=str(dec_path))
    return AdaIN(enc, dec, rt)


class AdaIN(Method):
    """Encoder and decoder on one runtime; stateless after construction."""

    name = "adain"
    graph_names = ("encoder", "decoder")
    graph_notes = (
        "Images are RGB in [0, 1], NCHW. target = AdaIN(encoder(content), mean/std of encoder(style)) per "
        "channel (std from the unbiased variance + 1e-5), blended alpha * target + (1 - alpha) * content "
        "features; decoder(target) gives 8x the feature size: crop to the content's size, clamp to [0, 1]."
    )

    def __init__(self, encoder: Encoder, decoder: Decoder, rt: Runtime | None = None) -> None:
        self.runtime = rt if rt is not None else runtime()
        # channels_last lets oneDNN (CPU) and cuDNN pick their fastest conv kernels.
        fmt, dev, dtype = torch.channels_last, self.runtime.device, self.runtime.dtype
        self.encoder = encoder.eval().to(dev, dtype, memory_format=fmt)
        self.decoder = decoder.eval().to(dev, dtype, memory_format=fmt)
        # What encode and decode run: the torch networks, or exported graphs (``use_graphs``).
        self.nets: dict[str, Runner] = {"encoder": self.encoder.relu4_1, "decoder": self.decoder}

    # -- networks ----------------------------------------------------------------------

    def _to_net(self, x: Tensor) -> Tensor:
        return x.to(self.runtime.device, self.runtime.dtype).contiguous(memory_format=torch.channels_last)

    def tile_for(self, setting: tiling.Setting, n: int, height: int, width: int) -> int | None:
        """Core tile side (px) for an (n, 3, height, width) run; None = untiled."""
        itemsize = torch.finfo(self.runtime.dtype).bits // 8
        return tiling.choose_tile(setting, n, height, width, itemsize, self.runtime.device)

    @torch.inference_mode()
    def encode(self, x: Tensor, tile: tiling.Setting = "auto") -> Tensor:
        """(N, 3, H, W) in [0, 1] -> relu4_1 features (N, 512, ceil(H/8), ceil(W/8)), float32."""
        x = check_image(x)
        size = self.tile_for(tile, x.shape[0], *x.shape[-2:])
        if size is None:
            return self.nets["encoder"](self._to_net(x)).float()
        return tiling.encode_tiled(lambda t: self.nets["encoder"](self._to_net(t)), x.to(self.runtime.device), size)

    @torch.inference_mode()
    def decode(
        self,
        feat: Tensor,
        size: tuple[int, int] | None = None,
        tile: tiling.Setting = "auto",
        prep: tiling.Prep | None = None,
    ) -> Tensor:
        """relu4_1 features (N, 512, h, w) -> RGB (N, 3, H, W) in [0, 1], float32.

        ``prep`` (features, rows, cols) -> features runs first, per tile when tiled. The decoder
        gives 8h x 8w; ``size`` crops it to the content's own H x W (ceil-mode pooling keeps
        the grid anchored top-left, so the crop is exact)."""
        size = (8 * feat.shape[-2], 8 * feat.shape[-1]) if size is None else (int(size[0]), int(size[1]))
        tile_px = self.tile_for(tile, feat.shape[0], *size)
        if tile_px is not None:
            decoder = self.nets["decoder"]
            return tiling.decode_tiled(lambda f: decoder(self._to_net(f)), feat, size, tile_px, prep).clamp_(0, 1)
        whole = slice(None)
        t = prep(feat, whole, whole) if prep is not None else feat
        out = self.nets["decoder"](self._to_net(t))
        return out[..., : size[0], : size[1]].float().clamp_(0, 1).contiguous()

    # -- the method --------------------------------------------------------------------

    @torch.inference_mode()
    def represent(self, style: Tensor | StyleStats) -> StyleStats:
        """A style image (1, 3, h, w) -> its relu4_1 statistics (computed once, reused)."""
        if isinstance(style, StyleStats):
            return style
        mean, std = ops.mean_std(self.encode(check_image(style, "style")))
        return StyleStats(mean, std)

    @torch.inference_mode()
    def stylize(
        self, content: Tensor, styles: Sequence[StyleStats], mix: Mix, *, alpha: float, tile: tiling.Setting = "auto"
    ) -> Tensor:
        fc = self.encode(check_image(content, "content"), tile)  # (N, 512, h, w)
        return self.decode_target(fc, styles, mix, alpha=alpha, size=tuple(content.shape[-2:]), tile=tile)

    def stylize_each(
        self, content: Tensor, styles: Sequence[StyleStats], *, alpha: float, tile: tiling.Setting = "auto"
    ) -> Iterator[Tensor]:
        """The content is encoded once for all the styles; the caller may drop its own reference
        to ``content`` before iterating, so at 8K the image is freed before the decoder runs."""
        with torch.inference_mode():
            size = tuple(content.shape[-2:])
            fc = self.encode(check_image(content, "content"), tile)
        del content
        for style in styles:
            with torch.inference_mode():
                out = self.decode_target(fc, [style], Mix((1.0,)), alpha=alpha, size=size, tile=tile)
            yield out

    def stylize_batch(
        self,
        content: Tensor,
        styles: Sequence[Sequence[StyleStats]],
        *,
        alpha: float,
        tile: tiling.Setting = "auto",
        on_start: OnStart | None = None,
    ) -> Iterator[tuple[Keys, Tensor]]:
        """The batch is encoded once; round j decodes every image's j-th style in one call, each
        image with its own style statistics ((n, 512, 1, 1) stacked)."""
        with torch.inference_mode():
            size = (content.shape[-2], content.shape[-1])
            fc = self.encode(check_image(content, "content"), tile)  # (B, 512, h, w)
        for j in range(max(len(s) for s in styles)):
            idx = [i for i, s in enumerate(styles) if len(s) > j]
            stats = StyleStats(
                torch.cat([styles[i][j].mean for i in idx]),  # (n, 512, 1, 1)
                torch.cat([styles[i][j].std for i in idx]),
            )
            f = fc if len(idx) == len(styles) else fc[idx]
            with torch.inference_mode():
                out = self.decode_target(f, [stats], Mix((1.0,)), alpha=alpha, size=size, tile=tile)
            yield [(i, j) for i in idx], out

    def style_key(self) -> str:
        return weights_digest(self.encoder, self.runtime)

    # -- exported graphs ---------------------------------------------------------------

    def graphs(self) -> dict[str, Graph]:
        image = {0: "n", 2: "height", 3: "width"}
        features = {0: "n", 2: "height_8", 3: "width_8"}  # ceil(H / 8) x ceil(W / 8)
        x = torch.rand(1, 3, 64, 80)
        return {
            "encoder": Graph(
                Call(self.encoder, self.encoder.relu4_1),
                (x,),
                ("image",),
                ("relu4_1",),
                {"image": image, "relu4_1": features},
            ),
            "decoder": Graph(
                self.decoder,
                (torch.rand(1, 512, 8, 10),),
                ("relu4_1",),
                ("image",),
                {"relu4_1": features, "image": image},
            ),
        }

    @torch.inference_mode()
    def calibration(self, contents: Sequence[Tensor], styles: Sequence[Tensor]) -> dict[str, list[tuple[Tensor, ...]]]:
        """The encoder sees every photo and painting; the decoder every AdaIN target (alpha 1)."""
        stats = [self.represent(s) for s in styles]
        targets = []
        for c in contents:
            fc = self.encode(c)
            targets += [(ops.adain_stats(fc, s.mean, s.std),) for s in stats]
        return {"encoder": [(x,) for x in [*contents, *styles]], "decoder": targets}

    def use_graphs(self, runners: dict[str, Runner]) -> None:
        self.nets.update(runners)

    def pack(self, rep: StyleStats) -> dict[str, Tensor]:
        return {"mean": rep.mean.cpu(), "std": rep.std.cpu()}

    def unpack(self, tensors: dict[str, Tensor]) -> StyleStats:
        return StyleStats(tensors["mean"].to(self.runtime.device), tensors["std"].to(self.runtime.device))

    @torch.inference_mode()
    def decode_target(
        self,
        fc: Tensor,
        styles: Sequence[StyleStats],
        mix: Mix,
        *,
        alpha: float,
        size: tuple[int, int],
        tile: tiling.Setting = "auto",
    ) -> Tensor:
        """Content features (N, 512, h, w) -> AdaIN target under ``mix``, alpha blend -> image.

        Split from ``stylize`` so a content encoded once can take many styles. The content
        (or per-region) statistics come from the whole map, also when decoding tile by tile."""
        for s in styles:  # e.g. a file name passed as a style: one clear line, not an AttributeError
            if not isinstance(s, StyleStats):
                raise InputError(
                    f"expected each style as an image tensor (1, 3, h, w) or StyleStats, got "
                    f"{type(s).__name__}; read style files with images.load_image"
                )
        means, stds = [s.mean for s in styles], [s.std for s in styles]
        if mix.masks is not None:
            grid = ops.masks_to_grid(mix.masks.to(fc.device, torch.float32), tuple(fc.shape[-2:]))  # (1, R, h, w)
            regions = ops.region_mean_std(fc, grid)

            def target(f: Tensor, rows: slice, cols: slice) -> Tensor:
                return ops.masked_adain(f, grid[..., rows, cols], means, stds, region_stats=regions)
        else:
            c_stats = ops.mean_std(fc)

            def target(f: Tensor, rows: slice, cols: slice) -> Tensor:
                return ops.interpolate_adain(f, means, stds, list(mix.weights), content_stats=c_stats)

        def prep(f: Tensor, rows: slice, cols: slice) -> Tensor:
            return ops.blend(target(f, rows, cols), f, alpha)

        return self.decode(fc, size, tile, prep)

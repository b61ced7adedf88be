"""DiffStyler as a style method: ``represent`` learns (or finds in the cache) a style's LoRA,
``stylize`` inverts the content (or finds it in the cache) and samples with injection and masks.

The shared controls, for this method:

* ``alpha``: the LoRA scale. Every style adapter runs at ``alpha`` (times its interpolation weight),
  so 1 is the learned style, 0 the base model with the style prompt (the photo re-rendered through
  the injection, not the photo itself), values between a weaker style;
* ``Mix.weights``: weighted adapters: one style model whose LoRA deltas are summed with these weights;
* ``Mix.masks``: region k is painted by style k's model (its adapter, its prompt, the style windows);
  outside every region the base model runs (empty prompt, the base windows);
* ``tile``: not used; the image is sampled whole at its working size (shorter side ``config.size``,
  or the content's own with 0) and resized back to the content's size.

Precision: fp16 or bf16 on CUDA (bf16 where native), fp32 on a CPU (bf16 only when asked for).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ...errors import DeviceError, InputError, Param
from ...ops import masks_to_grid
from ...runtime import Runtime, pick_device, pick_precision
from ...tiling import Setting
from ..base import Method, Mix
from . import estimate as est
from .cache import Caches, key_of, pixels_hash
from .config import DiffStep, DiffStylerConfig, LoraSettings, require
from .inversion import invert, schedule, to_eps
from .lora import load_adapter, resize, train_lora, use_adapters, working_size
from .sampler import Model, region_weights, sample

MAX_ADAPTERS = 8  # LoRAs kept on the UNet at once; the least recently used beyond are unloaded
MAX_INVERSIONS = 4  # content trajectories kept in memory (a folder job gives one content many styles)
MIN_SIDE = 8
OnStep = Callable[[DiffStep], None]


def load(
    *,
    device: str = "auto",
    precision: str = "auto",
    diffstyler: DiffStylerConfig | None = None,
    on_step: OnStep | None = None,
    progress: Callable[[int, int | None], None] | None = None,
) -> DiffStyler:
    """The method with its base model (``diffstyler.sd``: a hub id, through diffusers' cache and offline
    rules, or a diffusers folder) loaded on this method's runtime (``runtime_for``). One-line errors
    without the extra (``pip install 'styler[diffusion]'``) or the model. ``on_step`` gets a ``DiffStep``
    for every LoRA step, inversion step and sampling step. ``progress`` (the registry's download
    callback for styler's own weights) is not used: the base model comes through the Hugging Face hub."""
    return DiffStyler.load(diffstyler, device=device, precision=precision, on_step=on_step)


def runtime_for(device: str = "auto", precision: str = "auto") -> Runtime:
    """auto: bf16 on CUDA GPUs with native bf16, else fp16 there; fp32 elsewhere (CPU bf16 on request)."""
    dev = pick_device(device)
    if precision == "auto":
        if dev.type == "cuda":
            return Runtime(dev, pick_precision("auto", dev))
        return Runtime(dev, "fp32")
    chosen = pick_precision(precision, dev)
    if chosen == "fp16" and dev.type != "cuda":
        raise DeviceError(f"diffstyler runs in fp32 or bf16 on {dev.type}, not fp16; use ", Param("precision", "fp32"))
    return Runtime(dev, chosen)


@dataclass(frozen=True)
class StyleLora:
    """A learned style: the adapter's weights (float32 CPU) and how they were learned."""

    key: str
    tensors: dict[str, Tensor]
    settings: LoraSettings
    base: str  # the identity of the base model it was learned on
    label: str = ""
    losses: tuple[float, ...] = ()  # every step's loss when learned now; empty when read from the cache

    @property
    def adapter(self) -> str:
        return f"style_{self.key[:16]}"


class DiffStyler(Method):
    """A Stable Diffusion model on one runtime, its adapters and its caches."""

    name = "diffstyler"
    no_video = "samples each image on its own (no temporal model: frames would flicker) for minutes"
    auto_precisions = ()  # diffusion: its own precision rule (runtime_for), not measured

    def __init__(
        self,
        sd: Any,
        runtime: Runtime,
        config: DiffStylerConfig | None = None,
        *,
        on_step: Callable[[DiffStep], None] | None = None,
    ) -> None:
        self.sd, self.runtime = sd, runtime
        self.config = config if config is not None else DiffStylerConfig()
        self.on_step = on_step
        self.caches = Caches(self.config.cache_dir)
        self.counts = {"lora_learned": 0, "lora_cached": 0, "inverted": 0, "inversion_cached": 0}
        self._adapters: list[str] = []  # on the UNet, least recently used first
        self._prompts: dict[str, Tensor] = {}
        self._learned: dict[str, StyleLora] = {}  # this session's, also when the cache cannot be written
        self._labels: dict[str, str] = {}  # style pixels hash -> a name for the LoRA cache (``label``)
        self._inverted: dict[str, Tensor] = {}  # the last few contents' trajectories (several styles per content)

    @classmethod
    def load(
        cls,
        config: DiffStylerConfig | None = None,
        *,
        device: str = "auto",
        precision: str = "auto",
        on_step: Callable[[DiffStep], None] | None = None,
    ) -> DiffStyler:
        """Check the extra, pick the runtime, load the base model (``config.sd``)."""
        require()
        from .sd import load_model

        config = config if config is not None else DiffStylerConfig()
        if not isinstance(config, DiffStylerConfig):
            raise InputError(Param("diffstyler"), f" must be a DiffStylerConfig, got {type(config).__name__}")
        rt = runtime_for(device, precision)
        return cls(load_model(config.sd, rt.device, rt.dtype), rt, config, on_step=on_step)

    def describe(self) -> str:
        return f"diffstyler ({self.sd.name}) on {self.runtime.describe()}"

    def label(self, style: Tensor, name: str) -> None:
        """Name a style image (e.g. its file name) for the LoRA cache, before ``represent`` sees it
        through the engine (which passes pixels only)."""
        self._labels[pixels_hash(style)] = name

    # -- styles ------------------------------------------------------------------------

    def lora_key(self, style: Tensor) -> str:
        return key_of(pixels_hash(style), self.sd.identity, self.config.lora.describe())

    def is_cached(self, style: Tensor) -> bool:
        """Whether ``represent`` would read this style's LoRA from the cache (for time estimates)."""
        return self.caches.lora_path(self.lora_key(style)).is_file()

    def represent(self, style: Any, label: str = "") -> StyleLora:
        """A style image (1, 3, h, w) in [0, 1] -> its LoRA, read from the cache or learned now (then
        stored). ``label`` (e.g. the file name) is kept in the cache for ``styler models``."""
        if isinstance(style, StyleLora):
            return style
        style = _check(style, "style")
        if style.shape[0] != 1:
            raise InputError(f"expected one style image (1, 3, h, w), got a batch of {style.shape[0]}")
        key, settings = self.lora_key(style), self.config.lora
        label = label or self._labels.get(pixels_hash(style), "")
        if key in self._learned:
            return self._learned[key]
        hit = self.caches.load_lora(key)
        if hit is not None:
            self.counts["lora_cached"] += 1
            self._learned[key] = StyleLora(key, hit[0], settings, self.sd.identity, hit[1].get("label", label))
            return self._learned[key]
        lora = StyleLora(key, {}, settings, self.sd.identity, label)
        self._unload(lora.adapter)
        tensors, losses = train_lora(self.sd, lora.adapter, style, settings, on_step=self.on_step, label=label)
        self._adapters.append(lora.adapter)
        self.counts["lora_learned"] += 1
        meta = {
            "label": label,
            "base": self.sd.name,
            "base_identity": self.sd.identity,
            "settings": settings.describe(),
            "style_sha256": pixels_hash(style),
            "style_size": "x".join(map(str, style.shape[-2:][::-1])),  # w x h, as the style was given
            "loss_first": repr(losses[0]),
            "loss_last": repr(losses[-1]),
        }
        self.caches.store_lora(key, tensors, meta)
        self._learned[key] = StyleLora(key, tensors, settings, self.sd.identity, label, tuple(losses))
        return self._learned[key]

    def _unload(self, adapter: str) -> None:
        if adapter in self._adapters:
            self.sd.unet.delete_adapters(adapter)
            self._adapters.remove(adapter)

    def _activate(self, loras: Sequence[StyleLora]) -> None:
        """Every LoRA in ``loras`` on the UNet; others unloaded beyond ``MAX_ADAPTERS``."""
        wanted = {lo.adapter for lo in loras}
        for lo in loras:
            if lo.base != self.sd.identity:
                raise InputError(
                    f"style {lo.label or lo.key[:12]} was learned on {lo.base}, not {self.sd.identity}; "
                    "represent its image again with this model"
                )
            if lo.adapter in self._adapters:
                self._adapters.remove(lo.adapter)
            else:
                load_adapter(self.sd.unet, lo.adapter, lo.settings, lo.tensors)
            self._adapters.append(lo.adapter)
        for name in [a for a in self._adapters if a not in wanted][: max(0, len(self._adapters) - MAX_ADAPTERS)]:
            self._unload(name)

    # -- content -----------------------------------------------------------------------

    def prompt(self, text: str) -> Tensor:
        if text not in self._prompts:
            self._prompts[text] = self.sd.embed([text])
        return self._prompts[text]

    def inversion_key(self, image: Tensor, steps: int) -> str:
        return key_of(pixels_hash(image), self.sd.identity, steps, self.runtime.precision)

    def invert(self, image: Tensor, grid: Any) -> Tensor:
        """One content image (1, 3, h, w) at the working size -> its trajectory (n, 1, 4, h/8, w/8)."""
        key = self.inversion_key(image, len(grid.timesteps))
        if key in self._inverted:
            return self._inverted[key]
        hit = self.caches.load_inversion(key)
        if hit is not None and hit.shape[0] == len(grid.timesteps):
            self.counts["inversion_cached"] += 1
            return self._remember(key, hit.to(self.sd.device))
        latent, _ = self.sd.posterior(image)  # the posterior mean, as the release inverts
        empty, unet, prediction = self.prompt(""), self.sd.unet, self.sd.scheduler.config.prediction_type
        alphas = dict(zip(grid.timesteps.tolist(), grid.alphas.tolist()))

        def eps_at(x: Tensor, t: int) -> Tensor:
            out = unet(x.to(unet.dtype), torch.tensor([t], device=x.device), empty).sample.float()
            return to_eps(out, x, alphas[t], prediction)  # v-models: eps from v at t's level (approximate)

        use_adapters(unet, {})
        trajectory = invert(eps_at, latent, grid, self.on_step)
        self.counts["inverted"] += 1
        self.caches.store_inversion(key, trajectory)
        return self._remember(key, trajectory)

    def _remember(self, key: str, trajectory: Tensor) -> Tensor:
        self._inverted[key] = trajectory
        for old in list(self._inverted)[:-MAX_INVERSIONS]:
            del self._inverted[old]
        return trajectory

    # -- the method --------------------------------------------------------------------

    def models(self, loras: Sequence[StyleLora], mix: Mix, alpha: float, latent_hw: tuple[int, int]) -> list[Model]:
        """The models each sampling step evaluates (see ``sampler.Model``)."""
        steps = self.config.steps
        style_win, base_win = self.config.style_windows.counts(steps), self.config.base_windows.counts(steps)
        if mix.masks is None:
            scales = {lo.adapter: alpha * w for lo, w in zip(loras, mix.weights, strict=True)}
            return [Model(scales, self.prompt(loras[0].settings.prompt), style_win, None)]
        masks = mix.masks.to(self.sd.device, torch.float32)
        if masks.dim() != 3 or masks.shape[0] != len(loras):
            raise InputError(f"expected {len(loras)} region masks (R, H, W), one per style, got {tuple(masks.shape)}")
        weights = region_weights(masks_to_grid(masks, latent_hw))  # (1, R, h, w)
        out = [
            Model({lo.adapter: alpha}, self.prompt(lo.settings.prompt), style_win, weights[:, k : k + 1])
            for k, lo in enumerate(loras)
            if bool((weights[:, k] > 0).any())
        ]
        if not out or bool((weights.sum(1) < 1 - 1e-6).any()):  # some of the image is the base model's
            out.insert(0, Model({}, self.prompt(self.config.base_prompt), base_win, None))
        return out

    @torch.no_grad()
    def stylize(
        self, content: Tensor, styles: Sequence[Any], mix: Mix, *, alpha: float, tile: Setting = "auto"
    ) -> Tensor:
        content = _check(content, "content")
        if not 0.0 <= alpha <= 1.0:
            raise InputError(Param("alpha"), f" must be in [0, 1], got {alpha}")
        loras = [self.represent(s) for s in styles]
        if not loras:
            raise InputError("no style given; pass at least one style")
        n, _, h, w = content.shape
        hw = working_size(h, w, self.config.size or min(h, w), self.sd.multiple)
        image = resize(content.to(self.sd.device), hw)
        grid = schedule(self.sd.scheduler, self.config.steps)
        trajectory = torch.cat([self.invert(image[i : i + 1], grid) for i in range(n)], dim=1)  # (n_steps, N, ...)
        self._activate(loras)
        models = self.models(loras, mix, alpha, tuple(trajectory.shape[-2:]))
        prompts = (self.prompt(""), self.prompt(self.config.negative_prompt))
        latent = sample(
            self.sd.unet,
            trajectory,
            grid,
            models,
            prompts,
            guidance=self.config.guidance,
            prediction=self.sd.scheduler.config.prediction_type,
            lora_in_attention=self.config.lora_in_injected_attention,
            on_step=self.on_step,
        )
        return resize(self.sd.decode(latent), (h, w)).contiguous()

    def is_inverted(self, content: Tensor) -> bool:
        """Whether ``stylize`` would read this content's inversion (1, 3, H, W) from the cache (estimates)."""
        h, w = content.shape[-2:]
        image = resize(content.to(self.sd.device), working_size(h, w, self.config.size or min(h, w), self.sd.multiple))
        return self.caches.inversion_path(self.inversion_key(image, self.config.steps)).is_file()

    def estimate(
        self,
        contents: Sequence[tuple[int, int]],
        *,
        invert: Sequence[tuple[int, int]] | None = None,
        learn: Sequence[tuple[int, int]] = (),
        models: int = 1,
    ) -> est.Estimate:
        """Seconds this run should take here. ``contents``: the (h, w) of each image to stylize;
        ``invert``: of those whose inversion is not cached (default: all); ``learn``: the (h, w) of
        each style whose LoRA is not cached; ``models``: UNet models per sampling step (1; with
        masks, the styles + 1)."""
        return est.estimate_run(self.sd, self.runtime, self.config, contents, invert, learn, models)


def _check(x: Any, what: str) -> Tensor:
    if not isinstance(x, Tensor) or x.dim() != 4 or x.shape[1] != 3:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise InputError(f"expected the {what} as an image batch (N, 3, H, W), got {shape}")
    if min(x.shape[-2:]) < MIN_SIDE:
        raise InputError(f"the {what} is {x.shape[-1]}x{x.shape[-2]} px; diffstyler needs at least {MIN_SIDE} a side")
    return x

"""A style's LoRA (Hu et al., ICLR 2022) learned on one style image, and LoRA adapters on the UNet.

Learning is the standard noise-prediction objective on the style image alone, with a prompt that
holds a rare token: at a random timestep t, noise the image's latent z to x_t = sqrt(a_t) z +
sqrt(1 - a_t) eps and regress the UNet's output on eps (or on v for v-prediction models):

    L = || unet(x_t, t, prompt) - eps ||^2          (inversion.noised / inversion.target)

Only the adapter's A and B matrices learn (B starts at zero, so step 0 is the base model). The
style image is encoded once; each step draws a latent from its VAE posterior and a random square
crop of it (the whole image when it is square). Several adapters live on one UNet under their own
names and are switched (and weighted) per call instead of deep-copying the UNet.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import DiffStep, LoraSettings
from .inversion import noised, target


def working_size(h: int, w: int, size: int, multiple: int) -> tuple[int, int]:
    """(h, w) scaled so the shorter side is ``size``, each side rounded to a multiple of ``multiple``
    (the UNet's grid; 64 px for SD) and at least one multiple."""
    scale = size / min(h, w)
    return tuple(max(multiple, round(s * scale / multiple) * multiple) for s in (h, w))  # type: ignore[return-value]


def resize(image: Tensor, hw: tuple[int, int]) -> Tensor:
    """(N, 3, H, W) float -> (N, 3, *hw), antialiased bicubic, clamped to [0, 1]. Computed on the
    contiguous (NCHW) layout: channels_last input (the job runner's) takes another kernel whose last
    bits differ, and the inversion cache is keyed by these pixels."""
    image = image.float().contiguous()
    if tuple(image.shape[-2:]) == tuple(hw):
        return image
    return F.interpolate(image, size=hw, mode="bicubic", antialias=True, align_corners=False).clamp_(0, 1)


def autocast(device: torch.device, dtype: torch.dtype) -> AbstractContextManager:
    """Autocast to the frozen UNet's half precision around fp32 adapter weights; a no-op in fp32."""
    return nullcontext() if dtype == torch.float32 else torch.autocast(device.type, dtype=dtype)


def adapter_parameters(unet: nn.Module, name: str) -> list[nn.Parameter]:
    """The A and B matrices of adapter ``name`` (peft names them ``...lora_A.<name>.weight``)."""
    return [p for n, p in unet.named_parameters() if f".lora_A.{name}." in n or f".lora_B.{name}." in n]


def add_adapter(unet: nn.Module, name: str, settings: LoraSettings, dtype: torch.dtype) -> None:
    """A fresh adapter ``name`` (B = 0) on every attention projection of the UNet, weights in ``dtype``."""
    from peft import LoraConfig

    cfg = LoraConfig(
        r=settings.rank, lora_alpha=settings.lora_alpha, target_modules=list(settings.targets), init_lora_weights=True
    )
    with warnings.catch_warnings():  # peft warns that a second adapter is a second adapter
        warnings.simplefilter("ignore", UserWarning)
        unet.add_adapter(cfg, adapter_name=name)
    for p in adapter_parameters(unet, name):
        p.data = p.data.to(dtype)
        p.requires_grad_(False)


def adapter_state(unet: nn.Module, name: str) -> dict[str, Tensor]:
    """Adapter ``name``'s weights, keys without the adapter name, as float32 CPU tensors."""
    from peft.utils import get_peft_model_state_dict

    state = get_peft_model_state_dict(unet, adapter_name=name)
    return {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in state.items()}


def load_adapter(unet: nn.Module, name: str, settings: LoraSettings, state: dict[str, Tensor]) -> None:
    """Adapter ``name`` with the weights ``adapter_state`` returned; a key mismatch is a ValueError."""
    from peft.utils import set_peft_model_state_dict

    add_adapter(unet, name, settings, unet.dtype)
    result = set_peft_model_state_dict(unet, state, adapter_name=name)
    unexpected = list(getattr(result, "unexpected_keys", []))
    missing = [k for k in getattr(result, "missing_keys", []) if f".{name}." in k]
    if unexpected or missing:
        unet.delete_adapters(name)
        raise ValueError(f"LoRA weights do not fit this UNet ({len(unexpected)} unexpected, {len(missing)} missing)")


def use_adapters(unet: nn.Module, scales: dict[str, float]) -> None:
    """Make exactly ``scales``' adapters active at those scales; an empty dict runs the base model."""
    if not getattr(unet, "_hf_peft_config_loaded", False):
        return
    if not scales:
        unet.disable_adapters()
        return
    unet.enable_adapters()
    unet.set_adapters(list(scales), [float(w) for w in scales.values()])


def train_lora(
    sd,
    name: str,
    style: Tensor,
    settings: LoraSettings,
    *,
    on_step: Callable[[DiffStep], None] | None = None,
    label: str = "",
) -> tuple[dict[str, Tensor], list[float]]:
    """Learn adapter ``name`` on the style image (1, 3, H, W) in [0, 1]; returns its weights and the
    loss of every step. The adapter stays on the UNet (inference dtype); on any error or Ctrl-C it is
    deleted, so a half-learned style is never used."""
    unet = sd.unet
    add_adapter(unet, name, settings, torch.float32)  # learned in fp32, as the release does
    try:
        # Callers may hold inference or no-grad mode (a render path); learning needs autograd.
        with torch.inference_mode(False), torch.enable_grad():
            losses = _learn(sd, name, style.clone(), settings, on_step, label)
    except BaseException:
        unet.delete_adapters(name)
        raise
    finally:
        unet.requires_grad_(False)
    for p in adapter_parameters(unet, name):
        p.data = p.data.to(unet.dtype)
    return adapter_state(unet, name), losses


def _learn(
    sd,
    name: str,
    style: Tensor,
    settings: LoraSettings,
    on_step: Callable[[DiffStep], None] | None,
    label: str,
) -> list[float]:
    unet, device = sd.unet, sd.device
    hw = working_size(*style.shape[-2:], settings.size or min(style.shape[-2:]), sd.multiple)
    mean, std = sd.posterior(resize(style, hw))  # (1, 4, h, w) float32
    emb = sd.embed([settings.prompt])  # (1, 77, D)
    side = min(mean.shape[-2:])  # a square crop: the whole image when it is square
    params = adapter_parameters(unet, name)
    for p in params:
        p.requires_grad_(True)
    use_adapters(unet, {name: 1.0})
    opt = torch.optim.AdamW(params, lr=settings.lr, weight_decay=settings.weight_decay)
    scaler = torch.amp.GradScaler(device.type, enabled=sd.dtype == torch.float16)
    cum = sd.scheduler.alphas_cumprod.to(torch.float32)
    gen = torch.Generator().manual_seed(settings.seed)  # CPU draws: the same sequence on every device
    prediction = sd.scheduler.config.prediction_type
    losses: list[float] = []
    for step in range(settings.steps):
        top = int(torch.randint(0, mean.shape[-2] - side + 1, (1,), generator=gen))
        left = int(torch.randint(0, mean.shape[-1] - side + 1, (1,), generator=gen))
        crop = (..., slice(top, top + side), slice(left, left + side))
        z = mean[crop] + std[crop] * torch.randn(std[crop].shape, generator=gen).to(device)  # (1, 4, s, s)
        noise = torch.randn(z.shape, generator=gen).to(device)
        t = torch.randint(0, len(cum), (1,), generator=gen)
        a = cum[t].to(device)
        with autocast(device, sd.dtype):
            pred = unet(noised(z, noise, a).to(sd.dtype), t.to(device), emb).sample
        loss = F.mse_loss(pred.float(), target(z, noise, a, prediction))
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        losses.append(float(loss.detach()))
        if on_step is not None:
            on_step(DiffStep("lora", step + 1, settings.steps, losses[-1], label))
    return losses

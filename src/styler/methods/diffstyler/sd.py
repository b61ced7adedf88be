"""The Stable Diffusion base model: its five diffusers components, loaded from a hub id or a folder
through diffusers' own cache and offline rules, and the small conversions around them (prompts to
embeddings, images to latents and back). Imported only after ``config.require()`` passed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ...errors import Param, WeightsError

# (subfolder, diffusers/transformers class name)
COMPONENTS = (
    ("unet", "UNet2DConditionModel"),
    ("vae", "AutoencoderKL"),
    ("text_encoder", "CLIPTextModel"),
    ("tokenizer", "CLIPTokenizer"),
    ("scheduler", "DDIMScheduler"),
)
FOLDER_HINT = "a diffusers folder with unet/, vae/, text_encoder/, tokenizer/ and scheduler/ (save_pretrained)"
PASS_FOLDER = ("pass ", Param("sd", "FOLDER"), f", {FOLDER_HINT}")  # the fix most model errors end with


@contextmanager
def quiet() -> Iterator[None]:
    """diffusers/transformers log load details ("weights not used") and draw progress bars (transformers'
    switch covers huggingface_hub's download bars too); only the CLI prints, so it says beforehand
    when a download is coming (``is_available``), and problems are raised as errors instead."""
    from diffusers.utils import logging as dlog
    from transformers.utils import logging as tlog

    loggers = [logging.getLogger(n) for n in ("diffusers", "transformers", "peft", "huggingface_hub")]
    before = [lg.level for lg in loggers]
    bars = [(m, m.is_progress_bar_enabled()) for m in (dlog, tlog)]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    for m, _ in bars:
        m.disable_progress_bar()
    try:
        with warnings.catch_warnings():  # deprecation notes about the libraries' own arguments
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", FutureWarning)
            yield
    finally:
        for lg, level in zip(loggers, before):
            lg.setLevel(level)
        for m, on in bars:
            if on:
                m.enable_progress_bar()


def offline_mode() -> bool:
    """HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) as set now, not only when huggingface_hub was imported."""
    from huggingface_hub import constants

    env = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return bool(constants.HF_HUB_OFFLINE) or env.strip().upper() in {"1", "ON", "YES", "TRUE"}


def is_available(name: str | Path) -> bool:
    """Whether the model is a local folder or its UNet weights are in the Hugging Face cache already
    (False: loading it will download about 5 GB, or fail offline)."""
    if Path(name).expanduser().is_dir():
        return True
    from huggingface_hub import try_to_load_from_cache

    files = ("unet/diffusion_pytorch_model.safetensors", "unet/diffusion_pytorch_model.bin")
    return any(isinstance(try_to_load_from_cache(str(name), f), str) for f in files)


def looks_like_folder(name: str) -> bool:
    """A path rather than a hub id ("name" or "owner/name")."""
    return name.startswith(("/", ".", "~")) or name.count("/") > 1 or "\\" in name or Path(name).exists()


def _missing(name: str, offline: bool, detail: str) -> WeightsError:
    if looks_like_folder(name) and not Path(name).expanduser().exists():
        return WeightsError(f"{name} does not exist; ", *PASS_FOLDER)
    if Path(name).expanduser().exists():
        return WeightsError(f"{name} is not a usable Stable Diffusion model ({detail}); ", *PASS_FOLDER)
    why = "the hub is offline (HF_HUB_OFFLINE)" if offline else "it could not be downloaded"
    return WeightsError(
        f"base model '{name}' is not in the Hugging Face cache and {why}: run `hf download {name}` on a "
        "connected machine, or pass ",
        Param("sd", "FOLDER"),
        f", {FOLDER_HINT}",
    )


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:160]


def _load_one(name: str, sub: str, cls_name: str, dtype: torch.dtype, offline: bool) -> Any:
    import diffusers
    import transformers

    cls = getattr(diffusers, cls_name, None) or getattr(transformers, cls_name)
    kwargs: dict[str, Any] = {"subfolder": sub, "local_files_only": offline}
    try:
        if sub == "tokenizer":
            return cls.from_pretrained(name, **kwargs)
        if sub == "scheduler":
            return cls.from_config(cls.load_config(name, **kwargs))  # any DDIM-compatible schedule
        if sub == "text_encoder":
            model, info = cls.from_pretrained(name, dtype=dtype, output_loading_info=True, **kwargs)
        else:
            found = cls.load_config(name, **kwargs).get("_class_name")
            if found != cls_name:
                raise WeightsError(f"{name}/{sub} holds a {found} where {cls_name} belongs; ", *PASS_FOLDER)
            model, info = cls.from_pretrained(name, torch_dtype=dtype, output_loading_info=True, **kwargs)
    except WeightsError:
        raise
    except OSError as e:  # diffusers and transformers say "not found" (offline, no such folder) this way
        raise _missing(name, offline, f"{sub}: {_first_line(e)}") from None
    except Exception as e:  # corrupt or foreign files: whatever the libraries raise, one line
        raise WeightsError(f"{name}/{sub} could not be loaded ({_first_line(e)}); ", *PASS_FOLDER) from None
    if info.get("missing_keys"):
        raise WeightsError(
            f"{name}/{sub}: {len(info['missing_keys'])} weights missing for its config (e.g. "
            f"{sorted(info['missing_keys'])[0]}); ",
            *PASS_FOLDER,
        )
    return model.eval().requires_grad_(False)


def model_identity(name: str, configs: dict[str, dict]) -> str:
    """The model's id or resolved folder plus a hash of its components' configs: what LoRA and
    inversion cache keys name. A hub snapshot's commit is in its resolved cache path."""
    where = str(Path(name).expanduser().resolve()) if Path(name).expanduser().is_dir() else name
    try:
        from huggingface_hub import try_to_load_from_cache

        hit = None if where != name else try_to_load_from_cache(name, "unet/config.json")
        if isinstance(hit, str):
            where = f"{name}@{Path(hit).parent.parent.name}"  # snapshots/<commit>/unet/config.json
    except Exception:  # any hub-layout surprise: the id alone still names the model
        pass
    # Private keys and library versions change with an upgrade, not with the model.
    kept = {
        k: {f: v for f, v in c.items() if not f.startswith("_") and not f.endswith("_version")}
        for k, c in configs.items()
    }
    blob = json.dumps(kept, sort_keys=True, default=str)
    return f"{where}#{hashlib.sha256(blob.encode()).hexdigest()[:16]}"


@dataclass
class StableDiffusion:
    """The components on one device; the UNet in ``dtype``, the VAE and text encoder too."""

    name: str
    identity: str
    unet: Any
    vae: Any
    text_encoder: Any
    tokenizer: Any
    scheduler: Any

    @property
    def device(self) -> torch.device:
        return self.unet.device

    @property
    def dtype(self) -> torch.dtype:
        return self.unet.dtype

    @property
    def vae_factor(self) -> int:
        """Pixels per latent cell (8 for SD)."""
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def multiple(self) -> int:
        """Image sides must be multiples of this: the VAE's factor times the UNet's downsampling."""
        return self.vae_factor * 2 ** (len(self.unet.config.block_out_channels) - 1)

    @torch.no_grad()
    def embed(self, prompts: list[str]) -> Tensor:
        """Prompts -> text embeddings (B, 77, D) in the UNet's dtype."""
        tok = self.tokenizer(prompts, padding="max_length", max_length=self.tokenizer.model_max_length, truncation=True)
        ids = torch.tensor(tok.input_ids, device=self.device)
        return self.text_encoder(ids)[0].to(self.dtype)

    @torch.no_grad()
    def posterior(self, image: Tensor) -> tuple[Tensor, Tensor]:
        """(N, 3, H, W) in [0, 1] -> the VAE posterior's mean and std (N, 4, H/8, W/8), scaled into the
        UNet's latent space (times the VAE's scaling factor), float32."""
        x = (image.to(self.device, self.vae.dtype) * 2 - 1).contiguous()
        dist = self.vae.encode(x).latent_dist
        scale = self.vae.config.scaling_factor
        return dist.mean.float() * scale, dist.std.float() * scale

    @torch.no_grad()
    def decode(self, latent: Tensor) -> Tensor:
        """(N, 4, h, w) latents -> (N, 3, 8h, 8w) float32 in [0, 1]."""
        z = latent.to(self.device, self.vae.dtype) / self.vae.config.scaling_factor
        return ((self.vae.decode(z).sample.float() + 1) / 2).clamp_(0, 1)


def load_model(name: str | Path, device: torch.device, dtype: torch.dtype) -> StableDiffusion:
    """Every component of ``name`` (hub id or folder) on ``device``; one-line WeightsError when the
    model is missing (offline: what to download or which folder to pass) or is not SD-shaped."""
    name = str(name)
    offline = offline_mode()
    parts: dict[str, Any] = {}
    with quiet():
        for sub, cls_name in COMPONENTS:
            parts[sub] = _load_one(name, sub, cls_name, dtype, offline)
    configs = {k: dict(getattr(v, "config", {})) for k, v in parts.items() if k not in ("tokenizer", "text_encoder")}
    configs["text_encoder"] = parts["text_encoder"].config.to_dict()
    for sub in ("unet", "vae", "text_encoder"):
        parts[sub] = parts[sub].to(device)
    return StableDiffusion(name=name, identity=model_identity(name, configs), **parts)

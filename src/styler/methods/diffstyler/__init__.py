"""DiffStyler (Shaoxu Li, arXiv 2403.18461): diffusion-based localized style transfer on Stable Diffusion.

A LoRA learned on each style image turns the base model (SD 2.1-base by default) into that style's
model; the content photo is DDIM-inverted and re-sampled from its own noise while its decoder
features and self-attention are injected (plug-and-play, Tumanyan et al. 2023), which keeps its
structure; region masks let each style's model paint its own region and the base model the rest.
Written from the paper and the method description; the authors' code was not used.

Modules: ``config`` (settings, the extra's check), ``sd`` (the base model), ``lora`` (learning and
switching adapters), ``inversion`` (DDIM both ways), ``inject`` (feature and attention injection),
``sampler`` (the guided, masked loop), ``cache`` (LoRAs and inversions on disk), ``estimate`` (run
time before the run), ``method`` (the ``Method`` and ``load``, which the registry calls). diffusers,
transformers and peft (the optional extra ``styler[diffusion]``) are imported only by ``sd`` and
``lora``, inside functions, after ``config.require()``, and no other styler package imports them (an
import-linter contract). Importing this package (its settings) needs neither them nor torch: the
CLI's help reads the defaults from ``config``.
"""

from __future__ import annotations

from .config import DEFAULT_MODEL, EXTRA, DiffStep, DiffStylerConfig, LoraSettings, Windows, require

__all__ = ["DEFAULT_MODEL", "EXTRA", "DiffStep", "DiffStylerConfig", "LoraSettings", "Windows", "require"]

"""Random Stable-Diffusion-shaped model folders for DiffStyler's tests and benchmarks (no download).

``write_tiny`` saves a two-block UNet, a two-block VAE, a two-layer CLIP text encoder and a
character-level CLIP tokenizer (vocabulary and merges written here) as a diffusers folder: the whole
DiffStyler path runs on it in seconds on a CPU. ``sd21_base_configs`` are the architecture settings
of stabilityai/stable-diffusion-2-1-base (public model card / config files), for building the real
sizes with random weights. diffusers and transformers are imported inside the functions.
"""

from __future__ import annotations

import json
import string
from pathlib import Path

import torch

SCHEDULER = {  # SD 1.x/2.x training schedule, DDIM sampling as the release does
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "clip_sample": False,
    "set_alpha_to_one": False,
    "steps_offset": 1,
    "prediction_type": "epsilon",
}


def write_tokenizer(folder: Path, max_length: int = 77) -> None:
    """A CLIP BPE tokenizer over single characters (no merges): any lower-case prompt tokenizes."""
    from transformers import CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for ch in string.ascii_lowercase + string.digits + ",.!'-":
        vocab[ch] = len(vocab)
        vocab[ch + "</w>"] = len(vocab)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    tok = CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=max_length)
    tok.save_pretrained(folder)


def write_tiny(root: Path, seed: int = 0) -> Path:
    """A tiny random SD-layout folder at ``root``: unet/, vae/, text_encoder/, tokenizer/, scheduler/.
    Images must be multiples of 4 px (VAE factor 2 times one UNet downsampling)."""
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=8,
        layers_per_block=1,
        block_out_channels=(16, 32),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=(2, 4),
        norm_num_groups=8,
        use_linear_projection=True,
    )
    vae = AutoencoderKL(
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        block_out_channels=(8, 16),
        latent_channels=4,
        norm_num_groups=8,
        sample_size=32,
    )
    text = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=128,
            hidden_size=32,
            intermediate_size=64,
            num_attention_heads=4,
            num_hidden_layers=2,
            max_position_embeddings=77,
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
        )
    )
    root = Path(root)
    for name, part in (("unet", unet), ("vae", vae), ("text_encoder", text)):
        part.save_pretrained(root / name)
    DDIMScheduler(**SCHEDULER).save_pretrained(root / "scheduler")
    write_tokenizer(root / "tokenizer")
    return root


def sd21_base_configs() -> dict[str, dict]:
    """UNet, VAE and text-encoder settings of SD 2.1-base (865.9 M, 83.7 M and 340 M parameters)."""
    return {
        "unet": {
            "sample_size": 64,
            "attention_head_dim": [5, 10, 20, 20],
            "block_out_channels": [320, 640, 1280, 1280],
            "cross_attention_dim": 1024,
            "down_block_types": ["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"],
            "up_block_types": ["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3,
            "layers_per_block": 2,
            "use_linear_projection": True,
        },
        "vae": {
            "block_out_channels": [128, 256, 512, 512],
            "down_block_types": ["DownEncoderBlock2D"] * 4,
            "up_block_types": ["UpDecoderBlock2D"] * 4,
            "layers_per_block": 2,
            "latent_channels": 4,
            "sample_size": 512,
        },
        "text_encoder": {
            "vocab_size": 49408,
            "hidden_size": 1024,
            "intermediate_size": 4096,
            "num_attention_heads": 16,
            "num_hidden_layers": 23,
            "hidden_act": "gelu",
            "projection_dim": 512,
        },
    }

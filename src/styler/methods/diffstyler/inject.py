"""Plug-and-play injection (Tumanyan et al., CVPR 2023) as DiffStyler uses it: while sampling, every UNet
call carries the content branch first, ``[content n | generated n | generated n ...]``, and

* **features**: a forward hook on ``up_blocks[1].resnets[1]`` replaces the generated branches'
  output with the content branch's (the decoder's spatial layout comes from the photo);
* **self-attention**: in the decoder's self-attention layers (``attn1`` of up-blocks 1 and deeper)
  the generated branches' queries and keys become ``r * content + (1 - r) * own``, with
  r = min(1, 2 t / T): all content while the image is mostly noise, fading toward the end. Values
  stay the branch's own, so the appearance (the style) is not copied from the photo.

``Injection`` is the switchboard the sampler sets before each UNet call; ``injected`` installs the
hook and the attention processors for the length of a ``with`` block and removes them after, also on
errors and Ctrl-C.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

FEATURE_LAYER = ("up_blocks", 1, "resnets", 1)


@dataclass
class Injection:
    """What the next UNet call injects. ``n``: images per branch (the content branch is the first n)."""

    n: int = 0
    features: bool = False
    attention: float = 0.0  # r, the content's share of the generated queries and keys; 0 = off
    lora: bool = True  # False: base q/k/v projections in the injected layers (the release's behaviour)


def blend_rows(x: Tensor, n: int, r: float) -> Tensor:
    """x (B, ...) with B = n * branches: rows n.. become r * (content rows, repeated) + (1 - r) * own."""
    if r <= 0 or n <= 0 or x.shape[0] <= n:
        return x
    content = x[:n].repeat(x.shape[0] // n - 1, *([1] * (x.dim() - 1)))  # (B - n, ...)
    gen = content if r >= 1 else r * content + (1 - r) * x[n:]
    return torch.cat([x[:n], gen])


def _projection(module: nn.Module, lora: bool) -> nn.Module:
    """A peft LoRA layer's frozen base layer when ``lora`` is False, else the module itself."""
    return module if lora else getattr(module, "base_layer", module)


class InjectedSelfAttention:
    """An attention processor (diffusers' interface) for self-attention with q/k injection; the rest is
    the standard scaled dot-product attention of ``AttnProcessor2_0``."""

    def __init__(self, state: Injection) -> None:
        self.state = state

    def __call__(
        self,
        attn: Any,
        hidden_states: Tensor,
        encoder_hidden_states: Tensor | None = None,
        attention_mask: Tensor | None = None,
        temb: Tensor | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> Tensor:
        s = self.state
        residual = hidden_states
        if attn.spatial_norm is not None:
            hidden_states = attn.spatial_norm(hidden_states, temb)
        shape4 = hidden_states.shape if hidden_states.ndim == 4 else None
        if shape4 is not None:  # (B, C, H, W) -> (B, HW, C)
            hidden_states = hidden_states.flatten(2).transpose(1, 2)
        b, length, _ = hidden_states.shape
        if attention_mask is not None:
            attention_mask = attn.prepare_attention_mask(attention_mask, length, b).view(b, attn.heads, -1, length)
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
        context = hidden_states if encoder_hidden_states is None else encoder_hidden_states
        q = _projection(attn.to_q, s.lora)(hidden_states)  # (B, L, inner)
        k = _projection(attn.to_k, s.lora)(context)
        v = _projection(attn.to_v, s.lora)(context)
        q, k = blend_rows(q, s.n, s.attention), blend_rows(k, s.n, s.attention)
        heads = attn.heads
        q, k, v = (t.view(b, -1, heads, t.shape[-1] // heads).transpose(1, 2) for t in (q, k, v))  # (B, h, L, d)
        if attn.norm_q is not None:
            q = attn.norm_q(q)
        if attn.norm_k is not None:
            k = attn.norm_k(k)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attention_mask, dropout_p=0.0, is_causal=False)
        out = out.transpose(1, 2).reshape(b, -1, heads * out.shape[-1]).to(q.dtype)  # (B, L, inner)
        out = attn.to_out[1](attn.to_out[0](out))
        if shape4 is not None:
            out = out.transpose(1, 2).reshape(shape4)
        if attn.residual_connection:
            out = out + residual
        return out / attn.rescale_output_factor


def decoder_self_attention(unet: nn.Module) -> list[str]:
    """Processor names of the self-attention (attn1) layers in up-blocks 1 and deeper."""
    return [
        name
        for name in unet.attn_processors
        if name.startswith("up_blocks.") and int(name.split(".")[1]) >= 1 and name.endswith("attn1.processor")
    ]


def feature_layer(unet: nn.Module) -> nn.Module:
    """``up_blocks[1].resnets[1]``, the layer whose output the content branch hands over."""
    return unet.up_blocks[FEATURE_LAYER[1]].resnets[FEATURE_LAYER[3]]


@contextmanager
def injected(unet: nn.Module, state: Injection) -> Iterator[Injection]:
    """Hook and processors installed for the block, the UNet restored afterwards."""
    before = dict(unet.attn_processors)
    names = decoder_self_attention(unet)
    processor = InjectedSelfAttention(state)

    def hand_over(module: nn.Module, inputs: Any, output: Tensor) -> Tensor:
        return blend_rows(output, state.n, 1.0) if state.features else output

    handle = feature_layer(unet).register_forward_hook(hand_over)
    try:
        unet.set_attn_processor({k: (processor if k in names else v) for k, v in before.items()})
        yield state
    finally:
        handle.remove()
        unet.set_attn_processor(before)

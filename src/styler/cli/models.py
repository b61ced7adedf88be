"""styler models: what a trained CIN model holds (``show FILE``: styles, training config, iterations)
and the DiffStyler LoRAs learned and cached so far (``list``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from .console import guarded, out
from .help import Command, sub_app

models_app = sub_app("Inspect trained multi-style (CIN) model files and the cached DiffStyler LoRAs.")


@models_app.command("list", cls=Command)
@guarded
def list_loras() -> None:
    """List the DiffStyler LoRAs learned so far (one per style, base model and settings): label, base
    model, settings, size and file. They live in the user cache (`styler cache info`; default
    ~/.cache/styler/diffstyler); delete a file to learn that style again."""
    from ..methods.diffstyler.cache import cached_loras, default_cache_dir

    folder = default_cache_dir() / "loras"
    loras = cached_loras()
    if not loras:
        out.print(escape(f"no DiffStyler LoRAs in {folder} (styler transfer --method diffstyler learns one per style)"))
        return
    total = sum(i.size for i in loras)
    out.print(escape(f"{len(loras)} DiffStyler LoRA(s) in {folder}, {total / 2**20:.1f} MiB:"))
    for i in loras:
        s = i.settings
        settings = ", ".join(f"{k} {s[k]}" for k in ("steps", "rank", "lr", "seed") if k in s)
        label = (i.label or f"(unnamed style {i.key[:8]})") + (f" {i.style_size}" if i.style_size else "")
        out.print(
            escape(
                f"  {label}  base {i.base}  {settings}  loss {i.loss_first:.4f} -> {i.loss_last:.4f}  "
                f"{i.size / 2**20:.1f} MiB  {i.created}  {i.path}"
            )
        )


@models_app.command(cls=Command)
@guarded
def show(
    file: Annotated[
        Path, typer.Argument(help="A model.pth written by `styler train --method cin`.", show_default=False)
    ],
) -> None:
    """List a CIN model's styles (index and name), its training config and iterations."""
    from ..methods.cin.method import read_model

    net, info = read_model(file)
    params = sum(p.numel() for p in net.parameters())
    per_style = sum(n.gamma.shape[1] * 2 for n in net.norms())
    out.print(
        escape(
            f"{file}: CIN network (Dumoulin et al. 2017), {len(info['styles'])} styles, "
            f"{info['iterations']} training iterations, {params:,} parameters ({per_style:,} per style)"
        )
    )
    out.print("styles:")
    for i, name in enumerate(info["styles"]):
        out.print(escape(f"  {i:>3}  {name}"))
    config = info.get("config") or {}
    if config:
        out.print("config:")
        for key, value in config.items():
            out.print(escape(f"  {key} = {value}"))

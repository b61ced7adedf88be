"""styler models show FILE: what a trained CIN model holds (styles, training config, iterations)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from .console import guarded, out
from .help import Command, sub_app

models_app = sub_app("Inspect trained multi-style (CIN) model files.")


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

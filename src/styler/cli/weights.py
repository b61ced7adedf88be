"""styler weights: list, download, verify and import the pretrained files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import download_progress, err, fail, guarded, out

weights_app = typer.Typer(help="List, download, verify and import the pretrained weights.", no_args_is_help=True)


@weights_app.command("list")
@guarded
def list_() -> None:
    """Show the known weights, their URLs and whether they are in the weights directory."""
    from .. import weights

    out.print(f"weights directory: {weights.default_dir()}  (set ${weights.ENV_DIR} to change)")
    for known in weights.KNOWN.values():
        path = weights.default_dir() / known.filename
        state = f"{path.stat().st_size / 1e6:.1f} MB" if path.is_file() else "missing"
        digest = (weights.recorded_hash(path) or "-")[:16] if path.is_file() else "-"
        out.print(f"{known.name:<8} {known.filename:<19} {state:<9} sha256 {digest:<16}  {known.url}")


@weights_app.command()
@guarded
def download(force: Annotated[bool, typer.Option(help="Download again even if present.")] = False) -> None:
    """Download missing weights into the weights directory (checked, atomic)."""
    from .. import weights
    from ..engine import check_weights

    for known in weights.KNOWN.values():
        path = weights.default_dir() / known.filename
        if path.is_file() and not force:
            err.print(f"{known.filename}: already in {path.parent}")
            continue
        with download_progress() as cb:
            dest = weights.fetch(known, path.parent, progress=cb, check=lambda p, k=known: check_weights(k, p))
        out.print(str(dest))


@weights_app.command()
@guarded
def verify() -> None:
    """Check every weights file: safe to load, exact layout, and unchanged since it was fetched."""
    from .. import weights
    from ..engine import check_weights
    from ..errors import WeightsError

    bad = 0
    for known in weights.KNOWN.values():
        path = weights.default_dir() / known.filename
        try:
            if not path.is_file():
                raise WeightsError(f"{path} is missing; run `styler weights download`")
            check_weights(known, path)
            recorded = weights.recorded_hash(path)
            if recorded and recorded != weights.sha256_of(path):
                raise WeightsError(f"{path} changed since it was fetched (SHA-256 differs); download it again")
            err.print(f"[green]ok[/] {path}", markup=True)
        except WeightsError as e:
            bad += 1
            err.print(f"[red]bad[/] {e}", markup=True)
    if bad:
        raise fail(f"{bad} weights file(s) failed verification")


@weights_app.command("import")
@guarded
def import_(files: Annotated[list[Path], typer.Argument(help="vgg_normalised.pth and/or decoder.pth files.")]) -> None:
    """Copy weights from local files (for machines without internet); each is checked first."""
    from .. import weights
    from ..engine import check_weights
    from ..errors import WeightsError

    for file in files:
        matches = []
        for known in weights.KNOWN.values():
            try:
                check_weights(known, file)
                matches.append(known)
            except WeightsError as e:
                reason = str(e)
        if not matches:
            raise WeightsError(f"{file} is neither a vgg_normalised.pth nor a decoder.pth ({reason})")
        out.print(str(weights.install(matches[0], file, weights.default_dir())))

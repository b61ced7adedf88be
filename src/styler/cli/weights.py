"""styler weights: list, download, verify and import the pretrained files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

if TYPE_CHECKING:
    from ..nets import weights

from .console import download_progress, err, fail, guarded, out

weights_app = typer.Typer(help="List, download, verify and import the pretrained weights.", no_args_is_help=True)


@weights_app.command("list")
@guarded
def list_() -> None:
    """Show the known weights, where they are downloaded from and whether they are in the weights directory."""
    from ..nets import weights

    out.print(f"weights directory: {weights.default_dir()}  (set ${weights.ENV_DIR} to change)")
    mirror = os.environ.get(weights.ENV_MIRROR)
    if mirror:
        out.print(f"downloads from the mirror {mirror}  (${weights.ENV_MIRROR})")
    for known in weights.KNOWN.values():
        path = weights.default_dir() / known.filename
        state = f"{path.stat().st_size / 1e6:.1f} MB" if path.is_file() else "missing"
        recorded = weights.recorded_hash(path) if path.is_file() else None
        digest = (recorded or "-")[:16]
        if known.sha256 is None:  # no published hash: verify checks the layout instead
            kind = " (unpinned: no published hash; the layout is verified)"
        else:
            kind = "" if recorded is None else " (release)" if recorded == known.sha256 else " (custom)"
        out.print(
            f"{known.name:<8} {known.filename:<19} {state:<9} sha256 {digest:<16}{kind:<10} "
            f"{weights.download_url(known)}"
        )


@weights_app.command()
@guarded
def download(
    names: Annotated[
        list[str] | None,
        typer.Argument(help="Which: vgg, decoder, aesfa (default: all of them).", show_default=False),
    ] = None,
    force: Annotated[bool, typer.Option(help="Download again even if present.")] = False,
) -> None:
    """Download missing weights into the weights directory (size and SHA-256 checked where a hash
    is published, the layout always; resumable, one download at a time per directory)."""
    from ..errors import InputError
    from ..nets import weights

    if unknown := [n for n in names or [] if n not in weights.KNOWN]:
        raise InputError(f"no weights named '{unknown[0]}'; the table has {', '.join(weights.KNOWN)}")
    for known in [weights.KNOWN[n] for n in names] if names else weights.KNOWN.values():
        path = weights.default_dir() / known.filename
        if path.is_file() and not force:
            err.print(f"{known.filename}: already in {path.parent}")
            continue
        with download_progress() as cb:
            dest = weights.fetch(known, path.parent, progress=cb, force=force, check=_checker(known))
        out.print(str(dest))


@weights_app.command()
@guarded
def verify(
    files: Annotated[
        list[Path] | None, typer.Argument(help="Weights files to check (default: those in the weights directory).")
    ] = None,
) -> None:
    """Check weights files: safe to load, exact layout, unchanged since they were fetched, and
    whether each is the pinned release file or a custom one (a trained decoder). Files with no
    published hash (AesFA's main.pth) are checked by layout only."""
    from ..errors import WeightsError
    from ..methods import check_weights
    from ..nets import weights

    targets: list[tuple[weights.KnownWeights | None, Path]]
    if files:
        targets = [(None, Path(f)) for f in files]
    else:
        targets = [(known, weights.default_dir() / known.filename) for known in weights.KNOWN.values()]
    bad = 0
    for known, path in targets:
        if known is not None and known.method is not None and not path.is_file():  # only that method needs it
            err.print(
                f"[dim]-[/] {escape(str(path))}: not downloaded (only --method {known.method} needs it; "
                "`styler weights download` fetches it)",
                markup=True,
            )
            continue
        try:
            if not path.is_file():
                hint = "check the path" if files else "run `styler weights download`"
                raise WeightsError(f"{path} is missing; {hint}")
            known = known or _identify(path)
            check_weights(known, path)
            digest = weights.sha256_of(path)
            recorded = weights.recorded_hash(path)
            if recorded and recorded != digest:
                raise WeightsError(f"{path} changed since it was fetched (SHA-256 differs); download it again")
            if known.sha256 is None:
                what = f"a valid {known.filename} layout ({known.name}; unpinned: no published hash to compare)"
            elif weights.is_release(known, path, digest):
                what = f"the release {known.filename}"
            else:
                what = f"a custom {known.name} file (valid layout, not the release {known.filename})"
            err.print(f"[green]ok[/] {escape(str(path))}: {what}, sha256 {digest[:16]}", markup=True)
        except WeightsError as e:
            bad += 1
            err.print(f"[red]bad[/] {escape(str(e))}", markup=True)
    if bad:
        raise fail(f"{bad} weights file(s) failed verification")


def _checker(known: weights.KnownWeights):
    """``known``'s full layout check (a method's model file: that method's)."""
    from ..methods import check_weights

    return lambda path: check_weights(known, path)


def _identify(path: Path) -> weights.KnownWeights:
    """The known weights whose layout ``path`` has (``WeightsError`` if none)."""
    from ..errors import WeightsError
    from ..methods import check_weights
    from ..nets import weights

    reasons: dict[str, str] = {}
    for known in weights.KNOWN.values():
        try:
            check_weights(known, path)
            return known
        except WeightsError as e:
            reasons[known.filename] = str(e)
    # The reason given: that of the known file ``path`` is named like, else of the last shared one.
    shared = [k.filename for k in weights.KNOWN.values() if k.method is None]
    reason = reasons.get(path.name, reasons[shared[-1]])
    *first, last = [k.filename for k in weights.KNOWN.values()]
    raise WeightsError(f"{path} is neither a {', a '.join(first)} nor a {last} ({reason})")


@weights_app.command("import")
@guarded
def import_(
    files: Annotated[list[Path], typer.Argument(help="vgg_normalised.pth, decoder.pth and/or AesFA's main.pth.")],
) -> None:
    """Copy weights from local files (for machines without internet); each is checked first."""
    from ..nets import weights

    for file in files:
        known = _identify(file)
        out.print(str(weights.install(known, file, weights.default_dir(), check=_checker(known))))

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
from .help import Command, sub_app

weights_app = sub_app(
    "List, download, verify and import the pretrained weights.\n\nOffline: copy vgg_normalised.pth and "
    "decoder.pth from a machine with internet access, then `styler weights import FILE...`, or set "
    "$STYLER_WEIGHTS_DIR to their folder."
)


@weights_app.command("list", cls=Command)
@guarded
def list_() -> None:
    """Show the known weights: in the weights folder or missing, release or not, and where each comes from."""
    from ..nets import weights

    out.print(escape(f"weights folder: {weights.default_dir()}  (set ${weights.ENV_DIR} to change)"))
    mirror = os.environ.get(weights.ENV_MIRROR)
    if mirror:
        out.print(escape(f"downloads from the mirror {mirror}  (${weights.ENV_MIRROR})"))
    for known in weights.KNOWN.values():
        path = weights.default_dir() / known.filename
        if path.is_file():
            state = f"{path.stat().st_size / 1e6:6.1f} MB  {weights.describe(known, path)}"
        else:
            state = "missing" + (", unpinned (no published hash)" if known.sha256 is None else "")
        out.print(escape(f"{known.name:<8} {known.filename:<19} {state:<40} from {weights.download_url(known)}"))


@weights_app.command(cls=Command)
@guarded
def download(
    names: Annotated[
        list[str] | None,
        typer.Argument(metavar="NAME", help="Which: vgg, decoder, aesfa.", show_default="all of them"),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Download again even if present.")] = False,
) -> None:
    """Download missing weights into the weights folder (size and SHA-256 checked where a hash is
    published, the layout always; resumable, one download at a time per folder)."""
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


@weights_app.command(cls=Command)
@guarded
def verify(
    files: Annotated[
        list[Path] | None,
        typer.Argument(metavar="FILE", help="Weights files to check.", show_default="those in the weights folder"),
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


@weights_app.command("import", cls=Command)
@guarded
def import_(
    files: Annotated[
        list[Path],
        typer.Argument(
            metavar="FILE", help="vgg_normalised.pth, decoder.pth (or a trained decoder), AesFA's main.pth."
        ),
    ],
) -> None:
    """Copy weights from local files into the weights folder (for machines without internet).

    Each file is checked first; from a training checkpoint only the network's weights are kept
    (no optimizer state). A file already there is replaced, and the command says what it was."""
    from ..nets import weights

    for file in files:
        known = _identify(file)
        dest = weights.default_dir() / known.filename
        before = weights.describe(known, dest) if dest.is_file() and not _same(file, dest) else None
        was_release = before is not None and weights.is_release(known, dest)
        checkpoint = weights.is_checkpoint(file)
        path = weights.install(known, file, weights.default_dir(), check=_checker(known))
        out.print(escape(str(path)))
        if checkpoint:
            mb = (Path(file).stat().st_size / 1e6, path.stat().st_size / 1e6)
            err.print(
                escape(
                    f"{file} is a training checkpoint: kept the decoder's weights only ({mb[0]:.1f} -> {mb[1]:.1f} MB)"
                )
            )
        if before is not None:
            back = "; get the release back with `styler weights download --force`" if was_release else ""
            err.print(escape(f"replaced {dest} ({before}){back}"))


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False

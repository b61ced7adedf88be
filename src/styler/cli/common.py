"""What every command shares: option vocabulary, error rendering, progress, model loading."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (BarColumn, DownloadColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn, TransferSpeedColumn)

err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)

# -- shared options ------------------------------------------------------------------------

Alpha = Annotated[float, typer.Option("--alpha", "-a", help="Style strength in [0, 1]: 1 = full style, 0 = the content.")]
ContentSize = Annotated[int, typer.Option(min=0, help="Resize the content's shorter side to N px (0 = keep its size).")]
StyleSize = Annotated[int, typer.Option(
    min=0, help="Resize the style's shorter side to N px (0 = keep). This is the stroke-scale control: "
         "smaller = larger brush strokes and patterns, larger = finer ones.")]
Crop = Annotated[bool, typer.Option("--crop", help="Centre-crop content and style to a square after resizing.")]
Device = Annotated[str, typer.Option(help="auto (CUDA when available, else CPU), cpu or cuda.")]
Precision = Annotated[str, typer.Option(
    help="auto, fp32, bf16 or fp16. auto = bf16 where measured faster and within 35 dB PSNR of fp32, else fp32.")]
Tile = Annotated[str, typer.Option(
    help="auto, off or PX. Run the networks on overlapping PX x PX tiles so any resolution fits in "
         "memory (the result matches untiled within 1/255). auto tiles only images whose untiled run "
         "would not fit in memory (free GPU memory; on CPU half the available RAM, at most 1 GiB).")]
Vgg = Annotated[Path | None, typer.Option(help="Encoder weights file (vgg_normalised.pth); default: the weights directory.")]
DecoderW = Annotated[Path | None, typer.Option("--decoder", help="Decoder weights file (decoder.pth or a trained decoder).")]
Output = Annotated[Path | None, typer.Option("--output", "-o", help="Output file, or a directory for many results.")]


def debug_enabled() -> bool:
    return os.environ.get("STYLER_DEBUG", "") not in ("", "0")


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", markup=True, highlight=False)
    return typer.Exit(code)


def guarded(fn: Callable) -> Callable:
    """Turn domain errors into one red line and a non-zero exit; no traceback unless debugging."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from ..errors import StylerError

        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except StylerError as e:
            if debug_enabled():
                raise
            raise fail(escape(str(e))) from None
        except KeyboardInterrupt:
            raise fail("interrupted; no partial output was left", 130) from None
        except MemoryError:
            raise fail("out of memory; lower --content-size/--style-size or use --tile") from None
        except Exception as e:  # a bug or an environment problem: still one line, with a way to see more
            if debug_enabled():
                raise
            msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
            raise fail(escape(f"{type(e).__name__}: {msg[:200]} (rerun with STYLER_DEBUG=1 or --debug "
                               "for the traceback)")) from None

    return wrapper


# -- progress -----------------------------------------------------------------------------

def progress_bar(*extra: ProgressColumn | str, show: bool = True) -> Progress:
    """Description, bar, done/total, ``extra`` columns, elapsed time and ETA, on stderr.
    Drawn only on a terminal (and when ``show``), so logs and pipes stay clean."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), *extra,
                    TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                    console=err, disable=not (show and err.is_terminal))


@contextmanager
def download_progress() -> Iterator[Callable[[int, int | None], None]]:
    """A callback for ``weights.fetch`` that drives a Rich download bar."""
    bar = Progress(TextColumn("downloading weights"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                   TimeRemainingColumn(), console=err, transient=True, disable=not err.is_terminal)
    tasks: dict[int | None, int] = {}

    def update(done: int, total: int | None) -> None:
        if total not in tasks:
            tasks[total] = bar.add_task("", total=total)
        bar.update(tasks[total], completed=done)

    with bar:
        yield update


# -- model loading ------------------------------------------------------------------------

def load_stylizer(vgg: Path | None, decoder: Path | None, device: str, precision: str, tile: str = "auto"):
    """Resolve and load the weights (downloading on first use). Commands name the device and
    precision in their progress bar and closing line, so an error stays a single line."""
    from ..engine import Stylizer
    from ..tiling import parse_tile

    tile = parse_tile(tile)  # a bad --tile fails before any download
    with download_progress() as cb:
        return Stylizer.from_files(vgg, decoder, device=device, precision=precision, tile=tile,
                                   progress=cb)


def output_paths(output: Path | None, names: list[str]) -> list[Path]:
    """Where each result goes. ``-o`` is a file (one result) or a directory (any number);
    a path with no image extension, or an existing directory, is a directory."""
    from ..errors import InputError
    from ..files import check_writable
    from ..images import FORMATS, output_format

    if output is not None and output.suffix and not output.is_dir():
        output_format(output)  # unknown extensions fail here, before any compute
        check_writable(output, "choose a writable output")
        if len(names) > 1:
            raise InputError(f"-o {output} is one file but there are {len(names)} results; "
                             "pass a directory to -o")
        return [output]
    folder = output if output is not None else Path.cwd()
    if folder.exists() and not folder.is_dir():
        raise InputError(f"-o {folder} is a file without an image extension; pass a directory or an image name")
    for name in names:
        if Path(name).suffix.lower() not in FORMATS:
            output_format(Path(name))
    check_writable(folder / "x", "choose a writable output")
    return [folder / name for name in names]


def exit_for_failures(failures: list[str], written: int) -> None:
    """A batch reports every skipped input, then exits non-zero if any failed."""
    if not failures:
        return
    if written == 0 and len(failures) == 1:
        raise fail(escape(failures[0]))
    for why in failures:
        err.print(f"[red]skipped:[/] {escape(why)}", markup=True)
    raise fail(f"{len(failures)} input(s) failed (see above); {written} result(s) were written")


# -- options shared by transfer and the controls (interpolate, mask) ------------------------

PreserveColor = Annotated[bool, typer.Option(
    "--preserve-color", help="Keep the content's colours: each style image first gets the content's RGB mean "
                             "and covariance (CORAL, as the paper). See also styler color-preserve.")]


def parse_numbers(text: str, what: str) -> list[float]:
    """'1,2.5,0' -> [1.0, 2.5, 0.0]; anything but finite numbers is one InputError line."""
    import math

    from ..errors import InputError

    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        raise InputError(f"{what} must be comma-separated numbers such as 1,2,1; got '{text}'") from None
    if not all(math.isfinite(v) for v in values):
        raise InputError(f"{what} must be finite numbers; got '{text}'")
    return values


def stems(paths: list[Path]) -> str:
    """File stems joined for output names: a.jpg, b.png -> 'a+b'."""
    return "+".join(p.stem for p in paths)


def region_summary(styles: list[Path], regions) -> str:
    """'regions sky.jpg 40%, sea.jpg 60%': each style's share of the (content or frame) pixels."""
    shares = regions.mean((1, 2)).tolist()  # regions: (R, H, W) 0/1 masks, before feathering
    return "regions " + ", ".join(f"{s.name} {f:.0%}" for s, f in zip(styles, shares))

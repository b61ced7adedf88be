"""styler video: one video, streamed through the engine; sound kept, flicker reported."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import TextColumn

from . import options as o
from .common import parse_numbers, read_styles, record, region_summary, say_path, style_name
from .console import err, guarded, progress_bar
from .loading import check_low_style, load_engine, style_inputs, with_low_style
from .signature import command


@guarded
@command
def video(
    input: Annotated[Path, typer.Argument(help="Input video (anything ffmpeg reads).", show_default=False)],
    styles: Annotated[
        list[Path] | None, typer.Argument(help="Style image(s) (or use --style).", show_default=False)
    ] = None,
    style: o.Styles = None,
    low_style: o.LowStyle = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Output video (.mp4, .mov, .mkv, .m4v).",
            show_default="{input}_stylized_{style}_{settings}.mp4 here",
        ),
    ] = None,
    no_clobber: o.NoClobber = False,
    json_out: o.Json = False,
    start: Annotated[
        str | None,
        typer.Option(
            metavar="T",
            help="Start the stretch to stylize at T: seconds (12.5), [HH:]MM:SS, or a frame number (300f).",
            show_default="the beginning",
        ),
    ] = None,
    duration: Annotated[
        str | None,
        typer.Option(
            metavar="D",
            help="Stylize only D (seconds, [HH:]MM:SS or frames: 48f) from --start: a preview.",
            show_default="to the end",
        ),
    ] = None,
    alpha: o.Alpha = 1.0,
    color: o.ColorOpt = None,
    weights: Annotated[
        str | None,
        typer.Option(
            metavar="W,W,...",
            help="With several styles: interpolation weights, one per style.",
            show_default="equal",
        ),
    ] = None,
    mask: Annotated[
        Path | None,
        typer.Option(
            help="A still mask or label image for every frame: each region takes its own style (as `styler mask`).",
            show_default="none",
        ),
    ] = None,
    feather: o.Feather = 0.0,
    smooth: Annotated[
        float,
        typer.Option(
            help="Temporal smoothing in [0, 1): where the input pixel did not change, keep this share of the previous "
            "output pixel. 0 = off; 0.8 cut flicker by a third on the sample clip, with no lag on motion."
        ),
    ] = 0.0,
    crf: Annotated[
        int, typer.Option(min=0, max=51, help="Encoder quality (x264/x265/vp9 CRF; lower = better, bigger).")
    ] = 18,
    codec: Annotated[
        str,
        typer.Option(metavar="ENCODER", help="ffmpeg video encoder: libx264 (H.264), libx265, libvpx-vp9 (.mkv), ..."),
    ] = "libx264",
    batch: Annotated[int, typer.Option(min=1, help="Frames per model call.")] = 4,
    reading: o.Reading = o.Reading(content_size=0),
    model: o.Model = o.Model(),
) -> None:
    """Stylize every frame of INPUT (or a stretch: --start, --duration); frame rate and audio are kept.

    Several styles are interpolated (--weights) or, with --mask, one per region. Prints the
    flicker ratio at the end: mean change between consecutive output frames over the same for
    the input (lower = steadier; --smooth lowers it).
    """
    from ..controls import Controls, normalize_weights
    from ..jobs.naming import free_path, low_tags, setting_tags
    from ..media.regions import load_regions
    from ..media.video import check_output, frame_size, probe, trim
    from ..methods import check_video

    check_video(model.method)
    mix = None if weights is None else tuple(parse_numbers(weights, "weights"))
    controls = Controls(alpha, color, mix, feather, smooth=smooth)
    names = style_inputs(model, styles, style)
    check_low_style(model, low_style)
    normalize_weights(mix, len(names))  # one weight per style: checked before the video is opened
    _check_files_and_regions(input, output, mask, weights, feather)
    info = probe(input)
    clip = trim(info, start, duration)
    if output is None:
        tags = (*model.name_tags(), *low_tags(low_style), *setting_tags(controls, reading, content_size=0))
        output = _default_output(input, names, tags, clip)
    dest = free_path(output) if no_clobber else output
    replaces = dest.exists()
    check_output(dest, codec, crf, protect=input)
    w, h = frame_size(info, reading.content_size, reading.budget())
    regions = (
        None if mask is None else load_regions(mask, (h, w), len(names), reading.crop, max_pixels=reading.budget())
    )
    inputs = read_styles(names, reading)
    inputs = with_low_style(inputs, None if low_style is None else read_styles([low_style], reading)[0])
    report, where = _stylize(
        model, clip, dest, inputs, controls, regions, reading, encoding=dict(batch=batch, codec=codec, crf=crf)
    )
    if json_out:
        record(
            output=report.path,
            input=input,
            styles=[str(n) for n in names],
            frames=report.frames,
            start=clip.start,
            size=list(report.size),
            fps=str(info.fps),
            seconds=round(report.seconds, 3),
            flicker=round(report.flicker, 4),
            replaced=replaces,
        )
    else:
        say_path(report.path)
    if replaces:
        err.print(f"replaced {report.path} (it existed; --no-clobber keeps it and numbers the new one)")
    extra = f"; colour kept ({color.value})" if color else ""
    extra += f"; low band from {low_style.name}" if low_style is not None else ""
    extra += "; " + region_summary(names, regions) if regions is not None else ""
    err.print(_done(report, info, where, smooth) + extra)


def _stylize(model, clip, dest: Path, inputs, controls, regions, reading, *, encoding: dict):
    """Load the engine and stream the clip through it under a progress bar (frames, fps).
    -> (the video job's report, the engine's description)."""
    from ..jobs.video import stylize_video

    with progress_bar(TextColumn("{task.fields[fps]}")) as bar:
        engine = load_engine(model)
        task = bar.add_task(f"stylizing with {engine.describe()}", total=clip.frames, fps="- fps", unit="frames")

        def advance(done: int) -> None:
            speed = bar.tasks[task].speed
            bar.update(task, completed=done, fps=f"{speed:.1f} fps" if speed else "- fps")

        report = stylize_video(
            engine,
            clip,
            dest,
            inputs,
            controls,
            masks=regions,
            size=reading.content_size,
            max_pixels=reading.budget(),
            progress=advance,
            **encoding,
        )
    return report, engine.describe()


def _check_files_and_regions(input: Path, output: Path | None, mask, weights, feather: float) -> None:
    """Mistakes that need no file opened: pipes, and region options that contradict each other."""
    from ..errors import InputError, Param

    if mask is not None and weights is not None:
        raise InputError("pass ", Param("weights"), " (interpolation) or a ", Param("mask"), " (regions), not both")
    if mask is None and feather:
        raise InputError(
            Param("feather"), " only applies to a mask; add ", Param("mask", "FILE"), " or drop ", Param("feather")
        )
    if str(input) == "-" or (output is not None and str(output) == "-"):
        raise InputError("video reads and writes files, not pipes; pass the video's path and an output file name")


def _default_output(input: Path, names, tags: tuple[str, ...], clip) -> Path:
    """{input}_stylized_{styles}_{settings}[_from{start}s][_{frames}f].mp4 in the working folder."""
    from ..jobs.naming import result_stem

    stretch = (f"from{clip.start:g}s",) if clip.start else ()
    stretch += (f"{clip.frames}f",) if clip.trimmed else ()
    stem = result_stem(input.stem, [style_name(n) for n in names], "stylized", (*tags, *stretch))
    return Path.cwd() / f"{stem}.mp4"


def _done(report, info, where: str, smooth: float) -> str:
    """The closing line: frames, size, rate, audio, speed and the flicker ratio."""
    w, h = report.size
    return (
        f"done: {report.frames} frames, {w}x{h} @ {info.fps} fps, audio: {', '.join(info.audio) or 'none'}, "
        f"in {report.seconds:.1f} s ({report.fps:.2f} fps with {where}); "
        f"flicker {report.flicker:.3f} (output/input frame-to-frame change"
        f"{'' if smooth else '; try --smooth 0.8 to lower it'})"
    )

"""styler video: one video, one style; frames streamed, sound kept, flicker reported."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import TextColumn

from .common import (Alpha, DecoderW, Device, Precision, PreserveColor, StyleSize, Vgg, err, guarded, load_stylizer,
                     out, progress_bar, region_summary, stems)

Size = Annotated[int, typer.Option(min=0, help="Resize frames so the shorter side is N px (0 = the input's own size).")]
Smooth = Annotated[float, typer.Option(
    help="Temporal smoothing in [0, 1): where the input pixel did not change, keep this share of the "
         "previous output pixel. 0 = off; 0.8 cut flicker by a third on the sample clip, with no lag on motion.")]
Crf = Annotated[int, typer.Option(help="Encoder quality 0..51 (x264/x265/vp9 CRF; lower = better, bigger).")]
Codec = Annotated[str, typer.Option(help="ffmpeg video encoder: libx264 (H.264, default), libx265, libvpx-vp9 (.mkv), ...")]
Batch = Annotated[int, typer.Option(min=1, help="Frames per model call.")]
VideoOut = Annotated[Path | None, typer.Option(
    "--output", "-o", help="Output video (.mp4, .mov, .mkv, .m4v); default {in}_stylized_{style}.mp4 here.")]


@guarded
def video(
    input: Annotated[Path, typer.Argument(help="Input video (anything ffmpeg reads).")],
    style: Annotated[list[Path], typer.Option(
        "--style", "-s", help="Style image; with --mask one per region, in order (repeat the option).")],
    output: VideoOut = None,
    alpha: Alpha = 1.0,
    size: Size = 0,
    style_size: StyleSize = 512,
    smooth: Smooth = 0.0,
    preserve_color: PreserveColor = False,
    mask: Annotated[Path | None, typer.Option(
        help="A still mask or label image applied to every frame: each region takes its own --style "
             "(same rules as `styler mask`).")] = None,
    feather: Annotated[float, typer.Option(
        help="With --mask: soften region boundaries over about PX frame pixels (0 = hard edges).")] = 0.0,
    crf: Crf = 18,
    codec: Codec = "libx264",
    batch: Batch = 4,
    device: Device = "auto",
    precision: Precision = "auto",
    vgg: Vgg = None,
    decoder: DecoderW = None,
) -> None:
    """Stylize every frame of INPUT with STYLE; frame rate, frame count and audio are kept.

    Prints the flicker ratio at the end: mean change between consecutive output frames over
    the same for the input (lower = steadier; --smooth lowers it).
    """
    from ..engine import check_alpha, check_feather
    from ..errors import InputError
    from ..images import load_image, load_regions
    from ..pipeline import stylize_video
    from ..temporal import check_smooth
    from ..video import check_output, frame_size, probe

    check_alpha(alpha)
    check_smooth(smooth)
    if mask is None and len(style) != 1:
        raise InputError(f"got {len(style)} --style options; give one, or --mask with one region per style")
    if mask is None and feather:
        raise InputError("--feather only applies to --mask; add --mask or drop --feather")
    check_feather(feather)
    dest = output if output is not None else Path.cwd() / f"{input.stem}_stylized_{stems(style)}.mp4"
    info = probe(input)
    check_output(dest, codec, crf, protect=input)
    w, h = frame_size(info, size)
    regions = None if mask is None else load_regions(mask, (h, w), len(style))
    style_images = [load_image(s, style_size) for s in style]
    method = "coral" if preserve_color else None
    stylizer = load_stylizer(vgg, decoder, device, precision)
    with progress_bar(TextColumn("{task.fields[fps]} fps")) as bar:
        task = bar.add_task(f"stylizing on {stylizer.describe()}", total=info.frames, fps="-")

        def advance(done: int) -> None:
            speed = bar.tasks[task].speed
            bar.update(task, completed=done, fps=f"{speed:.1f}" if speed else "-")

        report = stylize_video(stylizer, info, dest, style_images, size=size, alpha=alpha, smooth=smooth, batch=batch,
                               codec=codec, crf=crf, preserve_color=method, masks=regions, feather=feather,
                               progress=advance)
    out.print(str(report.path))
    controls = "; colour kept (coral)" if method else ""
    if regions is not None:
        controls += "; " + region_summary(style, regions)
    err.print(f"done: {report.frames} frames, {w}x{h} @ {info.fps} fps, audio: {', '.join(info.audio) or 'none'}, "
              f"in {report.seconds:.1f} s ({report.fps:.2f} fps on {stylizer.describe()}); "
              f"flicker {report.flicker:.3f} (output/input frame-to-frame change"
              f"{'' if smooth else '; try --smooth 0.8 to lower it'}){controls}")

"""Video I/O at the edge: streaming decode/encode through the ffmpeg binary that
imageio-ffmpeg bundles. Frames travel as uint8 RGB (H, W, 3) arrays here and as float
RGB (N, 3, H, W) tensors in [0, 1] everywhere else; memory stays flat for any length.

What is kept from the input: the frame rate (as a rational, 30000/1001 stays exact), every
frame (no dup/drop), so the duration too, the displayed orientation (ffmpeg rotates on
decode, we write upright frames) and the audio tracks, copied packet for packet.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import torch
from PIL import Image
from torch import Tensor

from ..errors import InputError, OutputError, Param
from .files import atomic_path, check_writable
from .images import MAX_PIXELS, check_resize, prepare

# Output container by extension; ffmpeg is told explicitly, since it writes to a ".part" name.
CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
# Demuxers that mean "a still image", which `styler transfer` is for.
STILL_FORMATS = ("image2", "png_pipe", "jpeg_pipe", "webp_pipe", "bmp_pipe", "tiff_pipe", "gif")
Frame = np.ndarray  # (H, W, 3) uint8 RGB


@dataclass(frozen=True)
class VideoInfo:
    """What ``probe`` learns about a file. Sizes are as displayed (after rotation)."""

    path: Path
    width: int
    height: int
    fps: Fraction
    frames: int  # counted by a demux pass over the whole file (no decode)
    duration: float  # seconds, from the container
    codec: str
    audio: tuple[str, ...]  # codec of each audio track, in order; () when silent
    rotation: int  # degrees, from the display matrix
    start: float = 0.0  # a stretch (``trim``): where it starts, in seconds; ``frames`` and ``duration`` are its own
    trimmed: bool = False


def parse_moment(text: str, name: str) -> tuple[float, bool]:
    """'12.5' or '1:02.5' or '0:01:02' -> seconds; '300f' -> frame 300: (value, is_frames)."""
    t = str(text).strip().lower()
    try:
        if t.endswith("f"):
            value = int(t[:-1])
            if value < 0:
                raise ValueError
            return float(value), True
        seconds = 0.0
        for part in t.split(":"):
            seconds = seconds * 60 + float(part)
        if not (seconds >= 0 and seconds < float("inf")) or t.count(":") > 2:
            raise ValueError
        return seconds, False
    except ValueError:
        raise InputError(
            Param(name, text), " is not a time: use seconds (12.5), [HH:]MM:SS(.s) or a frame number (300f)"
        ) from None


def trim(info: VideoInfo, start: str | None = None, duration: str | None = None) -> VideoInfo:
    """``info`` for the stretch from ``start`` lasting ``duration`` (each seconds, [HH:]MM:SS or a
    frame count like '48f'; ``parse_moment``), counted in whole frames of the input."""
    if start is None and duration is None:
        return info
    first = 0
    if start is not None:
        value, frames = parse_moment(start, "start")
        first = int(value) if frames else round(value * info.fps)
    if first >= info.frames:
        raise InputError(
            Param("start", start), f" is past the end of {info.path.name} ({info.frames} frames, {info.duration:.2f} s)"
        )
    count = info.frames - first
    if duration is not None:
        value, frames = parse_moment(duration, "duration")
        count = min(count, int(value) if frames else round(value * info.fps))
        if count < 1:
            raise InputError(Param("duration", duration), " is shorter than one frame; give more")
    from dataclasses import replace

    return replace(info, start=float(first / info.fps), frames=count, duration=float(count / info.fps), trimmed=True)


def ffmpeg_exe() -> str:
    return imageio_ffmpeg.get_ffmpeg_exe()


def probe(path: Path) -> VideoInfo:
    """Read the header and count the frames with one ``-c copy`` pass (fast: nothing is decoded)."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path} is a directory; pass a video file")
    if not path.is_file():
        raise InputError(f"{path} does not exist; check the path")
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path), "-map", "0:v:0?", "-c", "copy", "-f", "null", "-"]
    text = subprocess.run(cmd, capture_output=True, text=True, errors="replace").stderr
    if "Invalid data found" in text or "Input #0" not in text:
        raise InputError(f"{path} is not a video ffmpeg can read; convert it to MP4 (H.264)")
    fmt = re.search(r"Input #0, ([\w,]+), from", text)
    video = [line for line in text.splitlines() if re.match(r"\s*Stream #0:\d+.*: Video: ", line)]
    if fmt and fmt.group(1).split(",")[0] in STILL_FORMATS:
        raise InputError(f"{path} is a still image; use `styler transfer` for images")
    if not video:
        raise InputError(f"{path} has no video stream; pass a video file")
    line = video[0]
    codec = line.split("Video: ", 1)[1].split()[0].rstrip(",")
    size = re.search(r", (\d+)x(\d+)", line)
    if codec == "none" or size is None:
        raise InputError(f"{path}: video codec not supported by this ffmpeg; re-encode it to H.264")
    w, h = int(size.group(1)), int(size.group(2))
    rot = re.search(r"rotation of (-?[\d.]+) degrees", text[text.find(line) :])
    rotation = round(float(rot.group(1))) % 360 if rot else 0
    if rotation in (90, 270):
        w, h = h, w
    counts = re.findall(r"frame=\s*(\d+)", text)
    frames = int(counts[-1]) if counts else 0
    if frames == 0:
        raise InputError(f"{path} has no video frames; the file is empty or truncated")
    dur = re.search(r"Duration: (\d+):(\d+):([\d.]+)", text)
    duration = int(dur.group(1)) * 3600 + int(dur.group(2)) * 60 + float(dur.group(3)) if dur else 0.0
    audio = tuple(
        a.split("Audio: ", 1)[1].split()[0].rstrip(",")
        for a in text.splitlines()
        if re.match(r"\s*Stream #0:\d+.*: Audio: ", a)
    )
    return VideoInfo(path, w, h, _rate(line, frames, duration), frames, duration, codec, audio, rotation)


def _rate(line: str, frames: int, duration: float) -> Fraction:
    """ffmpeg prints the rate rounded to 2 decimals ("29.97 fps"); recover the exact rational:
    an integer, or an NTSC rate n*1000/1001, else the printed number itself."""
    m = re.search(r"([\d.]+)(k?) fps", line) or re.search(r"([\d.]+)(k?) tbr", line)
    if m is None:
        return Fraction(frames / duration).limit_denominator(1001) if duration else Fraction(25)
    shown = float(m.group(1)) * (1000 if m.group(2) else 1)
    ntsc = Fraction(round(shown * 1.001) * 1000, 1001)
    for cand in (Fraction(round(shown)), ntsc):
        if cand and abs(float(cand) - shown) < 0.006:
            return cand
    return Fraction(m.group(1)).limit_denominator(1001) * (1000 if m.group(2) else 1)


def frame_size(info: VideoInfo, size: int = 0, max_pixels: int = MAX_PIXELS) -> tuple[int, int]:
    """Output (w, h): shorter side to ``size`` (the ``content_size`` of the commands; 0 = the
    input's), then even, as yuv420p needs. Frames over ``max_pixels`` (``images.MAX_PIXELS``;
    0 = no budget) are refused before any decode."""
    w, h = check_resize(
        info.width,
        info.height,
        size,
        False,
        max_pixels,
        f"each frame of {info.path.name}",
        size_name="content_size",
        can_crop=False,
    )
    if w < 2 or h < 2:
        raise InputError(
            Param("content_size", size), f" makes frames of {w} x {h}; use a larger ", Param("content_size")
        )
    return w - w % 2, h - h % 2


def read_frames(info: VideoInfo, size: int = 0, max_pixels: int = MAX_PIXELS) -> Iterator[Frame]:
    """Yield every frame as (h, w, 3) uint8 RGB, (w, h) = ``frame_size(info, size, max_pixels)``,
    upright, one at a time.

    The resize is the image path's (``images.prepare``: PIL bilinear, shorter side), so a
    frame stylizes exactly as the same picture would with ``styler transfer``; an odd
    row/column is then cropped off the bottom/right."""
    w, h = frame_size(info, size, max_pixels)
    # Decoded from the keyframe before, frames before the time dropped: exact, half a frame early so the
    # first frame of the stretch is never lost to rounding of its timestamp.
    seek = ["-ss", f"{max(0.0, info.start - 0.5 / float(info.fps)):.6f}"] if info.start else []
    stretch = ["-frames:v", str(info.frames)] if info.trimmed else []
    gen = imageio_ffmpeg.read_frames(
        str(info.path),
        input_params=seek,
        output_params=["-map", "0:v:0", "-fps_mode", "passthrough", "-an", "-sn", *stretch],
    )
    try:
        w0, h0 = next(gen)["size"]
        for raw in gen:
            frame = np.frombuffer(raw, np.uint8).reshape(h0, w0, 3)
            if size and min(w0, h0) != size:
                frame = np.asarray(
                    prepare(
                        Image.fromarray(frame),
                        size,
                        max_pixels=max_pixels,
                        what=f"each frame of {info.path.name}",
                        size_name="content_size",
                    )
                )
            yield frame[:h, :w]
    except (OSError, RuntimeError, StopIteration, KeyError, IndexError, ValueError) as e:
        lines = [ln for ln in str(e).splitlines() if ln.strip() and "===" not in ln]
        detail = lines[-1].strip()[:160] if lines else type(e).__name__
        raise InputError(f"{info.path} cannot be decoded ({detail}); the file may be corrupt") from None
    finally:
        gen.close()


def to_batch(frames: list[Frame]) -> Tensor:
    """N x (H, W, 3) uint8 -> (N, 3, H, W) float32 in [0, 1]."""
    arr = torch.from_numpy(np.stack(frames))  # (N, H, W, 3)
    return arr.permute(0, 3, 1, 2).float().div_(255)


def from_batch(batch: Tensor) -> list[Frame]:
    """(N, 3, H, W) float in [0, 1] -> N x (H, W, 3) uint8, rounded as ``images.to_pil``."""
    arr = batch.detach().float().cpu().mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8)
    return list(arr.permute(0, 2, 3, 1).contiguous().numpy())


def check_output(dest: Path, codec: str, crf: int, *, protect: Path | None = None) -> str:
    """Refuse a bad ``dest``/``codec``/``crf`` before any compute; returns the container."""
    container = CONTAINERS.get(Path(dest).suffix.lower())
    if container is None:
        raise InputError(f"cannot write {Path(dest).name}: use a video extension ({', '.join(sorted(CONTAINERS))})")
    if protect is not None and Path(dest).resolve() == Path(protect).resolve():
        raise OutputError(f"refusing to overwrite input {dest}; choose another output name")
    check_writable(Path(dest), "choose a writable output")
    if not 0 <= crf <= 51:
        raise InputError(Param("crf"), " must be in 0..51 (lower = better quality), got ", Param("crf", crf))
    if codec not in encoders():
        raise InputError(Param("codec", codec), " is not an encoder of this ffmpeg; try libx264, libx265 or libvpx-vp9")
    return container


def encoders() -> set[str]:
    text = subprocess.run([ffmpeg_exe(), "-hide_banner", "-encoders"], capture_output=True, text=True).stdout
    return {m.group(1) for m in re.finditer(r"^ V\S{5} (\S+)", text, re.M)}


@contextmanager
def open_writer(
    dest: Path, info: VideoInfo, size: tuple[int, int], *, codec: str = "libx264", crf: int = 18
) -> Iterator[Callable[[Frame], None]]:
    """Yield ``send(frame)``; on a clean exit the video is finished, the input's audio tracks
    are muxed in unchanged (``-c copy``) and the file appears at ``dest`` at once.
    On an error or Ctrl-C nothing is left at ``dest`` (nor any temp file)."""
    container = check_output(dest, codec, crf)
    quality = ["-crf", str(crf)] if codec in ("libx264", "libx265", "libvpx-vp9") else []
    # The index at the front of the file, so players and browsers can start before the end.
    fast = ["-movflags", "+faststart"] if container in ("mp4", "mov") else []
    with atomic_path(Path(dest), "choose a writable output") as final:
        video_only = final.with_name(final.name + ".video") if info.audio else final
        gen = imageio_ffmpeg.write_frames(
            str(video_only),
            size,
            fps=info.fps,
            codec=codec,
            quality=None,
            macro_block_size=1,
            pix_fmt_out="yuv420p",
            ffmpeg_log_level="error",
            output_params=[*quality, *(["-b:v", "0"] if codec == "libvpx-vp9" else []), *fast, "-f", container],
        )
        try:
            try:
                gen.send(None)
            except (OSError, RuntimeError) as e:
                raise OutputError(f"cannot start the encoder for {dest} ({e}); check the output and codec") from None
            sent = 0

            def send(frame: Frame) -> None:
                nonlocal sent
                _send(gen, frame, dest)
                sent += 1

            yield send
            gen.close()
            _check_written(video_only, sent, dest)
            if info.audio:
                stretch = ["-ss", f"{info.start:.6f}", "-t", f"{info.duration:.6f}"] if info.trimmed else []
                _mux(video_only, info.path, final, [*fast, "-f", container], stretch)
        finally:
            gen.close()
            if video_only != final:
                video_only.unlink(missing_ok=True)


def _check_written(path: Path, expected: int, dest: Path) -> None:
    """imageio-ffmpeg does not report the encoder's exit status, so count what it wrote
    (a demux pass, nothing decoded): a short or unreadable file never takes ``dest``'s name."""
    try:
        frames = probe(path).frames if path.is_file() and path.stat().st_size else 0
    except InputError:
        frames = 0
    if frames != expected:
        raise OutputError(
            f"the encoder wrote {frames} of {expected} frames for {dest}; check codec and the free disk space"
        )


def _send(gen, frame: Frame, dest: Path) -> None:
    try:
        gen.send(np.ascontiguousarray(frame))
    except (OSError, RuntimeError) as e:
        raise OutputError(
            f"the encoder for {dest} stopped ({str(e).splitlines()[0][:120]}); check the disk and codec"
        ) from None


def _mux(video: Path, source: Path, dest: Path, out_params: list[str], stretch: list[str] | None = None) -> None:
    """Our video stream + every audio track of ``source`` (``stretch``: its -ss/-t), both copied, never re-encoded."""
    cmd = [
        ffmpeg_exe(),
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "error",
        "-y",
        "-i",
        str(video),
        *(stretch or []),
        "-i",
        str(source),
        "-map",
        "0:v:0",
        "-map",
        "1:a?",
        "-c",
        "copy",
        *(["-shortest"] if stretch else []),
        *out_params,
        str(dest),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
    if done.returncode != 0:
        why = (done.stderr.strip().splitlines() or ["unknown error"])[-1][:160]
        raise OutputError(f"cannot copy the audio into {dest.name} ({why}); try an .mkv output")

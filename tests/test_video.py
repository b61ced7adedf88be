"""styler video: tiny clips made here with imageio-ffmpeg (no sample files), random weights."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
import torch
from PIL import Image

from conftest import one_line_error, run_cli
from styler import ops
from styler.controls import Controls
from styler.errors import InputError, OutputError
from styler.jobs.video import stylize_video
from styler.media import video
from styler.media.images import to_tensor
from styler.temporal import FlickerMeter, TemporalFilter

FF = imageio_ffmpeg.get_ffmpeg_exe()
NTSC = Fraction(30000, 1001)


def frames_of(n: int, size=(64, 48), seed: int = 0, noise: float = 0.0) -> list[np.ndarray]:
    """A smooth colour picture drifting to the right by 1 px per frame (+ optional pixel noise)."""
    rng = np.random.default_rng(seed)
    w, h = size
    base = np.asarray(
        Image.fromarray(rng.uniform(0, 255, (4, 5, 3)).astype(np.uint8)).resize((w + n, h), Image.Resampling.BICUBIC),
        np.float64,
    )
    out = []
    for t in range(n):
        f = base[:, t : t + w] + (rng.normal(0, noise, (h, w, 3)) if noise else 0)
        out.append(np.clip(f, 0, 255).astype(np.uint8))
    return out


def make_clip(
    path: Path, n: int = 6, *, size=(64, 48), fps=NTSC, audio: bool = False, noise: float = 0.0, still: bool = False
) -> Path:
    frames = frames_of(n, size, noise=noise)
    if still:
        frames = [
            np.clip(
                frames[0].astype(float) + np.random.default_rng(i).normal(0, noise, frames[0].shape), 0, 255
            ).astype(np.uint8)
            for i in range(n)
        ]
    silent = path.with_name(path.stem + ".silent.mp4") if audio else path
    gen = imageio_ffmpeg.write_frames(
        str(silent),
        size,
        fps=fps,
        codec="libx264",
        quality=None,
        macro_block_size=1,
        ffmpeg_log_level="error",
        output_params=["-crf", "0"],
    )
    gen.send(None)
    for f in frames:
        gen.send(f)
    gen.close()
    if audio:  # a sine AAC track beside the video
        subprocess.run(
            [
                FF,
                "-loglevel",
                "error",
                "-y",
                "-i",
                str(silent),
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=440:duration=1",
                "-map",
                "0:v",
                "-map",
                "1:a",
                "-c:v",
                "copy",
                "-c:a",
                "aac",
                "-shortest",
                str(path),
            ],
            check=True,
        )
        silent.unlink()
    return path


def audio_md5(path: Path) -> str:
    """Hash of the audio packets as stored (identical only if copied, not re-encoded)."""
    return subprocess.run(
        [FF, "-loglevel", "error", "-i", str(path), "-map", "0:a", "-c", "copy", "-f", "md5", "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def decoded(path: Path) -> list[np.ndarray]:
    return list(video.read_frames(video.probe(path)))


@pytest.fixture
def style(images) -> Path:
    return images["style"]


def run(args):
    return run_cli(*args)


CPU = ["--device", "cpu", "--precision", "fp32", "--style-size", "64"]


# -- probing and plumbing ------------------------------------------------------------------


def test_probe_reads_rate_count_size_audio(tmp_path):
    info = video.probe(make_clip(tmp_path / "a.mp4", 5, audio=True))
    assert (info.width, info.height, info.frames, info.fps) == (64, 48, 5, NTSC)
    assert info.audio == ("aac",) and info.rotation == 0


def test_cli_keeps_frames_rate_size_and_copies_audio(tmp_path, style):
    src = make_clip(tmp_path / "in.mp4", 6, audio=True)
    dest = tmp_path / "out" / "styled.mp4"
    res = run(["video", src, "--style", style, "-o", dest, "--alpha", "0.7", *CPU])
    assert res.exit_code == 0, res.output
    assert "flicker" in res.output
    got, want = video.probe(dest), video.probe(src)
    assert (got.frames, got.fps, got.width, got.height) == (6, NTSC, 64, 48)
    assert abs(got.duration - want.duration) < 0.05
    assert got.audio == want.audio == ("aac",)
    assert audio_md5(dest) == audio_md5(src)
    assert [p.name for p in dest.parent.iterdir()] == ["styled.mp4"]  # no temp files left


def test_silent_clip_default_name_and_size(tmp_path, style, monkeypatch):
    src = make_clip(tmp_path / "clip.mp4", 4, fps=Fraction(24))
    monkeypatch.chdir(tmp_path)
    res = run(["video", src, style, "--content-size", "33", *CPU])  # the style positional, as image commands
    assert res.exit_code == 0, res.output
    got = video.probe(tmp_path / f"clip_stylized_{style.stem}_c33_s64.mp4")  # the sizes differ from the defaults
    # shorter side 33 -> 44x33, then even for yuv420p -> 44x32
    assert (got.frames, got.fps, got.width, got.height, got.audio) == (4, 24, 44, 32, ())


def test_rotation_is_kept_upright(tmp_path, engine):
    flat = make_clip(tmp_path / "flat.mp4", 3)
    src = tmp_path / "rot.mp4"
    subprocess.run(
        [FF, "-loglevel", "error", "-display_rotation", "90", "-i", str(flat), "-c", "copy", str(src)], check=True
    )
    info = video.probe(src)
    assert (info.rotation, info.width, info.height) == (90, 48, 64)
    report = stylize_video(engine, info, tmp_path / "out.mp4", [engine.represent(torch.rand(1, 3, 32, 32))])
    got = video.probe(tmp_path / "out.mp4")
    assert (got.width, got.height, got.frames, report.size) == (48, 64, 3, (48, 64))


def test_frames_match_the_image_path(tmp_path, engine):
    src = make_clip(tmp_path / "in.mp4", 4)
    stats = engine.represent(torch.rand(1, 3, 40, 40))
    report = stylize_video(engine, video.probe(src), tmp_path / "out.mp4", [stats], Controls(alpha=0.8), batch=3, crf=0)
    assert (report.frames, report.size) == (4, (64, 48))
    for x, y in zip(decoded(src), decoded(tmp_path / "out.mp4"), strict=True):
        ref = engine.render(to_tensor(Image.fromarray(x)), [stats], alpha=0.8)
        got = to_tensor(Image.fromarray(y))
        assert (got - ref).abs().mean() < 3 / 255  # x264 at crf 0, yuv420p chroma


@pytest.mark.slow
def test_color_matches_the_image_path(tmp_path, engine):
    src = make_clip(tmp_path / "in.mp4", 2)
    style = torch.rand(1, 3, 32, 32)
    stylize_video(engine, video.probe(src), tmp_path / "out.mp4", [style], Controls(color="coral"), crf=0)
    for x, y in zip(decoded(src), decoded(tmp_path / "out.mp4"), strict=True):
        ref = engine.render(to_tensor(Image.fromarray(x)), [style], color="coral")
        assert (to_tensor(Image.fromarray(y)) - ref).abs().mean() < 3 / 255


def test_still_mask_applies_to_every_frame(engine):
    torch.manual_seed(0)
    x = torch.rand(3, 3, 24, 32)
    masks = torch.zeros(2, 12, 16)  # any size: resized to the frames
    masks[0, :, :8], masks[1, :, 8:] = 1, 1
    styles = [torch.rand(1, 3, 24, 24), torch.rand(1, 3, 24, 24)]
    got = torch.cat(list(engine.frames([x[:2], x[2:]], styles, Controls(alpha=0.9, feather=2.0), masks)))
    assert torch.allclose(got, engine.render(x, styles, masks=masks, feather=2.0, alpha=0.9), atol=1e-5)
    with pytest.raises(InputError, match=r"expected 3 region masks \(R, H, W\), one per style, got \(2, 12, 16\)"):
        list(engine.frames([x], styles[:1] * 3, Controls(), masks))


def test_several_styles_without_masks_interpolate(engine, adain):
    torch.manual_seed(1)
    x = torch.rand(2, 3, 24, 32)
    styles = [torch.rand(1, 3, 24, 24), torch.rand(1, 3, 32, 24)]
    (got,) = engine.frames([x], styles, Controls(alpha=0.8, weights=(3, 1)))
    stats = [adain.represent(s) for s in styles]
    fc = adain.encode(x)
    target = ops.interpolate_adain(fc, [s.mean for s in stats], [s.std for s in stats], [0.75, 0.25])
    assert torch.allclose(got, adain.decode(ops.blend(target, fc, 0.8), (24, 32)), atol=1e-5)
    (equal,) = engine.frames([x], styles, Controls(alpha=0.8))
    assert torch.allclose(equal, engine.render(x, styles, weights=[1, 1], alpha=0.8), atol=1e-6)
    assert (equal - got).abs().max() > 1e-3


@pytest.mark.slow
def test_cli_mask_and_color(tmp_path, images):
    src = make_clip(tmp_path / "in.mp4", 2, audio=True)
    mask = tmp_path / "mask.png"
    Image.fromarray(np.repeat(np.array([[255, 0]], np.uint8), 10, axis=1).repeat(7, axis=0)).save(mask)
    dest = tmp_path / "o.mp4"
    res = run(
        [
            "video",
            src,
            "-s",
            images["style"],
            "-s",
            images["content"],
            "--mask",
            mask,
            "--feather",
            "2",
            "--color",
            "coral",
            "-o",
            dest,
            *CPU,
        ]
    )
    assert res.exit_code == 0, res.output
    assert "regions style.jpg 50%, content.png 50%" in res.output and "coral" in res.output
    assert (video.probe(dest).frames, video.probe(dest).audio) == (2, ("aac",))


@pytest.mark.slow
def test_cli_interpolates_several_styles(tmp_path, engine):
    from styler.media.images import load_image

    src = make_clip(tmp_path / "in.mp4", 2)
    flat, noise = tmp_path / "flat.png", tmp_path / "noise.png"  # far apart, so the mix shows
    Image.new("RGB", (48, 48), (40, 90, 200)).save(flat)
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(noise)
    dest = tmp_path / "o.mp4"
    res = run(["video", src, flat, "--style", noise, "--weights", "3,1", "--crf", "0", "-o", dest, *CPU])
    assert res.exit_code == 0, res.output
    styles = [load_image(flat, 64), load_image(noise, 64)]
    for x, y in zip(decoded(src), decoded(dest), strict=True):
        got, frame = to_tensor(Image.fromarray(y)), to_tensor(Image.fromarray(x))
        near, *others = [(got - engine.render(frame, styles, weights=w)).abs().mean() for w in ([3, 1], [1, 1], [1, 3])]
        assert near < 3 / 255 and all(near < 0.6 * o for o in others), (near * 255, [o * 255 for o in others])


# -- flicker ---------------------------------------------------------------------------------


def test_flicker_meter_on_a_synthetic_case():
    meter = FlickerMeter()
    x = torch.stack([torch.full((3, 4, 4), 0.1 * t) for t in range(5)])  # input steps of 0.1
    y = torch.stack([torch.full((3, 4, 4), 0.3 * (t % 2)) for t in range(5)])  # output jumps by 0.3
    meter.update(x[:2], y[:2])
    meter.update(x[2:], y[2:])  # the pair across the two batches counts too
    assert meter.pairs == 4
    assert meter.ratio == pytest.approx(3.0)


def test_temporal_filter_steadies_still_pixels_and_follows_motion():
    torch.manual_seed(0)
    still = 0.5 + torch.arange(6).view(6, 1, 1, 1) * 1e-3 * torch.ones(6, 3, 8, 8)  # below the tolerance
    jitter = 0.5 + 0.05 * torch.randn(6, 3, 8, 8)  # what per-frame stylization did with it
    f = TemporalFilter(0.8)
    steady = torch.cat([f(still[:3], jitter[:3]), f(still[3:], jitter[3:])])  # state spans batches
    plain, smooth = FlickerMeter(), FlickerMeter()
    plain.update(still, jitter)
    smooth.update(still, steady)
    assert smooth.output_change < 0.5 * plain.output_change
    moving = torch.rand(6, 3, 8, 8)  # every pixel changes a lot: the output passes through untouched
    assert torch.equal(TemporalFilter(0.8)(moving, jitter), jitter)
    assert torch.equal(TemporalFilter(0.0)(still, jitter), jitter)


def test_smoothing_lowers_flicker_on_a_noisy_clip(tmp_path, engine):
    src = video.probe(make_clip(tmp_path / "noisy.mp4", 8, noise=1.5, still=True))
    stats = [engine.represent(torch.rand(1, 3, 40, 40))]
    plain = stylize_video(engine, src, tmp_path / "a.mp4", stats)
    smooth = stylize_video(engine, src, tmp_path / "b.mp4", stats, Controls(smooth=0.8))
    assert plain.input_change == pytest.approx(smooth.input_change)
    assert smooth.flicker < 0.7 * plain.flicker


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case, words",
    [
        ("text", ["not a video"]),
        ("missing", ["does not exist"]),
        ("audio-only", ["no video stream"]),
        ("zero-frames", ["no video stream"]),  # ffmpeg writes no stream for a clip of 0 frames
        ("truncated", ["not a video"]),
    ],
)
def test_bad_inputs_fail_in_one_line_with_no_output(tmp_path, style, case, words):
    src = tmp_path / "bad.mp4"
    if case == "text":
        src.write_text("hello, not a video\n")
    elif case == "audio-only":
        subprocess.run([FF, "-loglevel", "error", "-f", "lavfi", "-i", "sine=duration=0.2", str(src)], check=True)
    elif case == "zero-frames":
        subprocess.run(
            [FF, "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=64x48", "-frames:v", "0", str(src)],
            check=True,
        )
    elif case == "truncated":
        whole = make_clip(tmp_path / "whole.mp4", 6, audio=True).read_bytes()
        src.write_bytes(whole[: len(whole) // 2])
    dest = tmp_path / "out" / "o.mp4"
    one_line_error(run(["video", src, "--style", style, "-o", dest, *CPU]), *words)
    assert not dest.parent.exists() or not any(dest.parent.iterdir())


@pytest.mark.parametrize(
    "extra, words",
    [
        (["-o", "{tmp}/blocker/o.mp4"], ["not a writable folder"]),
        (["-o", "{tmp}/o.png"], ["video extension"]),
        (["-o", "{tmp}/o.mp4", "--codec", "nope264"], ["not an encoder"]),
        (["-o", "{tmp}/o.mp4", "--crf", "99"], ["--crf"]),
        (["-o", "{tmp}/o.mp4", "--smooth", "1.5"], ["smooth"]),
        (["-o", "{tmp}/o.mp4", "--style", "{tmp}/in.mp4", "--weights", "1,2,3"], ["3 weight(s) for 2 style(s)"]),
        (["-o", "{tmp}/o.mp4", "--style", "{tmp}/in.mp4", "--weights", "1,1", "--mask", "{tmp}/in.mp4"], ["not both"]),
        (["-o", "{tmp}/o.mp4", "--feather", "3"], ["feather only applies to a mask", "--mask FILE"]),
        (["-o", "{tmp}/o.mp4", "--method", "gatys"], ["--method gatys", "does not run on video"]),
        (["-o", "{tmp}/o.mp4", "--size", "33"], ["No such option: --size"]),
    ],
)
def test_bad_outputs_and_options_fail_in_one_line(tmp_path, style, extra, words):
    src = make_clip(tmp_path / "in.mp4", 2)
    (tmp_path / "blocker").write_text("a file where a folder is needed")
    before = set(tmp_path.iterdir())
    res = run(["video", src, "--style", style, *[e.format(tmp=tmp_path) for e in extra], *CPU])
    one_line_error(res, *words)
    assert set(tmp_path.iterdir()) == before


def test_ctrl_c_leaves_nothing(tmp_path, engine):
    src = video.probe(make_clip(tmp_path / "in.mp4", 6, audio=True))

    def interrupt(done):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        stylize_video(
            engine,
            src,
            tmp_path / "out" / "o.mp4",
            [engine.represent(torch.rand(1, 3, 32, 32))],
            batch=2,
            progress=interrupt,
        )
    assert list((tmp_path / "out").iterdir()) == []


def test_core_errors_are_styler_errors(tmp_path, engine):
    src = video.probe(make_clip(tmp_path / "in.mp4", 2))
    style = [engine.represent(torch.rand(1, 3, 32, 32))]
    with pytest.raises(InputError, match="batch must be a whole number >= 1, got batch=0"):
        stylize_video(engine, src, tmp_path / "o.mp4", style, batch=0)
    with pytest.raises(InputError, match="smooth"):
        stylize_video(engine, src, tmp_path / "o.mp4", style, Controls(smooth=1.0))
    assert not (tmp_path / "o.mp4").exists()
    with pytest.raises(OutputError, match="overwrite"):
        video.check_output(src.path, "libx264", 18, protect=src.path)


def test_a_short_encode_never_takes_the_output_name(tmp_path):
    """The encoder's exit status is not reported, so the written frames are counted."""
    clip = make_clip(tmp_path / "c.mp4", n=5)
    video._check_written(clip, 5, tmp_path / "out.mp4")  # complete: accepted
    with pytest.raises(OutputError, match="wrote 5 of 6 frames"):
        video._check_written(clip, 6, tmp_path / "out.mp4")
    (tmp_path / "junk.mp4").write_bytes(b"\x00" * 100)
    with pytest.raises(OutputError, match="wrote 0 of 3 frames"):
        video._check_written(tmp_path / "junk.mp4", 3, tmp_path / "out.mp4")


def test_a_stretch_is_frame_exact_and_keeps_its_audio(tmp_path, style):
    """--start 4f --duration 5f: frames 4..8 of the whole run (lossless, so equal), audio trimmed alike."""
    src = make_clip(tmp_path / "in.mp4", 12, fps=Fraction(24), audio=True)
    whole, part = tmp_path / "whole.mp4", tmp_path / "part.mp4"
    for dest, extra in ((whole, []), (part, ["--start", "4f", "--duration", "5f"])):
        res = run(["video", src, style, "-o", dest, "--crf", "0", *extra, *CPU])
        assert res.exit_code == 0, res.output
    got = video.probe(part)
    assert (got.frames, got.fps, got.audio) == (5, 24, ("aac",)) and abs(got.duration - 5 / 24) < 0.1
    for a, b in zip(decoded(part), decoded(whole)[4:9], strict=True):
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1

"""CLI wiring (fastapi-cli's way): the core is patched out and each test asserts what a command
hands it. Fast, no network, no model run; the end-to-end CLI tests live beside each feature."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest
import torch

from conftest import make_image, one_line_error, patch_load_engine, run_cli
from styler.controls import Controls
from styler.names import Color


class FakeEngine:
    """Records what the one-image commands ask of the engine; returns mid-grey images."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def describe(self) -> str:
        return "fake on cpu"

    def represent(self, style):
        return style

    def apply(self, content, styles, controls, masks=None):
        self.calls.append((tuple(content.shape), len(styles), controls, None if masks is None else tuple(masks.shape)))
        return torch.full_like(content, 0.5)

    def result(self, content, styles, controls, masks=None):
        from styler.methods.base import ImageResult

        return ImageResult(self.apply(content, styles, controls, masks))


@pytest.fixture
def fake(monkeypatch):
    """``load_engine`` patched in every command module: (the fake engine, the model options it got)."""
    engine, seen = FakeEngine(), []

    def load_engine(model, gatys=None, diffstyler=None, *, curves=None, on_step=None):
        seen.append((model, gatys))
        engine.curves = curves
        return engine

    patch_load_engine(monkeypatch, load_engine)
    return engine, seen


def files(tmp_path: Path) -> tuple[Path, Path]:
    return make_image(tmp_path / "content.jpg", (40, 32), 1), make_image(tmp_path / "style.jpg", (36, 36), 2)


def test_design_card_transfer_line(tmp_path, fake, jobs, monkeypatch):
    """`styler transfer content.jpg style.jpg --alpha 0.75`, exactly as the design card writes it."""
    files(tmp_path)
    monkeypatch.chdir(tmp_path)
    r = run_cli("transfer", "content.jpg", "style.jpg", "--alpha", "0.75")
    assert r.exit_code == 0, r.output
    ((job, pairs),) = jobs
    assert job.controls == Controls(alpha=0.75)
    assert job.inputs.content == Path("content.jpg") and job.inputs.styles == (Path("style.jpg"),)
    assert not job.manifest and job.naming.folder == tmp_path  # a content file: no manifest, the current folder
    assert [p.output for p in pairs] == ["content_stylized_style_a0.75.png"]  # the name says the setting
    ((model, gatys),) = fake[1]
    assert model.method.value == "adain" and model.device == "auto" and gatys.given() == {}


def test_dataset_options_reach_the_job(tmp_path, fake, jobs):
    _, style = files(tmp_path)
    r = run_cli(
        "transfer", tmp_path, "-s", style, "-o", tmp_path / "out", "--pairs", "random", "--per-content", "1",
        "--seed", "3", "--name", "{content}-{index}", "--skip-existing", "--workers", "0", "--png-level", "1",
        "--jpeg-quality", "80", "--ext", "webp", "--content-size", "64", "--crop", "--color", "luminance",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    ((job, _),) = jobs
    assert (job.inputs.pairs.value, job.inputs.per_content, job.inputs.seed) == ("random", 1, 3)
    assert (job.naming.name, job.naming.ext, job.manifest) == ("{content}-{index}", "webp", True)
    assert (job.run.skip_existing, job.run.workers) == (True, 0)
    assert (job.run.encoding.png_level, job.run.encoding.jpeg_quality) == (1, 80)
    assert (job.reading.content_size, job.reading.crop) == (64, True)
    assert job.controls.color is Color.luminance


def test_alpha_sweep_names_its_strips_and_conflicts_with_alpha(tmp_path, fake, jobs):
    content, style = files(tmp_path)
    r = run_cli("transfer", content, style, "-o", tmp_path / "o", "--alpha-sweep", "0,0.5,1")
    assert r.exit_code == 0, r.output
    ((job, pairs),) = jobs
    assert job.controls.sweep == (0.0, 0.5, 1.0)
    assert [p.output for p in pairs] == ["content_stylized_style_sweep0-0.5-1.png"]
    both = run_cli("transfer", content, style, "--alpha", "0.5", "--alpha-sweep", "0,1")
    one_line_error(both, "--alpha and --alpha-sweep both set the style strength")


def test_model_options_reach_the_loader(tmp_path, monkeypatch, jobs):
    """--method/--device/--precision/--tile and the gatys options go to ``methods.load`` and the engine."""
    import styler.methods as methods

    content, style = files(tmp_path)
    seen = []
    monkeypatch.setattr(methods, "load", lambda name, **kw: seen.append((name, kw)) or FakeMethod())
    r = run_cli(
        "transfer", content, style, "-o", tmp_path / "o.png", "--method", "gatys", "--iters", "5",
        "--init", "noise", "--device", "cpu", "--precision", "fp32", "--tile", "off",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    ((name, kw),) = seen
    assert name.value == "gatys" and (kw["device"], kw["precision"]) == ("cpu", "fp32")
    assert (kw["gatys"].iters, kw["gatys"].init) == (5, "noise") and kw["model"] is None


class FakeMethod:
    takes_images = True
    runtime = None

    def describe(self) -> str:
        return "fake"


def test_interpolate_hands_normalised_weights(tmp_path, fake):
    content, style = files(tmp_path)
    other = make_image(tmp_path / "b.jpg", (30, 30), 3)
    r = run_cli("interpolate", content, style, other, "--weights", "1,3", "-o", tmp_path / "i.png", "--alpha", "0.5")
    assert r.exit_code == 0, r.output
    ((_, count, controls, masks),) = fake[0].calls
    assert count == 2 and controls.weights == (0.25, 0.75) and controls.alpha == 0.5 and masks is None
    assert (tmp_path / "i.png").is_file()


def test_mask_hands_regions_and_feather(tmp_path, fake):
    content, style = files(tmp_path)
    other = make_image(tmp_path / "b.jpg", (30, 30), 3)
    mask = make_image(tmp_path / "m.png", (10, 8), 4, mode="L")
    r = run_cli("mask", content, style, other, "--mask", mask, "--feather", "3", "-o", tmp_path / "m_out.png")
    assert r.exit_code == 0, r.output
    ((shape, count, controls, masks),) = fake[0].calls
    assert count == 2 and controls.feather == 3.0 and masks == (2, *shape[-2:])  # a region per style, content size


def test_color_preserve_hands_the_colour_mode(tmp_path, fake):
    content, style = files(tmp_path)
    r = run_cli("color-preserve", content, style, "--color", "luminance", "-o", tmp_path / "c.png")
    assert r.exit_code == 0, r.output
    ((_, _, controls, _),) = fake[0].calls
    assert controls.color is Color.luminance


def test_design_card_video_line(tmp_path, fake, monkeypatch):
    """`styler video in.mp4 --style art.jpg`, exactly as the design card writes it."""
    import styler.jobs.video as pipeline
    import styler.media.video as video

    make_image(tmp_path / "art.jpg", (36, 36), 2)
    (tmp_path / "in.mp4").write_bytes(b"not read: probe is patched")
    info = video.VideoInfo(tmp_path / "in.mp4", 64, 48, Fraction(24), 10, 0.4, "h264", (), 0)
    monkeypatch.setattr(video, "probe", lambda path: info)
    seen = []

    def stylize_video(engine, info, dest, styles, controls, **kw):
        seen.append((dest, styles, controls, kw))
        return pipeline.VideoReport(Path(dest), 10, 1.0, (64, 48), 0.5, 0.1, 0.05)

    monkeypatch.setattr(pipeline, "stylize_video", stylize_video)
    monkeypatch.chdir(tmp_path)
    r = run_cli("video", "in.mp4", "--style", "art.jpg", "--smooth", "0.5")
    assert r.exit_code == 0, r.output
    ((dest, styles, controls, kw),) = seen
    assert dest == tmp_path / "in_stylized_art_sm0.5.mp4" and len(styles) == 1 and controls == Controls(smooth=0.5)
    assert kw["size"] == 0 and kw["batch"] == 4 and kw["masks"] is None

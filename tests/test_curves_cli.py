"""`--method curves` on the command line: what the commands hand the core (core patched out, as in
test_cli_wiring.py), then small end-to-end runs (a sketch drawn here, random VGG weights, a few
iterations) writing SVG, PNG and the report, folders, interrupts and refusals."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest
import torch
from PIL import Image, ImageDraw

from conftest import make_image, one_line_error, run_cli
from styler.methods.base import ImageResult


def sketch(path: Path, size: int = 64) -> Path:
    """A chair in side view, black strokes on white (line art for the method)."""
    img = Image.new("RGB", (size, size), "white")
    d = ImageDraw.Draw(img)
    s = size / 128
    d.line([(30 * s, 10 * s), (34 * s, 70 * s), (96 * s, 70 * s), (96 * s, 118 * s)], fill="black", width=4)
    d.line([(34 * s, 70 * s), (34 * s, 118 * s)], fill="black", width=4)
    d.rectangle((40 * s, 18 * s, 62 * s, 52 * s), outline="black", width=3)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path


def scribble(path: Path, size: int = 48) -> Path:
    """A style sketch: short thick strokes."""
    img = Image.new("RGB", (size, size), "white")
    d = ImageDraw.Draw(img)
    for i in range(8):
        d.line((4 + 5 * i, 4, 10 + 4 * i, size - 6), fill="black", width=2 + i % 3)
    img.save(path)
    return path


def half_mask(path: Path) -> Path:
    img = Image.new("L", (20, 20), 0)
    img.paste(255, (0, 0, 10, 20))  # white on the left half
    img.save(path)
    return path


# -- wiring: the core patched out -------------------------------------------------------------


class FakeMethod:
    takes_images = True
    runtime = None

    def describe(self) -> str:
        return "fake"


@pytest.fixture
def loads(monkeypatch):
    """``methods.load`` patched: (name, options) of every method the commands build."""
    import styler.methods as methods

    seen = []
    monkeypatch.setattr(methods, "load", lambda name, **kw: seen.append((name.value, kw)) or FakeMethod())
    return seen


def test_curves_options_reach_the_loader_and_the_job(tmp_path, loads, jobs):
    content, style = sketch(tmp_path / "chair.png"), scribble(tmp_path / "style.png")
    mask = half_mask(tmp_path / "m.png")
    r = run_cli(
        "transfer", content, style, "--method", "curves", "-o", tmp_path / "out.svg",
        "--render", tmp_path / "out.png", "--report", tmp_path / "out.json", "--iters", "7", "--seed", "3",
        "--optimizer", "lbfgs", "--lr", "0.05", "--reach", "0.01", "--curve-mask", mask, "--vgg", tmp_path / "v.pth",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    ((name, kw),) = loads
    cfg = kw["curves"]
    assert name == "curves" and (cfg.iters, cfg.seed, cfg.optimizer, cfg.lr) == (7, 3, "lbfgs", 0.05)
    assert cfg.bounds.reach == 0.01 and kw["curve_mask"] == mask and kw["vgg"] == tmp_path / "v.pth"
    ((job, pairs),) = jobs
    assert [p.output for p in pairs] == ["out.svg"] and job.naming.writes == {".svg", ".json"}
    assert job.naming.others("out.svg") == [tmp_path / "out.png", tmp_path / "out.json"]
    assert ".svg" in job.inputs.reads


def test_a_folder_of_sketches_names_svg_outputs_and_their_renders(tmp_path, loads, jobs):
    sketch(tmp_path / "in" / "a.png")
    (tmp_path / "in" / "sub").mkdir()
    (tmp_path / "in" / "sub" / "b.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    style = scribble(tmp_path / "style.png")
    r = run_cli(
        "transfer", tmp_path / "in", style, "--method", "curves", "-o", tmp_path / "out", "--ext", "svg",
        "--render", tmp_path / "renders", "--report", tmp_path / "out",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    ((job, pairs),) = jobs
    want = ["a_stylized_style_curves.svg", "sub/b_stylized_style_curves.svg"]  # SVG contents too
    assert [p.output for p in pairs] == want
    assert job.naming.others(want[1]) == [
        tmp_path / "renders" / "sub" / "b_stylized_style_curves.png",
        tmp_path / "out" / "sub" / "b_stylized_style_curves.json",
    ]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--render", "r.png"], ["--render r.png only apply to --method curves"]),
        (["--reach", "0.1", "--lr", "1"], ["--reach 0.1, --lr 1.0 only apply to --method curves"]),
        (["--method", "curves", "--init", "noise"], ["--init noise only apply to --method gatys"]),
        (["--iters", "3"], ["--iters 3 only apply to --method gatys or --method curves"]),
        (["-o", "x.svg"], ["x.svg", "unknown image extension"]),
        (["--method", "curves", "-o", "x.txt"], ["--output x.txt", ".svg"]),
        (["--method", "curves", "--ext", "txt"], ["--ext 'txt'", "svg"]),
        (["--method", "curves", "--render", "r.txt"], ["--render r.txt", ".png"]),
        (["--method", "curves", "--render", "out.png", "-o", "out.png"], ["--render out.png", "output itself"]),
    ],
)
def test_misplaced_options_are_one_line_before_any_work(tmp_path, loads, monkeypatch, args, words):
    monkeypatch.chdir(tmp_path)
    sketch(tmp_path / "chair.png"), scribble(tmp_path / "style.png")
    r = run_cli("transfer", "chair.png", "style.png", *args)
    one_line_error(r, *words)
    assert loads == []  # refused before the weights load


def test_several_results_need_folders_for_render_and_report(tmp_path, loads):
    sketch(tmp_path / "in" / "a.png"), sketch(tmp_path / "in" / "b.png")
    r = run_cli("transfer", tmp_path / "in", scribble(tmp_path / "s.png"), "--method", "curves", "--report", "r.json")
    one_line_error(r, "--report r.json is one file but there are 2 results; pass a folder")


class FakeEngine:
    def __init__(self) -> None:
        self.calls: list = []

    def describe(self) -> str:
        return "fake on cpu"

    def result(self, content, styles, controls, masks=None):
        self.calls.append((tuple(content.shape), len(styles), masks is None))
        return ImageResult(torch.full_like(content, 0.5))


def test_mask_with_one_style_selects_curves(tmp_path, monkeypatch):
    """`styler mask sketch.png --mask m.png -s style.png --method curves`: the mask selects the curves."""
    engine, seen = FakeEngine(), []

    def load_engine(model, gatys=None, diffstyler=None, *, curves=None, on_step=None):
        seen.append((model.method.value, curves))
        return engine

    monkeypatch.setattr(importlib.import_module("styler.cli.common"), "load_engine", load_engine)
    content, style, mask = sketch(tmp_path / "c.png"), scribble(tmp_path / "s.png"), half_mask(tmp_path / "m.png")
    r = run_cli("mask", content, "--mask", mask, "-s", style, "--method", "curves", "-o", tmp_path / "o.png")
    assert r.exit_code == 0, r.output
    ((method, curves),) = seen
    assert method == "curves" and curves.curve_mask == mask
    assert engine.calls == [((1, 3, 512, 512), 1, True)]  # no regions: the method selects by its mask
    both = run_cli("mask", content, "--mask", mask, "-s", style, "--method", "curves", "--curve-mask", mask)
    one_line_error(both, "--mask and --curve-mask both select the curves")


def test_progress_rows_show_the_style_loss():
    from rich.progress import Progress

    from styler.cli.options import Model
    from styler.cli.steps import method_steps
    from styler.methods.curves.config import CurvesStep
    from styler.names import MethodName

    with Progress(disable=True) as bar, method_steps(bar, Model(requested=MethodName.curves)) as on_step:
        on_step(CurvesStep(3, 10, 0.5, 0.25))
        (task,) = bar.tasks
    assert (task.completed, task.total) == (3, 10) and "style loss 0.5, best 0.25" in task.description


# -- end to end: a real (random-weights) run ----------------------------------------------------


def test_sketch_to_svg_png_and_report(tmp_path):
    content, style = sketch(tmp_path / "chair.png"), scribble(tmp_path / "style.png")
    out = tmp_path / "out"
    r = run_cli(
        "transfer", content, style, "--method", "curves", "-o", out / "chair.svg", "--render", out / "chair.png",
        "--report", out / "chair.json", "--iters", "2", "--content-size", "0", "--style-size", "0", "--device", "cpu",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert r.stdout.split() == [str(out / "chair.png"), str(out / "chair.json"), str(out / "chair.svg")]
    from styler.methods.curves import svgparse

    curves = svgparse.load(out / "chair.svg")
    report = json.loads((out / "chair.json").read_text())
    assert curves.size == (64, 64) and len(curves) == len(report["curves"]) >= 3
    assert report["loss"]["steps"] == 2 and all(c["moved_px"] <= report["reach_px"] * 1.0001 for c in report["curves"])
    assert Image.open(out / "chair.png").size == (64, 64)
    assert sorted(p.name for p in out.iterdir()) == ["chair.json", "chair.png", "chair.svg"]  # no temp files

    # The SVG is content too; alpha 0 gives back exactly the input curves.
    again = run_cli(
        "transfer", out / "chair.svg", style, "--method", "curves", "-o", tmp_path / "same.svg", "--alpha", "0",
        "--style-size", "0", "--device", "cpu",
    )  # fmt: skip
    assert again.exit_code == 0, again.output
    same = svgparse.load(tmp_path / "same.svg")
    assert torch.equal(same.points, curves.points) and torch.equal(same.widths, curves.widths)


def test_a_folder_job_writes_every_output_and_resumes(tmp_path):
    sketch(tmp_path / "in" / "a.png"), sketch(tmp_path / "in" / "sub" / "b.png")
    style = scribble(tmp_path / "style.png")
    args = (
        "transfer", tmp_path / "in", style, "--method", "curves", "-o", tmp_path / "out", "--ext", "svg",
        "--render", tmp_path / "out", "--iters", "1", "--content-size", "0", "--style-size", "0", "--device", "cpu",
    )  # fmt: skip
    r = run_cli(*args)
    assert r.exit_code == 0, r.output
    names = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.*"))
    assert names == [
        "a_stylized_style_curves_i1_cfull_sfull.png", "a_stylized_style_curves_i1_cfull_sfull.svg", "manifest.jsonl",
        "sub/b_stylized_style_curves_i1_cfull_sfull.png", "sub/b_stylized_style_curves_i1_cfull_sfull.svg",
    ]  # fmt: skip
    resumed = run_cli(*args, "--skip-existing")
    assert resumed.exit_code == 0 and "0 written, 2 already there" in resumed.stderr


def test_photos_colour_and_sweeps_are_one_line(tmp_path):
    style = scribble(tmp_path / "style.png")
    photo = make_image(tmp_path / "photo.png", (64, 64), 3)
    r = run_cli("transfer", photo, style, "--method", "curves", "-o", tmp_path / "p.svg", "--device", "cpu")
    one_line_error(r, "photo.png", "not a line drawing", "needs a line drawing")
    c = run_cli("transfer", sketch(tmp_path / "c.png"), style, "--method", "curves", "--color", "luminance")
    one_line_error(c, "--color luminance does not apply", "line art")
    w = run_cli("transfer", tmp_path / "c.png", style, "--method", "curves", "--alpha-sweep", "0,1", "--device", "cpu")
    one_line_error(w, "--alpha-sweep makes a sheet of images", "--alpha")
    assert not list(tmp_path.glob("*.svg"))


def test_ctrl_c_keeps_the_best_result_and_exits_130(tmp_path, monkeypatch):
    import styler.methods.curves.optimise as optimise

    real, calls = optimise.style_loss, []

    def interrupted_at_the_third(*args):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(optimise, "style_loss", interrupted_at_the_third)
    content, style = sketch(tmp_path / "chair.png"), scribble(tmp_path / "style.png")
    r = run_cli(
        "transfer", content, style, "--method", "curves", "-o", tmp_path / "best.svg", "--report", tmp_path / "b.json",
        "--iters", "5", "--content-size", "0", "--style-size", "0", "--device", "cpu",
    )  # fmt: skip
    assert r.exit_code == 130, r.output
    assert "best result so far" in r.stderr
    report = json.loads((tmp_path / "b.json").read_text())
    assert report["loss"]["steps"] == 2 and (tmp_path / "best.svg").is_file()  # the best curves of two steps
    assert not list(tmp_path.glob(".*.part"))


def test_video_is_refused_in_one_line(tmp_path):
    (tmp_path / "in.mp4").write_bytes(b"not read")
    r = run_cli("video", tmp_path / "in.mp4", "--style", scribble(tmp_path / "s.png"), "--method", "curves")
    one_line_error(r, "--method curves", "does not run on video")


def test_the_python_api_writes_curves_and_further_outputs(tmp_path):
    import styler
    from styler.jobs.spec import Also

    engine = styler.load("curves", device="cpu", curves=styler.CurvesConfig(iters=1))
    content, style = sketch(tmp_path / "in" / "a.png", 48), scribble(tmp_path / "s.png")
    result = engine.result(styler.load_image(content, 0), [styler.load_image(style, 0)])
    assert result.save(tmp_path / "r.svg").read_text().startswith("<svg")
    report = styler.transfer(
        engine,
        tmp_path / "in",
        [style],
        tmp_path / "out",
        ext="svg",
        content_size=0,
        also=(Also(tmp_path / "out", "json"),),
    )
    assert report.written == 1 and not report.failures
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "a_stylized_s_cfull.json",  # content_size=0: the default name says so
        "a_stylized_s_cfull.svg",
        "manifest.jsonl",
    ]


def test_interpolate_writes_renders_only(tmp_path, loads):
    content, a, b = sketch(tmp_path / "c.png"), scribble(tmp_path / "a.png"), scribble(tmp_path / "b.png")
    r = run_cli("interpolate", content, a, b, "--method", "curves", "-o", tmp_path / "x.svg")
    one_line_error(r, "x.svg", "unknown image extension")
    assert loads == []

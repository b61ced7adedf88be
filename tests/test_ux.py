"""The first hour (issue 21): names that never collide or silently overwrite, help in panels,
pipes, --json, plain progress lines, caches, the style sheet, messages. Wiring style: the
engine is a fake where the picture does not matter."""

from __future__ import annotations

import importlib
import io
import json
import re
from pathlib import Path

import pytest
import torch
from PIL import Image

from conftest import make_image, one_line_error, run_cli
from styler.controls import Controls
from styler.jobs import naming
from styler.jobs.spec import Naming, Reading
from styler.names import Color

# -- a fake engine for the one-image commands ----------------------------------------------


class FakeMethod:
    name = "fake"
    takes_images = True

    def __init__(self, styles=()):
        self.styles = list(styles)

    def own_styles(self):
        return self.styles


class FakeEngine:
    def __init__(self, styles=()):
        self.method = FakeMethod(styles)
        self.calls: list = []

    def describe(self) -> str:
        return "fake on cpu"

    def represent(self, style):
        return style

    def apply(self, content, styles, controls, masks=None):
        self.calls.append(("apply", len(styles), controls))
        return torch.full_like(content, 0.5)

    def render_each(self, content, styles, controls=Controls()):
        for s in styles:
            self.calls.append(("each", s))
            yield torch.full_like(content, 0.25)


@pytest.fixture
def fake(monkeypatch):
    engine = FakeEngine()
    for name in ("common", "transfer", "video"):
        monkeypatch.setattr(importlib.import_module(f"styler.cli.{name}"), "load_engine", lambda *a, **k: engine)
    return engine


@pytest.fixture
def pics(tmp_path):
    return {
        "photo": make_image(tmp_path / "sailboat.jpg", (40, 32), 1),
        "a": make_image(tmp_path / "sketch.jpg", (36, 36), 2),
        "b": make_image(tmp_path / "wave.png", (30, 30), 3),
    }


# -- 1. names ------------------------------------------------------------------------------


def test_tags_say_every_setting_that_differs_from_its_default():
    assert naming.setting_tags(Controls(), Reading()) == ()
    assert naming.setting_tags(Controls(alpha=0.3), Reading()) == ("a0.3",)
    assert naming.setting_tags(Controls(color=Color.luminance), Reading()) == ("luminance",)
    assert naming.setting_tags(Controls(weights=(1, 3)), Reading()) == ("w0.25-0.75",)
    assert naming.setting_tags(Controls(weights=(2, 2)), Reading()) == ()  # equal is the default
    assert naming.setting_tags(Controls(sweep=(0, 0.5, 1), labels=False), Reading(256, 0, True)) == (
        "sweep0-0.5-1",
        "nolabels",
        "c256",
        "sfull",
        "crop",
    )
    assert naming.setting_tags(Controls(feather=8, smooth=0.8)) == ("f8", "sm0.8")
    assert naming.method_tags("adain") == () and naming.method_tags("cin") == ("cin",)
    tags = naming.method_tags("gatys", {"iters": 100, "init": "adain", "decoder": Path("runs/x/decoder.pth")})
    assert tags == ("gatys", "i100", "init-adain", "dec-x")  # a generic file name: its folder's
    assert naming.method_tags("cin", {"model": Path("runs/cin/model.pth")}) == ("cin",)
    assert naming.method_tags("cin", {"model": Path("runs/portraits/model.pth")}) == ("cin", "portraits")
    assert naming.result_stem("a", ["x", "y z"], "interpolated", ("w0.25-0.75",)) == "a_interpolated_x+y-z_w0.25-0.75"


def test_trying_settings_never_reuses_a_name(tmp_path, pics, monkeypatch):
    """The issue's session: --alpha 0.3, --alpha 0.9, --color luminance, then cin: four files."""
    import styler.jobs.runner as runner

    seen = []
    monkeypatch.setattr(runner, "run", lambda engine, job, pairs=None, **kw: seen.append(pairs) or runner.Report())
    monkeypatch.setattr(importlib.import_module("styler.cli.transfer"), "load_engine", lambda *a, **k: FakeEngine())
    monkeypatch.chdir(tmp_path)
    for extra in (["--alpha", "0.3"], ["--alpha", "0.9"], ["--color", "luminance"], []):
        r = run_cli("transfer", pics["photo"], pics["a"], *extra)
        assert r.exit_code == 0, r.output
    names = [p.output for (p,) in seen]
    assert names == [
        "sailboat_stylized_sketch_a0.3.png",
        "sailboat_stylized_sketch_a0.9.png",
        "sailboat_stylized_sketch_luminance.png",
        "sailboat_stylized_sketch.png",
    ]
    model = tmp_path / "runs" / "cin" / "model.pth"
    model.parent.mkdir(parents=True)
    model.write_bytes(b"")
    monkeypatch.setattr(importlib.import_module("styler.methods"), "check_options", lambda *a, **k: None)
    r = run_cli("transfer", pics["photo"], "--model", model, "-s", "sketch")
    assert r.exit_code == 0, r.output
    assert seen[-1][0].output == "sailboat_stylized_sketch_cin.png"  # never the adain result's name


def test_an_existing_result_is_replaced_with_a_notice_or_numbered_with_no_clobber(tmp_path, pics, fake):
    out = tmp_path / "out"
    args = ("interpolate", pics["photo"], pics["a"], pics["b"], "-o", out, "--content-size", "0")
    first = run_cli(*args)
    assert first.exit_code == 0, first.output
    name = out / "sailboat_interpolated_sketch+wave_cfull.png"
    assert first.stdout.strip() == str(name) and "replaced" not in first.stderr
    again = run_cli(*args)
    assert again.exit_code == 0 and f"replaced {name}" in again.stderr  # never silent
    kept = run_cli(*args, "--no-clobber")
    assert kept.exit_code == 0 and kept.stdout.strip() == str(out / "sailboat_interpolated_sketch+wave_cfull_2.png")
    assert sorted(p.name for p in out.iterdir()) == [name.name, "sailboat_interpolated_sketch+wave_cfull_2.png"]


def test_a_job_marks_what_it_replaces_and_numbers_with_keep_existing(tmp_path, pics):
    from styler.jobs import runner
    from styler.jobs.spec import make_job

    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "sailboat_stylized_sketch.png").write_bytes(b"old")
    job = make_job(pics["photo"], [pics["a"], pics["b"]], tmp_path / "o")
    assert [(p.output, p.replaces) for p in runner.plan(job)] == [
        ("sailboat_stylized_sketch.png", True),
        ("sailboat_stylized_wave.png", False),
    ]
    kept = make_job(pics["photo"], [pics["a"]], tmp_path / "o", keep_existing=True)
    assert [p.output for p in runner.plan(kept)] == ["sailboat_stylized_sketch_2.png"]
    resume = make_job(pics["photo"], [pics["a"]], tmp_path / "o", keep_existing=True, skip_existing=True)
    assert [p.output for p in runner.plan(resume)] == ["sailboat_stylized_sketch.png"]  # resume keeps names
    assert Naming(tmp_path / "o", keep_existing=True).one("sailboat_stylized_sketch") == (
        tmp_path / "o" / "sailboat_stylized_sketch_2.png"
    )


# -- 2. help ---------------------------------------------------------------------------------


IMAGE_COMMANDS = ("transfer", "interpolate", "mask", "color-preserve", "sheet", "video")
ALL_COMMANDS = (*IMAGE_COMMANDS, "train", "weights list", "weights verify", "weights import", "weights download")
ALL_COMMANDS += ("models show", "cache info", "cache clear")


def sections(text: str) -> dict[str, list[str]]:
    """Help text -> {panel title: its lines}."""
    found: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line and not line.startswith(" ") and line.endswith(":") and not line.startswith("Usage"):
            current = line[:-1]
            found[current] = []
        elif current is not None and line.strip():
            found[current].append(line)
    return found


def test_styler_alone_prints_the_help_and_exits_0():
    for args in ((), ("weights",), ("cache",), ("models",)):
        r = run_cli(*args)
        assert r.exit_code == 0 and r.stdout.startswith("Usage: styler") and "error" not in r.output


def test_the_command_list_gives_whole_summaries_in_panels():
    r = run_cli("--help")
    text = sections(r.stdout)
    assert {"Images and video", "Training and models", "Setup"} <= set(text) and "Commands" not in text
    body = r.stdout.split("\n", 1)[1]  # (the usage line ends with ARGS...)
    assert "...\n" not in body and "…" not in body
    joined = " ".join(" ".join(text["Images and video"]).split())
    assert "Repaint CONTENT in the style of each STYLE (files or folders: every pair is done)." in joined
    assert "styler transfer photo.jpg painting.jpg" in r.stdout


@pytest.mark.parametrize("command", ALL_COMMANDS)
def test_help_panels_defaults_choices_and_usage(command):
    r = run_cli(*command.split(), "--help")
    assert r.exit_code == 0, r.output
    usage = r.stdout.splitlines()[0]
    assert usage.startswith(f"Usage: styler {command} [OPTIONS]") and not re.search(r"[{}<>]", usage)
    assert "<" not in r.stdout and "list[" not in r.stdout  # no Python types as metavars
    panels = sections(r.stdout)
    for title, lines in panels.items():
        assert len(lines) <= 40, f"{command}: panel {title} has {len(lines)} lines"
    if command in (*IMAGE_COMMANDS, "train"):  # every option in a panel; the catch-all holds -h alone
        assert [ln.split()[0] for ln in panels["Options"] if ln.lstrip().startswith("-")] == ["-h,"]
    if command in IMAGE_COMMANDS:
        assert {"Inputs and outputs", "Style controls", "Method", "Performance", "Weights"} <= set(panels)
    for entry in options_of(r.stdout):
        if takes_a_value(entry) and "--style " not in entry.split("  ")[0]:
            assert "[default:" in entry or "required" in entry, (command, entry)
        if re.search(r"--(method|color|precision|pairs|init|optimizer) ", entry.split("  ")[0]):
            assert re.search(r"\[[a-z0-9]+(\|[a-z0-9]+)+\]", entry), entry  # the choices


def test_image_commands_have_a_gatys_panel_and_one_spelling_everywhere():
    for command in IMAGE_COMMANDS[:-1]:
        text = run_cli(command, "--help").stdout
        assert "Gatys (--method gatys):" in text and "[default: gatys 500, curves 50]" in " ".join(text.split())
    train = run_cli("train", "--help").stdout
    assert "-o, --output PATH" in train and "--out " not in train and "--crop-size N" in train
    assert "[auto|bf16|fp32]" in train  # --precision lists its choices
    assert "--crop " not in train  # --crop is a switch elsewhere; train's size is --crop-size
    assert "--feather PX" in run_cli("mask", "--help").stdout


def test_the_help_defaults_of_gatys_are_the_methods():
    import typing

    from styler.cli import options
    from styler.methods.gatys.config import GatysConfig

    hints = typing.get_type_hints(options.Gatys, include_extras=True)
    cfg = GatysConfig()
    for name in ("iters", "init", "optimizer", "content_weight", "style_weight", "tv_weight", "seed"):
        shown = typing.get_args(hints[name])[1].show_default
        assert shown == f"{getattr(cfg, name):g}" if isinstance(getattr(cfg, name), float) else str(getattr(cfg, name))


def options_of(text: str) -> list[str]:
    """Each option's entry (its lines joined)."""
    entries: list[str] = []
    for line in text.splitlines():
        if re.match(r"  -", line):
            entries.append(line.strip())
        elif entries and line.startswith("     ") and not re.match(r"  [A-Z]", line):
            entries[-1] += " " + line.strip()
        elif not line.strip() or not line.startswith(" "):
            entries.append("")
    return [e for e in entries if e]


def takes_a_value(entry: str) -> bool:
    head = entry.split("  ")[0]
    return bool(re.search(r"--[a-z-]+ \S", head)) and " / " not in head and "--help" not in head


# -- 4. pipes, --json, progress ------------------------------------------------------------


def png_bytes(size=(40, 32), seed=1) -> bytes:
    buf = io.BytesIO()
    Image.open(make_image(Path("/tmp") / f"ux-pipe-{seed}.png", size, seed)).save(buf, "PNG")
    return buf.getvalue()


def test_stdin_in_and_png_on_stdout(tmp_path, pics, fake, monkeypatch):
    from typer.testing import CliRunner

    from styler.cli import app

    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(
        app, ["color-preserve", "-", str(pics["a"]), "-o", "-", "--content-size", "0"], input=png_bytes()
    )
    assert r.exit_code == 0, r.stderr
    image = Image.open(io.BytesIO(r.stdout_bytes))
    assert image.format == "PNG" and image.size == (40, 32)
    assert "done:" in r.stderr and list(tmp_path.glob("*.png")) == [pics["b"]]  # nothing written here
    one = CliRunner().invoke(app, ["color-preserve", "-", str(pics["a"])], input=png_bytes())
    assert one.exit_code == 0 and one.stdout.strip() == str(tmp_path / "stdin_stylized_sketch_coral.png")


def test_transfer_through_a_pipe_with_the_real_engine(tmp_path, pics):
    from typer.testing import CliRunner

    from styler.cli import app

    args = ["transfer", "-", str(pics["a"]), "-o", "-", "--content-size", "0", "--style-size", "32"]
    r = CliRunner().invoke(app, [*args, "--device", "cpu", "--precision", "fp32"], input=png_bytes())
    assert r.exit_code == 0, r.stderr
    assert Image.open(io.BytesIO(r.stdout_bytes)).size == (40, 32) and "done: 1 image" in r.stderr
    two = CliRunner().invoke(app, ["transfer", "-", str(pics["a"]), str(pics["b"]), "-o", "-"], input=png_bytes())
    one_line_error(two, "--output -", "writes one image to stdout, but this job makes 2")
    none = CliRunner().invoke(app, ["transfer", "-", str(pics["a"])], input=b"")
    one_line_error(none, "stdin was empty")
    both = CliRunner().invoke(app, ["transfer", str(pics["photo"]), str(pics["a"]), "-o", "-", "--json"])
    one_line_error(both, "--output -", "--json", "drop one")


def test_json_prints_one_record_per_result(tmp_path, pics, monkeypatch):
    import styler.jobs.runner as runner

    monkeypatch.setattr(importlib.import_module("styler.cli.transfer"), "load_engine", lambda *a, **k: FakeEngine())

    def run(engine, job, pairs=None, on_result=None, **kw):
        for p in pairs:
            on_result(job.naming.folder / p.output, None)
        return runner.Report(written=len(pairs))

    monkeypatch.setattr(runner, "run", run)
    r = run_cli("transfer", pics["photo"], pics["a"], pics["b"], "-o", tmp_path / "o", "--alpha", "0.5", "--json")
    assert r.exit_code == 0, r.output
    records = [json.loads(line) for line in r.stdout.splitlines()]
    assert [Path(x["output"]).name for x in records] == [
        "sailboat_stylized_sketch_a0.5.png",
        "sailboat_stylized_wave_a0.5.png",
    ]
    assert {(x["method"], x["alpha"], x["replaced"]) for x in records} == {("adain", 0.5, False)}
    assert records[0]["style"] == "sketch.jpg" and "done:" in r.stderr


def test_json_of_a_one_image_command(tmp_path, pics, fake):
    r = run_cli(
        "interpolate",
        pics["photo"],
        pics["a"],
        pics["b"],
        "--weights",
        "1,3",
        "-o",
        tmp_path,
        "--json",
        "--content-size",
        "0",
    )
    assert r.exit_code == 0, r.output
    (rec,) = [json.loads(line) for line in r.stdout.splitlines()]
    assert Path(rec["output"]).name == "sailboat_interpolated_sketch+wave_w0.25-0.75_cfull.png"
    assert rec["kind"] == "interpolated" and rec["size"] == [40, 32] and rec["replaced"] is False


def test_off_a_terminal_progress_is_a_plain_line(monkeypatch):
    from rich.console import Console

    from styler.cli import console

    buf = io.StringIO()
    monkeypatch.setattr(console, "err", Console(file=buf, force_terminal=False, width=200))
    monkeypatch.setenv(console.PROGRESS_SECONDS, "0")
    with console.progress_bar() as bar:
        task = bar.add_task("stylizing with adain on cpu (bf16)", total=4, unit="images")
        for i in range(1, 5):
            bar.update(task, completed=i)
    lines = buf.getvalue().splitlines()
    assert len(lines) == 4
    assert re.fullmatch(
        r"stylizing with adain on cpu \(bf16\): 2/4 images \(50%\)(, [\d.e+]+/s)?, 0:00:00 elapsed(, eta 0:00:\d\d)?",
        lines[1],
    ), lines[1]
    assert lines[-1].startswith("stylizing with adain on cpu (bf16): 4/4 images (100%)")
    monkeypatch.setenv(console.PROGRESS_SECONDS, "3600")  # a short run prints nothing
    buf.truncate(0)
    buf.seek(0)
    with console.progress_bar() as bar:
        bar.update(bar.add_task("x", total=2), completed=2)
    assert buf.getvalue() == ""


def test_the_cli_progress_reaches_a_log(tmp_path, pics, fake, monkeypatch):
    monkeypatch.setenv("STYLER_PROGRESS_SECONDS", "0")
    r = run_cli("interpolate", pics["photo"], *[pics["a"], pics["b"]] * 2, "--grid", "2", "-o", tmp_path / "g.png")
    assert r.exit_code == 0, r.output
    assert "grid2 with fake on cpu: 4/4 tiles (100%)" in r.stderr


# -- 3. caches, weights --------------------------------------------------------------------


def test_style_cache_lives_in_the_user_cache_and_cache_info_clear(tmp_path, monkeypatch, weights_dir):
    from styler import paths
    from styler.jobs.stylecache import default_cache_dir

    monkeypatch.setenv("STYLER_CACHE_DIR", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c" / "styles" and weights_dir not in default_cache_dir().parents
    r = run_cli("cache", "info")
    assert r.exit_code == 0 and "no caches yet" in r.stdout
    for kind, n in (("styles", 2), ("exports", 1)):
        folder = paths.cache_dir(kind)
        paths.mark_cache(folder)
        for i in range(n):
            (folder / f"e{i}.pt").write_bytes(b"x" * 1000)
    (tmp_path / "c" / "decoder.pth").write_bytes(b"weights stay")  # weights may share the root
    r = run_cli("cache", "info", "--json")
    assert [json.loads(x) for x in r.stdout.splitlines()] == [
        {"cache": "exports", "path": str(tmp_path / "c" / "exports"), "files": 1, "bytes": 1000},
        {"cache": "styles", "path": str(tmp_path / "c" / "styles"), "files": 2, "bytes": 2000},
    ]
    one_line_error(run_cli("cache", "clear", "loras"), "no cache named loras", "exports, styles")
    r = run_cli("cache", "clear", "styles")
    assert r.exit_code == 0 and "cleared styles: 2 file(s)" in r.stderr
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == ["decoder.pth", "exports"]
    assert run_cli("cache", "clear").exit_code == 0
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == ["decoder.pth"]


def test_cache_root_follows_the_platform(monkeypatch, tmp_path):
    from styler import paths

    monkeypatch.delenv("STYLER_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert paths.cache_root() == tmp_path / "xdg" / "styler"
    monkeypatch.setattr(paths.sys, "platform", "darwin")
    assert paths.cache_root() == Path.home() / "Library" / "Caches" / "styler"
    monkeypatch.setattr(paths.sys, "platform", "win32")
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "local"))
    assert paths.cache_root() == tmp_path / "local" / "styler" / "Cache"
    assert paths.lock_path(tmp_path / "w" / "decoder.pth").parent.name == "locks"


def test_import_a_checkpoint_keeps_the_network_and_reports_what_it_replaces(weights_dir, tmp_path, monkeypatch):
    from styler.nets import weights

    monkeypatch.setenv("STYLER_WEIGHTS_DIR", str(tmp_path / "w"))
    sd = torch.load(weights_dir / "decoder.pth", weights_only=True)
    optimizer = {"state": {0: {"exp_avg": torch.zeros(1000, 1000)}}}
    torch.save({"decoder": sd, "optimizer": optimizer, "iter": 30}, tmp_path / "iter_0000030.pt")
    assert run_cli("weights", "import", weights_dir / "decoder.pth").exit_code == 0
    r = run_cli("weights", "import", tmp_path / "iter_0000030.pt")
    assert r.exit_code == 0, r.output
    assert "training checkpoint: kept the decoder's weights only" in r.stderr
    assert f"replaced {tmp_path / 'w' / 'decoder.pth'} (custom, not the release)" in r.stderr
    kept = torch.load(tmp_path / "w" / "decoder.pth", weights_only=True)
    assert set(kept) == set(sd) and (tmp_path / "w" / "decoder.pth").stat().st_size < 20e6
    assert weights.recorded_hash(tmp_path / "w" / "decoder.pth") == weights.sha256_of(tmp_path / "w" / "decoder.pth")


def test_weights_list_flags_hand_placed_files(weights_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("STYLER_WEIGHTS_DIR", str(tmp_path / "w"))
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "decoder.pth").write_bytes((weights_dir / "decoder.pth").read_bytes())  # by hand
    r = run_cli("weights", "list")
    assert r.exit_code == 0
    lines = {line.split()[0]: line for line in r.stdout.splitlines()[1:]}
    assert "placed by hand, NOT the release" in lines["decoder"] and "missing" in lines["vgg"]


# -- 5. the style sheet, labels, video stretches ---------------------------------------------


def test_sheet_renders_every_style_of_a_folder_once_with_labels(tmp_path, pics, fake):
    styles = tmp_path / "styles"
    for i in range(5):
        make_image(styles / f"st{i}.jpg", (20, 20), 10 + i)
    r = run_cli("sheet", pics["photo"], styles, "--content-size", "0", "-o", tmp_path / "sheet.png")
    assert r.exit_code == 0, r.output
    assert [c[0] for c in fake.calls] == ["each"] * 5  # one render per style
    sheet = Image.open(tmp_path / "sheet.png")
    band = int(10 * 1.6)  # the caption band at 40 px wide tiles
    assert sheet.size == (3 * 40 + 2 * 4, 2 * (32 + band) + 4)  # content + 5 styles, 3 columns
    assert "5 style(s) of styles" in r.stderr
    default = run_cli("sheet", pics["photo"], styles, "--no-labels", "-o", tmp_path)
    assert default.exit_code == 0 and default.stdout.strip() == str(tmp_path / "sailboat_sheet_styles_nolabels.png")


def test_sheet_of_a_cin_model_takes_every_style(tmp_path, pics, monkeypatch):
    engine = FakeEngine(styles=["la_muse", "wave", "udnie"])
    monkeypatch.setattr(importlib.import_module("styler.cli.common"), "load_engine", lambda *a, **k: engine)
    monkeypatch.setattr(importlib.import_module("styler.methods"), "check_options", lambda *a, **k: None)
    model = tmp_path / "runs" / "portraits" / "model.pth"
    model.parent.mkdir(parents=True)
    model.write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    r = run_cli("sheet", pics["photo"], "--model", model)
    assert r.exit_code == 0, r.output
    assert [c[1] for c in engine.calls] == ["la_muse", "wave", "udnie"]
    assert r.stdout.strip() == str(tmp_path / "sailboat_sheet_all_cin_portraits.png")


def test_sweep_and_grid_tiles_are_labelled():
    from styler.media.sheets import caption, contact_sheet

    tile = torch.zeros(1, 3, 32, 64)
    out = caption(tile, "alpha 0.25")
    assert out.shape[-2:] == (32 + int(10 * 1.6), 64)
    band = out[0, :, 32:, :]
    assert band.min() < 0.3 and band.max() == 1.0  # dark letters on white
    sheet = contact_sheet([[tile, tile]], labels=[["a", "b"]])
    assert sheet.shape[-2:] == (32 + int(10 * 1.6), 2 * 64 + 4)
    from styler.media.sheets import inset

    marked = inset(tile, torch.full((1, 3, 20, 20), 0.5))  # --show-styles: the style in the corner
    assert marked.shape == tile.shape and marked[0, 0, 0, 0] == 0 and abs(marked[0, 0, -5, -5] - 0.5) < 0.01


def test_video_start_and_duration_reach_the_pipeline(tmp_path, pics, fake, monkeypatch):
    from fractions import Fraction

    import styler.jobs.video as pipeline
    import styler.media.video as video

    (tmp_path / "in.mp4").write_bytes(b"probe is patched")
    info = video.VideoInfo(tmp_path / "in.mp4", 64, 48, Fraction(25), 250, 10.0, "h264", ("aac",), 0)
    monkeypatch.setattr(video, "probe", lambda path: info)
    seen = []

    def stylize_video(engine, clip, dest, styles, controls, **kw):
        seen.append((clip, dest))
        return pipeline.VideoReport(Path(dest), clip.frames, 1.0, (64, 48), 0.5, 0.1, 0.05)

    monkeypatch.setattr(pipeline, "stylize_video", stylize_video)
    monkeypatch.chdir(tmp_path)
    r = run_cli("video", "in.mp4", pics["a"], "--start", "2", "--duration", "48f")
    assert r.exit_code == 0, r.output
    ((clip, dest),) = seen
    assert (clip.start, clip.frames, clip.trimmed) == (2.0, 48, True)
    assert dest == tmp_path / "in_stylized_sketch_from2s_48f.mp4"
    one_line_error(run_cli("video", "in.mp4", pics["a"], "--start", "11"), "--start 11 is past the end of in.mp4")
    one_line_error(run_cli("video", "in.mp4", pics["a"], "--duration", "soon"), "--duration soon is not a time")


def test_trim_counts_whole_frames():
    from fractions import Fraction

    from styler.media import video

    info = video.VideoInfo(Path("x.mp4"), 64, 48, Fraction(30000, 1001), 300, 10.01, "h264", (), 0)
    clip = video.trim(info, "0:01.5", "1")
    assert (clip.frames, round(clip.start * float(info.fps))) == (30, 45)
    assert video.trim(info, "290f").frames == 10 and video.trim(info) is info


# -- 6. messages -----------------------------------------------------------------------------


def test_messages_a_new_user_meets(tmp_path, pics):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64)
    one_line_error(run_cli("transfer", clip, pics["a"]), "clip.mp4 is a video", "styler video")
    one_line_error(
        run_cli("transfer", pics["photo"], pics["a"], "--decoder", pics["b"]), "wave.png", "it is a PNG image"
    )
    one_line_error(
        run_cli("transfer", pics["photo"], pics["a"], "--method", "adain", "--model", tmp_path / "m.pth"),
        "--model is a CIN or AesFA network file, which conflicts with --method adain",
    )
    one_line_error(
        run_cli("interpolate", pics["photo"], pics["a"], pics["b"], "--grid", "3", "--weights", "1,2"),
        "--grid sets the weights itself; drop --weights or --grid",
    )

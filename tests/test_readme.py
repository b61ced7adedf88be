"""The README and docs against the tool: every `styler` command they show parses (its options
exist, its values fit), and the front page's claims about names hold (the core patched out)."""

from __future__ import annotations

import importlib
import re
import shlex
from fractions import Fraction
from pathlib import Path

import pytest
import typer

from conftest import make_image, run_cli

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def commands(path: Path) -> list[str]:
    """The `styler ...` command lines of the fenced code blocks of ``path`` (continuations joined,
    comments dropped; lines with placeholders such as '...' skipped)."""
    found, block, pending = [], False, ""
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            block = not block
            continue
        if not block:
            continue
        line = pending + line.split("  #")[0].strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        head = re.search(r"(?:^|-m )styler (.*)$", line)
        if head and "..." not in line and "$" not in line and not line.startswith(("error:", "Usage")):
            found.append(head.group(1).split(" | ")[0].split(" > ")[0].split(" < ")[0])
    return found


def parse(line: str) -> None:
    """Parse ``styler LINE`` down to its command without running it (Click's own checks)."""
    from styler.cli import app

    group = typer.main.get_command(app)
    args = shlex.split(line)
    ctx = group.make_context("styler", list(args))
    while hasattr(ctx.command, "resolve_command"):
        protected = getattr(ctx, "protected_args", None) or getattr(ctx, "_protected_args", [])
        if not (protected or ctx.args):
            break
        name, cmd, rest = ctx.command.resolve_command(ctx, [*protected, *ctx.args])
        ctx = cmd.make_context(name, rest, parent=ctx)


ALL = [(path.name, line) for path in DOCS for line in commands(path)]


def test_the_docs_show_commands():
    assert len(ALL) > 50 and len([1 for name, _ in ALL if name == "README.md"]) >= 7
    for wrong in ("train --crop 128", "transfer a.jpg b.jpg --alpah 1", "weights lst"):  # the check bites
        with pytest.raises(Exception, match=r"No such (option|command)"):
            parse(wrong)


@pytest.mark.parametrize("where, line", ALL, ids=[f"{w}:{i}" for i, (w, _) in enumerate(ALL)])
def test_every_command_in_the_docs_parses(where, line):
    parse(line)


def test_the_front_page_names(tmp_path, monkeypatch):
    """The names the README's five commands promise."""
    import styler.jobs.runner as runner

    class Engine:
        def describe(self):
            return "fake"

    seen = []
    monkeypatch.setattr(runner, "run", lambda engine, job, pairs=None, **kw: seen.append(pairs) or runner.Report())
    monkeypatch.setattr(importlib.import_module("styler.cli.transfer"), "load_engine", lambda *a, **k: Engine())
    monkeypatch.chdir(tmp_path)
    make_image(tmp_path / "photo.jpg")
    make_image(tmp_path / "painting.jpg")
    for args, name in [
        ([], "photo_stylized_painting.png"),
        (["--alpha", "0.6", "--color", "luminance"], "photo_stylized_painting_a0.6_luminance.png"),
        (["--alpha-sweep", "0,0.25,0.5,0.75,1"], "photo_stylized_painting_sweep0-0.25-0.5-0.75-1.png"),
    ]:
        r = run_cli("transfer", "photo.jpg", "painting.jpg", *args)
        assert r.exit_code == 0, r.output
        assert seen[-1][0].output == name


def test_the_front_page_video_preview_name(tmp_path, monkeypatch):
    import styler.jobs.video as pipeline
    import styler.media.video as video

    monkeypatch.chdir(tmp_path)
    make_image(tmp_path / "painting.jpg")
    (tmp_path / "clip.mp4").write_bytes(b"probe is patched")
    info = video.VideoInfo(tmp_path / "clip.mp4", 64, 48, Fraction(25), 2500, 100.0, "h264", ("aac",), 0)
    monkeypatch.setattr(video, "probe", lambda path: info)
    monkeypatch.setattr(importlib.import_module("styler.cli.video"), "load_engine", lambda *a, **k: _Fake())
    seen = []

    def stylize_video(engine, clip, dest, *a, **kw):
        seen.append((clip, dest))
        return pipeline.VideoReport(Path(dest), clip.frames, 1.0, (64, 48), 0.5, 0.1, 0.05)

    monkeypatch.setattr(pipeline, "stylize_video", stylize_video)
    r = run_cli("video", "clip.mp4", "painting.jpg", "--start", "0:30", "--duration", "3")
    assert r.exit_code == 0, r.output
    ((clip, dest),) = seen
    assert dest.name == "clip_stylized_painting_from30s_75f.mp4" and clip.frames == 75


class _Fake:
    def describe(self):
        return "fake"


def test_the_claims_that_changed():
    readme = (ROOT / "README.md").read_text()
    assert len(readme) < 10_000  # a front page; the rest is in docs/
    assert "enlarges smaller photos" in readme
    images = (ROOT / "docs" / "images.md").read_text()
    assert "_{color}" in images and "one of the name's tags" in images  # true now: --color is a tag
    help_text = " ".join(run_cli("transfer", "--help").stdout.split())
    assert "smaller photos enlarged too" in help_text

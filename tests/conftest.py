"""Shared fixtures: random weights in the public release layout, small images, no network."""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from helpers import write_random_weights  # bench/helpers.py (pytest pythonpath)


@pytest.fixture(scope="session")
def weights_dir(tmp_path_factory) -> Path:
    """vgg_normalised.pth (all 53 modules, as released) and decoder.pth, random but fixed."""
    d = tmp_path_factory.mktemp("weights")
    write_random_weights(d)
    return d


@pytest.fixture(scope="session")
def runtime_dir(tmp_path_factory) -> Path:
    """$XDG_RUNTIME_DIR of the tests: where download locks go (outside each test's tmp_path)."""
    return tmp_path_factory.mktemp("run")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, weights_dir, runtime_dir, tmp_path):
    """Weights come from the test directory; any download attempt fails as offline."""
    monkeypatch.setenv("STYLER_WEIGHTS_DIR", str(weights_dir))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime_dir))  # download locks
    monkeypatch.delenv("STYLER_CACHE_DIR", raising=False)
    monkeypatch.setenv("STYLER_PROGRESS_SECONDS", "5")
    # --precision auto measures on first use (styler.precision): tests run fp32 unless they measure
    monkeypatch.setenv("STYLER_PRECISIONS", "fp32")
    monkeypatch.delenv("STYLER_DEBUG", raising=False)
    monkeypatch.delenv("STYLER_WEIGHTS_MIRROR", raising=False)
    real = urllib.request.urlopen

    def offline(url, *a, **k):
        full = str(getattr(url, "full_url", url))
        if full.startswith(("file:", "http://127.0.0.1:")):  # local files and test servers only
            return real(url, *a, **k)
        raise urllib.error.URLError("network is disabled in tests")

    monkeypatch.setattr(urllib.request, "urlopen", offline)


@pytest.fixture(scope="session")
def adain(weights_dir):
    """The AdaIN method on CPU in fp32, shared by the session (stateless after construction)."""
    from styler.methods.adain.method import load

    return load(
        vgg=weights_dir / "vgg_normalised.pth", decoder=weights_dir / "decoder.pth", device="cpu", precision="fp32"
    )


@pytest.fixture(scope="session")
def engine(adain):
    """``Engine(adain)`` with the default tiling (auto: untiled at test sizes)."""
    from styler.engine import Engine

    return Engine(adain)


@pytest.fixture
def jobs(monkeypatch):
    """``runner.run`` patched: the (job, planned pairs) that ``styler transfer`` hands the runner."""
    import styler.jobs.runner as runner

    seen = []

    def run(engine, job, pairs=None, **kw):
        seen.append((job, pairs))
        return runner.Report(written=len(pairs or []))

    monkeypatch.setattr(runner, "run", run)
    return seen


def patch_load_engine(monkeypatch, load_engine) -> None:
    """``load_engine`` replaced in every command module that calls it (by module name: the
    package's attributes are the commands)."""
    import importlib

    for name in ("common", "transfer", "video"):
        monkeypatch.setattr(importlib.import_module(f"styler.cli.{name}"), "load_engine", load_engine)


def make_image(path: Path, size=(48, 40), seed: int = 0, mode: str = "RGB") -> Path:
    """A smooth random colour image (w, h) written to ``path``."""
    rng = np.random.default_rng(seed)
    w, h = size
    base = rng.uniform(0, 255, (4, 4, 3)).astype(np.uint8)
    img = Image.fromarray(base).resize((w, h), Image.Resampling.BICUBIC)
    if mode != "RGB":
        img = img.convert(mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path


@pytest.fixture
def images(tmp_path) -> dict[str, Path]:
    return {
        "content": make_image(tmp_path / "in" / "content.png", (48, 40), 1),
        "style": make_image(tmp_path / "in" / "style.jpg", (36, 44), 2),
    }


def run_cli(*args):
    """Invoke ``styler ARGS...`` in-process (Typer's runner; stderr captured separately)."""
    from styler.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


def one_line_error(result, *words):
    """A user mistake: non-zero exit, exactly one stderr line containing ``words``, no traceback."""
    assert result.exit_code != 0, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for w in words:
        assert w in lines[0], lines[0]
    assert "Traceback" not in result.output


def torchrun_styler(nproc: int) -> list[str]:
    """The command line head of ``styler`` under ``torchrun --standalone --nproc-per-node NPROC``."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}", "-m", "styler"]


def process_env(**extra: str) -> dict[str, str]:
    """The environment of a ``styler`` subprocess: this source tree, one thread per process."""
    src = str(Path(__file__).resolve().parent.parent / "src")
    return {**os.environ, "PYTHONPATH": src, "OMP_NUM_THREADS": "1", **extra}

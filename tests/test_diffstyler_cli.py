"""`--method diffstyler` on the command line: the wiring of every flag and refusal with the core
patched out (fastapi-cli's way), then the real CLI on the tiny random Stable Diffusion folder
(bench/diffstyler_models.py): images written, both caches hit on the second run, Ctrl-C."""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

import pytest
import torch

from conftest import make_image, one_line_error, run_cli
from styler.methods.diffstyler.config import DiffStylerConfig, LoraSettings

HAVE_EXTRA = all(importlib.util.find_spec(m) is not None for m in ("diffusers", "transformers", "peft"))
needs_extra = pytest.mark.skipif(not HAVE_EXTRA, reason="the diffusion extra is not installed")


@pytest.fixture(scope="module")
def tiny_sd(tmp_path_factory):
    from diffstyler_models import write_tiny  # bench/ (pytest pythonpath)

    return write_tiny(tmp_path_factory.mktemp("tiny-sd"))


@pytest.fixture
def inputs(tmp_path) -> dict[str, Path]:
    mask = make_image(tmp_path / "labels.png", (10, 8), 4, mode="L")
    return {
        "photo": make_image(tmp_path / "photo.jpg", (40, 32), 1),
        "a": make_image(tmp_path / "a.jpg", (24, 24), 2),
        "b": make_image(tmp_path / "b.jpg", (20, 28), 3),
        "mask": mask,
    }


# -- wiring: the core patched out --------------------------------------------------------------


class FakeMethod:
    """Stands in for ``DiffStyler`` where the CLI calls it: labels, cache checks, estimates."""

    name = "diffstyler"
    takes_images = True
    reads: frozenset[str] = frozenset()
    writes: frozenset[str] = frozenset()

    def __init__(self) -> None:
        from styler.runtime import Runtime

        self.runtime = Runtime(torch.device("cpu"), "fp32")
        self.labels: list[str] = []
        self.estimates: list[dict] = []

    def describe(self) -> str:
        return "fake diffstyler"

    @classmethod
    def check_controls(cls, controls) -> None:
        return None

    def label(self, image, name: str) -> None:
        self.labels.append(name)

    def is_cached(self, image) -> bool:
        return False

    def is_inverted(self, image) -> bool:
        return False

    def estimate(self, contents, *, invert=None, learn=(), models=1):
        from styler.methods.diffstyler.estimate import Estimate

        self.estimates.append({"contents": list(contents), "invert": invert, "learn": list(learn), "models": models})
        return Estimate(lora=7200.0 * len(learn), inversion=1800.0, sampling=3600.0, vae=10.0, unet_call=35.0)

    def represent(self, style):
        return style

    def stylize(self, content, styles, mix, *, alpha, tile="auto"):
        return torch.full_like(content, 0.5)


@pytest.fixture
def loader(monkeypatch):
    """``methods.load`` patched: (the options each call got, the fake method); the base model check
    before loading patched too (it would look for the model)."""
    import styler.cli.diffusion as diffusion
    import styler.methods as methods

    seen: list[tuple[str, dict]] = []
    fake = FakeMethod()
    monkeypatch.setattr(methods, "load", lambda name, **kw: seen.append((name.value, kw)) or fake)
    monkeypatch.setattr(diffusion, "before_loading", lambda cfg: seen.append(("before_loading", {"sd": cfg.sd})))
    return seen, fake


def test_every_flag_reaches_the_method(inputs, tmp_path, loader, jobs):
    seen, fake = loader
    r = run_cli(
        "transfer", inputs["photo"], inputs["a"], "-o", tmp_path / "o.png", "--method", "diffstyler",
        "--sd", "some/model", "--lora-steps", "7", "--steps", "3", "--guidance", "2.5", "--seed", "4",
        "--device", "cpu", "--precision", "fp32",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    (_, before), (name, kw) = seen
    assert before == {"sd": "some/model"} and name == "diffstyler"
    assert (kw["device"], kw["precision"]) == ("cpu", "fp32") and "gatys" not in kw
    # images arrive read at --content-size / --style-size, so the method keeps their size (0)
    lora = LoraSettings(steps=7, seed=4, size=0)
    assert kw["diffstyler"] == DiffStylerConfig(sd="some/model", steps=3, guidance=2.5, size=0, lora=lora)
    assert callable(kw["on_step"])  # the progress rows
    assert fake.labels == ["a.jpg"]  # the LoRA cache names the style by its file
    ((job, pairs),) = jobs
    assert len(pairs) == 1 and job.inputs.seed == 4  # --seed seeds the pairing too
    # on a CPU the estimate comes first, on stderr: one result, one style to learn, one inversion
    ((est,),) = [fake.estimates]
    assert est == {"contents": [(512, 640)], "invert": [(512, 640)], "learn": [(512, 512)], "models": 1}
    assert "diffstyler on this CPU: about 3.5 h (learning styles 2.0 h, inversion 30 min" in r.stderr
    assert "for 1 image(s); running anyway" in r.stderr


def test_defaults_are_the_release_settings(inputs, tmp_path, loader, jobs):
    seen, _ = loader
    r = run_cli("transfer", inputs["photo"], inputs["a"], "-o", tmp_path / "o.png", "--method", "diffstyler")
    assert r.exit_code == 0, r.output
    cfg = seen[1][1]["diffstyler"]
    assert (cfg.sd, cfg.steps, cfg.guidance) == ("stabilityai/stable-diffusion-2-1-base", 50, 10.5)
    assert (cfg.lora.steps, cfg.lora.rank, cfg.lora.lr, cfg.lora.seed) == (200, 16, 2e-4, 0)


def test_dataset_jobs_estimate_every_pair_and_sweep(inputs, tmp_path, loader, jobs):
    _, fake = loader
    folder = tmp_path / "photos"
    make_image(folder / "x.png", (40, 32), 5)
    make_image(folder / "sub" / "y.png", (64, 48), 6)
    r = run_cli(
        "transfer", folder, inputs["a"], inputs["b"], "-o", tmp_path / "out", "--method", "diffstyler",
        "--alpha-sweep", "0,1", "--content-size", "32",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    ((job, pairs),) = jobs
    assert len(pairs) == 4 and job.manifest
    (est,) = fake.estimates
    assert sorted(set(est["contents"])) == [(32, 40), (32, 42)] and len(est["contents"]) == 4 * 2  # 2 alphas
    assert sorted(est["invert"]) == [(32, 40), (32, 42)]  # one inversion per content
    assert est["learn"] == [(512, 512), (716, 512)] and sorted(fake.labels) == ["a.jpg", "b.jpg"]
    r = run_cli(
        "transfer", folder, inputs["a"], "-o", tmp_path / "out2", "--method", "diffstyler", "--color", "coral",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert len(fake.estimates[-1]["learn"]) == 2  # colour: each content's adapted style is learned


def test_mask_and_interpolate_estimate_their_models_and_renders(inputs, tmp_path, loader):
    _, fake = loader
    r = run_cli(
        "mask", inputs["photo"], inputs["a"], inputs["b"], "--mask", inputs["mask"], "--method", "diffstyler",
        "--sd", "m", "-o", tmp_path / "m.png", "--content-size", "32", "--style-size", "24",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert (tmp_path / "m.png").is_file() and fake.labels == ["a.jpg", "b.jpg"]
    assert fake.estimates[-1]["models"] == 3  # a model per style and the base model, every step
    r = run_cli(
        "interpolate", inputs["photo"], inputs["a"], inputs["b"], inputs["a"], inputs["b"], "--grid", "3",
        "--method", "diffstyler", "-o", tmp_path / "g.png", "--content-size", "32",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert len(fake.estimates[-1]["contents"]) == 9 and fake.estimates[-1]["models"] == 1
    r = run_cli(
        "color-preserve", inputs["photo"], inputs["a"], "--method", "diffstyler", "-o", tmp_path / "c.png",
        "--content-size", "32", "--style-size", "24",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert fake.estimates[-1]["learn"] == [(24, 24)]


def test_no_estimate_on_a_gpu(inputs, tmp_path, loader, jobs):
    _, fake = loader
    fake.runtime = type(fake.runtime)(torch.device("cuda"), "bf16")
    fake.describe = lambda: "fake on cuda"
    r = run_cli("transfer", inputs["photo"], inputs["a"], "-o", tmp_path / "o.png", "--method", "diffstyler")
    assert r.exit_code == 0, r.output
    assert fake.estimates == [] and "on this CPU" not in r.stderr and fake.labels == ["a.jpg"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--sd", "x"], ["--sd x only apply to --method diffstyler; add --method diffstyler or drop them"]),
        (["--method", "gatys", "--lora-steps", "3", "--guidance", "2"], ["--lora-steps 3, --guidance 2.0 only apply"]),
        (["--method", "cin", "--steps", "9"], ["--steps 9 only apply to --method diffstyler"]),
        (["--method", "diffstyler", "--iters", "5"], ["--iters 5 only apply to --method gatys"]),
        (["--method", "diffstyler", "--steps", "0"], ["--steps", "greater than or equal to 1"]),
        (["--method", "diffstyler", "--guidance", "-1"], ["--guidance"]),
    ],
)
def test_options_of_another_method_are_refused_in_one_line(inputs, tmp_path, loader, args, words):
    r = run_cli("transfer", inputs["photo"], inputs["a"], "-o", tmp_path / "o.png", *args)
    one_line_error(r, *words)
    assert loader[0] == []  # refused before anything loads


def test_video_is_refused_in_one_line(inputs, tmp_path, loader):
    (tmp_path / "in.mp4").write_bytes(b"never opened")
    r = run_cli("video", tmp_path / "in.mp4", inputs["a"], "--method", "diffstyler")
    one_line_error(r, "--method diffstyler", "no temporal model", "does not run on video", "--method adain")
    assert loader[0] == []


def test_without_the_extra_one_line_names_it(inputs, tmp_path, monkeypatch):
    real = importlib.util.find_spec
    hidden = {"diffusers", "peft"}
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in hidden else real(name, *a))
    r = run_cli("transfer", inputs["photo"], inputs["a"], "-o", tmp_path / "o.png", "--method", "diffstyler")
    extra = "--method diffstyler needs diffusers, peft (the diffusion extra): pip install 'styler[diffusion]'"
    one_line_error(r, extra)
    r = run_cli("mask", inputs["photo"], "-s", inputs["a"], "--mask", inputs["mask"], "--method", "diffstyler")
    one_line_error(r, "pip install 'styler[diffusion]'")
    assert not list(tmp_path.glob("*.png"))[1:]  # only the mask image itself


@needs_extra
def test_offline_without_the_model_says_what_to_download(inputs, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    r = run_cli("transfer", inputs["photo"], inputs["a"], "--method", "diffstyler", "--sd", "styler-tests/none")
    one_line_error(r, "is not in the Hugging Face cache", "offline", "hf download styler-tests/none", "--sd FOLDER")
    r = run_cli("transfer", inputs["photo"], inputs["a"], "--method", "diffstyler")  # the default model
    one_line_error(r, "hf download stabilityai/stable-diffusion-2-1-base")
    r = run_cli("transfer", inputs["photo"], inputs["a"], "--method", "diffstyler", "--sd", tmp_path / "no" / "sd")
    one_line_error(r, "does not exist; pass --sd FOLDER, a diffusers folder with unet/")


def test_progress_rows_follow_the_phases():
    from rich.progress import Progress

    from styler.cli.diffusion import diffusion_steps
    from styler.methods.diffstyler.config import DiffStep

    bar = Progress(disable=True)
    with diffusion_steps(bar) as on_step:
        (task,) = bar.tasks
        on_step(DiffStep("lora", 1, 200, 0.25, "a.jpg"))
        assert (task.description, task.total, task.completed) == ("learning style a.jpg (loss 0.2500)", 200, 1)
        on_step(DiffStep("invert", 3, 50))
        assert (task.description, task.total, task.completed) == ("inverting the content", 50, 3)
        on_step(DiffStep("sample", 50, 50))
        assert (task.description, task.completed) == ("sampling", 50)


# -- the real CLI on the tiny model ----------------------------------------------------------------


def counting(monkeypatch, module, name: str) -> list:
    """Count the calls of ``module.name`` (the function itself still runs)."""
    real, calls = getattr(module, name), []

    def wrapper(*a, **k):
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(module, name, wrapper)
    return calls


@needs_extra
@pytest.mark.slow
def test_end_to_end_on_the_tiny_model_with_both_caches(tiny_sd, inputs, tmp_path, monkeypatch):
    """transfer and mask write images; the second run learns no LoRA and inverts nothing; a folder job
    learns one LoRA per style; `styler models` lists them; interpolation and colour run through."""
    method = importlib.import_module("styler.methods.diffstyler.method")
    monkeypatch.setenv("STYLER_WEIGHTS_DIR", str(tmp_path / "weights"))  # the LoRA and inversion caches
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    learned, inverted = counting(monkeypatch, method, "train_lora"), counting(monkeypatch, method, "invert")
    sd = ["--method", "diffstyler", "--sd", tiny_sd, "--lora-steps", "2", "--steps", "2"]
    sizes = ["--content-size", "16", "--style-size", "8"]
    out = tmp_path / "out"
    for run in (1, 2):
        r = run_cli("transfer", inputs["photo"], inputs["a"], "-o", out / "t.png", *sd, *sizes)
        assert r.exit_code == 0, r.output
        r = run_cli(
            "mask", inputs["photo"], "-s", inputs["a"], "-s", inputs["b"], "--mask", inputs["mask"],
            "--feather", "2", "-o", out / "m.png", *sd, *sizes,
        )  # fmt: skip
        assert r.exit_code == 0, r.output
        assert "diffstyler on this CPU: about" in r.stderr and "regions a.jpg" in r.stderr
        # a and b learned once; the photo inverted once per command: a job decodes JPEGs at a reduced DCT
        # scale (draft), so its pixels differ from the one-image commands' and so does its inversion
        assert (len(learned), len(inverted)) == (2, 2), run
    assert "learning styles" not in r.stderr and "inversion" not in r.stderr  # the estimate knows the caches
    for name, size in (("t.png", (20, 16)), ("m.png", (20, 16))):
        from PIL import Image

        with Image.open(out / name) as img:
            assert img.size == size  # the content's size as read (shorter side 16)
    assert not [p for p in tmp_path.rglob("*.part")]

    r = run_cli("models", "list")
    assert r.exit_code == 0, r.output
    assert "2 DiffStyler LoRA(s)" in r.stdout and "a.jpg 8x8" in r.stdout and "b.jpg 8x11" in r.stdout
    assert f"base {tiny_sd}" in r.stdout and "steps 2, rank 16" in r.stdout and ".safetensors" in r.stdout

    folder = tmp_path / "photos"
    make_image(folder / "x.png", (24, 20), 7)
    make_image(folder / "y.png", (20, 20), 8)
    r = run_cli("transfer", folder, inputs["a"], inputs["b"], "-o", tmp_path / "ds", *sd, *sizes, "--lora-steps", "3")
    assert r.exit_code == 0, r.output
    assert len(learned) == 2 + 2  # other settings: a and b learned again, once each for four pairs
    assert len(list((tmp_path / "ds").glob("*.png"))) == 4 and (tmp_path / "ds" / "manifest.jsonl").is_file()
    r = run_cli(
        "interpolate", inputs["photo"], inputs["a"], inputs["b"], "--weights", "1,3", "-o", out / "i.png", *sd, *sizes
    )
    assert r.exit_code == 0, r.output
    r = run_cli("transfer", inputs["photo"], inputs["a"], "--color", "luminance", "-o", out / "c.png", *sd, *sizes)
    assert r.exit_code == 0, r.output
    assert (out / "i.png").is_file() and (out / "c.png").is_file()


@needs_extra
def test_ctrl_c_leaves_no_partial_file(tiny_sd, inputs, tmp_path, monkeypatch):
    method = importlib.import_module("styler.methods.diffstyler.method")
    monkeypatch.setenv("STYLER_WEIGHTS_DIR", str(tmp_path / "weights"))

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(method, "sample", interrupted)
    sd = ["--method", "diffstyler", "--sd", tiny_sd, "--lora-steps", "1", "--steps", "1"]
    sd += ["--content-size", "8", "--style-size", "8"]
    r = run_cli("transfer", inputs["photo"], inputs["a"], "-o", tmp_path / "out" / "t.png", *sd)
    assert r.exit_code == 130 and "interrupted; no partial output was left" in r.stderr, r.output
    m = tmp_path / "m.png"
    r = run_cli("mask", inputs["photo"], inputs["a"], inputs["b"], "--mask", inputs["mask"], "-o", m, *sd)
    assert r.exit_code == 130 and "interrupted; no partial output was left" in r.stderr, r.output
    assert not (tmp_path / "out" / "t.png").exists() and not (tmp_path / "m.png").exists()
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".part")]

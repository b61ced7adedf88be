import subprocess
import sys

import pytest
import torch
from PIL import Image

from conftest import make_image, one_line_error, run_cli
from styler import __version__
from styler.names import MethodName

run = run_cli


def files_in(path):
    return sorted(p.name for p in path.rglob("*") if p.is_file())


def test_transfer_writes_the_image_at_content_size(images, tmp_path):
    r = run(
        "transfer",
        images["content"],
        images["style"],
        "-o",
        tmp_path / "out.png",
        "--content-size",
        0,
        "--alpha",
        0.5,
        "--device",
        "cpu",
        "--precision",
        "fp32",
    )
    assert r.exit_code == 0, r.output
    assert Image.open(tmp_path / "out.png").size == (48, 40)
    assert "cpu" in r.stderr and "fp32" in r.stderr
    assert str(tmp_path / "out.png") in r.stdout


def test_cli_equals_the_api(images, tmp_path, engine):
    from styler.media.images import load_image

    r = run(
        "transfer",
        images["content"],
        "--style",
        images["style"],
        "-o",
        tmp_path / "o.png",
        "--precision",
        "fp32",
        "--content-size",
        32,
        "--style-size",
        24,
    )
    assert r.exit_code == 0, r.output
    want = engine.render(load_image(images["content"], 32), [load_image(images["style"], 24)])
    got = load_image(tmp_path / "o.png", 0)
    assert got.shape == want.shape and (got - want).abs().max() <= 0.5 / 255 + 1e-4


@pytest.mark.slow
def test_default_name_in_the_current_folder(images, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = run("transfer", images["content"], images["style"], "--ext", "jpg", "--content-size", 32)
    assert r.exit_code == 0, r.output
    assert (tmp_path / "content_stylized_style_c32.jpg").is_file()  # the name says the non-default size


@pytest.mark.slow
def test_folders_do_every_pair_and_skip_bad_files(tmp_path):
    for i in range(2):
        make_image(tmp_path / "c" / f"c{i}.png", (40, 32), i)
        make_image(tmp_path / "s" / f"s{i}.png", (24, 24), 10 + i)
    (tmp_path / "c" / "broken.jpg").write_bytes(b"nope")
    r = run("transfer", tmp_path / "c", tmp_path / "s", "-o", tmp_path / "out", "--content-size", 32)
    assert r.exit_code == 1
    want = [f"c{i}_stylized_s{j}_c32.png" for i in range(2) for j in range(2)]
    assert files_in(tmp_path / "out") == sorted([*want, "manifest.jsonl"])  # a folder job lists its outputs
    assert "broken.jpg" in r.stderr and "skipped" in r.stderr and "1 input(s) failed" in r.stderr


def test_many_results_need_a_directory(tmp_path):
    make_image(tmp_path / "c" / "a.png")
    make_image(tmp_path / "c" / "b.png")
    s = make_image(tmp_path / "s.png")
    one_line_error(
        run("transfer", tmp_path / "c", s, "-o", tmp_path / "x.png"), "--output", "2 results", "pass a folder"
    )
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("alpha", ["1.5", "-0.1", "nan"])
def test_bad_alpha(images, tmp_path, alpha):
    one_line_error(
        run("transfer", images["content"], images["style"], "-o", tmp_path / "o.png", "--alpha", alpha), "alpha"
    )
    assert not (tmp_path / "o.png").exists()


@pytest.mark.slow
def test_error_paths_are_one_line_and_write_nothing(images, tmp_path, weights_dir):
    c, s, o = images["content"], images["style"], tmp_path / "out" / "o.png"
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"\x00" * 64)
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    (tmp_path / "empty" / "notes").mkdir(parents=True)
    (tmp_path / "empty" / "notes" / "readme.txt").write_text("no images here")
    cases = [
        (("transfer", tmp_path / "missing.jpg", s, "-o", o), ["missing.jpg", "does not exist"]),
        (("transfer", c, tmp_path / "empty", "-o", o), ["no image files"]),
        (("transfer", c, s, "-o", tmp_path / "o.gif2"), ["unknown image extension"]),
        (("transfer", c, s, "-o", o, "--vgg", bad), ["bad.pth", "cannot be read", "not a file torch.save wrote"]),
        (("transfer", c, s, "-o", o, "--decoder", weights_dir / "vgg_normalised.pth"), ["layout"]),
        (("transfer", c, s, "-o", o, "--vgg", tmp_path), ["directory"]),
        (("transfer", c, s, "-o", o, "--device", "tpu"), ["--device", "unknown device 'tpu'"]),
        (("transfer", c, s, "-o", o, "--precision", "int4"), ["--precision", "'int4' is not one of"]),
        (("transfer", c, s, "-o", o, "--method", "adian"), ["--method", "'adian' is not one of"]),
        (("transfer", c, "-o", o), ["no style given"]),
        (("transfer", c, s, "-o", o, "--iters", "5"), ["--iters 5 only apply to --method gatys"]),
        (("transfer", c, "-o", o, "--model", s, "-s", "x"), ["CIN model", "style.jpg", "it is a JPEG image"]),
        (
            ("transfer", c, s, "-o", o, "--model", s, "--method", "gatys"),
            ["CIN or AesFA network file", "--method gatys"],
        ),
        (
            ("transfer", c, s, "-o", o, "--model", s, "--method", "adain"),
            ["--model is a CIN or AesFA", "--method adain"],
        ),
        (("transfer", c, s, "-o", o, "--content-size", "100000"), ["after resizing", "use --content-size 0"]),
        (("transfer", c, s, "-o", o, "--alpha", "lots"), ["--alpha"]),
        (("transfer", c, s, "-o", blocker / "o.png"), ["cannot write"]),
        (("transfer", c, s, "-o", c), ["refusing to overwrite input"]),
    ]
    before = c.read_bytes()
    for args, words in cases:
        one_line_error(run(*args), *words)
    assert not (tmp_path / "out").exists() or files_in(tmp_path / "out") == []
    assert c.read_bytes() == before


def test_cuda_without_a_gpu_is_an_error(images, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for device in ("cuda", "cuda:1"):
        r = run("transfer", images["content"], images["style"], "-o", tmp_path / "o.png", "--device", device)
        one_line_error(r, f"device {device} was asked for but torch sees no CUDA GPU", "cpu or auto")
        assert r.exit_code == 1
    assert not (tmp_path / "o.png").exists()


@pytest.mark.parametrize(
    "args, words",
    [
        (("--device", "cdua"), ["--device", "unknown device 'cdua'"]),
        (("--tile", "13"), ["--tile", "'13' is not auto, off or a tile size"]),
        (("--precision", "fp8"), ["--precision", "'fp8'"]),
    ],
)
def test_bad_settings_fail_at_parse_time_before_weights_are_resolved(images, tmp_path, monkeypatch, args, words):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("STYLER_WEIGHTS_DIR", str(empty))  # resolving weights would fail (offline, none here)
    for command in ("transfer", "interpolate", "mask", "color-preserve", "video"):
        r = run(command, images["content"], images["style"], "-o", tmp_path / "o.png", *args)
        one_line_error(r, *words)
        assert r.exit_code == 2, (command, r.stderr)  # a usage error, before any command code ran
        assert "vgg_normalised" not in r.stderr
    assert list(empty.iterdir()) == [] and not (tmp_path / "o.png").exists()


def test_gatys_options_need_method_gatys(images, tmp_path):
    for command, count in (("transfer", 1), ("interpolate", 2), ("color-preserve", 1)):
        r = run(
            command,
            images["content"],
            *[images["style"]] * count,
            "-o",
            tmp_path / "o.png",
            "--style-weight",
            "10",
            "--init",
            "noise",
        )
        one_line_error(
            r, "--init noise, --style-weight 10.0 only apply to --method gatys", "add --method gatys or drop them"
        )
    assert not (tmp_path / "o.png").exists()


def test_a_bad_vgg_is_reported_before_any_decoder_download(images, tmp_path, monkeypatch):
    monkeypatch.setenv("STYLER_WEIGHTS_DIR", str(tmp_path / "empty"))  # no decoder.pth: it would be fetched
    one_line_error(
        run("transfer", images["content"], images["style"], "-o", tmp_path / "o.png", "--vgg", images["content"]),
        "content.png",
        "it is a PNG image, not weights",
    )


def test_offline_without_weights_lists_every_file_and_both_ways_to_install(images, tmp_path, monkeypatch):
    monkeypatch.setenv("STYLER_WEIGHTS_DIR", str(tmp_path / "w"))
    r = run("transfer", images["content"], images["style"], "-o", tmp_path / "o.png")
    assert r.exit_code == 1 and "Traceback" not in r.output
    lines = r.stderr.strip().splitlines()
    assert lines[0].startswith(f"error: 2 weights file(s) missing from {tmp_path / 'w'}")
    release = "https://github.com/naoto0804/pytorch-AdaIN/releases/download/v0.0.0/"
    assert lines[1].split() == ["vgg_normalised.pth", "80.1", "MB", release + "vgg_normalised.pth"]
    assert lines[2].split() == ["decoder.pth", "14.0", "MB", release + "decoder.pth"]
    text = "\n".join(lines)
    assert "export STYLER_WEIGHTS_DIR=" in text and "styler weights import vgg_normalised.pth decoder.pth" in text
    assert not (tmp_path / "o.png").exists() and not (tmp_path / "w").exists()  # nothing left, no lock file


def test_debug_shows_the_traceback(images, tmp_path):
    r = run("--debug", "transfer", images["content"], images["style"], "-o", tmp_path / "o.png", "--alpha", "2")
    assert r.exit_code != 0 and r.exception is not None and "alpha" in str(r.exception)


def test_weights_commands(weights_dir, tmp_path, monkeypatch):
    r = run("weights", "list")
    assert r.exit_code == 0 and "vgg_normalised.pth" in r.stdout and "releases/download" in r.stdout
    assert run("weights", "verify").exit_code == 0
    monkeypatch.setenv("STYLER_WEIGHTS_DIR", str(tmp_path / "w"))
    r = run("weights", "verify")  # a report: one line per file, then the verdict
    assert r.exit_code == 1 and "is missing" in r.stderr and "2 weights file(s) failed verification" in r.stderr
    r = run("weights", "import", weights_dir / "decoder.pth", weights_dir / "vgg_normalised.pth")
    assert r.exit_code == 0, r.output
    assert files_in(tmp_path / "w") == [
        "decoder.pth",
        "decoder.pth.sha256",
        "vgg_normalised.pth",
        "vgg_normalised.pth.sha256",
    ]
    assert run("weights", "verify").exit_code == 0
    (tmp_path / "w" / "decoder.pth").write_bytes((weights_dir / "decoder.pth").read_bytes()[:-10] + b"0" * 10)
    assert run("weights", "verify").exit_code == 1
    junk = tmp_path / "junk.pth"
    torch.save({"x": torch.zeros(1)}, junk)
    one_line_error(run("weights", "import", junk), "neither")
    kept = (tmp_path / "w" / "vgg_normalised.pth").read_bytes()
    r = run("weights", "download", "--force")  # offline
    assert r.exit_code == 1 and "cannot download" in r.stderr
    assert (tmp_path / "w" / "vgg_normalised.pth").read_bytes() == kept  # the old file is untouched


def test_python_dash_m_and_help():
    r = subprocess.run([sys.executable, "-m", "styler", "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "transfer" in r.stdout
    r = run("transfer", "--help")
    assert "stroke-scale" in r.stdout


def test_version():
    r = run("--version")
    assert r.exit_code == 0 and r.stdout.strip() == f"styler {__version__}"
    assert __version__.count(".") == 2 and all(p.isdigit() for p in __version__.split("."))


def test_short_help_lists_every_command_and_the_shared_vocabulary():
    r = run("-h")
    assert r.exit_code == 0 and r.stdout == run("--help").stdout
    for command in ("transfer", "interpolate", "mask", "color-preserve", "video", "train", "weights"):
        assert command in r.stdout
    for command in ("transfer", "interpolate", "mask", "color-preserve", "video"):
        r = run(command, "-h")
        assert r.exit_code == 0, (command, r.output)
        for flag in (
            "--style",
            "--method",
            "--color",
            "--content-size",
            "--style-size",
            "--tile",
            "--device",
            "--precision",
            "--vgg",
            "--decoder",
        ):
            assert flag in r.stdout, (command, flag)
        methods = "[" + "|".join(m.value for m in MethodName) + "]"  # every method, in the enum's order
        assert methods in r.stdout and "--preserve-color" not in r.stdout

"""styler train: on tiny generated folders and the random test weights, CPU only."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from conftest import make_image, process_env, run_cli, torchrun_styler
from styler.cli import app
from styler.errors import DeviceError, InputError
from styler.methods.adain.config import AdaINTrainConfig
from styler.nets import weights
from styler.nets.vgg import load_decoder
from styler.training import checkpoint, data
from styler.training.loop import train
from styler.training.support import NonFiniteLoss

TINY = dict(batch_size=2, crop=32, resize=40, save_every=2, log_every=1, sample_every=2, workers=0)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # This machine is shared: more threads than free cores makes OpenMP spin, 10-40x slower.
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture
def folders(tmp_path) -> tuple[Path, Path]:
    content, style = tmp_path / "coco", tmp_path / "wikiart"
    for i in range(6):
        make_image(content / ("nested" if i % 2 else "") / f"c{i}.png", (48, 40), i)
        make_image(style / f"s{i}.jpg", (40, 56), 10 + i)
    return content, style


def config(folders, tmp_path, **kw) -> AdaINTrainConfig:
    return AdaINTrainConfig(
        content_dir=str(folders[0]), style_dir=str(folders[1]), out=str(tmp_path / "run"), **{**TINY, **kw}
    )


def cli_args(folders, run: Path, *extra: str) -> list[str]:
    return [
        "train",
        "--coco",
        str(folders[0]),
        "--wikiart",
        str(folders[1]),
        "-o",
        str(run),
        "--batch-size",
        "2",
        "--crop-size",
        "32",
        "--content-size",
        "40",
        "--workers",
        "0",
        *extra,
    ]


def test_loss_falls_when_overfitting_a_fixed_batch(tmp_path):
    # One 32 x 32 image per folder, no resize: every batch is the same two crops.
    content = make_image(tmp_path / "c" / "a.png", (32, 32), 3)
    style = make_image(tmp_path / "s" / "b.png", (32, 32), 4)
    cfg = AdaINTrainConfig(
        content_dir=str(content.parent),
        style_dir=str(style.parent),
        out=str(tmp_path / "run"),
        max_iter=30,
        batch_size=2,
        crop=32,
        resize=0,
        lr=3e-4,
        save_every=100,
        sample_every=0,
        workers=0,
    )
    losses = []
    result = train(cfg, on_step=lambda info: losses.append(info.loss))
    assert len(losses) == 30 and result.iter == 30 and not result.interrupted
    assert sum(losses[-5:]) < 0.5 * sum(losses[:5])


def test_run_folder_holds_checkpoints_decoder_log_and_samples(folders, tmp_path):
    result = train(config(folders, tmp_path, max_iter=4, keep=1))
    run = tmp_path / "run"
    assert [p.name for p in checkpoint.checkpoints(run)] == ["iter_0000004.pt"]  # keep=1 dropped iter 2
    state = checkpoint.load(result.checkpoint)
    assert state["iter"] == 4 and state["config"]["batch_size"] == 2 and "torch" in state["rng"]
    assert set(state["optimizer"]) == {"state", "param_groups"}
    load_decoder(weights.load_state_dict(run / "decoder.pth"))  # strict public layout
    log = (run / "log.jsonl").read_text().splitlines()
    assert len(log) == 4 and '"iter": 4' in log[-1]
    assert Image.open(run / "samples" / "iter_0000004.jpg").size == (96, 64)  # 3 x 32 wide, 2 rows
    assert not list(run.rglob("*.part"))


def test_resume_continues_exactly(folders, tmp_path):
    straight = train(config(folders, tmp_path / "a", max_iter=4))
    train(config(folders, tmp_path / "b", max_iter=2))
    resumed = train(config(folders, tmp_path / "b", max_iter=4, resume=True, lr=5.0))  # lr: recipe wins
    a, b = (weights.load_state_dict(r.decoder) for r in (straight, resumed))
    assert resumed.iter == 4 and all(torch.equal(a[k], b[k]) for k in a)
    opt = checkpoint.load(resumed.checkpoint)["optimizer"]
    assert opt["param_groups"][0]["lr"] == pytest.approx(1e-4 / (1 + 5e-5 * 3))
    assert len((tmp_path / "b" / "run" / "log.jsonl").read_text().splitlines()) == 4


def test_data_order_is_sharded_and_resumable():
    full = data.InfiniteSampler(10, seed=1, stream=0)
    first = [k for k, _ in zip(full, range(25))]
    later = data.InfiniteSampler(10, seed=1, stream=0, start=13)
    assert [k for k, _ in zip(later, range(12))] == first[13:]
    assert sorted(i for i, _ in first[:10]) == list(range(10))  # an epoch is a permutation
    shards = [
        [i for (i, _), _ in zip(data.InfiniteSampler(9, seed=1, stream=0, rank=r, world=2), range(5))] for r in (0, 1)
    ]
    assert set(shards[0]) | set(shards[1]) == set(range(9)) and len(shards[0]) == len(shards[1]) == 5


def test_bad_files_are_skipped_and_counted_odd_modes_converted(folders, tmp_path):
    content, style = folders
    good = content / "c0.png"
    make_image(content / "gray.png", (44, 40), 7, mode="L")
    make_image(content / "rgba.png", (40, 44), 8, mode="RGBA")
    make_image(style / "cmyk.jpg", (40, 44), 9, mode="CMYK")
    make_image(style / "tiny.png", (10, 12), 5)  # smaller than the crop: upscaled
    (content / "notes.png").write_text("not an image")
    (content / "empty.jpg").write_bytes(b"")
    make_image(tmp_path / "full.jpg", (48, 40), 1).replace(content / "truncated.jpg")
    blob = (content / "truncated.jpg").read_bytes()
    (content / "truncated.jpg").write_bytes(blob[: len(blob) // 2])
    assert good.exists()
    # 10 content files, batch 5 x 2 iterations: one epoch, every file tried once.
    result = train(config(folders, tmp_path, max_iter=2, batch_size=5))
    assert sorted(Path(p).name for p in result.skipped) == ["empty.jpg", "notes.png", "truncated.jpg"]
    assert data.random_crop(Image.new("RGB", (10, 12)), 0, 32, np.random.default_rng(0)).shape == (3, 32, 32)


def test_nan_loss_stops_with_the_last_good_checkpoint(folders, tmp_path, monkeypatch):
    from styler import ops

    real, calls = ops.content_loss, []

    def poisoned(out, target):
        calls.append(1)
        loss = real(out, target)
        return loss * float("nan") if len(calls) == 3 else loss

    monkeypatch.setattr(ops, "content_loss", poisoned)
    with pytest.raises(NonFiniteLoss, match=r"iteration 3; the last good checkpoint is .*iter_0000002\.pt"):
        train(config(folders, tmp_path, max_iter=6))
    run = tmp_path / "run"
    assert [p.name for p in checkpoint.checkpoints(run)] == ["iter_0000002.pt"]
    assert checkpoint.load(run / "checkpoints" / "iter_0000002.pt")["iter"] == 2
    assert len((run / "log.jsonl").read_text().splitlines()) == 2


def test_nan_between_syncs_is_caught_on_the_device_before_any_save(folders, tmp_path, monkeypatch):
    from styler import ops

    real, calls = ops.content_loss, []

    def poisoned(out, target):
        calls.append(1)
        loss = real(out, target)
        return loss * float("nan") if len(calls) == 3 else loss

    monkeypatch.setattr(ops, "content_loss", poisoned)
    # No log at iteration 3 (log_every=100): the NaN is found at the save of iteration 4, and the
    # iteration it happened at comes from the device-side record, not the iteration of the sync.
    with pytest.raises(NonFiniteLoss, match=r"iteration 3; the last good checkpoint is .*iter_0000002\.pt"):
        train(config(folders, tmp_path, max_iter=6, log_every=100))
    assert [p.name for p in checkpoint.checkpoints(tmp_path / "run")] == ["iter_0000002.pt"]


@pytest.mark.parametrize("sig, workers", [(signal.SIGINT, "1"), (signal.SIGTERM, "1")])
@pytest.mark.slow
def test_signal_saves_a_loadable_checkpoint(folders, tmp_path, sig, workers):
    run = tmp_path / "run"
    args = cli_args(folders, run, "--max-iter", "100000", "--save-every", "100000", "--log-every", "1")
    args[args.index("--workers") + 1] = workers
    proc = subprocess.Popen(
        [sys.executable, "-m", "styler", *args],
        env=process_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert "training on" in proc.stderr.readline()  # data and weights loaded, the loop starts
        time.sleep(1.5)
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    assert "--resume" in stderr.strip().splitlines()[-1]
    state = checkpoint.load(checkpoint.latest(run))
    load_decoder(weights.load_state_dict(run / "decoder.pth"))
    assert state["iter"] >= 0 and not list(run.rglob("*.part"))


@pytest.mark.slow
def test_a_folder_of_only_bad_files_fails_in_one_line_and_exits(folders, tmp_path):
    bad = tmp_path / "bad"
    for i in range(3):
        (bad / f"{i}.jpg").parent.mkdir(exist_ok=True)
        (bad / f"{i}.jpg").write_text("not an image")
    args = cli_args((bad, folders[1]), tmp_path / "run", "--max-iter", "2")
    args[args.index("--workers") + 1] = "1"  # the error comes from a worker; the process must still exit
    proc = subprocess.run(
        [sys.executable, "-m", "styler", *args], env=process_env(), capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last == f"error: 3 images in a row under {bad} cannot be read; check the dataset"


@pytest.mark.slow
def test_two_process_gloo_run_writes_one_checkpoint_set(folders, tmp_path):
    run = tmp_path / "run"
    cmd = [
        *torchrun_styler(2),
        *cli_args(folders, run, "--max-iter", "2", "--save-every", "1", "--device", "cpu", "--sample-every", "2"),
    ]
    proc = subprocess.run(cmd, env=process_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stderr.count("training on") == 1 and "2 process(es)" in proc.stderr
    assert {str(p.relative_to(run)) for p in run.rglob("*") if p.is_file()} == {
        "decoder.pth",
        "checkpoints/iter_0000001.pt",
        "checkpoints/iter_0000002.pt",
        "samples/iter_0000002.jpg",
        "log.jsonl",
    }
    assert checkpoint.load(run / "checkpoints" / "iter_0000002.pt")["world_size"] == 2


def test_cli_trains_and_the_decoder_works_in_transfer(folders, tmp_path, images):
    run = tmp_path / "run"
    result = CliRunner().invoke(app, cli_args(folders, run, "--max-iter", "2", "--save-every", "2"))
    assert result.exit_code == 0, result.output
    assert str(run / "decoder.pth") in result.output
    for decoder in (run / "decoder.pth", run / "checkpoints" / "iter_0000002.pt"):
        out = tmp_path / f"out_{decoder.stem}.png"
        done = CliRunner().invoke(
            app,
            [
                "transfer",
                str(images["content"]),
                str(images["style"]),
                "-o",
                str(out),
                "--decoder",
                str(decoder),
                "--device",
                "cpu",
                "--precision",
                "fp32",
                "--content-size",
                "0",
            ],
        )
        assert done.exit_code == 0, done.output
        assert Image.open(out).size == (48, 40)


@pytest.mark.parametrize(
    "case, expected",
    [
        ("missing", "does not exist"),
        ("empty", "holds no image files"),
        ("file", "is a file"),
        ("existing", "already holds checkpoints; pass --resume"),
        ("nothing_to_resume", "has no checkpoints to resume from"),
        ("fp16", "'fp16' is not one of 'auto', 'bf16', 'fp32'"),
        ("zero_batch", "--batch-size must be at least 1"),
        ("unwritable", "cannot write to"),
    ],
)
def test_errors_are_one_line_and_non_zero(folders, tmp_path, case, expected):
    run, extra = tmp_path / "run", []
    coco = folders[0]
    if case == "missing":
        coco = tmp_path / "nowhere"
    elif case == "empty":
        coco = tmp_path / "empty"
        (coco / "sub").mkdir(parents=True)
        (coco / "sub" / "readme.txt").write_text("no images")
    elif case == "file":
        coco = folders[0] / "c0.png"
    elif case == "existing":
        checkpoint.save(run, {"iter": 1, "decoder": {}}, keep=3)
    elif case == "nothing_to_resume":
        extra = ["--resume"]
    elif case == "fp16":
        extra = ["--precision", "fp16"]
    elif case == "zero_batch":
        extra = ["--batch-size", "0"]
    elif case == "unwritable":
        run = folders[0] / "c0.png" / "run"  # under a file
    args = cli_args((coco, folders[1]), run, "--max-iter", "1", *extra)  # a repeated option: the last wins
    result = CliRunner().invoke(app, args)
    assert result.exit_code == (2 if case == "fp16" else 1)  # a choice the parser knows: a usage error
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.output


@pytest.mark.parametrize("method", ["adain", "cin"])
def test_cli_defaults_are_each_methods_recipe(tmp_path, monkeypatch, method):
    """A wiring test (the loop patched out): `styler train` hands the loop the method's own config
    dataclass with its recipe's defaults, and --help shows both methods' defaults."""
    import styler.training.loop as loop
    from styler.methods.cin.config import CINTrainConfig
    from styler.training.support import TrainResult

    seen = []
    monkeypatch.setattr(loop, "train", lambda cfg, **kw: seen.append(cfg) or TrainResult(tmp_path, 0, None, None, []))
    folder = "--styles" if method == "cin" else "--wikiart"
    r = run_cli("train", "--method", method, "--coco", tmp_path, folder, tmp_path, "-o", tmp_path / "run")
    assert r.exit_code == 0, r.output
    (cfg,) = seen
    want = CINTrainConfig if method == "cin" else AdaINTrainConfig
    assert type(cfg) is want and cfg.style_dir == str(tmp_path) and cfg.out == str(tmp_path / "run")
    defaults = want(content_dir=cfg.content_dir, style_dir=cfg.style_dir, out=cfg.out)
    assert cfg == defaults
    paper = (
        (160_000, 8, 1e-4, 5e-5, 1.0, 10.0, 512, 256) if method == "adain" else (40_000, 16, 1e-3, 0, 1, 1e3, 256, 256)
    )
    assert (
        cfg.max_iter,
        cfg.batch_size,
        cfg.lr,
        cfg.lr_decay,
        cfg.content_weight,
        cfg.style_weight,
        cfg.resize,
        cfg.crop,
    ) == paper
    assert "[default: adain 0.0001, cin 0.001, aesfa 0.0001]" in " ".join(run_cli("train", "--help").output.split())


def test_train_errors_from_the_core(tmp_path):
    from styler import train

    with pytest.raises(DeviceError):
        train(AdaINTrainConfig(precision="fp16"))
    with pytest.raises(InputError, match="does not exist"):
        train(AdaINTrainConfig(content_dir=str(tmp_path / "x"), style_dir=str(tmp_path), out=str(tmp_path)))

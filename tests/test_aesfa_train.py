"""AesFA training: the release's losses as pure functions, one tiny step per term, and the
objective on the shared loop (run folder, main.pth in the release layout, resume)."""

from __future__ import annotations

import os
import signal
import subprocess

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from conftest import make_image, process_env, torchrun_styler
from helpers import random_weights
from styler.methods.aesfa.config import AesFATrainConfig
from styler.methods.aesfa.losses import (
    content_loss,
    contrastive_loss,
    efdm,
    efdm_each,
    feature_pairs,
    hard_negatives,
    style_loss,
    vgg_features,
)
from styler.methods.aesfa.modelfile import NETS, read_model
from styler.methods.aesfa.net import AesFANet
from styler.methods.aesfa.train import denormalise, normalise
from styler.nets.vgg import load_encoder
from styler.training import checkpoint, data
from styler.training.loop import train


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)  # a shared 2-core machine: more threads than free cores spin
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def vgg():
    return list(load_encoder(random_weights()[0]).eval())


def smooth(n: int, size: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return F.interpolate(torch.rand(n, 3, 5, 5, generator=g), size=(size, size), mode="bilinear")


def release_efdm(style: torch.Tensor, trans: torch.Tensor) -> torch.Tensor:
    """The release's efdm_single, written out: style values gathered at the ranks of trans."""
    b, c = style.shape[:2]
    value_style, _ = torch.sort(style.reshape(b, c, -1))
    _, index_trans = torch.sort(trans.reshape(b, c, -1))
    return F.mse_loss(trans.reshape(b, c, -1), value_style.gather(-1, index_trans.argsort(-1)))


def test_efdm_is_the_release_formula_in_value_and_gradient():
    g = torch.Generator().manual_seed(0)
    style = torch.randn(2, 4, 5, 6, generator=g, requires_grad=True)
    trans = torch.randn(2, 4, 5, 6, generator=g, requires_grad=True)
    ours, theirs = efdm(trans, style), release_efdm(style, trans)
    grads = torch.autograd.grad(ours, (trans, style)), torch.autograd.grad(theirs, (trans, style))
    assert torch.allclose(ours, theirs, atol=1e-6)
    for a, b in zip(*grads, strict=True):
        assert torch.allclose(a, b, atol=1e-6)
    assert torch.allclose(efdm_each(trans, style).mean(), ours)
    assert efdm(trans, trans[:, :, torch.randperm(5)]) == 0  # only the distribution counts


def test_vgg_taps_are_before_the_relus(vgg):
    x = smooth(1, 32, 1)
    feats = vgg_features(vgg, x)
    assert [f.shape[1:] for f in feats] == [(64, 32, 32), (128, 16, 16), (256, 8, 8), (512, 4, 4)]
    with torch.no_grad():
        conv3_1 = torch.nn.Sequential(*vgg[:17])(x)
    assert torch.allclose(feats[2], conv3_1, atol=1e-5) and (feats[0] < 0).any()


def test_hard_negative_is_the_nearest_other_style():
    g = torch.Generator().manual_seed(2)
    out = [torch.randn(4, 3, 6, 6, generator=g), torch.randn(4, 5, 3, 3, generator=g)]
    style = [torch.randn(4, 3, 6, 6, generator=g), torch.randn(4, 5, 3, 3, generator=g)]
    got = hard_negatives(out, style)
    for a in range(4):
        pairs = list(zip(out, style, strict=True))
        d = {b: sum(release_efdm(s[b : b + 1], o[a : a + 1]) for o, s in pairs) for b in range(4) if b != a}
        assert int(got[a]) == min(d, key=d.get)


def test_contrastive_pairs_and_ratio():
    net, content, style = AesFANet(), smooth(2, 32, 3), smooth(2, 32, 4)
    step = net(normalise(content), normalise(style))
    pairs = feature_pairs(step)
    assert len(pairs) == 10 and all(s.shape == o.shape for s, o in pairs)
    neg = torch.tensor([1, 0])
    want = sum(
        sum(efdm_each(s[[b]], o[[b]]) for s, o in pairs) / sum(efdm_each(s[[1 - b]], o[[b]]) for s, o in pairs)
        for b in range(2)
    )
    assert torch.allclose(contrastive_loss(step, neg), want, rtol=1e-5)


@pytest.mark.parametrize("term", ["content", "style", "contrast"])
def test_one_tiny_step_per_loss_term_is_finite_and_falls(vgg, term):
    torch.manual_seed(0)
    net, content, style = AesFANet(), smooth(2, 32, 5), smooth(2, 32, 6)
    style = torch.cat([0.3 * style[:1], 0.7 + 0.3 * style[1:]])  # a dark and a bright style: clear negatives
    opt = torch.optim.Adam(net.parameters(), lr=1e-4, betas=(0.0, 0.99))
    with torch.no_grad():
        vgg_c, vgg_s = vgg_features(vgg, content), vgg_features(vgg, style)
    values = []
    for _ in range(6):
        step = net(normalise(content), normalise(style))
        vgg_o = vgg_features(vgg, denormalise(step.output))
        if term == "content":
            loss = content_loss(vgg_o, vgg_c)
        elif term == "style":
            loss = style_loss(vgg_o, vgg_s)
        else:
            loss = contrastive_loss(step, hard_negatives(vgg_o, vgg_s))
        opt.zero_grad()
        loss.backward()
        opt.step()
        values.append(loss.item())
    assert all(np.isfinite(values)) and values[-1] < 0.98 * values[0], values


def test_square_resize_squashes_like_the_release(tmp_path):
    path = make_image(tmp_path / "wide.png", (80, 40), 7)
    img = Image.open(path).convert("RGB")
    got = data.random_crop(img, 32, 32, np.random.default_rng(0), square=True)
    want = np.asarray(img.resize((32, 32), Image.Resampling.BILINEAR), dtype=np.float32) / 255
    assert torch.allclose(got, torch.from_numpy(want).permute(2, 0, 1))
    assert data.random_crop(img, 32, 32, np.random.default_rng(0)).shape == (3, 32, 32)  # aspect kept: a crop


@pytest.fixture
def folders(tmp_path):
    content, style = tmp_path / "coco", tmp_path / "wikiart"
    for i in range(4):
        make_image(content / f"c{i}.png", (48, 40), i)
        make_image(style / f"s{i}.jpg", (40, 56), 10 + i)
    return content, style


def test_training_writes_a_release_layout_main_pth_and_resumes(folders, tmp_path):
    tiny = dict(batch_size=2, crop=32, resize=40, save_every=2, log_every=1, sample_every=2, workers=0)
    cfg = AesFATrainConfig(content_dir=str(folders[0]), style_dir=str(folders[1]), out=str(tmp_path / "run"), **tiny)
    first = train(AesFATrainConfig(**{**cfg.__dict__, "max_iter": 2}))
    assert first.iter == 2 and first.decoder == tmp_path / "run" / "main.pth"
    state = torch.load(first.decoder, map_location="cpu", weights_only=True)
    assert sorted(state) == ["netE", "netG", "netS", "styler"] and state["styler"]["iterations"] == 2
    model, info = read_model(first.decoder)
    assert info["config"]["contrast_weight"] == 5.0
    saved = checkpoint.load(checkpoint.latest(tmp_path / "run"))
    assert [g["betas"] for g in saved["optimizer"]["param_groups"]] == [(0.0, 0.99)] * 3
    records = checkpoint.read_log(tmp_path / "run", 2)
    assert [r["iter"] for r in records] == [1, 2]
    for r in records:  # the loop adds the objective's extra term with its config weight, and logs it
        assert r["loss"] == pytest.approx(r["content"] + 10 * r["style"] + 5 * r["contrast"], rel=1e-5)
    again = train(AesFATrainConfig(**{**cfg.__dict__, "max_iter": 3, "resume": True}))
    assert again.iter == 3
    moved = read_model(again.decoder)[0]
    assert any(
        not torch.equal(a, b)
        for net in NETS
        for a, b in zip(getattr(model, net).state_dict().values(), getattr(moved, net).state_dict().values())
    )
    assert (tmp_path / "run" / "samples").is_dir()


def cli_args(folders, run, *extra) -> list[str]:
    content, style = folders
    tiny = ["--batch-size", "2", "--crop", "32", "--resize", "40", "--workers", "0", "--device", "cpu"]
    return [
        "train",
        "--method",
        "aesfa",
        "--coco",
        str(content),
        "--wikiart",
        str(style),
        "-o",
        str(run),
        *tiny,
        *extra,
    ]


@pytest.mark.slow
def test_two_process_gloo_run(folders, tmp_path):
    """torchrun: DDP over the three networks (every parameter gets a gradient each step)."""
    run = tmp_path / "run"
    cmd = [*torchrun_styler(2), *cli_args(folders, run, "--max-iter", "2", "--save-every", "1")]
    proc = subprocess.run(cmd, env=process_env(), capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "2 process(es)" in proc.stderr and read_model(run / "main.pth")[1]["iterations"] == 2
    assert checkpoint.load(run / "checkpoints" / "iter_0000002.pt")["world_size"] == 2


def test_sigterm_saves_a_checkpoint_that_resumes(folders, tmp_path):
    """SIGTERM (sent here by the step callback, in process) stops the run with a checkpoint and a
    loadable main.pth; --resume continues from it."""
    tiny = dict(batch_size=2, crop=32, resize=40, log_every=1, save_every=100, sample_every=0, workers=0)
    cfg = AesFATrainConfig(content_dir=str(folders[0]), style_dir=str(folders[1]), out=str(tmp_path / "run"), **tiny)

    def terminate(info) -> None:
        if info.iter == 1:
            os.kill(os.getpid(), signal.SIGTERM)

    stopped = train(AesFATrainConfig(**{**cfg.__dict__, "max_iter": 50}), on_step=terminate)
    assert stopped.interrupted and stopped.iter == 1  # the flag is read before the next iteration
    assert checkpoint.load(checkpoint.latest(tmp_path / "run"))["iter"] == 1 and read_model(stopped.decoder)
    done = train(AesFATrainConfig(**{**cfg.__dict__, "max_iter": 3, "resume": True}))
    assert done.iter == 3 and not done.interrupted

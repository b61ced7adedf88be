"""CIN (Dumoulin et al. 2017): the network, the method, the model file, training and its CLI. CPU, tiny images."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from conftest import make_image, one_line_error, process_env, run_cli, torchrun_styler
from styler import colour, ops
from styler.errors import InputError, WeightsError
from styler.media.images import load_image
from styler.methods.base import Mix
from styler.methods.cin.config import CINTrainConfig
from styler.methods.cin.method import CIN
from styler.methods.cin.method import load as load_cin
from styler.methods.cin.modelfile import read_model, save_model
from styler.methods.cin.net import EPS, CINNet, cin
from styler.runtime import Runtime
from styler.training import checkpoint
from styler.training.loop import train
from styler.training.support import restore_rng

CPU32 = Runtime(torch.device("cpu"), "fp32")
TINY = dict(batch_size=2, crop=32, resize=40, style_size=32, save_every=2, log_every=1, sample_every=0, workers=0)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)  # a shared machine: more threads than free cores make OpenMP spin
    yield
    torch.set_num_threads(old)


def random_net(n_styles: int = 3, seed: int = 0) -> CINNet:
    """A CINNet whose styles differ: gamma ~ N(1, 0.3), beta ~ N(0, 0.3)."""
    torch.manual_seed(seed)
    net = CINNet(n_styles)
    for norm in net.norms():
        norm.gamma.data.normal_(1.0, 0.3)
        norm.beta.data.normal_(0.0, 0.3)
    return net


def reference_cin(x, gamma, beta):
    """Instance norm computed by hand (biased variance), then the affine; (B, C) tables."""
    mean = x.mean((2, 3), keepdim=True)
    var = ((x - mean) ** 2).mean((2, 3), keepdim=True)
    return (x - mean) / torch.sqrt(var + EPS) * gamma[:, :, None, None] + beta[:, :, None, None]


@pytest.fixture
def model_file(tmp_path):
    return save_model(
        tmp_path / "model.pth", random_net(), ["starry_night", "la_muse", "sketch"], {"style_weight": 1e3}, iterations=7
    )


def test_cin_is_instance_norm_then_the_styles_affine():
    torch.manual_seed(1)
    x = torch.randn(2, 8, 12, 10) * 3 + 1
    net = CINNet(4)
    net.conv1.norm.gamma.data.normal_(1, 0.5)
    net.conv1.norm.beta.data.normal_(0, 0.5)
    table = net.conv1.norm
    index = torch.tensor([3, 1])
    expected = reference_cin(x, table.gamma.data[index][:, :8], table.beta.data[index][:, :8])
    g, b = table.gamma.data[index][:, :8], table.beta.data[index][:, :8]
    with torch.inference_mode():  # the fused batch-norm-kernel path
        fused = cin(x, g, b, relu=True)
    trained = cin(x, g, b, relu=False)  # the autograd path
    torch.testing.assert_close(fused, expected.relu(), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(trained, expected, atol=1e-5, rtol=1e-5)
    maps = (g[:, :, None, None].expand(-1, -1, 12, 10), b[:, :, None, None].expand(-1, -1, 12, 10))
    torch.testing.assert_close(cin(x, *maps, relu=False), expected, atol=1e-5, rtol=1e-5)  # per-pixel tables
    rows = table.select(index, (12, 10))
    assert torch.equal(rows[0], table.gamma.data[index]) and torch.equal(rows[1], table.beta.data[index])


def test_fast_inference_path_matches_the_plain_network():
    net, x = random_net(), torch.rand(2, 3, 40, 48)
    code = torch.tensor([[1.0, 0, 0], [0.2, 0.3, 0.5]])
    with torch.inference_mode():
        plain = net(x, code)
        net.prepare_fast()  # sub-pixel upsampling convs and the block-split 9x9 output conv
        fast = net(x, code)
    torch.testing.assert_close(fast, plain, atol=1e-5, rtol=1e-4)
    trained = net(x, torch.tensor([0, 2]))  # training path: index rows
    with torch.inference_mode():
        torch.testing.assert_close(
            net(x, torch.tensor([[1.0, 0, 0], [0, 0, 1.0]])), trained.detach(), atol=1e-5, rtol=1e-4
        )


def test_one_hot_blend_is_that_style_and_a_blend_is_the_convex_combination(model_file):
    method = load_cin(model=model_file, device="cpu", precision="fp32")
    x = torch.rand(1, 3, 36, 44)
    a, b = method.represent("starry_night"), method.represent(2)
    assert (a, b, method.represent("1")) == (0, 2, 1)
    alone = method.stylize(x, [b], Mix((1.0,)), alpha=1.0)
    one_hot = method.stylize(x, [a, b], Mix((0.0, 1.0)), alpha=1.0)
    assert torch.equal(one_hot, alone)
    net, _ = read_model(model_file)
    with torch.no_grad():
        direct = net(x, torch.tensor([b]))  # the training path, rows by index
    torch.testing.assert_close(alone, direct.clamp(0, 1), atol=1e-5, rtol=1e-4)
    # A blend: the same as a one-style net whose rows are the convex combination of the pairs.
    blended = method.stylize(x, [a, b], Mix((0.25, 0.75)), alpha=1.0)
    mixed, _ = read_model(model_file)
    for norm in mixed.norms():
        norm.gamma.data[0] = 0.25 * norm.gamma.data[a] + 0.75 * norm.gamma.data[b]
        norm.beta.data[0] = 0.25 * norm.beta.data[a] + 0.75 * norm.beta.data[b]
    with torch.no_grad():
        torch.testing.assert_close(blended, mixed(x, torch.tensor([0])), atol=1e-5, rtol=1e-4)
    assert (blended - alone).abs().max() > 1e-3  # the blend is not just one of the styles
    half = method.stylize(x, [b], Mix((1.0,)), alpha=0.4)
    torch.testing.assert_close(half, 0.4 * alone + 0.6 * x, atol=1e-6, rtol=0)


def test_masks_give_each_region_its_style(model_file):
    method = load_cin(model=model_file, device="cpu", precision="fp32")
    x = torch.rand(1, 3, 48, 64)
    left, right = (method.stylize(x, [s], Mix((1.0,)), alpha=1.0) for s in (0, 2))
    # Uniform masks: per-pixel gamma/beta maps give exactly what the weights give.
    uniform = torch.stack([torch.full((48, 64), 0.3), torch.full((48, 64), 0.7)])
    torch.testing.assert_close(
        method.stylize(x, [0, 2], Mix((0.5, 0.5), uniform), alpha=1.0),
        method.stylize(x, [0, 2], Mix((0.3, 0.7)), alpha=1.0),
        atol=1e-5,
        rtol=1e-4,
    )
    x = torch.rand(1, 3, 48, 160)
    left, right = (method.stylize(x, [s], Mix((1.0,)), alpha=1.0) for s in (0, 2))
    masks = torch.zeros(2, 48, 160)
    masks[0, :, :80], masks[1, :, 80:] = 1, 1
    out = method.stylize(x, [0, 2], Mix((0.5, 0.5), masks), alpha=1.0)
    # Instance-norm statistics stay the whole image's, so a region is not its style alone; but
    # each half is much nearer its own style's result than the other's.
    for half, own, other in ((slice(0, 24), left, right), (slice(136, 160), right, left)):
        near, far = ((out - ref)[..., half].abs().mean() for ref in (own, other))
        assert near < 0.75 * far, (near, far)  # masks ignored (a 50:50 blend) would give near ~ far


@pytest.mark.parametrize("masked", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_tiles_agree_with_the_untiled_result(model_file, masked):
    method = load_cin(model=model_file, device="cpu", precision="fp32")
    x = torch.rand(1, 3, 70, 130)  # not a multiple of 4: padded and cropped back
    masks = None
    if masked:
        masks = torch.zeros(2, 70, 130)
        masks[0, :, :70], masks[1, :, 70:] = 1, 1
    mix = Mix((0.3, 0.7), masks)
    whole = method.stylize(x, [0, 2], mix, alpha=1.0, tile="off")
    tiled = method.stylize(x, [0, 2], mix, alpha=1.0, tile=64)  # 2 x 3 tiles with 64 px margins
    assert whole.shape == (1, 3, 70, 130)
    torch.testing.assert_close(tiled, whole, atol=1e-4, rtol=0)


def test_unknown_styles_and_bad_files_are_one_line(model_file, tmp_path):
    method = load_cin(model=model_file, device="cpu", precision="fp32")
    with pytest.raises(
        InputError,
        match=r"style 'monet' is not in this model; its styles are: 0 starry_night, "
        r"1 la_muse, 2 sketch$",
    ):
        method.represent("monet")
    with pytest.raises(InputError, match="style index 5 is out of range"):
        method.represent(5)
    with pytest.raises(InputError, match="at least 16 px"):
        method.stylize(torch.rand(1, 3, 8, 40), [0], Mix((1.0,)), alpha=1.0)
    corrupt = tmp_path / "bad.pth"
    corrupt.write_bytes(model_file.read_bytes()[:500])
    for path, words in [(corrupt, "cannot be read"), (tmp_path / "none.pth", "does not exist")]:
        with pytest.raises(WeightsError, match=words):
            read_model(path)
    torch.save({"0.weight": torch.zeros(1)}, tmp_path / "decoder.pth")
    with pytest.raises(WeightsError, match="is not a CIN model"):
        read_model(tmp_path / "decoder.pth")
    state = torch.load(model_file, weights_only=True)
    state["styles"] = state["styles"][:2]  # 2 names for 3-style tables
    torch.save(state, tmp_path / "short.pth")
    with pytest.raises(WeightsError, match="do not fit a 2-style CIN network"):
        read_model(tmp_path / "short.pth")


def test_models_show_lists_the_styles_and_errors_are_one_line(model_file, tmp_path):
    result = run_cli("models", "show", model_file)
    assert result.exit_code == 0, result.output
    assert "3 styles, 7 training iterations" in result.stdout
    assert "1  la_muse" in result.stdout and "style_weight = 1000.0" in result.stdout
    (tmp_path / "junk.pth").write_bytes(b"not a model")
    one_line_error(run_cli("models", "show", tmp_path / "junk.pth"), "junk.pth", "cannot be read")
    one_line_error(run_cli("models", "show", tmp_path / "missing.pth"), "does not exist")


# -- training ------------------------------------------------------------------------------


@pytest.fixture
def cin_folders(tmp_path):
    content, styles = tmp_path / "coco", tmp_path / "paintings"
    for i in range(4):
        make_image(content / f"c{i}.png", (48, 40), i)
    make_image(styles / "stripes.png", (40, 40), 21)
    make_image(styles / "dots.jpg", (36, 44), 22)
    return content, styles


def cin_config(folders, out, **kw) -> CINTrainConfig:
    return CINTrainConfig(content_dir=str(folders[0]), style_dir=str(folders[1]), out=str(out), **{**TINY, **kw})


@pytest.mark.slow
def test_run_folder_resume_is_exact_and_rngs_are_restored(cin_folders, tmp_path, monkeypatch):
    straight = train(cin_config(cin_folders, tmp_path / "a", max_iter=4, sample_every=4))
    train(cin_config(cin_folders, tmp_path / "b", max_iter=2))
    import styler.training.loop as loop

    restored = []
    monkeypatch.setattr(loop, "restore_rng", lambda state, device: restored.append(state) or [])
    resumed = train(cin_config(cin_folders, tmp_path / "b", max_iter=4, resume=True, lr=5.0))  # recipe wins
    a, b = (torch.load(r.decoder, weights_only=True) for r in (straight, resumed))
    assert resumed.iter == 4 and a["iterations"] == 4 and a["styles"] == ["dots", "stripes"]
    assert all(torch.equal(a["weights"][k], b["weights"][k]) for k in a["weights"])
    saved = checkpoint.load(tmp_path / "b" / "checkpoints" / "iter_0000002.pt")
    assert saved["model"]["kind"] == "cin" and torch.equal(restored[0]["torch"], saved["rng"]["torch"])
    grid = Image.open(tmp_path / "a" / "samples" / "iter_0000004.jpg")
    assert grid.size == (2 + 3 * 34, 2 + 2 * 34)  # content + one column per style, 2 rows, make_grid padding 2


def test_restore_rng_takes_a_saved_cuda_state(tmp_path, monkeypatch):
    """CPU-only check of the CUDA branch: a checkpoint's 'cuda' entry survives the file round trip
    and the restore hands it to torch.cuda.set_rng_state on a CUDA run (and never on a CPU run)."""
    fake = torch.arange(16, dtype=torch.uint8)
    checkpoint.save(
        tmp_path,
        {"iter": 1, "model": {}, "optimizer": {}, "config": {}, "rng": {"torch": torch.get_rng_state(), "cuda": fake}},
        keep=1,
        export=("m.pth", {}),
    )
    state = checkpoint.load(checkpoint.latest(tmp_path))["rng"]
    calls = []
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda s, device: calls.append((s, device)))
    assert restore_rng(state, torch.device("cpu")) == ["torch"] and not calls
    assert restore_rng(state, torch.device("cuda", 0)) == ["torch", "cuda"]
    assert torch.equal(calls[0][0], fake) and calls[0][1] == torch.device("cuda", 0)


def test_losses_are_copied_to_the_host_only_on_logging_iterations(cin_folders, tmp_path, monkeypatch):
    copies = []
    real = torch.Tensor.tolist
    monkeypatch.setattr(torch.Tensor, "tolist", lambda self: copies.append(1) or real(self))
    steps = []
    train(
        cin_config(cin_folders, tmp_path, max_iter=5, log_every=5, save_every=100),
        on_step=lambda info: steps.append(info.synced),
    )
    assert steps == [False] * 4 + [True] and len(copies) == 1


@pytest.mark.slow
def test_each_style_is_learned_and_extend_keeps_old_styles_bit_identical(tmp_path):
    # One 32 px content image, two very different styles; 60 steps of overfitting.
    content = make_image(tmp_path / "c" / "only.png", (32, 32), 3)
    make_image(tmp_path / "s" / "bright.png", (32, 32), 40)
    plain = torch.zeros(32, 32, 3, dtype=torch.uint8)
    plain[::4] = 255  # black with white stripes
    Image.fromarray(plain.numpy()).save(tmp_path / "s" / "lines.png")
    folders = (content.parent, tmp_path / "s")
    result = train(
        cin_config(
            folders, tmp_path / "base", max_iter=60, resize=0, lr=1e-2, save_every=60, log_every=20, style_weight=1e4
        )
    )
    net, info = read_model(result.decoder)
    from styler.nets.weights import load_vgg

    encoder = load_vgg(None)
    x = load_image(content, 0)
    with torch.no_grad():
        targets = [[ops.gram(f) for f in encoder(load_image(tmp_path / "s" / f"{n}.png", 0))] for n in info["styles"]]
        outs = [encoder(net(x, torch.tensor([s]))) for s in range(2)]
        loss = [[ops.gram_loss(outs[s], targets[t]).item() for t in range(2)] for s in range(2)]
    assert loss[0][0] < loss[1][0] and loss[1][1] < loss[0][1], loss  # each style's own index wins

    make_image(tmp_path / "new" / "extra.png", (40, 40), 50)
    extended = train(
        cin_config(
            (content.parent, tmp_path / "new"), tmp_path / "ext", max_iter=4, extend=str(result.decoder), lr=1e-2
        )
    )
    grown, grown_info = read_model(extended.decoder)
    assert grown_info["styles"] == info["styles"] + ["extra"]
    old, new = net.state_dict(), grown.state_dict()
    for key, value in old.items():
        assert torch.equal(new[key][:2] if key.endswith((".gamma", ".beta")) else new[key], value), key
    first = grown.conv1.norm.gamma.data
    assert not torch.equal(first[2], torch.ones_like(first[2]))  # the new style did learn
    before, after = CIN(net, info["styles"], CPU32), CIN(grown, grown_info["styles"], CPU32)
    img = torch.rand(1, 3, 40, 48)
    for s in range(2):
        assert torch.equal(
            after.stylize(img, [s], Mix((1.0,)), alpha=1.0), before.stylize(img, [s], Mix((1.0,)), alpha=1.0)
        )


def test_cli_trains_cin_into_a_fresh_run_folder(cin_folders, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = [
        "train",
        "--method",
        "cin",
        "--coco",
        cin_folders[0],
        "--styles",
        cin_folders[1],
        "--max-iter",
        "1",
        "--batch-size",
        "1",
        "--crop-size",
        "32",
        "--content-size",
        "40",
        "--style-size",
        "32",
        "--workers",
        "0",
        "--sample-every",
        "0",
    ]
    first, second = run_cli(*args), run_cli(*args)
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    assert "runs/cin/model.pth" in first.stdout and "runs/cin-2/model.pth" in second.stdout
    assert "run folder runs/cin-2" in second.stderr
    assert read_model(tmp_path / "runs" / "cin" / "model.pth")[1]["config"]["batch_size"] == 1


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--method", "cin"], ["--method cin needs --styles"]),
        (["--method", "cin", "--styles", "S", "--wikiart", "S"], ["--wikiart does not apply to --method cin"]),
        (["--method", "adain", "--styles", "S"], ["needs --wikiart"]),
        (["--method", "adain", "--wikiart", "S", "--style-size", "64"], ["--style-size does not apply"]),
        (["--method", "cin", "--styles", "S", "--batch-size", "0"], ["--batch-size 0 is not allowed"]),
        (["--method", "cin", "--styles", "S", "--extend", "E"], ["CIN model", "cannot be read"]),
        (["--method", "cin", "--styles", "NOWHERE"], ["--styles", "does not exist"]),
        (["--method", "gatys"], ["gatys"]),
    ],
)
def test_train_cli_errors_are_one_line(cin_folders, tmp_path, extra, words):
    (tmp_path / "E").write_bytes(b"junk")
    extra = [
        str(cin_folders[1])
        if a == "S"
        else str(tmp_path / "E")
        if a == "E"
        else str(tmp_path / a)
        if a == "NOWHERE"
        else a
        for a in extra
    ]
    one_line_error(run_cli("train", "--coco", cin_folders[0], "-o", tmp_path / "run", "--workers", "0", *extra), *words)


def test_extend_refuses_a_style_name_already_in_the_model(cin_folders, tmp_path):
    model = save_model(tmp_path / "m.pth", random_net(2), ["dots", "waves"], {}, 3)
    with pytest.raises(InputError, match="style 'dots' is already in"):
        train(cin_config(cin_folders, tmp_path / "x", max_iter=1, extend=str(model)))


def test_fused_norm_keeps_its_dtype_and_layout():
    x = torch.randn(1, 16, 24, 24).to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
    g, b = torch.rand(1, 16) + 0.5, torch.randn(1, 16)
    with torch.inference_mode():
        y = cin(x, g, b, relu=True)
    assert y.dtype == torch.bfloat16 and y.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(y.float(), F.relu(reference_cin(x.float(), g, b)), atol=0.05, rtol=0.02)


def test_engine_renders_cin_with_luminance_and_refuses_coral(model_file):
    from styler.engine import Engine

    engine = Engine(load_cin(model=model_file, device="cpu", precision="fp32"), tile="off")
    x = torch.rand(1, 3, 40, 52) * 0.5 + 0.25  # mid-tones: the luminance swap never clamps
    out = engine.render(x, ["la_muse"], color="luminance")
    chroma = colour.rgb_to_yiq(out)[:, 1:]
    torch.testing.assert_close(chroma, colour.rgb_to_yiq(x)[:, 1:], atol=1e-4, rtol=0)  # the content's colours
    with pytest.raises(InputError, match="method cin has none; use color=luminance"):
        engine.render(x, ["la_muse"], color="coral")


@pytest.mark.slow
def test_two_process_gloo_cin_run(cin_folders, tmp_path):
    import subprocess

    run = tmp_path / "run"
    cmd = [
        *torchrun_styler(2),
        "train",
        "--method",
        "cin",
        "--coco",
        str(cin_folders[0]),
        "--styles",
        str(cin_folders[1]),
        "-o",
        str(run),
        "--batch-size",
        "1",
        "--crop-size",
        "32",
        "--content-size",
        "40",
        "--style-size",
        "32",
        "--workers",
        "0",
        "--max-iter",
        "2",
        "--save-every",
        "1",
        "--sample-every",
        "2",
        "--device",
        "cpu",
    ]
    proc = subprocess.run(cmd, env=process_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stderr.count("training on") == 1 and "2 process(es)" in proc.stderr
    assert {str(p.relative_to(run)) for p in run.rglob("*") if p.is_file()} == {
        "model.pth",
        "checkpoints/iter_0000001.pt",
        "checkpoints/iter_0000002.pt",
        "samples/iter_0000002.jpg",
        "log.jsonl",
    }
    assert read_model(run / "model.pth")[1]["iterations"] == 2

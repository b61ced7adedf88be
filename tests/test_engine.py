import math

import pytest
import torch
from PIL import Image

from reference import load_reference, style_transfer
from styler import ops, runtime, tiling
from styler.controls import check_alpha, check_color
from styler.engine import Engine
from styler.errors import DeviceError, InputError
from styler.methods.adain.method import AdaIN, StyleStats
from styler.methods.adain.method import load as load_adain
from styler.methods.base import Mix
from styler.names import Color


@pytest.fixture(scope="module")
def reference(weights_dir):
    return load_reference(
        torch.load(weights_dir / "vgg_normalised.pth", weights_only=True),
        torch.load(weights_dir / "decoder.pth", weights_only=True),
    )


@pytest.mark.parametrize("alpha", [1.0, 0.6, 0.0])
def test_render_equals_the_reference_pipeline(engine, reference, alpha):
    torch.manual_seed(0)
    c, s = torch.rand(1, 3, 64, 48), torch.rand(1, 3, 40, 56)
    want = style_transfer(*reference, c, s, alpha).clamp(0, 1)
    got = engine.render(c, [s], alpha=alpha)
    assert got.shape == want.shape == (1, 3, 64, 48)
    assert torch.allclose(got, want, atol=1e-4)


def test_odd_sizes_keep_their_size_and_equal_the_reference_crop(engine, reference):
    c, s = torch.rand(1, 3, 37, 53), torch.rand(1, 3, 29, 31)
    got = engine.render(c, [s])
    assert got.shape == (1, 3, 37, 53)
    full = style_transfer(*reference, c, s).clamp(0, 1)  # 40 x 56: the reference's size
    assert full.shape[-2:] == (40, 56)
    assert torch.allclose(got, full[..., :37, :53], atol=1e-4)


def test_alpha_zero_decodes_the_content_features(engine, adain):
    c, s = torch.rand(1, 3, 32, 40), torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        want = adain.decoder(adain.encoder.relu4_1(c)).clamp(0, 1)
    assert torch.allclose(engine.render(c, [s], alpha=0.0), want, atol=1e-6)


def test_style_stats_are_reused_exactly(engine, adain):
    c, s = torch.rand(2, 3, 32, 32), torch.rand(1, 3, 48, 40)
    stats = engine.represent(s)
    assert isinstance(stats, StyleStats) and stats.mean.shape == stats.std.shape == (1, 512, 1, 1)
    assert adain.represent(stats) is stats and engine.represent(stats) is stats  # representations pass through
    assert torch.equal(engine.render(c, [stats]), engine.render(c, [s]))
    # a batch equals its images one by one
    assert torch.allclose(engine.render(c, [stats])[1:], engine.render(c[1:], [stats]), atol=1e-6)


def test_style_stats_are_the_relu4_1_mean_and_std(adain, reference):
    s = torch.rand(1, 3, 40, 56)
    stats = adain.represent(s)
    with torch.no_grad():
        feat = reference[0](s)
    assert feat.shape == (1, 512, 5, 7)
    want_mean, want_std = feat.mean((2, 3)), (feat.flatten(2).var(2) + 1e-5).sqrt()  # unbiased + eps
    assert torch.allclose(stats.mean.flatten(1), want_mean, atol=1e-4)
    assert torch.allclose(stats.std.flatten(1), want_std, atol=1e-4)


def test_adain_target_has_the_style_statistics(engine, adain):
    c, s = torch.rand(1, 3, 48, 48), torch.rand(1, 3, 48, 48)
    fc, stats = adain.encode(c), engine.represent(s)
    t = ops.adain_stats(fc, stats.mean, stats.std)
    assert torch.allclose(ops.mean_std(t)[0], stats.mean, atol=1e-4)


def test_decode_target_is_the_method_without_the_engine(engine, adain):
    c, s = torch.rand(1, 3, 40, 32), torch.rand(1, 3, 32, 32)
    stats = adain.represent(s)
    fc = adain.encode(c, "off")
    got = adain.decode_target(fc, [stats], Mix((1.0,)), alpha=0.7, size=(40, 32), tile="off")
    want = adain.decode(ops.blend(ops.adain_stats(fc, stats.mean, stats.std), fc, 0.7), (40, 32), "off")
    assert torch.allclose(got, want, atol=1e-6)
    assert torch.equal(engine.render(c, [stats], alpha=0.7), adain.stylize(c, [stats], Mix((1.0,)), alpha=0.7))


@pytest.mark.slow
def test_engines_keep_their_own_tile_setting(adain, monkeypatch):
    """The tile is an argument of every method call, never state on the shared method: two
    engines with different tiles on one AdaIN, used in turn, each get their own results."""
    calls = []
    real = tiling.decode_tiled

    def spy(*args, **kwargs):
        calls.append(args[3])  # the tile side
        return real(*args, **kwargs)

    monkeypatch.setattr(tiling, "decode_tiled", spy)
    untiled, tiled = Engine(adain, tile="off"), Engine(adain, tile=64)
    assert (untiled.tile, tiled.tile) == ("off", 64) and not hasattr(adain, "tile")
    c, stats = torch.rand(1, 3, 40, 136), adain.represent(torch.rand(1, 3, 40, 40))  # 3 tiles across
    a1 = tiled.render(c, [stats])
    assert calls == [64]
    b = untiled.render(c, [stats])
    assert calls == [64]  # the untiled engine did not inherit the other's tile
    a2 = tiled.render(c, [stats])
    assert calls == [64, 64]
    assert torch.equal(a1, a2)
    assert torch.equal(b, adain.stylize(c, [stats], Mix((1.0,)), alpha=1.0, tile="off"))
    assert torch.equal(a1, adain.stylize(c, [stats], Mix((1.0,)), alpha=1.0, tile=64))
    diff = (a1 - b).abs()
    assert 0 < diff.max().item() < 2 / 255 and diff.mean().item() < 1e-3 / 255  # not bitwise, within tolerance


@pytest.mark.slow
def test_load_by_name_equals_the_fixture(engine, weights_dir):
    loaded = Engine.load(
        "adain",
        device="cpu",
        precision="fp32",
        vgg=weights_dir / "vgg_normalised.pth",
        decoder=weights_dir / "decoder.pth",
    )
    assert isinstance(loaded.method, AdaIN) and loaded.runtime == runtime.Runtime(torch.device("cpu"), "fp32")
    assert loaded.describe() == "adain on cpu (CPU), fp32"
    c, s = torch.rand(1, 3, 24, 24), torch.rand(1, 3, 24, 24)
    assert torch.equal(loaded.render(c, [s]), engine.render(c, [s]))
    with pytest.raises(InputError, match="unknown method 'adian'"):
        Engine.load("adian", device="cpu")
    import styler

    assert styler.Engine is Engine and "Engine" in styler.__all__  # the package's public names
    assert not hasattr(styler, "StyleStats")  # a method's internals are not the public API
    import styler.methods  # the subpackage must not shadow the public listing

    assert styler.available_methods() == ["adain", "gatys", "cin", "aesfa", "curves", "diffstyler"]


@pytest.mark.slow
def test_bf16_is_close_to_fp32(engine):
    low = load_adain(device="cpu", precision="bf16")  # weights from STYLER_WEIGHTS_DIR
    assert low.runtime.precision == "bf16" and low.encoder[0].weight.dtype == torch.bfloat16
    c, s = torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64)
    a, b = engine.render(c, [s]), Engine(low).render(c, [s])
    assert b.dtype == torch.float32 and b.shape == a.shape
    psnr = 10 * math.log10(1 / max(((a - b) ** 2).mean().item(), 1e-12))
    assert psnr > 25, psnr


def test_pil_api(engine):
    c = Image.new("RGB", (50, 30), (200, 30, 30))
    s = Image.new("L", (20, 20), 128)
    out = engine.stylize(c, s, alpha=0.5, content_size=0, style_size=0)
    assert isinstance(out, Image.Image) and out.size == (50, 30) and out.mode == "RGB"
    small = engine.stylize(c, s, content_size=20, style_size=0)
    assert small.size == (33, 20)


@pytest.mark.parametrize("bad", [-0.1, 1.01, float("nan"), float("inf")])
def test_alpha_out_of_range(bad, engine):
    with pytest.raises(InputError, match="alpha"):
        check_alpha(bad)
    with pytest.raises(InputError, match="alpha must be a number in"):
        engine.render(torch.rand(1, 3, 16, 16), [torch.rand(1, 3, 16, 16)], alpha=bad)


def test_colour_names():
    assert check_color(None) is None and check_color("coral") is Color.coral
    assert check_color(Color.luminance) is Color.luminance
    with pytest.raises(InputError, match="unknown colour method 'histogram'; use one of coral, luminance"):
        check_color("histogram")


def test_device_names_are_checked_without_hardware():
    assert [runtime.check_device_name(n) for n in ("auto", " CPU", "cuda", "cuda:1", "mps")] == [
        "auto",
        "cpu",
        "cuda",
        "cuda:1",
        "mps",
    ]
    for bad in ("cdua", "tpu", "cuda:", "cuda:x", "gpu0"):
        with pytest.raises(DeviceError, match=f"unknown device '{bad}'; use auto, cpu, cuda, cuda:N or mps"):
            runtime.check_device_name(bad)


def test_device_and_precision_choices(monkeypatch):
    cpu = torch.device("cpu")
    assert runtime.pick_device("cpu") == cpu
    with pytest.raises(DeviceError, match="unknown device"):
        runtime.pick_device("tpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceError, match="no CUDA"):
        runtime.pick_device("cuda")
    with pytest.raises(DeviceError, match="no CUDA"):
        runtime.pick_device("cuda:0")
    assert runtime.pick_device("auto") == cpu
    with pytest.raises(DeviceError, match="unknown precision"):
        runtime.pick_precision("int8", cpu)
    with pytest.raises(DeviceError, match="loss scaling"):
        runtime.pick_precision("fp16", cpu, training=True)
    assert runtime.pick_precision("fp32", cpu) == "fp32" and runtime.pick_precision("bf16", cpu) == "bf16"
    # auto unmeasured on CPU: fp32 (precision.load_method measures; see test_precision.py)
    assert runtime.pick_precision("auto", cpu) == "fp32"
    assert runtime.pick_precision("auto", cpu, training=True) == "fp32"
    rt = runtime.runtime("cpu", "bf16")
    assert rt.dtype == torch.bfloat16 and rt.describe() == "cpu (CPU), bf16"


def test_rejects_non_image_tensors(engine):
    with pytest.raises(InputError, match=r"content as an image batch \(N, 3, H, W\), got \(3, 16, 16\)"):
        engine.render(torch.rand(3, 16, 16), [torch.rand(1, 3, 16, 16)])
    with pytest.raises(InputError, match=r"style as an image batch \(N, 3, H, W\), got \(1, 1, 16, 16\)"):
        engine.render(torch.rand(1, 3, 16, 16), [torch.rand(1, 1, 16, 16)])
    with pytest.raises(InputError, match="no style given"):
        engine.render(torch.rand(1, 3, 16, 16), [])
    with pytest.raises(InputError, match=r"expected each style as an image tensor .* or StyleStats, got str"):
        engine.render(torch.rand(1, 3, 16, 16), ["style.jpg"])


def test_too_small_images_are_a_clear_error(engine):
    with pytest.raises(InputError, match="the content is 40x8 px; at least 9 px"):
        engine.render(torch.rand(1, 3, 8, 40), [torch.rand(1, 3, 32, 32)])
    with pytest.raises(InputError, match="the style is 8x32 px; at least 9 px"):
        engine.render(torch.rand(1, 3, 32, 32), [torch.rand(1, 3, 32, 8)])
    assert engine.render(torch.rand(1, 3, 9, 9), [torch.rand(1, 3, 9, 9)]).shape == (1, 3, 9, 9)

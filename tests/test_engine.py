import math

import pytest
import torch
from PIL import Image

from reference import load_reference, style_transfer
from styler import ops
from styler.engine import StyleStats, Stylizer, check_alpha, pick_device, pick_precision
from styler.errors import DeviceError, InputError


@pytest.fixture(scope="module")
def reference(weights_dir):
    return load_reference(torch.load(weights_dir / "vgg_normalised.pth", weights_only=True),
                          torch.load(weights_dir / "decoder.pth", weights_only=True))


@pytest.mark.parametrize("alpha", [1.0, 0.6, 0.0])
def test_transfer_equals_the_reference_pipeline(stylizer, reference, alpha):
    torch.manual_seed(0)
    c, s = torch.rand(1, 3, 64, 48), torch.rand(1, 3, 40, 56)
    want = style_transfer(*reference, c, s, alpha).clamp(0, 1)
    got = stylizer.transfer(c, s, alpha=alpha)
    assert got.shape == want.shape == (1, 3, 64, 48)
    assert torch.allclose(got, want, atol=1e-4)


def test_odd_sizes_keep_their_size_and_equal_the_reference_crop(stylizer, reference):
    c, s = torch.rand(1, 3, 37, 53), torch.rand(1, 3, 29, 31)
    got = stylizer.transfer(c, s)
    assert got.shape == (1, 3, 37, 53)
    full = style_transfer(*reference, c, s).clamp(0, 1)  # 40 x 56: the reference's size
    assert full.shape[-2:] == (40, 56)
    assert torch.allclose(got, full[..., :37, :53], atol=1e-4)


def test_alpha_zero_decodes_the_content_features(stylizer):
    c, s = torch.rand(1, 3, 32, 40), torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        want = stylizer.decoder(stylizer.encoder.relu4_1(c)).clamp(0, 1)
    assert torch.allclose(stylizer.transfer(c, s, alpha=0.0), want, atol=1e-6)


def test_style_stats_are_reused_exactly(stylizer):
    c, s = torch.rand(2, 3, 32, 32), torch.rand(1, 3, 48, 40)
    stats = stylizer.style_stats(s)
    assert isinstance(stats, StyleStats) and stats.mean.shape == (1, 512, 1, 1)
    assert torch.equal(stylizer.transfer(c, stats), stylizer.transfer(c, s))
    # a batch equals its images one by one
    assert torch.allclose(stylizer.transfer(c, stats)[1:], stylizer.transfer(c[1:], stats), atol=1e-6)


def test_adain_target_has_the_style_statistics(stylizer):
    c, s = torch.rand(1, 3, 48, 48), torch.rand(1, 3, 48, 48)
    fc, stats = stylizer.encode(c), stylizer.style_stats(s)
    t = ops.adain_stats(fc, stats.mean, stats.std)
    assert torch.allclose(ops.mean_std(t)[0], stats.mean, atol=1e-4)


def test_bf16_is_close_to_fp32(weights_dir, stylizer):
    low = Stylizer.from_files(device="cpu", precision="bf16")
    assert low.precision == "bf16" and low.encoder[0].weight.dtype == torch.bfloat16
    c, s = torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64)
    a, b = stylizer.transfer(c, s), low.transfer(c, s)
    assert b.dtype == torch.float32 and b.shape == a.shape
    psnr = 10 * math.log10(1 / max(((a - b) ** 2).mean().item(), 1e-12))
    assert psnr > 25, psnr


def test_pil_api(stylizer):
    c = Image.new("RGB", (50, 30), (200, 30, 30))
    s = Image.new("L", (20, 20), 128)
    out = stylizer.stylize(c, s, alpha=0.5, content_size=0, style_size=0)
    assert isinstance(out, Image.Image) and out.size == (50, 30) and out.mode == "RGB"


@pytest.mark.parametrize("bad", [-0.1, 1.01, float("nan"), float("inf")])
def test_alpha_out_of_range(bad, stylizer):
    with pytest.raises(InputError, match="alpha"):
        check_alpha(bad)
    with pytest.raises(InputError):
        stylizer.transfer(torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16), alpha=bad)


def test_device_and_precision_choices(monkeypatch):
    assert pick_device("cpu").type == "cpu"
    with pytest.raises(DeviceError, match="unknown device"):
        pick_device("tpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceError, match="no CUDA"):
        pick_device("cuda")
    assert pick_device("auto").type == "cpu"
    with pytest.raises(DeviceError, match="unknown precision"):
        pick_precision("int8", torch.device("cpu"))
    assert pick_precision("fp32", torch.device("cpu")) == "fp32"
    assert pick_precision("auto", torch.device("cpu")) in ("fp32", "bf16")


def test_rejects_non_image_tensors(stylizer):
    with pytest.raises(InputError, match="N, 3, H, W"):
        stylizer.transfer(torch.rand(3, 16, 16), torch.rand(1, 3, 16, 16))


def test_too_small_images_are_a_clear_error(stylizer):
    with pytest.raises(InputError, match="at least 9 px"):
        stylizer.transfer(torch.rand(1, 3, 8, 40), torch.rand(1, 3, 32, 32))
    assert stylizer.transfer(torch.rand(1, 3, 9, 9), torch.rand(1, 3, 9, 9)).shape == (1, 3, 9, 9)

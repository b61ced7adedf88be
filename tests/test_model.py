import pytest
import torch
from torch import nn

from reference import reference_decoder, reference_vgg
from styler.errors import WeightsError
from styler.nets.vgg import Decoder, Encoder, load_decoder, load_encoder


def test_public_key_layout():
    enc_keys = {k.split(".")[0] for k in Encoder().state_dict()}
    dec_keys = {k.split(".")[0] for k in Decoder().state_dict()}
    assert enc_keys == {"0", "2", "5", "9", "12", "16", "19", "22", "25", "29"}
    assert dec_keys == {"1", "5", "8", "11", "14", "18", "21", "25", "28"}
    assert len(Encoder()) == 31 and len(Decoder()) == 29
    assert set(reference_decoder().state_dict()) == set(Decoder().state_dict())


def test_encoder_matches_reference_slices(weights_dir):
    sd = torch.load(weights_dir / "vgg_normalised.pth", weights_only=True)
    ref = reference_vgg()
    ref.load_state_dict(sd)  # the full public file loads into the reference, strict
    enc = load_encoder(sd).eval()
    x = torch.rand(2, 3, 37, 45)
    with torch.no_grad():
        feats = enc(x)
        expected, h = [], x
        for start, stop in [(0, 4), (4, 11), (11, 18), (18, 31)]:  # net.Net's enc_1..enc_4
            h = ref[start:stop](h)
            expected.append(h)
    for got, want in zip(feats, expected):
        assert torch.allclose(got, want, atol=1e-5)
    assert [f.shape[1] for f in feats] == [64, 128, 256, 512]
    assert feats.relu4_1.shape[-2:] == (5, 6)  # ceil(37/8), ceil(45/8)
    with torch.no_grad():
        assert torch.allclose(enc.relu4_1(x), feats.relu4_1)


def test_decoder_matches_reference(weights_dir):
    sd = torch.load(weights_dir / "decoder.pth", weights_only=True)
    ref = reference_decoder()
    ref.load_state_dict(sd)
    dec = load_decoder(sd).eval()
    f = torch.rand(1, 512, 3, 4)
    with torch.no_grad():
        assert torch.allclose(dec(f), ref(f), atol=1e-5)
    assert dec(f).shape == (1, 3, 24, 32)


def test_encoder_accepts_a_file_cut_at_relu4_1(weights_dir):
    sd = torch.load(weights_dir / "vgg_normalised.pth", weights_only=True)
    cut = {k: v for k, v in sd.items() if int(k.split(".")[0]) < 31}
    assert torch.equal(load_encoder(cut)[29].weight, sd["29.weight"])


@pytest.mark.parametrize("damage", ["missing", "unknown", "shape", "decoder_as_vgg"])
def test_layout_errors_name_the_problem(weights_dir, damage):
    vgg = torch.load(weights_dir / "vgg_normalised.pth", weights_only=True)
    dec = torch.load(weights_dir / "decoder.pth", weights_only=True)
    if damage == "missing":
        del vgg["5.weight"]
    elif damage == "unknown":
        vgg["features.0.weight"] = torch.zeros(1)
    elif damage == "shape":
        vgg["2.weight"] = torch.zeros(64, 3, 5, 5)
    elif damage == "decoder_as_vgg":
        vgg = dec
    with pytest.raises(WeightsError, match=r"my\.pth") as e:
        load_encoder(vgg, label="my.pth")
    assert "\n" not in str(e.value)
    with pytest.raises(WeightsError):
        load_decoder(torch.load(weights_dir / "vgg_normalised.pth", weights_only=True))


@pytest.mark.parametrize("size", [(16, 20), (13, 22), (9, 10)])
def test_inference_fast_path_equals_the_reference_layers(weights_dir, monkeypatch, size):
    """Zero-padded convs with recomputed reflect borders and strided max pools (used on
    large maps without autograd) give the reference's numbers, even and odd sizes alike."""
    from styler.nets import vgg as model

    monkeypatch.setattr(model, "FAST_MIN_PIXELS", 0)  # take the fast path at test sizes
    ref_enc = reference_vgg()
    ref_enc.load_state_dict(torch.load(weights_dir / "vgg_normalised.pth", weights_only=True))
    ref_dec = reference_decoder()
    ref_dec.load_state_dict(torch.load(weights_dir / "decoder.pth", weights_only=True))
    enc = load_encoder(ref_enc.state_dict()).eval()
    dec = load_decoder(ref_dec.state_dict()).eval()
    x = torch.rand(1, 3, *size)
    with torch.inference_mode():
        want = ref_enc[:31](x)
        got = enc.relu4_1(x)
        assert torch.allclose(got, want, atol=1e-4)
        assert torch.allclose(dec(got), ref_dec(want), atol=1e-4)


def test_conv_reflect_is_exact():
    from styler.nets.vgg import conv_reflect, max_pool_2x2

    conv = nn.Conv2d(5, 7, 3)
    x = torch.randn(2, 5, 9, 12)
    with torch.no_grad():
        assert torch.allclose(conv_reflect(x, conv), conv(nn.ReflectionPad2d(1)(x)), atol=1e-5)
    assert torch.equal(max_pool_2x2(x[..., :8, :]), nn.MaxPool2d(2, 2, ceil_mode=True)(x[..., :8, :]))

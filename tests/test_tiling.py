"""Tiling: tiled == untiled within float tolerance, global statistics, odd sizes, options."""

import pytest
import torch
import torch.nn.functional as F

from styler import ops, tiling
from styler.engine import Stylizer
from styler.errors import InputError


def smooth(h: int, w: int, seed: int = 0) -> torch.Tensor:
    """A smooth random image (1, 3, h, w): closer to a photo than white noise."""
    g = torch.Generator().manual_seed(seed)
    return F.interpolate(torch.rand(1, 3, 12, 12, generator=g), size=(h, w), mode="bilinear",
                         align_corners=False).clamp(0, 1)


@pytest.fixture
def tiled(stylizer):
    """The session stylizer with a given tiling for one test, then back to auto."""
    def use(setting):
        stylizer.tile = setting
        return stylizer
    yield use
    stylizer.tile = "auto"


@pytest.mark.parametrize("size", [(150, 229), (40, 300), (300, 33), (129, 137)])
def test_tiled_transfer_equals_untiled(tiled, size):
    c, s = smooth(*size), smooth(48, 48, 1)
    stats = tiled("off").style_stats(s)
    want = tiled("off").transfer(c, stats, alpha=0.8)
    got = tiled(64).transfer(c, stats, alpha=0.8)
    assert got.shape == want.shape == (1, 3, *size)
    diff = (got - want).abs()
    assert diff.mean().item() < 1e-3 / 255 and diff.max().item() < 2 / 255


def test_tiled_features_and_global_statistics_match(tiled):
    c = smooth(136, 200, 3)  # 3 x 4 encoder tiles of 64 px
    want = tiled("off").encode(c)
    got = tiled(64).encode(c)
    assert got.shape == want.shape == (1, 512, 17, 25) and got.dtype == torch.float32
    assert torch.allclose(got, want, atol=1e-4)
    (m1, s1), (m2, s2) = ops.mean_std(want), ops.mean_std(got)
    assert torch.allclose(m1, m2, atol=1e-5) and torch.allclose(s1, s2, atol=1e-5)


def test_tiled_decode_of_a_batch_equals_untiled(tiled):
    feat = tiled("off").encode(torch.cat([smooth(96, 160, 4), smooth(96, 160, 5)]))
    want = tiled("off").decode(feat, (93, 157))
    got = tiled(64).decode(feat, (93, 157))
    assert got.shape == (2, 3, 93, 157)
    assert (got - want).abs().max().item() < 1e-4


def test_margins_are_needed(tiled, monkeypatch):
    """The test above would notice too small an overlap: tiles without margins leave seams."""
    c, s = smooth(160, 160, 6), smooth(48, 48, 7)
    want = tiled("off").transfer(c, s)
    monkeypatch.setattr(tiling, "ENC_MARGIN", 8)
    monkeypatch.setattr(tiling, "DEC_MARGIN", 1)
    assert (tiled(64).transfer(c, s) - want).abs().mean().item() > 1 / 255


def test_spans_cover_the_image_once():
    for length in (1, 63, 64, 65, 301):
        cores = tiling.spans(length, 64, 48)
        assert cores[0][0] == 0 and cores[-1][1] == length
        assert all(a[1] == b[0] for a, b in zip(cores, cores[1:]))
        assert all(lo == max(0, a - 48) and hi == min(length, b + 48) for a, b, lo, hi in cores)


def test_auto_tiles_only_when_the_untiled_run_does_not_fit():
    cpu = torch.device("cpu")
    assert tiling.choose_tile("auto", 1, 512, 512, 2, cpu) is None
    assert tiling.choose_tile("off", 1, 9000, 9000, 4, cpu) is None
    assert tiling.choose_tile(256, 1, 200, 200, 4, cpu) is None  # one tile: nothing to split
    assert tiling.choose_tile(256, 1, 300, 200, 4, cpu) == 256
    budget = tiling.activation_bytes(1, 1024, 1024, 4)
    assert tiling.choose_tile("auto", 1, 1000, 1000, 4, cpu, budget=budget) is None
    tile = tiling.choose_tile("auto", 1, 4320, 7680, 4, cpu, budget=budget)
    assert tile is not None and tile % 64 == 0 and tile <= 1024
    side = tile + 2 * tiling.ENC_MARGIN
    assert tiling.activation_bytes(1, side, side, 4) <= budget // 2


def test_auto_tiles_large_images_on_cpu(stylizer):
    assert stylizer.tile_for(1, 512, 512) is None
    tile = stylizer.tile_for(1, 4320, 7680)  # 8K: would need ~30 GB of fp32 activations
    assert tile is not None and tile < 4320


@pytest.mark.parametrize("bad", ["big", "0", "63", "100", "-64", "12.5"])
def test_bad_tile_settings_are_refused(bad):
    with pytest.raises(InputError, match="--tile"):
        tiling.parse_tile(bad)


def test_tile_settings(weights_dir):
    assert tiling.parse_tile("AUTO") == "auto" and tiling.parse_tile("off") == "off"
    assert tiling.parse_tile("512") == 512
    s = Stylizer.from_files(device="cpu", precision="fp32", tile="128")
    assert s.tile == 128


def test_controls_get_tiling_for_free(tiled):
    """Interpolation and masks build on encode/decode, so they tile the same way."""
    c, s1, s2 = smooth(130, 150, 8), smooth(40, 40, 9), smooth(40, 40, 10)
    masks = torch.zeros(2, 130, 150)
    masks[0, :, :75], masks[1, :, 75:] = 1, 1
    for call in (lambda st: st.interpolate(c, [s1, s2], [0.3, 0.7], alpha=0.9),
                 lambda st: st.transfer_masked(c, masks, [s1, s2])):
        want = call(tiled("off"))
        got = call(tiled(64))
        assert got.shape == want.shape and (got - want).abs().mean().item() < 1e-3 / 255

"""Tiling: tiled == untiled within float tolerance, global statistics, odd sizes, options."""

import itertools

import pytest
import torch
import torch.nn.functional as F

from styler import ops, tiling
from styler.engine import Engine
from styler.errors import InputError


def smooth(h: int, w: int, seed: int = 0) -> torch.Tensor:
    """A smooth random image (1, 3, h, w): closer to a photo than white noise."""
    g = torch.Generator().manual_seed(seed)
    return F.interpolate(
        torch.rand(1, 3, 12, 12, generator=g), size=(h, w), mode="bilinear", align_corners=False
    ).clamp(0, 1)


@pytest.fixture
def untiled(adain):
    return Engine(adain, tile="off")


@pytest.fixture
def tiled(adain, monkeypatch):
    """Engine(adain, tile=64), counting the tiled decodes so a test knows tiling really ran."""
    calls = []
    real = tiling.decode_tiled

    def counted(*args, **kwargs):
        calls.append(args[3])
        return real(*args, **kwargs)

    monkeypatch.setattr(tiling, "decode_tiled", counted)
    engine = Engine(adain, tile=64)
    engine.calls = calls  # type: ignore[attr-defined]
    return engine


def close(got, want):
    """The tolerance of every tiled-vs-untiled comparison here."""
    diff = (got - want).abs()
    return got.shape == want.shape and diff.mean().item() < 1e-3 / 255 and diff.max().item() < 2 / 255


@pytest.mark.slow
@pytest.mark.parametrize("size", [(150, 229), (40, 300), (300, 33), (129, 137)])
def test_tiled_transfer_equals_untiled(adain, untiled, tiled, size):
    c, s = smooth(*size), smooth(48, 48, 1)
    stats = adain.represent(s)
    want = untiled.render(c, [stats], alpha=0.8)
    got = tiled.render(c, [stats], alpha=0.8)
    assert got.shape == want.shape == (1, 3, *size)
    assert tiled.calls == [64] and close(got, want)


def test_tiled_features_and_global_statistics_match(adain):
    c = smooth(136, 200, 3)  # 3 x 4 encoder tiles of 64 px
    want = adain.encode(c, "off")
    got = adain.encode(c, 64)
    assert got.shape == want.shape == (1, 512, 17, 25) and got.dtype == torch.float32
    assert torch.allclose(got, want, atol=1e-4)
    (m1, s1), (m2, s2) = ops.mean_std(want), ops.mean_std(got)
    assert torch.allclose(m1, m2, atol=1e-5) and torch.allclose(s1, s2, atol=1e-5)


def test_tiled_decode_of_a_batch_equals_untiled(adain):
    feat = adain.encode(torch.cat([smooth(96, 160, 4), smooth(96, 160, 5)]), "off")
    want = adain.decode(feat, (93, 157), "off")
    got = adain.decode(feat, (93, 157), 64)
    assert got.shape == (2, 3, 93, 157)
    assert (got - want).abs().max().item() < 1e-4


def test_margins_are_needed(untiled, tiled, monkeypatch):
    """The test above would notice too small an overlap: tiles without margins leave seams."""
    c, s = smooth(160, 160, 6), smooth(48, 48, 7)
    want = untiled.render(c, [s])
    monkeypatch.setattr(tiling, "ENC_MARGIN", 8)
    monkeypatch.setattr(tiling, "DEC_MARGIN", 1)
    assert (tiled.render(c, [s]) - want).abs().mean().item() > 1 / 255


def test_spans_cover_the_image_once():
    for length in (1, 63, 64, 65, 301):
        cores = tiling.spans(length, 64, 48)
        assert cores[0][0] == 0 and cores[-1][1] == length
        assert all(a[1] == b[0] for a, b in itertools.pairwise(cores))
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


def test_auto_tiles_large_images_on_cpu(adain):
    assert adain.tile_for("auto", 1, 512, 512) is None
    tile = adain.tile_for("auto", 1, 4320, 7680)  # 8K: would need ~30 GB of fp32 activations
    assert tile is not None and tile < 4320
    assert adain.tile_for("off", 1, 4320, 7680) is None and adain.tile_for(128, 1, 300, 300) == 128


@pytest.mark.parametrize("bad", ["big", "0", "63", "100", "-64", "12.5"])
def test_bad_tile_settings_are_refused(bad):
    with pytest.raises(InputError, match=f"tile={bad} is not valid; use auto, off or a tile size in pixels"):
        tiling.parse_tile(bad)


def test_tile_settings(adain):
    assert tiling.parse_tile("AUTO") == "auto" and tiling.parse_tile("off") == "off"
    assert tiling.parse_tile("512") == 512 and tiling.parse_tile(None) == "auto"
    assert Engine(adain, tile="128").tile == 128 and Engine(adain).tile == "auto"
    with pytest.raises(InputError, match="tile=13 is not valid"):
        Engine(adain, tile=13)


CONTROLS = [
    {"styles": 2, "weights": [0.3, 0.7], "alpha": 0.9},
    {"styles": 2, "masks": True},
    {"styles": 2, "masks": True, "feather": 8.0, "alpha": 0.7},
    {"styles": 1, "color": "coral"},
    {"styles": 1, "color": "luminance", "alpha": 0.8},
    {"styles": 2, "masks": True, "color": "coral"},
]


@pytest.mark.slow
@pytest.mark.parametrize("case", CONTROLS, ids=["weights", "masks", "feather", "coral", "luminance", "masks-coral"])
def test_controls_tile_like_plain_transfer(untiled, tiled, case):
    """Interpolation, masks (hard and feathered) and both colour modes go through the method's
    tiled stylize, so they keep plain transfer's memory bound and match untiled."""
    c, styles = smooth(80, 136, 8), [smooth(40, 40, 9), smooth(40, 40, 10)][: case["styles"]]
    kwargs = {k: v for k, v in case.items() if k not in ("styles", "masks")}
    if case.get("masks"):
        masks = torch.zeros(2, 80, 136)
        masks[0, :, :75], masks[1, :, 75:] = 1, 1
        kwargs["masks"] = masks
    want = untiled.render(c, styles, **kwargs)
    got = tiled.render(c, styles, **kwargs)
    assert tiled.calls == [64]  # it did run tile by tile (3 x 2 tiles)
    diff = (got - want).abs()
    assert close(got, want), (diff.mean().item() * 255, diff.max().item() * 255)

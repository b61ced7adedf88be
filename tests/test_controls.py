"""Issue 3: style interpolation, spatial masks, colour preservation (ops, engine, CLI)."""

import numpy as np
import pytest
import torch
from PIL import Image

import reference
from conftest import make_image, one_line_error, run_cli
from styler import colour, ops
from styler.controls import normalize_weights
from styler.errors import InputError
from styler.media import regions

FAST = ("--device", "cpu", "--precision", "fp32", "--content-size", "0", "--style-size", "0")


run = run_cli


def region_stats(feat, region):
    """Unbiased mean/std + eps of feat (1, C, h, w) over a boolean region (h, w), as mean_std."""
    sel = feat[0][:, region]  # (C, n)
    return sel.mean(1), (sel.var(1) + ops.EPS).sqrt()


def label_png(path, colours, size=(40, 32)):
    """A label image (w, h) with vertical bands, one per colour, left to right."""
    w, h = size
    arr = np.zeros((h, w, 3), np.uint8)
    for i, c in enumerate(colours):
        arr[:, i * w // len(colours) : (i + 1) * w // len(colours)] = c
    Image.fromarray(arr).save(path)
    return path


# -- interpolation --------------------------------------------------------------------------


def test_interpolate_adain_is_the_weighted_sum_of_single_targets():
    torch.manual_seed(0)
    c = torch.randn(2, 8, 6, 7)
    styles = [torch.randn(1, 8, 5, 5) * k + k for k in (1, 2, 3)]
    stats = [ops.mean_std(s) for s in styles]
    got = ops.interpolate_adain(c, [m for m, _ in stats], [s for _, s in stats], [0.25, 0.5, 0.25])
    want = sum(w * ops.adain(c, s) for w, s in zip([0.25, 0.5, 0.25], styles))
    assert torch.allclose(got, want, atol=1e-5)


def test_render_with_weights_decodes_the_normalised_weighted_target(engine, adain):
    torch.manual_seed(1)
    c = torch.rand(1, 3, 24, 32)
    styles = [torch.rand(1, 3, 16, 16), torch.rand(1, 3, 24, 16), torch.rand(1, 3, 16, 32)]  # any sizes
    fc = adain.encode(c)
    target = sum(w * ops.adain(fc, adain.encode(s)) for w, s in zip([0.25, 0.5, 0.25], styles))
    want = adain.decode(ops.blend(target, fc, 0.7), (24, 32))
    got = engine.render(c, styles, weights=[1, 2, 1], alpha=0.7)
    assert torch.allclose(got, want, atol=1e-5)
    assert torch.allclose(engine.render(c, styles, weights=[2, 4, 2], alpha=0.7), got, atol=1e-6)
    # all the weight on one style is plain transfer with it; no weights = equal weights
    assert torch.allclose(engine.render(c, styles, weights=[0, 1, 0]), engine.render(c, [styles[1]]), atol=1e-6)
    assert torch.allclose(
        engine.render(c, styles, alpha=0.7), engine.render(c, styles, weights=[1, 1, 1], alpha=0.7), atol=1e-6
    )
    assert (engine.render(c, styles, alpha=0.7) - got).abs().max() > 1e-3


@pytest.mark.parametrize(
    "weights, words",
    [
        ([1, 2], "2 weight(s) for 3"),
        ([1, -1, 2], "negative"),
        ([0, 0, 0], "sum to 0"),
        ([1, float("nan"), 1], "finite"),
        (["a", 1, 1], "numbers"),
    ],
)
def test_bad_weights(weights, words):
    with pytest.raises(InputError, match=words.replace("(", r"\(").replace(")", r"\)")):
        normalize_weights(weights, 3)


def test_weights_are_normalised():
    assert normalize_weights([1, 2, 1], 3) == [0.25, 0.5, 0.25]
    assert normalize_weights(None, 4) == [0.25] * 4


# -- masks ------------------------------------------------------------------------------------


def test_masked_adain_binary_mask_gives_each_region_its_style_exactly():
    torch.manual_seed(2)
    fc = torch.randn(1, 16, 9, 11) * 2 + 1
    region = torch.zeros(9, 11, dtype=torch.bool)
    region[2:7, 3:10] = True
    masks = torch.stack([region, ~region]).float()[None]  # (1, 2, h, w)
    styles = [torch.randn(1, 16, 5, 5) * 3 - 1, torch.randn(1, 16, 6, 4) * 0.5 + 2]
    stats = [ops.mean_std(s) for s in styles]
    out = ops.masked_adain(fc, masks, [m for m, _ in stats], [s for _, s in stats])
    for r, sel in enumerate([region, ~region]):
        mean, _ = region_stats(out, sel)
        _, c_std = region_stats(fc, sel)
        raw = fc[0][:, sel].std(1)
        assert torch.allclose(mean, stats[r][0].flatten(), atol=1e-4)
        # std = style std * std_c / sqrt(var_c + eps), exactly as plain AdaIN with the reference eps
        assert torch.allclose(out[0][:, sel].std(1), stats[r][1].flatten() * raw / c_std, rtol=1e-4)
        # and it is AdaIN on the region's features alone
        alone = ops.adain(fc[0][:, sel][None, :, :, None], styles[r])[0, :, :, 0]
        assert torch.allclose(out[0][:, sel], alone, atol=1e-4)


def test_label_map_with_three_regions_gives_exact_region_statistics(engine, adain, tmp_path):
    # brightest first: white, then mid grey, then dark red (luminance 255 > 128 > 0.299 * 200 = 60)
    path = label_png(tmp_path / "labels.png", [(128, 128, 128), (200, 0, 0), (255, 255, 255)], (48, 40))
    masks = regions.load_regions(path, (40, 48), 3)
    assert masks.shape == (3, 40, 48) and torch.equal(masks.sum(0), torch.ones(40, 48))
    assert masks[0, :, 32:].all() and masks[1, :, :16].all() and masks[2, :, 16:32].all()

    c = torch.rand(1, 3, 40, 48)
    styles = [torch.rand(1, 3, 32, 32) * k for k in (0.3, 0.6, 1.0)]
    feat, stats = adain.encode(c), [engine.represent(s) for s in styles]
    grid = ops.masks_to_grid(masks, tuple(feat.shape[-2:]))  # (1, 3, 5, 6)
    assert grid.shape == (1, 3, 5, 6) and set(grid.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(grid.sum(1), torch.ones(1, 5, 6))  # each feature in one region
    out = ops.masked_adain(feat, grid, [s.mean for s in stats], [s.std for s in stats])
    for r in range(3):
        sel = grid[0, r].bool()
        mean, _ = region_stats(out, sel)
        assert torch.allclose(mean, stats[r].mean.flatten(), atol=1e-4)
        raw, (_, c_std) = feat[0][:, sel].std(1), region_stats(feat, sel)
        assert torch.allclose(out[0][:, sel].std(1), stats[r].std.flatten() * raw / c_std, rtol=1e-3, atol=1e-5)
    # and the engine decodes exactly that target
    assert torch.allclose(engine.render(c, styles, masks=masks), adain.decode(out, (40, 48)), atol=1e-5)


def test_crop_crops_the_mask_like_the_content(tmp_path):
    path = label_png(tmp_path / "wide.png", [(0, 0, 0), (128, 128, 128), (255, 255, 255)], (60, 20))
    m = regions.load_regions(path, (16, 16), 3, crop=True)
    assert m[1].all() and not m[0].any() and not m[2].any()  # only the middle band is left


def test_all_white_mask_equals_plain_transfer_with_the_first_style(engine, tmp_path):
    path = tmp_path / "white.png"
    Image.new("L", (20, 30), 255).save(path)
    masks = regions.load_regions(path, (40, 48), 2)
    assert masks[0].all() and not masks[1].any()  # second region empty
    c, a, b = torch.rand(1, 3, 40, 48), torch.rand(1, 3, 32, 32), torch.rand(1, 3, 36, 28)
    got = engine.render(c, [a, b], masks=masks, alpha=0.8)
    assert not got.isnan().any()
    assert torch.allclose(got, engine.render(c, [a], alpha=0.8), atol=1e-5)


def test_empty_region_and_feathering_give_no_nan(engine):
    fc = torch.randn(1, 8, 4, 4)
    masks = torch.zeros(1, 3, 4, 4)
    masks[:, 0] = 1
    masks[:, 1, 0, 0] = 1  # one-pixel region
    stats = [ops.mean_std(torch.randn(1, 8, 3, 3)) for _ in range(3)]
    out = ops.masked_adain(fc, masks, [m for m, _ in stats], [s for _, s in stats])
    assert torch.isfinite(out).all()
    c = torch.rand(1, 3, 32, 40)
    half = torch.zeros(2, 32, 40)
    half[0, :, :20], half[1, :, 20:] = 1, 1
    soft = ops.feather(half, 6)
    assert torch.allclose(soft.sum(0), torch.ones(32, 40)) and 0 < soft[0, 0, 20] < 1
    out = engine.render(c, [torch.rand(1, 3, 32, 32)] * 2, masks=half, feather=6, alpha=0.5)
    assert out.shape == (1, 3, 32, 40) and torch.isfinite(out).all()


def test_masks_of_any_size_are_resized_to_the_content(engine):
    c, a, b = torch.rand(1, 3, 32, 40), torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    small = torch.zeros(2, 4, 5)
    small[0, :, :2], small[1, :, 2:] = 1, 1
    full = torch.zeros(2, 32, 40)
    full[0, :, :16], full[1, :, 16:] = 1, 1  # nearest: the same split
    assert torch.equal(engine.render(c, [a, b], masks=small), engine.render(c, [a, b], masks=full))


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"masks": torch.ones(3, 8, 8)}, "expected 2 region masks"),
        ({"masks": -torch.ones(2, 8, 8)}, "finite and >= 0"),
        ({"masks": torch.ones(2, 8, 8), "weights": [1, 1]}, "not both"),
        ({"feather": 2.0}, "feather only applies to region masks"),
        ({"masks": torch.ones(2, 8, 8), "feather": -1.0}, "feather must be"),
    ],
)
def test_bad_controls(engine, kwargs, words):
    with pytest.raises(InputError, match=words):
        engine.render(torch.rand(1, 3, 16, 16), [torch.rand(1, 3, 16, 16)] * 2, **kwargs)


def test_binary_mask_rule_thresholds_grey_levels(tmp_path):
    arr = np.tile(np.array([0, 100, 127, 128, 200, 255], np.uint8).repeat(4), (8, 1))  # (8, 24), 6 levels
    Image.fromarray(arr, "L").save(tmp_path / "aa.png")
    m = regions.load_regions(tmp_path / "aa.png", (8, 24), 2)
    assert torch.equal(m[0, 0], torch.tensor([0.0] * 12 + [1.0] * 12))
    assert torch.equal(m[1], 1 - m[0])
    with pytest.raises(InputError, match="6 distinct colours but 3 styles"):
        regions.load_regions(tmp_path / "aa.png", (8, 24), 3)


# -- colour -------------------------------------------------------------------------------------


def test_coral_is_the_reference_formula_for_equal_sizes():
    torch.manual_seed(3)
    s, t = torch.rand(3, 20, 24), torch.rand(3, 24, 20) * 0.5 + 0.2
    assert torch.allclose(colour.coral(s, t), reference.coral(s, t), atol=1e-5)
    assert torch.allclose(colour.coral(s, colour.rgb_stats(t)), reference.coral(s, t), atol=1e-5)  # stats as target


def test_coral_gives_the_target_means_exactly_and_its_covariance():
    torch.manual_seed(4)
    mix = torch.tensor([[1.0, 0.3, 0.0], [0.2, 0.8, 0.1], [0.0, 0.5, 0.6]])
    s = torch.rand(3, 30, 40)
    t = (mix @ torch.rand(3, 17 * 23)).reshape(3, 17, 23) * 0.4 + 0.1  # correlated, other size
    out = colour.coral(s, t)
    flat_o, flat_t = out.reshape(3, -1), t.reshape(3, -1)
    assert torch.allclose(flat_o.mean(1), flat_t.mean(1), atol=1e-6)
    cov_o, cov_t = torch.cov(flat_o), torch.cov(flat_t)
    # the identity regulariser shifts the covariance by O(1 / pixels) of its scale
    assert (cov_o - cov_t).abs().max() < 5 * cov_t.diag().max() / (30 * 40), (cov_o, cov_t)
    assert (cov_o - cov_t).abs().max() > 0  # it is there: not an exact match
    assert torch.isfinite(colour.coral(torch.full((3, 4, 4), 0.5), t)).all()  # a flat style


def test_color_coral_stylizes_with_the_recoloured_style(engine):
    c, s = torch.rand(2, 3, 32, 40), torch.rand(1, 3, 40, 32)
    for i in range(2):  # each content image adapts the style to its own colours
        want = engine.render(c[i : i + 1], [reference.coral(s[0], c[i])[None]], alpha=0.9)
        got = engine.render(c, [s], alpha=0.9, color="coral")[i : i + 1]
        assert torch.allclose(got, want, atol=1e-5)
    with pytest.raises(InputError, match="pass style images"):
        engine.render(c, [engine.represent(s)], color="coral")


def test_luminance_keeps_the_content_chrominance_exactly(engine):
    torch.manual_seed(5)
    c, s = torch.rand(1, 3, 32, 40), torch.rand(1, 3, 40, 32)
    out = engine.render(c, [s], color="luminance")
    assert out.min() >= 0 and out.max() <= 1
    iq_out, iq_c = colour.rgb_to_yiq(out)[:, 1:], colour.rgb_to_yiq(c)[:, 1:]
    assert (iq_out - iq_c).abs().max() < 1e-5
    assert (colour.luminance(out) - colour.luminance(c)).abs().mean() > 1e-3  # the luminance did change
    noise = torch.rand(1, 1, 9, 9)
    luma = colour.match_luminance(noise, colour.luminance(c))
    (m, sd), (cm, csd) = ops.mean_std(luma, eps=0), ops.mean_std(colour.luminance(c))
    assert torch.allclose(m, cm, atol=1e-6)
    # std = std_t * raw std / sqrt(var + eps), as AdaIN with the reference's eps
    assert torch.allclose(sd, csd * ops.mean_std(noise, eps=0)[1] / ops.mean_std(noise)[1], rtol=1e-5)


@pytest.mark.slow
def test_colour_modes_combine_with_interpolation_and_masks(engine):
    c, a, b = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32), torch.rand(1, 3, 24, 32)
    masks = torch.zeros(2, 32, 32)
    masks[0, :16], masks[1, 16:] = 1, 1
    target = colour.rgb_stats(c[0])
    recoloured = [colour.coral(s[0], target)[None] for s in (a, b)]
    for controls in ({"weights": [1, 3]}, {"masks": masks}):
        want = engine.render(c, recoloured, **controls)
        assert torch.allclose(engine.render(c, [a, b], color="coral", **controls), want, atol=1e-6)
        luma = engine.render(c, [a, b], color="luminance", **controls)
        assert luma.shape == c.shape and torch.isfinite(luma).all()
        assert (colour.rgb_to_yiq(luma)[:, 1:] - colour.rgb_to_yiq(c)[:, 1:]).abs().max() < 1e-5
    with pytest.raises(InputError, match="unknown colour method"):
        engine.render(c, [a], color="histogram")


# -- CLI ------------------------------------------------------------------------------------------


@pytest.fixture
def three_styles(tmp_path):
    return [make_image(tmp_path / "in" / f"s{i}.png", (32 + 8 * i, 32), 10 + i) for i in range(4)]


@pytest.mark.slow
def test_cli_interpolate_prints_the_normalised_weights(images, three_styles, tmp_path):
    r = run("interpolate", images["content"], *three_styles[:3], "--weights", "1,2,1", "-o", tmp_path / "o.png", *FAST)
    assert r.exit_code == 0, r.output
    assert Image.open(tmp_path / "o.png").size == (48, 40)
    assert "s0.png 0.25, s1.png 0.5, s2.png 0.25" in r.stderr


def test_grid_weights_are_bilinear_over_the_corners():
    from styler.cli.interpolate import _corner_weights

    assert _corner_weights(0, 0, 3) == [1, 0, 0, 0] and _corner_weights(0, 2, 3) == [0, 1, 0, 0]
    assert _corner_weights(2, 0, 3) == [0, 0, 1, 0] and _corner_weights(2, 2, 3) == [0, 0, 0, 1]
    assert _corner_weights(1, 1, 3) == [0.25] * 4 and _corner_weights(0, 1, 3) == [0.5, 0.5, 0, 0]


@pytest.mark.slow
def test_cli_grid_and_alpha_sweep_write_one_sheet(three_styles, tmp_path):
    small = make_image(tmp_path / "in" / "small.png", (24, 16), 7)
    r = run(
        "interpolate",
        small,
        *three_styles,
        "--grid",
        3,
        "--show-styles",
        "--color",
        "coral",
        "-o",
        tmp_path / "gs.png",
        *FAST,
    )
    assert r.exit_code == 0, r.output
    sheet = Image.open(tmp_path / "gs.png")
    band = int(10 * 1.6)  # a caption band under each cell (font 10 px at 24 px wide tiles)
    assert sheet.size == (5 * 24 + 4 * 4, 5 * (16 + band) + 4 * 4)  # 3 x 3 cells + a ring for the styles
    assert sheet.getpixel((24 + 2, 0)) == (255, 255, 255)  # blank between the corner styles
    r = run(
        "transfer", small, three_styles[0], "--alpha-sweep", "0,0.5,1", "--color", "luminance", "-o", tmp_path, *FAST
    )
    assert r.exit_code == 0, r.output
    strip = Image.open(tmp_path / "small_stylized_s0_sweep0-0.5-1_luminance_cfull_sfull.png")
    assert strip.size == (3 * 24 + 2 * 4, 16 + band)


@pytest.mark.slow
def test_cli_mask_all_white_equals_transfer(images, three_styles, tmp_path):
    Image.new("RGB", (13, 9), "white").save(tmp_path / "white.png")
    r = run(
        "mask",
        images["content"],
        "--mask",
        tmp_path / "white.png",
        "--style",
        images["style"],
        "--style",
        three_styles[0],
        "-o",
        tmp_path / "m.png",
        "--alpha",
        0.7,
        *FAST,
    )
    assert r.exit_code == 0, r.output
    r = run("transfer", images["content"], images["style"], "-o", tmp_path / "t.png", "--alpha", 0.7, *FAST)
    assert r.exit_code == 0, r.output
    a = np.asarray(Image.open(tmp_path / "m.png"), np.int16)
    b = np.asarray(Image.open(tmp_path / "t.png"), np.int16)
    assert np.abs(a - b).max() <= 1


@pytest.mark.slow
def test_cli_mask_label_map_and_feather(images, three_styles, tmp_path):
    label_png(tmp_path / "l.png", [(0, 0, 255), (255, 0, 0), (0, 255, 0)], (96, 80))
    r = run(
        "mask",
        images["content"],
        "--mask",
        tmp_path / "l.png",
        *[a for s in three_styles[:3] for a in ("-s", s)],
        "--feather",
        3,
        "--color",
        "coral",
        "-o",
        tmp_path / "m.png",
        *FAST,
    )
    assert r.exit_code == 0, r.output
    assert Image.open(tmp_path / "m.png").size == (48, 40)
    assert "s0.png 33%" in r.stderr  # green, the brightest band, is a third of the image


@pytest.mark.parametrize("method", ["coral", "luminance"])
def test_cli_color_preserve(images, tmp_path, method):
    r = run("color-preserve", images["content"], "-s", images["style"], "--color", method, "-o", tmp_path, *FAST)
    assert r.exit_code == 0, r.output
    assert Image.open(tmp_path / f"content_stylized_style_{method}_cfull_sfull.png").size == (48, 40)


BAD = [
    (["interpolate", "{c}", "{s0}", "{s1}", "{s2}", "--weights", "1,x,2"], "comma-separated numbers"),
    (["interpolate", "{c}", "{s0}", "{s1}", "{s2}", "--weights", "1,2"], "2 weight(s) for 3"),
    (["interpolate", "{c}", "{s0}", "{s1}", "{s2}", "--weights", "1,-2,1"], "negative"),
    (["interpolate", "{c}", "{s0}", "{s1}", "{s2}", "--weights", "0,0,0"], "sum to 0"),
    (["interpolate", "{c}", "{s0}", "{s1}", "{s2}", "--weights", "1,inf,1"], "finite"),
    (["interpolate", "{c}", "{s0}"], "two or more"),
    (["interpolate", "{c}", "{s0}", "{s1}", "{s2}", "--grid", "3"], "exactly four"),
    (["interpolate", "{c}", "{s0}", "{s1}", "{s2}", "{s3}", "--grid", "1"], "between 2"),
    (["interpolate", "{c}", "{s0}", "{s1}", "{s2}", "{s3}", "--grid", "3", "--weights", "1,1,1,1"], "grid sets the"),
    (["interpolate", "{c}", "{s0}", "{s1}", "--show-styles"], "--show-styles"),
    (["mask", "{c}", "--mask", "{labels}", "-s", "{s0}", "-s", "{s1}", "-s", "{s2}"], "4 distinct colours"),
    (["mask", "{c}", "--mask", "{labels}", "-s", "{s0}"], "at least two styles"),
    (["mask", "{c}", "--mask", "{missing}", "-s", "{s0}", "-s", "{s1}"], "does not exist"),
    (["mask", "{c}", "--mask", "{labels}", "-s", "{s0}", "-s", "{s1}", "--feather", "-1"], "feather"),
    (["color-preserve", "{c}", "{s0}", "--color", "histogram"], "'histogram' is not one of"),
    (["color-preserve", "{c}", "{s0}", "{s1}"], "takes one style, got 2"),
    (["interpolate", "{c}", "{s0}", "{s1}", "--color", "sepia"], "--color"),
    (["mask", "{c}", "{s0}", "{s1}"], "--mask"),
    (["transfer", "{c}", "{s0}", "--alpha-sweep", "0,0.5", "--alpha", "0.5"], "only one"),
    (["transfer", "{c}", "{s0}", "--alpha-sweep", "0,1.5"], "alpha"),
]


@pytest.mark.parametrize("args, words", BAD, ids=[" ".join(a[3:]) or a[0] for a, _ in BAD])
def test_cli_bad_input_is_one_line_and_writes_nothing(images, three_styles, tmp_path, args, words):
    labels = label_png(tmp_path / "in" / "labels.png", [(0, 0, 0), (90, 90, 90), (180, 0, 0), (255, 255, 255)])
    names = {
        "c": images["content"],
        "labels": labels,
        "missing": tmp_path / "nope.png",
        **{f"s{i}": p for i, p in enumerate(three_styles)},
    }
    out = tmp_path / "out"
    r = run(*[a.format(**names) for a in args], "-o", out, *FAST)
    one_line_error(r, words)
    assert not out.exists() or not any(out.iterdir())

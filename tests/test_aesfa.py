"""AesFA: the released network loaded unchanged, equal to an independent transcription of the
release's forward (tests/reference_aesfa.py), its controls, strict loading and exact tiling."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import reference_aesfa as R
from styler.errors import InputError, WeightsError
from styler.methods.aesfa.method import AesFA, StyleCode, combine
from styler.methods.aesfa.modelfile import NETS, read_model, save_model
from styler.methods.aesfa.ops import Kernels, adaptive_conv, conv_reflect
from styler.methods.base import Bands, Mix
from styler.runtime import runtime

TOL = 1e-5  # against the reference, on [0, 1] images


def smooth(n: int, h: int, w: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return F.interpolate(torch.rand(n, 3, 6, 6, generator=g), size=(h, w), mode="bilinear", align_corners=False)


@pytest.fixture(scope="module")
def weights():
    return R.random_weights(0)


@pytest.fixture(scope="module")
def main_pth(weights, tmp_path_factory):
    path = tmp_path_factory.mktemp("aesfa") / "main.pth"
    torch.save(weights, path)
    return path


@pytest.fixture(scope="module")
def aesfa(main_pth):
    return AesFA.load(main_pth, runtime("cpu", "fp32"))


def codes(weights, *images):
    return [R.code_of(weights, x) for x in images]


def run(method, content, styles, *, weights=None, masks=None, alpha=1.0, tile="off"):
    count = len(styles)
    mix = Mix(tuple(weights or (1.0 / count,) * count), masks)
    return method.stylize(content, styles, mix, alpha=alpha, tile=tile)


# -- the released network ---------------------------------------------------------------------


def test_release_layout_loads_strict_with_the_release_parameter_counts(main_pth):
    model, info = read_model(main_pth)
    counts = [sum(p.numel() for p in getattr(model, net).parameters()) for net in NETS]
    assert counts == [825_728, 825_728, 1_569_379]
    assert [len(getattr(model, net).state_dict()) for net in NETS] == [22, 22, 74]
    assert info == {}


@pytest.mark.parametrize(("size", "style_size"), [((256, 256), (256, 256)), ((203, 261), (150, 97))])
def test_equals_the_reference_transcription(weights, aesfa, size, style_size):
    content, style = smooth(2, *size, 1), smooth(1, *style_size, 2)
    want = R.stylize(weights, content, style)
    got = run(aesfa, content, [aesfa.represent(style)])
    assert got.shape == content.shape
    assert (got - want).abs().max().item() < TOL
    assert want.std() > 0.02  # a real image, not a flat one that any net would match


def test_one_grouped_conv_equals_the_release_loop_over_samples():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(3, 64, 20, 24, generator=g) * 2 + 1
    k = Kernels(
        torch.randn(3, 64, 2, 3, 3, generator=g) * 0.3,
        torch.randn(3, 64, 2, 1, 1, generator=g),
        torch.randn(3, 64, generator=g),
    )
    want = R.adaptive(F.instance_norm(x), k, 32)
    with torch.inference_mode():
        fast = adaptive_conv(x, k)
    trained = adaptive_conv(x, k)  # the autograd path: var_mean statistics
    assert (fast - want).abs().max() < 1e-4 and (trained - want).abs().max() < 1e-4


@pytest.mark.parametrize(("stride", "groups"), [(1, 1), (2, 1), (1, 4)])
def test_border_only_reflect_padding_equals_padding_the_whole_map(stride, groups):
    g = torch.Generator().manual_seed(4)
    x = torch.randn(1, 4, 256, 264, generator=g).contiguous(memory_format=torch.channels_last)
    w, b = torch.randn(4, 4 // groups, 3, 3, generator=g), torch.randn(4, generator=g)
    want = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), w, b, stride, groups=groups)
    with torch.inference_mode():
        got = conv_reflect(x, w, b, stride, groups)
    assert got.shape == want.shape and (got - want).abs().max() < 1e-5


# -- the controls -------------------------------------------------------------------------------


def test_alpha_blends_the_style_code_with_the_content_own_code(weights, aesfa):
    content, style = smooth(1, 64, 80, 3), smooth(1, 72, 56, 4)
    (s,), (c,) = codes(weights, style), codes(weights, content)
    rep = aesfa.represent(style)
    assert torch.equal(run(aesfa, content, [rep], alpha=1.0), run(aesfa, content, [rep]))
    zero = run(aesfa, content, [rep], alpha=0.0)
    assert (zero - R.transfer(weights, content, [c])).abs().max() < TOL
    mid = R.transfer(weights, content, [tuple(0.3 * a + 0.7 * b for a, b in zip(s, c, strict=True))])
    assert (run(aesfa, content, [rep], alpha=0.3) - mid).abs().max() < TOL
    assert (zero - run(aesfa, content, [rep])).abs().mean() > 0.005


def test_interpolation_mixes_the_codes_per_band(weights, aesfa):
    content, a, b = smooth(1, 64, 64, 5), smooth(1, 64, 64, 6), smooth(1, 48, 80, 7)
    ra, rb = aesfa.represent(a), aesfa.represent(b)
    assert torch.equal(run(aesfa, content, [ra, rb], weights=(1.0, 0.0)), run(aesfa, content, [ra]))
    assert torch.equal(run(aesfa, content, [ra, rb], weights=(0.0, 1.0)), run(aesfa, content, [rb]))
    (ca, cb) = codes(weights, a, b)
    mixed = tuple(0.25 * x + 0.75 * y for x, y in zip(ca, cb, strict=True))
    got = run(aesfa, content, [ra, rb], weights=(0.25, 0.75))
    assert (got - R.transfer(weights, content, [mixed])).abs().max() < TOL


def test_masks_decode_each_region_with_its_own_style_kernels(weights, aesfa):
    content, a, b = smooth(1, 61, 75, 8), smooth(1, 64, 64, 9), smooth(1, 64, 64, 10)
    ra, rb = aesfa.represent(a), aesfa.represent(b)
    plain_a = run(aesfa, content, [ra])
    ones = torch.ones(1, 61, 75)
    assert torch.equal(run(aesfa, content, [ra], masks=ones), plain_a)
    only_a = torch.stack([ones[0], torch.zeros(61, 75)])
    assert torch.equal(run(aesfa, content, [ra, rb], masks=only_a), plain_a)
    left = torch.zeros(2, 61, 75)
    left[0, :, :30], left[1, :, 30:] = 1, 1
    left = left.clone()
    left[:, :, 28:33] = 0.5  # a soft band, as feathering leaves
    got = run(aesfa, content, [ra, rb], masks=left)
    want = R.transfer(weights, content, codes(weights, a, b), masks=left[None])
    assert (got - want).abs().max() < TOL
    assert (got - plain_a)[..., 40:].abs().mean() > 0.005  # the right side took style b


def test_frequency_blending_takes_each_band_from_its_own_style(weights, aesfa):
    content, a, b = smooth(1, 64, 64, 11), smooth(1, 64, 64, 12), smooth(1, 56, 72, 13)
    ra, rb = aesfa.represent(a), aesfa.represent(b)
    blended = aesfa.represent(Bands(high=a, low=b))
    assert torch.equal(blended.high, ra.high) and torch.equal(blended.low, rb.low)
    assert combine(ra, rb) == StyleCode(ra.high, rb.low)
    (ca, cb) = codes(weights, a, b)
    want = R.transfer(weights, content, [(ca[0], cb[1])])
    assert (run(aesfa, content, [Bands(ra, b)]) - want).abs().max() < TOL
    assert torch.equal(run(aesfa, content, [Bands(a, a)]), run(aesfa, content, [ra]))


def test_style_codes_pack_for_the_cache_and_pass_through(aesfa):
    rep = aesfa.represent(smooth(1, 40, 40, 14))
    assert rep.high.shape == rep.low.shape == (1, 128, 3, 3) and rep.high.dtype == torch.float32
    again = aesfa.unpack(aesfa.pack(rep))
    assert aesfa.represent(again) is again and torch.equal(again.low, rep.low)


def test_stylize_each_equals_stylize_per_style(aesfa):
    content, styles = smooth(1, 48, 64, 15), [aesfa.represent(smooth(1, 48, 48, s)) for s in (16, 17)]
    outs = list(aesfa.stylize_each(content, styles, alpha=0.6, tile="off"))
    for out, s in zip(outs, styles, strict=True):
        assert torch.equal(out, run(aesfa, content, [s], alpha=0.6))


def test_user_errors_are_one_line(aesfa):
    rep = aesfa.represent(smooth(1, 32, 32, 18))
    with pytest.raises(InputError, match="at least 9 px"):
        run(aesfa, smooth(1, 8, 40, 19), [rep])
    tiny = run(aesfa, smooth(1, 9, 11, 19), [aesfa.represent(smooth(1, 9, 9, 20))])  # padded to 16: runs
    assert tiny.shape == (1, 3, 9, 11)
    with pytest.raises(InputError, match=r"alpha must be in \[0, 1\]"):
        run(aesfa, smooth(1, 32, 32, 19), [rep], alpha=1.5)
    with pytest.raises(InputError, match="StyleCode or Bands"):
        aesfa.represent("style.jpg")


# -- tiling -------------------------------------------------------------------------------------


def test_tiled_equals_untiled_with_every_control(aesfa):
    content, a, b = smooth(1, 131, 197, 20), smooth(1, 64, 64, 21), smooth(1, 64, 64, 22)
    reps = [aesfa.represent(a), aesfa.represent(b)]
    masks = torch.zeros(2, 131, 197)
    masks[0, :70], masks[1, 70:] = 1, 1
    assert aesfa.tile_for(64, 1, 136, 200) == 64  # the padded content really runs in 3 x 4 tiles
    for kw in ({"weights": (0.4, 0.6)}, {"masks": masks}):
        whole = run(aesfa, content, reps, alpha=0.5, **kw)
        tiled = run(aesfa, content, reps, alpha=0.5, tile=64, **kw)
        assert (tiled - whole).abs().max().item() < min(1 / 255, 1e-4)


def test_style_code_tiled_sums_each_pooling_bin_exactly(aesfa):
    image = smooth(2, 131, 97, 25)  # odd sides: PyTorch's overlapping adaptive bins, cropped cells
    with torch.inference_mode():
        whole, tiled = aesfa.code_of(image, None), aesfa.code_of(image, 64)
    assert all((a - b).abs().max() < 1e-5 for a, b in zip(whole, tiled, strict=True))


def test_bf16_is_close_to_fp32(main_pth, aesfa):
    half = AesFA.load(main_pth, runtime("cpu", "bf16"))
    content, style = smooth(1, 64, 64, 23), smooth(1, 64, 64, 24)
    got = run(half, content, [half.represent(style)])
    want = run(aesfa, content, [aesfa.represent(style)])
    assert got.dtype == torch.float32 and (got - want).abs().mean() < 0.01


# -- the model file -----------------------------------------------------------------------------


def broken(weights, edit):
    state = {net: dict(sd) for net, sd in weights.items()}
    edit(state)
    return state


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda s: s.pop("netG"), "missing key 'netG'"),
        (lambda s: s["netG"].pop("conv4.bias"), "missing key 'netG.conv4.bias'"),
        (lambda s: s["netS"].__setitem__("extra.weight", torch.zeros(1)), "unexpected key 'netS.extra.weight'"),
        (lambda s: s.__setitem__("model", {}), "unexpected key 'model'"),
        (lambda s: s["netE"].__setitem__("conv.weight", torch.zeros(64, 3, 3, 3)), "'netE.conv.weight' has shape"),
        (lambda s: s["netE"].__setitem__("conv.bias", torch.full((64,), float("nan"))), "non-finite"),
    ],
)
def test_another_layout_is_one_weights_error_line(weights, tmp_path, edit, words):
    path = tmp_path / "main.pth"
    torch.save(broken(weights, edit), path)
    with pytest.raises(WeightsError) as err:
        read_model(path)
    message = str(err.value)
    assert words in message and str(path) in message and "\n" not in message


def test_a_plain_state_dict_names_the_first_missing_network(tmp_path):
    path = tmp_path / "decoder.pth"
    torch.save({"0.weight": torch.zeros(3)}, path)
    with pytest.raises(WeightsError, match="missing key 'netE'"):
        read_model(path)


def test_optimiser_states_are_ignored_and_styler_files_keep_the_release_layout(weights, tmp_path):
    path = tmp_path / "train.pth"
    torch.save({**weights, "optim_E": {"state": {}}, "optim_S": {}, "optim_G": {}}, path)
    model, _ = read_model(path)
    out = save_model(tmp_path / "out" / "main.pth", model, iterations=7, config={"lr": 1e-4})
    state = torch.load(out, map_location="cpu", weights_only=True)
    assert sorted(state) == ["netE", "netG", "netS", "styler"]
    for net in NETS:  # the release's strict load_state_dict would see exactly its own keys and shapes
        assert sorted(state[net]) == sorted(weights[net])
        assert all(torch.equal(state[net][k], weights[net][k]) for k in weights[net])
    assert state["styler"] == {"kind": "aesfa", "format": 1, "iterations": 7, "config": {"lr": 1e-4}}
    assert read_model(out)[1]["iterations"] == 7


def test_the_engine_drives_every_shared_control(aesfa):
    from styler.controls import Controls
    from styler.engine import Engine

    engine = Engine(aesfa, tile="off")
    content, a, b = smooth(1, 40, 56, 26), smooth(1, 48, 48, 27), smooth(1, 48, 48, 28)
    plain = engine.render(content, [a])
    assert torch.equal(plain, run(aesfa, content, [aesfa.represent(a)]))
    for color in ("coral", "luminance"):
        out = engine.render(content, [a], color=color, alpha=0.7)
        assert out.shape == content.shape and not torch.equal(out, plain)
    masks = torch.zeros(2, 20, 28)
    masks[0, :, :14], masks[1, :, 14:] = 1, 1
    assert engine.render(content, [a, b], masks=masks, feather=4).shape == content.shape
    assert engine.render(content, [a, Bands(a, b)], weights=[1, 3]).shape == content.shape
    frames = list(engine.frames([content, content], [a], Controls(smooth=0.5)))
    assert torch.equal(frames[0], plain)


def test_colour_preservation_adapts_each_member_of_bands(aesfa):
    from styler import colour
    from styler.engine import Engine

    engine = Engine(aesfa, tile="off")
    content, a, b = smooth(1, 40, 48, 29), smooth(1, 40, 40, 30), smooth(1, 36, 44, 31)
    target = colour.rgb_stats(content[0])
    adapted = Bands(*(colour.coral(s[0], target)[None] for s in (a, b)))
    want = run(aesfa, content, [aesfa.represent(adapted)], alpha=0.8)
    assert torch.equal(engine.render(content, [Bands(a, b)], color="coral", alpha=0.8), want)
    out = engine.render(content, [Bands(a, b)], color="luminance")
    assert out.shape == content.shape and not torch.equal(out, engine.render(content, [Bands(a, b)]))


def test_bands_are_refused_by_a_method_without_them(engine):
    x = smooth(1, 32, 32, 32)
    with pytest.raises(InputError, match=r"low_style takes the low frequency band .* method adain does not split"):
        engine.render(x, [Bands(x, x)])


def test_jobs_blend_by_band_through_the_style_cache(aesfa, tmp_path):
    """`transfer` with low_style: each style's cached code combined with the low style's; the same
    image as rendering ``Bands`` directly; the manifest names the low style."""
    import json

    import styler
    from styler.engine import Engine
    from styler.media.images import load_image, save_image

    engine = Engine(aesfa, tile="off")
    paths = [tmp_path / n for n in ("content.png", "a.png", "low.png")]
    for p, x in zip(paths, (smooth(1, 40, 56, 33), smooth(1, 48, 40, 34), smooth(1, 40, 40, 35)), strict=True):
        save_image(x, p)
    content, a, low = (load_image(p, 0) for p in paths)
    settings = dict(low_style=paths[2], content_size=0, style_size=0, manifest=True, cache_dir=tmp_path / "cache")
    for _ in range(2):  # the second run reads both codes from the cache
        report = styler.transfer(engine, paths[0], [paths[1]], tmp_path / "out", **settings)
    assert report.written == 1 and (report.style_hits, report.style_misses) == (2, 0)
    got = load_image(tmp_path / "out" / "content_stylized_a_low_low.png", 0)
    want = (engine.render(content, [Bands(a, low)]) * 255).round() / 255
    assert (got - want).abs().max() < 1e-6
    (line,) = (json.loads(x) for x in (tmp_path / "out" / "manifest.jsonl").read_text().splitlines())
    assert line["low_style"] == str(paths[2]) and line["style"] == "a.png"


@pytest.mark.parametrize("alpha", [1.0, 0.6])
def test_stylize_batch_runs_each_image_with_its_own_style(aesfa, alpha):
    content = torch.cat([smooth(1, 40, 48, s) for s in (36, 37, 38)])
    reps = [aesfa.represent(smooth(1, 40, 40, s)) for s in (39, 40)]
    rows = [[reps[0], reps[1]], [reps[1]], [reps[0], reps[0]]]
    got = {
        key: out
        for keys, outs in aesfa.stylize_batch(content, rows, alpha=alpha, tile="off")
        for key, out in zip(keys, outs)
    }
    assert sorted(got) == [(0, 0), (0, 1), (1, 0), (2, 0), (2, 1)]
    for (i, j), out in got.items():
        want = run(aesfa, content[i : i + 1], [rows[i][j]], alpha=alpha)
        assert (out - want).abs().max() < 1e-5

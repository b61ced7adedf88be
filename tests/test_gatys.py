"""Gatys optimisation: losses, the deep encoder, the optimisation loop and its controls.

Random He-initialised weights and tiny images: these check the mechanics (exact losses,
frozen encoder, shapes, interrupts), not the looks."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from reference import calc_mean_std, load_reference, reference_vgg
from styler import ops
from styler.engine import Engine
from styler.errors import DeviceError, InputError, Interrupted, WeightsError
from styler.methods.base import Mix
from styler.methods.gatys.config import STYLE_LAYERS, GatysConfig, GatysStyle, pick_precision, runtime_for
from styler.methods.gatys.method import Gatys
from styler.methods.gatys.method import load as load_gatys
from styler.nets.vgg import DeepEncoder, load_deep_encoder

ONE = Mix((1.0,))


@pytest.fixture(scope="module")
def vgg_state(weights_dir):
    return torch.load(weights_dir / "vgg_normalised.pth", weights_only=True)


@pytest.fixture(scope="module")
def encoder(vgg_state) -> DeepEncoder:
    return load_deep_encoder(vgg_state)


def smooth(h: int, w: int, seed: int) -> torch.Tensor:
    """A smooth random image (1, 3, h, w) in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    return F.interpolate(torch.rand(1, 3, 4, 4, generator=g), size=(h, w), mode="bilinear", align_corners=False)


def gatys(encoder, adain=None, on_step=None, **config) -> Gatys:
    return Gatys(encoder, runtime_for("cpu"), GatysConfig(**config), adain=adain, on_step=on_step)


# -- losses against a straightforward computation -----------------------------------------


def plain_gram(f: torch.Tensor) -> torch.Tensor:
    n, c, h, w = f.shape
    out = torch.zeros(n, c, c, dtype=torch.float64)
    for i in range(c):
        for j in range(c):
            out[:, i, j] = (f[:, i].double() * f[:, j].double()).sum((1, 2)) / (c * h * w)
    return out


def test_gram_and_losses_equal_a_plain_computation():
    torch.manual_seed(0)
    feats = tuple(torch.rand(2, c, s, s + 1) for c, s in [(3, 6), (5, 4)])
    targets = tuple(torch.rand(1, f.shape[1], f.shape[1]) for f in feats)
    for f in feats:
        assert torch.allclose(ops.gram(f).double(), plain_gram(f), atol=1e-6)
    want = sum(((plain_gram(f) - t.double()) ** 2).sum() / (2 * f.shape[1] ** 2) for f, t in zip(feats, targets))
    assert ops.gram_loss(feats, targets).item() == pytest.approx(want.item(), rel=1e-5)
    a, b = torch.rand(2, 4, 3, 5), torch.rand(2, 4, 3, 5)
    assert ops.feature_loss(a, b).item() == pytest.approx(((a - b) ** 2).sum().item() / a.numel(), rel=1e-6)
    x = torch.rand(1, 3, 5, 7)
    rows = sum((x[0, c, i + 1, j] - x[0, c, i, j]) ** 2 for c in range(3) for i in range(4) for j in range(7)) / 84
    cols = sum((x[0, c, i, j + 1] - x[0, c, i, j]) ** 2 for c in range(3) for i in range(5) for j in range(6)) / 90
    assert ops.total_variation(x).item() == pytest.approx((rows + cols).item(), rel=1e-5)


def test_guided_gram_of_a_hard_mask_is_the_gram_of_the_region_alone():
    torch.manual_seed(1)
    f = torch.rand(1, 4, 6, 8)
    mask = torch.zeros(1, 1, 6, 8)
    mask[..., :, :3] = 1
    region = f[..., :, :3]
    assert torch.allclose(ops.guided_gram(f, mask), ops.gram(region), atol=1e-6)


def test_guided_loss_is_zero_with_each_regions_own_target_and_not_when_swapped():
    torch.manual_seed(2)
    feats = (torch.rand(1, 3, 8, 8), torch.rand(1, 5, 4, 4))
    masks = []
    for f in feats:
        m = torch.zeros(1, 2, *f.shape[-2:])
        m[:, 0, :, : f.shape[-1] // 2] = 1
        m[:, 1] = 1 - m[:, 0]
        masks.append(m)
    own = [tuple(ops.guided_gram(f, m[:, r : r + 1]) for f, m in zip(feats, masks)) for r in range(2)]
    assert ops.guided_gram_loss(feats, tuple(masks), own).item() == 0
    assert ops.guided_gram_loss(feats, tuple(masks), own[::-1]).item() > 1e-6


# -- the deep encoder and its weights --------------------------------------------------------


def test_deep_encoder_matches_the_reference_layers(vgg_state, encoder):
    ref = reference_vgg()
    ref.load_state_dict(vgg_state)
    x = torch.rand(1, 3, 37, 45)
    with torch.no_grad():
        feats = encoder(x)
        for name, stop in zip(feats._fields, (4, 11, 18, 31, 34, 44)):
            assert torch.allclose(getattr(feats, name), ref[:stop](x), atol=1e-5), name
    assert feats.relu4_2.shape == (1, 512, 5, 6) and feats.relu5_1.shape == (1, 512, 3, 3)
    assert all(not p.requires_grad for p in encoder.parameters())


def test_a_file_cut_at_relu4_1_is_one_weights_error_line(vgg_state, tmp_path):
    cut = {k: v for k, v in vgg_state.items() if int(k.split(".")[0]) < 31}
    with pytest.raises(WeightsError) as e:
        load_deep_encoder(cut, label="cut.pth")
    assert "\n" not in str(e.value) and "relu4_1" in str(e.value) and "relu5_1" in str(e.value)
    torch.save(cut, tmp_path / "cut.pth")
    with pytest.raises(WeightsError, match=r"cut\.pth"):
        load_gatys(vgg=tmp_path / "cut.pth", device="cpu")


def test_load_resolves_the_weights_directory():
    g = load_gatys(device="cpu", gatys=GatysConfig(iters=0))
    assert isinstance(g.encoder, DeepEncoder) and g.adain is None and g.name == "gatys"


# -- the optimisation -----------------------------------------------------------------------


def test_encoder_stays_frozen_and_only_the_image_is_optimised(encoder):
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    g = gatys(encoder, iters=2)
    out = g.stylize(smooth(24, 28, 1), [g.represent(smooth(26, 24, 2))], ONE, alpha=1.0)
    assert not torch.equal(out, smooth(24, 28, 1))  # the image did move
    for name, p in g.encoder.named_parameters():
        assert p.grad is None and not p.requires_grad, name
        assert torch.equal(p, before[name])


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_ten_iterations_lower_the_total_loss(encoder, optimizer):
    content, style = smooth(24, 24, 3), smooth(24, 24, 4)
    steps = []
    g = gatys(encoder, on_step=steps.append, iters=10, optimizer=optimizer, tv_weight=1e-3)
    out = g.stylize(content, [g.represent(style)], ONE, alpha=1.0)
    targets = g.targets(content, [g.represent(style)], ONE, 1.0)
    start, end = (g.losses(x, targets, 1.0)[0].item() for x in (content, out))
    assert end < 0.9 * start
    assert steps[0].loss == pytest.approx(start, rel=1e-5)
    assert [s.iteration for s in steps] == list(range(1, 11)) and steps[-1].step == steps[-1].steps == 10
    assert out.dtype == torch.float32 and out.min() >= 0 and out.max() <= 1


def test_zero_iterations_and_alpha_zero_return_the_content_exactly(encoder):
    content = smooth(23, 27, 5)
    g = gatys(encoder, iters=0)
    assert torch.equal(g.stylize(content, [g.represent(smooth(24, 24, 6))], ONE, alpha=1.0), content)
    g = gatys(encoder, iters=2)
    assert torch.equal(g.stylize(content, [g.represent(smooth(24, 24, 6))], ONE, alpha=0.0), content)


def test_noise_init_is_seeded(encoder):
    style = smooth(24, 24, 6)
    runs = [gatys(encoder, iters=0, init="noise", seed=s) for s in (1, 1, 2)]
    outs = [g.stylize(smooth(20, 22, 7), [g.represent(style)], ONE, alpha=1.0) for g in runs]
    assert torch.equal(outs[0], outs[1]) and not torch.equal(outs[0], outs[2])
    assert outs[0].shape == (1, 3, 20, 22) and outs[0].std() > 0.2  # white noise, not the content


def test_multi_scale_ends_at_the_content_size_and_resizes_the_style(encoder):
    steps = []
    g = gatys(encoder, on_step=steps.append, iters=2, scales=(18, 24, 400), save_every=2)
    style = g.represent(smooth(36, 40, 8))
    out = g.stylize(smooth(30, 35, 9), [style], ONE, alpha=1.0)
    assert out.shape == (1, 3, 30, 35)
    assert [s.size for s in steps[::2]] == [(18, 21), (24, 28), (30, 35)]  # 400 >= 30: the content's size
    assert [tuple(s.image.shape[-2:]) for s in steps[1::2]] == [(18, 21), (24, 28), (30, 35)]
    assert set(style.grams) == {(36, 40), (22, 24), (29, 32)}  # the style shrinks with the content


def test_interpolation_with_one_hot_weights_is_one_styles_target(encoder):
    g = gatys(encoder, iters=0)
    content, reps = smooth(24, 24, 10), [g.represent(smooth(24, 28, s)) for s in (11, 12)]
    one_hot = g.targets(content, reps, Mix((0.0, 1.0)), 1.0).grams
    for got, want in zip(one_hot, reps[1].grams[(24, 28)]):
        assert torch.equal(got, want)
    mixed = g.targets(content, reps, Mix((0.25, 0.75)), 1.0).grams
    for got, a, b in zip(mixed, reps[0].grams[(24, 28)], reps[1].grams[(24, 28)]):
        assert torch.allclose(got, 0.25 * a + 0.75 * b)


def test_each_region_is_pulled_towards_its_own_style(encoder):
    g = gatys(encoder, iters=0)
    a, b = smooth(32, 32, 13), smooth(32, 32, 14) ** 3  # different textures and colours
    both = torch.cat([a, b], dim=3)  # (1, 3, 32, 64): a on the left, b on the right
    masks = torch.zeros(2, 32, 64)
    masks[0, :, :32] = 1
    masks[1, :, 32:] = 1
    reps = [g.represent(a), g.represent(b)]
    right = g.losses(both, g.targets(both, reps, Mix((0.5, 0.5), masks), 1.0), 1.0)[2].item()
    swapped = g.losses(both, g.targets(both, reps[::-1], Mix((0.5, 0.5), masks), 1.0), 1.0)[2].item()
    assert right < 0.5 * swapped
    out = g.stylize(both, reps, Mix((0.5, 0.5), masks), alpha=1.0)
    assert out.shape == both.shape


def test_ctrl_c_raises_interrupted_with_the_images_so_far(encoder):
    def stop(step):
        if step.item == 1 and step.iteration == 2:
            raise KeyboardInterrupt

    g = gatys(encoder, on_step=stop, iters=3, scales=(18,))
    content = torch.cat([smooth(22, 26, 15), smooth(22, 26, 16)])
    with pytest.raises(Interrupted) as e:
        g.stylize(content, [g.represent(smooth(22, 22, 17))], ONE, alpha=1.0)
    partial = e.value.partial
    assert isinstance(partial, torch.Tensor) and partial.shape == (2, 3, 22, 26)
    assert partial.min() >= 0 and partial.max() <= 1


def test_works_when_called_in_inference_mode(encoder):
    g = gatys(encoder, iters=2)
    with torch.inference_mode():
        out = g.stylize(smooth(24, 24, 18), [g.represent(smooth(24, 24, 19))], ONE, alpha=1.0)
    assert out.shape == (1, 3, 24, 24)


# -- the AdaIN init -------------------------------------------------------------------------


class ReferenceAdaIN:
    """AdaIN through tests/reference.py's transcription, behind AdaIN's method interface."""

    def __init__(self, vgg_state, decoder_state):
        self.vgg, self.decoder = load_reference(vgg_state, decoder_state)

    @torch.no_grad()
    def represent(self, image):
        return calc_mean_std(self.vgg(image))

    @torch.no_grad()
    def stylize(self, content, styles, mix, *, alpha, tile):
        f = self.vgg(content)
        mean = sum(w * s[0] for w, s in zip(mix.weights, styles))
        std = sum(w * s[1] for w, s in zip(mix.weights, styles))
        c_mean, c_std = calc_mean_std(f)
        t = ((f - c_mean) / c_std * std + mean) * alpha + f * (1 - alpha)
        return self.decoder(t)[..., : content.shape[-2], : content.shape[-1]].clamp(0, 1)


def test_adain_init_starts_from_the_adain_result(vgg_state, weights_dir, encoder):
    adain = ReferenceAdaIN(vgg_state, torch.load(weights_dir / "decoder.pth", weights_only=True))
    content, style = smooth(24, 32, 20), smooth(28, 28, 21)
    g = gatys(encoder, adain=adain, iters=0, init="adain")
    rep = g.represent(style)
    assert isinstance(rep, GatysStyle) and rep.adain is not None
    want = adain.stylize(content, [adain.represent(style)], ONE, alpha=0.7, tile="auto")
    assert torch.equal(g.stylize(content, [rep], ONE, alpha=0.7), want)
    with pytest.raises(InputError, match="adain"):
        gatys(encoder, iters=0, init="adain")


def test_adain_init_equals_plain_adain_transfer():
    from styler.methods import load
    from styler.methods.adain.method import AdaIN

    g = load("gatys", device="cpu", gatys=GatysConfig(iters=0, init="adain"))  # the registry builds the init method
    assert isinstance(g.adain, AdaIN)
    content, style = smooth(24, 32, 22), smooth(28, 28, 23)
    want = g.adain.stylize(content, [g.adain.represent(style)], ONE, alpha=0.6)
    assert torch.equal(g.stylize(content, [g.represent(style)], ONE, alpha=0.6), want)


# -- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad, word",
    [
        ({"iters": -1}, "iters"),
        ({"optimizer": "sgd"}, "optimizer"),
        ({"init": "photo"}, "init"),
        ({"style_weight": float("nan")}, "style_weight"),
        ({"scales": (512, 256)}, "scales"),
        ({"scales": (8,)}, "scales"),
        ({"save_every": 1.5}, "save_every"),
    ],
)
def test_config_errors_are_one_line_naming_the_parameter(bad, word):
    with pytest.raises(InputError) as e:
        GatysConfig(**bad)
    assert word in str(e.value) and "\n" not in str(e.value)


def test_tile_size_alpha_and_tiny_images_are_refused(encoder):
    g = gatys(encoder, iters=0)
    rep = g.represent(smooth(24, 24, 24))
    with pytest.raises(InputError, match=r"tile=512.*scales"):
        g.stylize(smooth(24, 24, 25), [rep], ONE, alpha=1.0, tile=512)
    with pytest.raises(InputError, match="alpha"):  # the engine validates the controls, once, for every method
        Engine(g).render(smooth(24, 24, 25), [rep], alpha=1.5)
    with pytest.raises(InputError, match="17 px"):
        g.stylize(smooth(16, 24, 25), [rep], ONE, alpha=1.0)
    assert set(STYLE_LAYERS) < set(g.features(smooth(24, 24, 0))._fields)


def test_precision_is_fp32_unless_bf16_is_asked_for():
    cpu = torch.device("cpu")
    assert pick_precision("auto", cpu) == "fp32" and pick_precision("bf16", cpu) == "bf16"
    with pytest.raises(DeviceError, match="fp16"):
        pick_precision("fp16", cpu)


def test_engine_renders_with_gatys(encoder):
    from styler.engine import Engine

    engine = Engine(gatys(encoder, iters=0))  # iters=0 from the content: the plumbing, not the optimisation
    content, styles = smooth(24, 24, 26), [smooth(24, 24, 27), smooth(24, 24, 28)]
    assert torch.equal(engine.render(content, styles, weights=[1, 3]), content)
    assert [torch.equal(o, content) for o in engine.render_each(content, styles)] == [True, True]


@pytest.mark.slow
def test_cli_gatys_on_every_image_command_from_files(images, tmp_path):
    """Images read from files reach the optimiser as permuted (channels-last) tensors: L-BFGS
    must still run. --scales sets the output size; --save-every writes atomic intermediates."""
    from conftest import make_image, run_cli

    c, s = images["content"], images["style"]
    s2 = make_image(tmp_path / "in" / "s2.png", (40, 40), 9)
    mask = make_image(tmp_path / "in" / "mask.png", (48, 40), 3, mode="1")
    runs = {
        "t.png": ("transfer", c, s, "--scales", "24,40", "--save-every", "1"),
        "i.png": ("interpolate", c, s, s2, "--weights", "1,2"),
        "m.png": ("mask", c, "--mask", mask, "-s", s, "-s", s2),
        "c.png": ("color-preserve", c, s, "--color", "luminance"),
    }
    for name, args in runs.items():
        r = run_cli(*args, "--method", "gatys", "--iters", "2", "--content-size", "40", "-o", tmp_path / name)
        assert r.exit_code == 0, r.output
        assert Image.open(tmp_path / name).size == (48, 40)
    steps = sorted(p.name for p in tmp_path.glob("t_step*.png"))
    assert steps == ["t_step1.png", "t_step2.png", "t_step3.png", "t_step4.png"]  # 2 scales x 2 iterations
    assert not list(tmp_path.glob(".*part"))

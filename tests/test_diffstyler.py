"""DiffStyler on a tiny random Stable-Diffusion-shaped folder (bench/diffstyler_models.py): no download,
seconds on a CPU. What is asserted: the extra's and the model's one-line errors, LoRA learning (only
adapter weights move, the loss falls), DDIM inversion + reconstruction within a derived bound,
injection, masks (the base model's prediction outside every region, bit for bit), weighted adapters,
alpha, both caches and Ctrl-C."""

from __future__ import annotations

import importlib.util
import math

import pytest
import torch

from styler.errors import DeviceError, InputError, WeightsError
from styler.methods.base import Mix
from styler.methods.diffstyler.config import EXTRA, DiffStylerConfig, LoraSettings, Windows, require
from styler.methods.diffstyler.method import load

HAVE_EXTRA = all(importlib.util.find_spec(m) is not None for m in ("diffusers", "transformers", "peft"))
needs_extra = pytest.mark.skipif(not HAVE_EXTRA, reason=f"the diffusion extra is not installed: {EXTRA}")


@pytest.fixture(scope="session")
def tiny_sd(tmp_path_factory):
    from diffstyler_models import write_tiny  # bench/ (pytest pythonpath)

    return write_tiny(tmp_path_factory.mktemp("tiny-sd"))


def make(tiny_sd, tmp_path, **overrides):
    """The method on the tiny model, CPU fp32, caches under tmp_path; 4 steps, short LoRAs."""
    lora = overrides.pop("lora", LoraSettings(steps=8, size=16))
    settings = {"sd": str(tiny_sd), "steps": 4, "size": 32, "lora": lora, "cache_dir": tmp_path / "cache"}
    return load(diffstyler=DiffStylerConfig(**{**settings, **overrides}), device="cpu")


def images(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.rand(1, 3, 36, 28, generator=g),
        torch.rand(1, 3, 20, 24, generator=g),
        torch.rand(1, 3, 16, 16, generator=g),
    )


# -- errors -------------------------------------------------------------------------------


def test_missing_extra_is_one_line_naming_it(monkeypatch):
    """Runs with or without the extra: the check sees exactly the packages this test hides."""
    extra, hidden = {"diffusers", "transformers", "peft"}, {"diffusers", "transformers", "peft"}
    real = importlib.util.find_spec

    def find_spec(name, *args):
        if name in hidden:
            return None
        return real(name, *args) or (object() if name in extra else None)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    for call in (require, load):
        with pytest.raises(InputError) as e:
            call()
        assert str(e.value) == (
            "method=diffstyler needs diffusers, transformers, peft (the diffusion extra): "
            "pip install 'styler[diffusion]'"
        )
        assert e.value.params == ("method",)
    hidden = {"peft"}
    with pytest.raises(InputError, match=r"^method=diffstyler needs peft \(the diffusion extra\)"):
        require()


@needs_extra
def test_missing_model_offline_says_what_to_download(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsError) as e:
        load(diffstyler=DiffStylerConfig(sd="styler-tests/no-such-model"), device="cpu")
    msg = str(e.value)
    assert "\n" not in msg and "offline" in msg
    assert "hf download styler-tests/no-such-model" in msg and "sd=FOLDER" in msg and e.value.params == ("sd",)
    (tmp_path / "empty").mkdir()
    with pytest.raises(WeightsError) as e:
        load(diffstyler=DiffStylerConfig(sd=str(tmp_path / "empty")), device="cpu")
    assert "\n" not in str(e.value) and "is not a usable Stable Diffusion model (unet:" in str(e.value)


@needs_extra
def test_wrong_component_is_refused(tiny_sd, tmp_path):
    import shutil

    shutil.copytree(tiny_sd, tmp_path / "sd")
    shutil.rmtree(tmp_path / "sd" / "vae")
    shutil.copytree(tiny_sd / "unet", tmp_path / "sd" / "vae")  # a UNet where the VAE should be
    with pytest.raises(WeightsError, match=r"vae holds a UNet2DConditionModel where AutoencoderKL belongs"):
        load(diffstyler=DiffStylerConfig(sd=str(tmp_path / "sd")), device="cpu")


def test_settings_are_checked():
    with pytest.raises(InputError, match=r"^steps must be a whole number >= 1, got 0"):
        DiffStylerConfig(steps=0)
    with pytest.raises(InputError, match=r"^guidance must be a number >= 0"):
        DiffStylerConfig(guidance=-1.0)
    with pytest.raises(InputError, match=r"^lora_steps must be a whole number >= 1"):
        LoraSettings(steps=0)
    assert Windows(0.6, 0.5).counts(50) == (30, 25)  # the release's windows
    assert Windows(0.6, 0.5).counts(10) == (6, 5)


@needs_extra
def test_runtime_rule():
    from styler.methods.diffstyler.method import runtime_for

    assert runtime_for("cpu").precision == "fp32"  # not the AdaIN rule's CPU bf16
    assert runtime_for("cpu", "bf16").precision == "bf16"
    with pytest.raises(DeviceError, match="fp32 or bf16 on cpu"):
        runtime_for("cpu", "fp16")


# -- LoRA -------------------------------------------------------------------------------


def fixed_loss(method, style, adapter, scale, draws=24):
    """Mean noise-prediction MSE over fixed (t, noise) draws with the adapter at ``scale``."""
    from styler.methods.diffstyler.inversion import noised, target
    from styler.methods.diffstyler.lora import use_adapters

    sd, g = method.sd, torch.Generator().manual_seed(123)
    z, _ = sd.posterior(torch.nn.functional.interpolate(style, size=(16, 16), mode="bilinear"))
    emb, cum = sd.embed([method.config.lora.prompt]), sd.scheduler.alphas_cumprod
    use_adapters(sd.unet, {adapter: scale})
    total = 0.0
    with torch.no_grad():
        for _ in range(draws):
            noise, t = torch.randn(z.shape, generator=g), torch.randint(0, 1000, (1,), generator=g)
            pred = sd.unet(noised(z, noise, cum[t]), t, emb).sample
            total += float(torch.nn.functional.mse_loss(pred, target(z, noise, cum[t], "epsilon")))
    return total / draws


@needs_extra
def test_lora_learning_moves_only_adapter_weights_and_lowers_the_loss(tiny_sd, tmp_path):
    m = make(tiny_sd, tmp_path, lora=LoraSettings(steps=60, size=16, lr=2e-3))
    _, style, _ = images()
    style = torch.nn.functional.interpolate(style, size=(16, 16), mode="bilinear")
    before = {k: v.clone() for k, v in m.sd.unet.state_dict().items()}
    steps = []
    m.on_step = steps.append
    lora = m.represent(style, label="style.png")
    adapter = f".{lora.adapter}."
    after = {k.replace(".base_layer", ""): v for k, v in m.sd.unet.state_dict().items()}  # peft wraps the layers
    base_keys = [k for k in after if adapter not in k]
    assert set(base_keys) == set(before)  # the adapter's weights are all that is new
    assert all(torch.equal(after[k], before[k]) for k in base_keys)
    lora_b = [v for k, v in after.items() if adapter in k and "lora_B" in k]
    # 4 transformer blocks x (self, cross) attention x (q, k, v, out)
    assert len(lora_b) == 4 * 2 * 4 and all(bool(v.abs().sum() > 0) for v in lora_b)
    assert [s.step for s in steps] == list(range(1, 61)) and {s.phase for s in steps} == {"lora"}
    assert len(lora.losses) == 60 and lora.losses[0] == steps[0].loss
    assert fixed_loss(m, style, lora.adapter, 1.0) < 0.9 * fixed_loss(m, style, lora.adapter, 0.0)  # 0 = start


# -- inversion ----------------------------------------------------------------------------


@needs_extra
def test_inversion_then_reconstruction_returns_the_content_latent(tiny_sd, tmp_path):
    """With conv_in zeroed the UNet's eps depends on (t, prompt) only, so inversion and sampling are exact
    inverses in exact arithmetic, and only rounding remains. In y = x / sqrt(a) a DDIM step is the
    translation y' = y + (s' - s) eps, s = sqrt((1 - a) / a); computed in float32 (unit roundoff u = 2^-24)
    from x, each step errs by at most c u (Y + |s' - s| E) in y, c = 8 operations (generous), Y = max |y|
    on the trajectory, E = max |eps|. The sampler evaluates eps in a batch of three while the inversion
    evaluates one: the difference D, measured, enters as sum |s' - s| D = (s_T - s_0) D. Over 2n steps:

        |x_0' - x_0| <= sqrt(a_0) [2 c u (n Y + (s_T - s_0) E) + (s_T - s_0) D].

    (Measured here: error 1.4e-5 against a bound of 1.4e-4.)"""
    from styler.methods.diffstyler.inversion import schedule
    from styler.methods.diffstyler.lora import resize, working_size
    from styler.methods.diffstyler.sampler import Model, sample

    n = 10
    m = make(tiny_sd, tmp_path, steps=n, guidance=1.0, negative_prompt="")
    unet = m.sd.unet
    with torch.no_grad():
        unet.conv_in.weight.zero_()
        unet.conv_in.bias.zero_()
    content, _, _ = images()
    image = resize(content, working_size(36, 28, 32, m.sd.multiple))
    grid = schedule(m.sd.scheduler, n)
    trajectory = m.invert(image, grid)  # (n, 1, 4, h, w)
    z0, _ = m.sd.posterior(image)
    empty = m.prompt("")
    latent = sample(unet, trajectory, grid, [Model({}, empty, (n, n), None)], (empty, empty), guidance=1.0)

    a = torch.cat([grid.alphas, torch.tensor([grid.final], dtype=torch.float64)])  # levels, noisiest first
    s = ((1 - a) / a).sqrt()
    y = torch.cat([trajectory.double() / grid.alphas.sqrt().view(-1, 1, 1, 1, 1), z0[None].double() / a[-1].sqrt()])
    eps_one, d = [], 0.0
    with torch.no_grad():
        for t in grid.timesteps.tolist():
            one = unet(z0, torch.tensor([t]), empty).sample
            three = unet(torch.cat([z0] * 3), torch.full((3,), t), torch.cat([empty] * 3)).sample
            eps_one.append(one)
            d = max(d, float((three - one).abs().max()))
    big_y, big_e, span = float(y.abs().max()), float(torch.stack(eps_one).abs().max()), float(s[0] - s[-1])
    u, c = 2.0**-24, 8
    bound = math.sqrt(float(a[-1])) * (2 * c * u * (n * big_y + span * big_e) + span * d)
    err = float((latent - z0).abs().max())
    assert err <= bound
    # Tight enough to mean something: even the last, smallest step (t = 1 to the clean level) moves the
    # latent 20 times further, so a step paired with the wrong timestep or level could not pass.
    assert bound < 0.05 * float((trajectory[-1, 0] - z0).abs().max())


# -- injection -----------------------------------------------------------------------------


@needs_extra
def test_feature_injection_hands_the_content_branch_over_and_is_removed_after(tiny_sd, tmp_path):
    from styler.methods.diffstyler.inject import Injection, feature_layer, injected

    m = make(tiny_sd, tmp_path)
    unet, seen = m.sd.unet, []
    before = dict(unet.attn_processors)
    x, emb = torch.randn(3, 4, 8, 8), m.prompt("").expand(3, -1, -1)
    with injected(unet, Injection(n=1, features=True)) as state:
        handle = feature_layer(unet).register_forward_hook(lambda mod, i, out: seen.append(out.clone()))
        unet(x, torch.full((3,), 500), emb)
        state.features = False
        unet(x, torch.full((3,), 500), emb)
        handle.remove()
    assert torch.equal(seen[0][1], seen[0][0]) and torch.equal(seen[0][2], seen[0][0])
    assert not torch.allclose(seen[1][1], seen[1][0])
    assert dict(unet.attn_processors) == before and not feature_layer(unet)._forward_hooks


@needs_extra
def test_attention_injection_takes_queries_and_keys_from_the_content(tiny_sd, tmp_path):
    from diffusers.models.attention_processor import AttnProcessor2_0

    from styler.methods.diffstyler.inject import InjectedSelfAttention, Injection, decoder_self_attention

    m = make(tiny_sd, tmp_path)
    names = decoder_self_attention(m.sd.unet)
    assert names and all(n.startswith("up_blocks.1.") and n.endswith("attn1.processor") for n in names)
    attn = m.sd.unet.up_blocks[1].attentions[0].transformer_blocks[0].attn1
    h = torch.randn(3, 20, attn.to_q.in_features)
    with torch.no_grad():
        plain = AttnProcessor2_0()(attn, h)
        off = InjectedSelfAttention(Injection(n=1, attention=0.0))(attn, h)
        r = 0.7
        mixed = InjectedSelfAttention(Injection(n=1, attention=r))(attn, h)
        q, k, v = attn.to_q(h), attn.to_k(h), attn.to_v(h)  # reference: per-head softmax attention
        q = torch.cat([q[:1], r * q[:1] + (1 - r) * q[1:]])
        k = torch.cat([k[:1], r * k[:1] + (1 - r) * k[1:]])
        split = lambda t: t.view(3, 20, attn.heads, -1).transpose(1, 2)  # (B, heads, L, d)
        w = torch.softmax(split(q) @ split(k).transpose(-1, -2) / split(q).shape[-1] ** 0.5, dim=-1)
        ref = attn.to_out[0]((w @ split(v)).transpose(1, 2).reshape(3, 20, -1))
    torch.testing.assert_close(off, plain)
    torch.testing.assert_close(mixed, ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(mixed[0], plain[0])  # the content branch itself is untouched


@needs_extra
def test_the_release_quirk_bypasses_the_lora_in_injected_queries_keys_values(tiny_sd, tmp_path):
    from styler.methods.diffstyler.inject import InjectedSelfAttention, Injection
    from styler.methods.diffstyler.lora import adapter_parameters, add_adapter, use_adapters

    m = make(tiny_sd, tmp_path)
    add_adapter(m.sd.unet, "s", LoraSettings(), torch.float32)
    with torch.no_grad():
        for p in adapter_parameters(m.sd.unet, "s"):
            p.normal_(0, 0.3)  # B is no longer zero: the adapter changes every projection
    use_adapters(m.sd.unet, {"s": 1.0})
    attn = m.sd.unet.up_blocks[1].attentions[0].transformer_blocks[0].attn1
    h = torch.randn(3, 20, attn.to_q.in_features)
    with torch.no_grad():
        ours = InjectedSelfAttention(Injection(n=1, lora=True))(attn, h)
        release = InjectedSelfAttention(Injection(n=1, lora=False))(attn, h)
        q, k, v = (
            f.base_layer(h).view(3, 20, attn.heads, -1).transpose(1, 2) for f in (attn.to_q, attn.to_k, attn.to_v)
        )
        ref = torch.softmax(q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5, dim=-1) @ v
        ref = attn.to_out[0](ref.transpose(1, 2).reshape(3, 20, -1))  # the output projection keeps its LoRA
    torch.testing.assert_close(release, ref, atol=1e-5, rtol=1e-5)
    assert float((ours - release).abs().max()) > 1e-3


# -- masks, alpha, weights ------------------------------------------------------------------


def test_composite_keeps_the_base_prediction_where_no_region_is():
    from styler.methods.diffstyler.sampler import composite, region_weights

    g = torch.Generator().manual_seed(0)
    base, e1, e2 = (torch.randn(2, 4, 6, 5, generator=g) * 1e3 for _ in range(3))
    masks = torch.zeros(1, 2, 6, 5)
    masks[:, 0, :, :2], masks[:, 1, :, 1:3] = 1.0, 0.5  # overlap in column 1; columns 3-4 uncovered
    w = region_weights(masks)
    assert torch.allclose(w.sum(1)[..., 1], torch.ones(6))  # 1.5 in the overlap, divided by it
    out = composite(base, [(e1, w[:, :1]), (e2, w[:, 1:])])
    assert torch.equal(out[..., 3:], base[..., 3:])
    torch.testing.assert_close(out[..., 0], e1[..., 0])
    torch.testing.assert_close(out[..., 2], base[..., 2] + 0.5 * (e2[..., 2] - base[..., 2]))
    torch.testing.assert_close(composite(None, [(e1, w[:, :1] * 0 + 1)]), e1)


@needs_extra
def test_masked_sampling_uses_the_base_prediction_outside_every_region(tiny_sd, tmp_path, monkeypatch):
    from styler.methods.diffstyler import sampler

    m = make(tiny_sd, tmp_path)
    content, style_a, style_b = images()
    masks = torch.zeros(2, 36, 28)
    masks[0, :, :10], masks[1, :18, 18:] = 1.0, 1.0
    calls, real = [], sampler.composite

    def spy(base, parts):
        out = real(base, parts)
        calls.append((base, parts, out))
        return out

    monkeypatch.setattr(sampler, "composite", spy)
    out = m.stylize(content, [style_a, style_b], Mix((0.5, 0.5), masks), alpha=1.0)
    assert out.shape == (1, 3, 36, 28) and float(out.min()) >= 0 and float(out.max()) <= 1
    assert len(calls) == 2 * 4  # unconditional and conditional, every step
    for base, parts, result in calls:
        outside = sum(w for _, w in parts) == 0  # (1, 1, h, w)
        assert bool(outside.any()) and bool((~outside).any())
        assert torch.equal(result[outside.expand_as(result)], base[outside.expand_as(base)])
        assert not torch.equal(result[~outside.expand_as(result)], base[~outside.expand_as(base)])


@needs_extra
def test_alpha_is_the_lora_scale_and_weights_mix_adapters(tiny_sd, tmp_path):
    from styler.methods.diffstyler.inversion import schedule
    from styler.methods.diffstyler.lora import resize, working_size
    from styler.methods.diffstyler.sampler import Model, sample

    m = make(tiny_sd, tmp_path, lora=LoraSettings(steps=8, size=16, lr=5e-3))
    content, style_a, style_b = images()
    a, b = m.represent(style_a), m.represent(style_b)
    full = m.stylize(content, [a], Mix((1.0,)), alpha=1.0)
    zero = m.stylize(content, [a], Mix((1.0,)), alpha=0.0)
    assert float((full - zero).abs().max()) > 1e-3
    # alpha 0 is the base model with the style's prompt and windows
    grid = schedule(m.sd.scheduler, 4)
    trajectory = m.invert(resize(content, working_size(36, 28, 32, m.sd.multiple)), grid)
    model = Model({}, m.prompt(a.settings.prompt), m.config.style_windows.counts(4), None)
    latent = sample(
        m.sd.unet, trajectory, grid, [model], (m.prompt(""), m.prompt(m.config.negative_prompt)), guidance=10.5
    )
    torch.testing.assert_close(zero, resize(m.sd.decode(latent), (36, 28)), atol=1e-5, rtol=0)
    # weights (1, 0) are style a alone; (0.5, 0.5) something else
    torch.testing.assert_close(m.stylize(content, [a, b], Mix((1.0, 0.0)), alpha=1.0), full, atol=1e-5, rtol=0)
    half = m.stylize(content, [a, b], Mix((0.5, 0.5)), alpha=1.0)
    assert float((half - full).abs().max()) > 1e-3


# -- caches, Ctrl-C, estimates ---------------------------------------------------------------


@needs_extra
def test_second_run_reads_both_caches(tiny_sd, tmp_path):
    from styler.methods.diffstyler.cache import cached_loras

    content, style, _ = images()
    first = make(tiny_sd, tmp_path)
    lora = first.represent(style, label="la_muse.jpg")
    out1 = first.stylize(content, [lora], Mix((1.0,)), alpha=1.0)
    assert first.counts == {"lora_learned": 1, "lora_cached": 0, "inverted": 1, "inversion_cached": 0}
    second = make(tiny_sd, tmp_path)  # a new process, as far as the caches know
    out2 = second.stylize(content, [style], Mix((1.0,)), alpha=1.0)
    assert second.counts == {"lora_learned": 0, "lora_cached": 1, "inverted": 0, "inversion_cached": 1}
    torch.testing.assert_close(out2, out1, atol=1e-6, rtol=0)
    listed = cached_loras(tmp_path / "cache")
    assert [(i.label, i.base, i.settings["steps"]) for i in listed] == [("la_muse.jpg", str(tiny_sd), 8)]
    assert listed[0].loss_last == lora.losses[-1]
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.name.endswith(".part")]
    other = make(tiny_sd, tmp_path, lora=LoraSettings(steps=9, size=16))  # other settings: learned again
    other.represent(style)
    assert other.counts["lora_learned"] == 1 and len(cached_loras(tmp_path / "cache")) == 2


@needs_extra
def test_ctrl_c_leaves_no_cache_entry_and_a_clean_unet(tiny_sd, tmp_path):
    from styler.methods.diffstyler.inject import feature_layer

    content, style, _ = images()
    m = make(tiny_sd, tmp_path)
    processors = dict(m.sd.unet.attn_processors)

    def stop_at(phase, step):
        def on_step(s):
            if s.phase == phase and s.step == step:
                raise KeyboardInterrupt

        return on_step

    m.on_step = stop_at("lora", 3)
    with pytest.raises(KeyboardInterrupt):
        m.represent(style)
    assert not getattr(m.sd.unet, "peft_config", {})  # the half-learned adapter is gone
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    m.on_step = stop_at("sample", 2)
    with pytest.raises(KeyboardInterrupt):
        m.stylize(content, [style], Mix((1.0,)), alpha=1.0)
    assert dict(m.sd.unet.attn_processors) == processors and not feature_layer(m.sd.unet)._forward_hooks
    # the LoRA and the inversion finished before the interrupt, so they are stored, whole; nothing else is
    files = sorted(p.relative_to(tmp_path / "cache").parts[0] for p in (tmp_path / "cache").rglob("*") if p.is_file())
    assert files == ["inversions", "loras"]


@needs_extra
def test_estimate_counts_the_work(tiny_sd, tmp_path):
    from styler.methods.diffstyler.estimate import forward_flops, meta_copy

    assert forward_flops(torch.nn.Linear(4, 8, bias=False), torch.empty(2, 4, device="meta")) == 2 * 2 * 4 * 8
    m = make(tiny_sd, tmp_path)
    # every layer's FLOPs grow linearly with the batch, so the estimate counts batch 1 only
    meta, emb = meta_copy(m.sd.unet), torch.empty(3, 77, 32, device="meta")
    three = forward_flops(meta, torch.empty(3, 4, 9, 7, device="meta"), 500, emb)
    assert three == 3 * forward_flops(meta, torch.empty(1, 4, 9, 7, device="meta"), 500, emb[:1])
    one, masked = m.estimate([(36, 28)]), m.estimate([(36, 28)], learn=[(20, 24), (16, 16)], models=3)
    assert one.lora == 0 and masked.lora > 0 and one.unet_call > 0
    assert masked.sampling == pytest.approx(3 * one.sampling)
    assert one.total == pytest.approx(one.inversion + one.sampling + one.vae)
    assert one.describe().startswith("about ")
    two = m.estimate([(36, 28), (36, 28)], invert=[])  # two contents, both inversions cached
    assert two.inversion == 0 and two.sampling == pytest.approx(2 * one.sampling)
    content, _, _ = images()
    assert not m.is_inverted(content)
    m.stylize(content, [torch.rand(1, 3, 16, 16)], Mix((1.0,)), alpha=1.0)
    assert m.is_inverted(content)


@needs_extra
def test_the_engine_renders_masks_and_colour_through_it(tiny_sd, tmp_path):
    from styler.engine import Engine

    content, style_a, style_b = images()
    masks = torch.zeros(2, 9, 7)  # label-map size; the engine resizes to the content and feathers
    masks[0, :, :3], masks[1, :, 4:] = 1.0, 1.0
    engine = Engine(make(tiny_sd, tmp_path))
    out = engine.render(content, [style_a, style_b], masks=masks, feather=3.0, alpha=0.5)
    luma = engine.render(content, [style_a], color="luminance")
    assert out.shape == luma.shape == (1, 3, 36, 28)
    assert torch.isfinite(out).all() and float(out.min()) >= 0 and float(out.max()) <= 1
    assert engine.method.counts["lora_learned"] == 3  # a, b, and a's luminance-matched copy

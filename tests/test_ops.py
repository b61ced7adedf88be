import pytest
import torch

from styler import ops


def test_mean_std_is_the_reference_formula():
    x = torch.randn(2, 5, 7, 9)
    mean, std = ops.mean_std(x)
    flat = x.view(2, 5, -1)
    assert torch.allclose(mean.view(2, 5), flat.mean(2))
    # unbiased variance (n - 1) plus 1e-5, as pytorch-AdaIN
    var = ((flat - flat.mean(2, keepdim=True)) ** 2).sum(2) / (63 - 1)
    assert torch.allclose(std.view(2, 5), (var + 1e-5).sqrt())
    assert mean.shape == std.shape == (2, 5, 1, 1)


def test_adain_gives_exact_style_statistics():
    torch.manual_seed(0)
    c = torch.randn(2, 8, 10, 12) * 3 + 1
    s = torch.randn(2, 8, 6, 5) * 0.5 - 2
    out = ops.adain(c, s)
    s_mean, s_std = ops.mean_std(s)
    o_mean, o_std = ops.mean_std(out, eps=0)
    _, c_std = ops.mean_std(c)
    _, c_std_raw = ops.mean_std(c, eps=0)
    assert torch.allclose(o_mean, s_mean, atol=1e-5)
    # std(out) = std_s * std_c / sqrt(var_c + eps): exact given the reference's eps
    assert torch.allclose(o_std, s_std * c_std_raw / c_std, rtol=1e-5)
    # with eps = 0 the output std is the style's exactly
    assert torch.allclose(ops.mean_std(ops.adain(c, s, eps=0), eps=0)[1], ops.mean_std(s, eps=0)[1], rtol=1e-5)


def test_adain_broadcasts_one_style_over_a_batch():
    c, s = torch.randn(3, 4, 5, 5), torch.randn(1, 4, 6, 6)
    out = ops.adain(c, s)
    for i in range(3):
        assert torch.allclose(out[i : i + 1], ops.adain(c[i : i + 1], s), atol=1e-6)


@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0])
def test_blend(alpha):
    t, c = torch.randn(1, 4, 3, 3), torch.randn(1, 4, 3, 3)
    assert torch.allclose(ops.blend(t, c, alpha), alpha * t + (1 - alpha) * c)
    if alpha == 0:
        assert torch.equal(ops.blend(t, c, alpha), c)


@pytest.mark.parametrize("rows", [64, 5, 1])
def test_region_statistics_in_strips_equal_the_direct_formula(rows):
    """region_mean_std accumulates over strips of rows (no full-size temporaries at 8K); it must
    equal the weighted mean and unbiased std computed directly, an empty region included."""
    torch.manual_seed(0)
    content, masks = torch.randn(2, 8, 37, 29), torch.rand(1, 3, 37, 29)
    masks[:, 2] = 0  # an empty region: variance eps, no NaN
    weights = masks / masks.sum(1, keepdim=True)
    got = ops.region_mean_std(content, masks, rows=rows)
    for r, (mean, std) in enumerate(got):
        w = weights[:, r : r + 1]
        total = w.sum((2, 3), keepdim=True)
        want_mean = (w * content).sum((2, 3), keepdim=True) / total.clamp_min(1e-12)
        want_var = (w * (content - want_mean) ** 2).sum((2, 3), keepdim=True) / (total - 1).clamp_min(1) + ops.EPS
        assert mean.shape == std.shape == (2, 8, 1, 1)
        assert torch.allclose(mean, want_mean, atol=1e-6) and torch.allclose(std, want_var.sqrt(), atol=1e-6)
    assert torch.equal(got[2][1], torch.full((2, 8, 1, 1), ops.EPS**0.5))

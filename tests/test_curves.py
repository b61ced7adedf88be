"""Curve-based style transfer for sketches: vectorising, rules, rendering, SVG, optimisation.

Sketches are drawn here with PIL (circles, polylines, a chair); the VGG has random weights in the
public layout (conftest), so these check the mechanics, not the looks."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from styler.errors import InputError, Interrupted
from styler.methods.base import Mix
from styler.methods.curves import bezier, render, skeleton, svg, svgparse
from styler.methods.curves.config import CurvesConfig, RuleBounds, runtime_for
from styler.methods.curves.curveset import Curves
from styler.methods.curves.method import CurvesMethod, check_colour, read_sketch, select
from styler.methods.curves.optimise import Target, grams, style_loss
from styler.methods.curves.result import CurvesResult
from styler.methods.curves.rules import Rules
from styler.nets.vgg import load_encoder

# -- sketches ------------------------------------------------------------------------------


def canvas(size=(128, 128)) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    img = Image.new("RGB", size, "white")
    return img, ImageDraw.Draw(img)


def circles() -> Image.Image:
    img, d = canvas()
    d.ellipse((12, 14, 70, 72), outline="black", width=5)
    d.ellipse((80, 70, 116, 106), outline="black", width=4)
    return img


def polylines() -> Image.Image:
    img, d = canvas()
    d.line([(10, 110), (40, 30), (70, 100), (100, 20), (118, 60)], fill="black", width=5, joint="curve")
    d.line([(15, 12), (115, 12)], fill="black", width=4)
    return img


def chair() -> Image.Image:
    """A chair in side view: back, seat, legs and a rail; junctions, corners, a closed rectangle."""
    img, d = canvas()
    d.line([(30, 10), (34, 70), (96, 70), (96, 118)], fill="black", width=5, joint="curve")
    d.line([(34, 70), (34, 118)], fill="black", width=5)
    d.rectangle((40, 18, 62, 52), outline="black", width=4)
    d.line([(34, 96), (96, 96)], fill="black", width=4)
    return img


SKETCHES = {"circles": circles, "polylines": polylines, "chair": chair}


def ink_of(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("L")) < 128


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def one_line(e: pytest.ExceptionInfo, *words: str) -> None:
    msg = str(e.value)
    assert "\n" not in msg and msg, msg
    for w in words:
        assert w in msg, msg


@pytest.fixture(scope="module")
def encoder(weights_dir):
    return load_encoder(torch.load(weights_dir / "vgg_normalised.pth", weights_only=True))


@pytest.fixture(scope="module")
def chair_curves() -> Curves:
    return read_sketch(chair())


def style_sketch(seed: int = 0, size: int = 64) -> torch.Tensor:
    """A scribble of short thick strokes (1, 3, size, size): a style for the tests."""
    rng = np.random.default_rng(seed)
    img, d = canvas((size, size))
    for _ in range(25):
        x, y = rng.uniform(0, size, 2)
        d.line((x, y, x + rng.uniform(-12, 12), y + rng.uniform(-12, 12)), fill="black", width=int(rng.integers(2, 6)))
    return torch.from_numpy(np.asarray(img, dtype=np.float32) / 255).permute(2, 0, 1)[None]


def random_raw(n: int, seed: int, scale: float = 3.0) -> torch.Tensor:
    return torch.randn(n, 10, generator=torch.Generator().manual_seed(seed)) * scale


# -- vectorising ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SKETCHES))
def test_vectorise_then_render_reproduces_the_strokes(name):
    img = SKETCHES[name]()
    curves = read_sketch(img)
    assert curves.size == (128, 128) and curves.dark_on_light and len(curves) >= 2
    drawn = render.render_ink(curves).numpy() > 0.5
    assert iou(drawn, ink_of(img)) >= 0.9


def test_light_strokes_on_dark_are_detected_and_give_the_same_curves():
    img = chair()
    dark = read_sketch(img)
    light = read_sketch(Image.eval(img, lambda v: 255 - v))
    assert not light.dark_on_light and light.segments == dark.segments
    assert torch.equal(light.points, dark.points) and torch.equal(light.widths, dark.widths)
    out = render.render(light)
    assert out.shape == (1, 3, 128, 128) and float(out.mean()) < 0.5  # white ink on black


def test_tensor_and_pil_inputs_agree():
    img = circles()
    t = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255).permute(2, 0, 1)[None]
    a, b = read_sketch(img), read_sketch(t)
    assert torch.equal(a.points, b.points)


def test_a_circle_is_one_closed_curve_of_the_drawn_width_and_radius():
    img, d = canvas((96, 96))
    d.ellipse((18, 18, 78, 78), outline="black", width=6)  # centre 48, radius 30 to the outer edge
    curves = read_sketch(img)
    assert len(curves) == 1 and curves.closed == (True,)
    pts, widths = curves.curve(0)
    assert torch.equal(pts[0], pts[-1])
    xy = render.sample(curves).xy
    radius = (xy - 48.5).norm(dim=1)
    assert abs(float(radius.mean()) - 27.5) < 0.75 and float(radius.std()) < 0.5
    assert abs(float(widths[0]) - 6) < 0.75


def test_photos_and_blank_pages_are_refused_in_one_line():
    g = torch.Generator().manual_seed(0)
    photo = torch.nn.functional.interpolate(torch.rand(1, 3, 6, 6, generator=g), size=(64, 64), mode="bilinear")
    with pytest.raises(InputError) as e:
        read_sketch(photo)
    one_line(e, "line drawing", "30%")
    with pytest.raises(InputError) as e:
        read_sketch(Image.new("RGB", (64, 64), "white"))
    one_line(e, "no strokes", "0.1%")
    with pytest.raises(InputError) as e:
        read_sketch(torch.rand(2, 3, 8, 8))
    one_line(e, "one sketch")


def test_thinning_keeps_topology_and_leaves_one_pixel_lines():
    ring = np.zeros((40, 40), bool)
    yy, xx = np.mgrid[:40, :40]
    r = np.hypot(yy - 20, xx - 20)
    ring[(r > 10) & (r < 15)] = True
    ring[2:4, 2:4] = True  # a 2 x 2 dot: thinned, never erased
    skel = skeleton.thin(ring)
    assert not (skel & ~ring).any()
    assert not (skel[:-1, :-1] & skel[1:, :-1] & skel[:-1, 1:] & skel[1:, 1:]).any()  # no 2 x 2 block
    lines = skeleton.trace(skel)
    closed = [p for p, c in lines if c]
    assert len(closed) == 1 and len(lines) == 2
    assert skel[2:4, 2:4].any()
    assert sum(len(p) for p, _ in lines) == int(skel.sum())  # every pixel on exactly one line


def test_bezier_fit_stays_within_the_tolerance_and_splitting_keeps_the_curve():
    t = np.linspace(0, 2.2 * np.pi, 300)
    pts = np.stack([40 + 30 * np.cos(t) + 3 * np.sin(5 * t), 40 + 20 * np.sin(t)], 1)
    for tol in (0.25, 1.0):
        ctrl = bezier.fit(pts, tol)
        dense = np.concatenate(
            [bezier.evaluate(ctrl[j : j + 4], np.linspace(0, 1, 400)) for j in range(0, len(ctrl) - 1, 3)]
        )
        dist = np.hypot(*(pts[:, None] - dense[None]).transpose(2, 0, 1)).min(1)
        assert dist.max() <= tol + 0.01
    split = bezier.limit_length(ctrl, 5.0)
    assert len(split) > len(ctrl)
    seg = ctrl[:4]
    a, b = bezier.split(seg, 0.3)
    u = np.linspace(0, 1, 11)
    assert np.allclose(bezier.evaluate(a, u), bezier.evaluate(seg, 0.3 * u))
    assert np.allclose(bezier.evaluate(b, u), bezier.evaluate(seg, 0.3 + 0.7 * u))


# -- rendering -----------------------------------------------------------------------------


def test_distance_field_equals_a_brute_force_minimum(chair_curves):
    xy, radius, _ = render.sample(chair_curves, 0.5)
    field = render.distance_field(xy, radius, (64, 64))
    yy, xx = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    centres = torch.stack([xx, yy], -1).view(-1, 1, 2) + 0.5
    brute = ((centres - xy[None]).norm(dim=2) - radius[None]).amin(1).clamp_max(render.SOFT).view(64, 64)
    assert torch.allclose(field, brute, atol=1e-4)


def test_a_straight_stroke_renders_as_its_capsule_at_any_size():
    line = Curves.from_list(
        [(torch.tensor([[10.0, 20.0], [20, 20], [40, 20], [50, 20]]), torch.tensor([6.0, 6.0]), False)], (40, 60)
    )
    for scale in (1, 3):
        ink = render.render_ink(line, (40 * scale, 60 * scale))
        yy, xx = torch.meshgrid(torch.arange(40.0 * scale), torch.arange(60.0 * scale), indexing="ij")
        px, py = (xx + 0.5) / scale, (yy + 0.5) / scale
        d = torch.hypot(px - px.clamp(10, 50), py - 20) * scale  # output px to the segment
        edge = (d - 3 * scale).abs() < 0.05
        assert torch.equal((ink > 0.5)[~edge], (d <= 3 * scale)[~edge])
        assert float(ink[d > 3 * scale + render.SOFT].max()) == 0 and float(ink[d < 3 * scale - 1].min()) == 1


def test_gradients_reach_every_control_point_and_width(chair_curves):
    pts = chair_curves.points.clone().requires_grad_(True)
    widths = chair_curves.widths.clone().requires_grad_(True)
    ink = render.render_ink(chair_curves.with_geometry(pts, widths))
    weight = torch.rand(ink.shape, generator=torch.Generator().manual_seed(0))
    (ink * weight).sum().backward()
    assert bool((pts.grad.norm(dim=1) > 0).all()) and bool((widths.grad.abs() > 0).all())


# -- rules ---------------------------------------------------------------------------------


@pytest.mark.parametrize("bounds", [RuleBounds(), RuleBounds(reach=0.05, scale=1.0, rotate=90, straighten=1.0)])
def test_every_output_curve_stays_within_the_reach_of_its_input(chair_curves, bounds):
    rules = Rules(chair_curves, bounds)
    for seed in range(3):
        out = rules.apply(random_raw(len(chair_curves), seed), rules.strength(1.0))
        basis = render.bernstein(torch.linspace(0, 1, 50))  # each segment at the same 50 parameters
        before = basis @ chair_curves.points[chair_curves.segment_points]  # (K, 50, 2)
        after = basis @ out.points[chair_curves.segment_points]
        moved = (after - before).norm(dim=2)
        assert float(moved.max()) <= rules.reach * (1 + 1e-5) and float(moved.max()) > 0.5 * rules.reach
        ratio = out.widths / chair_curves.widths
        assert float(ratio.min()) >= 1 / bounds.width - 1e-6 and float(ratio.max()) <= bounds.width + 1e-6


def test_the_reach_binds_when_the_rules_ask_for_more(chair_curves):
    rules = Rules(chair_curves, RuleBounds(reach=0.01, scale=1.0))
    raw = torch.zeros(len(chair_curves), 10)
    raw[:, 0] = 10.0  # scale +100%: far beyond 1.28 px for any curve here
    out = rules.apply(raw, rules.strength(1.0))
    moved = (out.points - chair_curves.points).norm(dim=1)
    assert 0.9 * rules.reach < float(moved.max()) <= rules.reach * (1 + 1e-5)  # float32: tanh rounds to 1


def test_alpha_zero_and_unselected_curves_are_the_input_exactly(chair_curves):
    rules = Rules(chair_curves)
    raw = random_raw(len(chair_curves), 1)
    still = rules.apply(raw, rules.strength(0.0))
    assert torch.equal(still.points, chair_curves.points) and torch.equal(still.widths, chair_curves.widths)
    mask = torch.zeros(len(chair_curves), dtype=torch.bool)
    mask[0] = True
    out = rules.apply(raw, rules.strength(1.0, mask))
    for c in range(1, len(chair_curves)):
        assert torch.equal(out.curve(c)[0], chair_curves.curve(c)[0])
        assert torch.equal(out.curve(c)[1], chair_curves.curve(c)[1])
    assert not torch.equal(out.curve(0)[0], chair_curves.curve(0)[0])


def test_each_rule_does_what_it_says():
    curves = read_sketch(circles())  # round: handles well off their chords
    rules = Rules(curves, RuleBounds(reach=1.0))  # a reach this large barely shrinks anything

    def only(i, v):
        raw = torch.zeros(len(curves), 10)
        raw[:, i] = v
        return rules.apply(raw, rules.strength(1.0))

    centre = rules.centre[curves.point_curve]
    grown = only(0, math.atanh(0.1 / 0.25))  # scale +10%
    assert torch.allclose(grown.points - centre, (curves.points - centre) * 1.1, atol=1e-2)
    turned = only(1, math.atanh(0.5))  # rotate +10 degrees (y down: clockwise on screen)
    a = math.radians(10)
    rel = curves.points - centre
    expect = torch.stack(
        [rel[:, 0] * math.cos(a) - rel[:, 1] * math.sin(a), rel[:, 0] * math.sin(a) + rel[:, 1] * math.cos(a)], 1
    )
    assert torch.allclose(turned.points - centre, expect, atol=2e-2)
    bend = rules.frame.bend
    assert float(bend.norm(dim=1).min()) > 0.5  # a circle bends everywhere
    deeper = only(2, math.atanh(0.5))  # curvature +0.5: every point moves half its bend outwards
    assert torch.allclose(deeper.points - curves.points, 0.5 * bend, atol=1e-3)
    grown_r = (deeper.points - centre).norm(dim=1) - (curves.points - centre).norm(dim=1)
    assert float(grown_r.min()) > 0
    wide = only(7, 10.0)  # width: up to x 2^(1/3)
    assert torch.allclose(wide.widths / curves.widths, torch.full_like(wide.widths, 2 ** (1 / 3)), rtol=1e-4)
    tapered = only(8, 10.0)  # taper: thinner at the start, thicker at the end
    for c in range(len(curves)):
        w = tapered.curve(c)[1] / curves.curve(c)[1]
        assert float(w[0]) < 1 < float(w[-1])


def test_joined_ends_stay_joined_and_free_ends_move(chair_curves):
    rules = Rules(chair_curves)
    out = rules.apply(random_raw(len(chair_curves), 3), rules.strength(1.0))
    xy = render.sample(chair_curves, 1.0, 1.0)
    owner = chair_curves.segment_curve[xy.segment]
    joined = free = 0
    for c in range(len(chair_curves)):
        if chair_curves.closed[c]:
            continue
        p, w = chair_curves.curve(c)
        q, _ = out.curve(c)
        for end in (0, -1):
            touching = float((xy.xy[owner != c] - p[end]).norm(dim=1).min()) <= float(w[end]) / 2 + 1
            moved = float((q[end] - p[end]).norm())
            if touching:
                joined += 1
                assert moved == 0
            else:
                free += 1
                assert moved > 0
    assert joined >= 6 and free >= 2  # the chair's legs stand free; seat, back and rail meet
    loose = Rules(chair_curves, RuleBounds(joints=False))
    assert torch.equal(loose.anchor, torch.ones(len(chair_curves.points)))


def test_curves_can_be_selected_by_an_image_mask(chair_curves):
    mask = torch.zeros(128, 128)
    mask[:, :64] = 1  # the left half
    chosen = select(chair_curves, mask)
    for c in range(len(chair_curves)):
        mean_x = float(chair_curves.curve(c)[0][:, 0].mean())
        if mean_x < 50:
            assert chosen[c]
        if mean_x > 80:
            assert not chosen[c]


# -- SVG -----------------------------------------------------------------------------------


def test_svg_parses_back_to_the_same_curves(chair_curves):
    rules = Rules(chair_curves)
    edited = rules.apply(random_raw(len(chair_curves), 2), rules.strength(1.0))  # widths vary along curves
    for curves in (chair_curves, edited):
        back = svgparse.parse(svg.write(curves))
        assert back.segments == curves.segments and back.closed == curves.closed
        assert back.size == curves.size and back.dark_on_light == curves.dark_on_light
        assert torch.equal(back.points, curves.points) and torch.equal(back.widths, curves.widths)


def test_svg_paths_in_every_command_form():
    doc = """<svg xmlns="http://www.w3.org/2000/svg" width="100" height="80">
      <g stroke="black" stroke-width="2" transform="translate(10 0)">
        <path d="M0 0 L30 0 h10 v10 Z"/>
        <path d="m10 20 c0 10 10 10 10 0 s10 -10 10 0" style="stroke-width:4"/>
        <path d="M0 50 Q10 60 20 50 T40 50"/>
      </g>
      <rect x="0" y="0" width="100" height="80" fill="white"/>
    </svg>"""
    c = svgparse.parse(doc)
    assert c.size == (80, 100) and c.closed == (True, False, False) and c.segments == (4, 2, 2)
    p0, w0 = c.curve(0)
    assert torch.allclose(p0[::3], torch.tensor([[10.0, 0], [40, 0], [50, 0], [50, 10], [10, 0]]))
    assert torch.allclose(p0[1], torch.tensor([20.0, 0]))  # a line's handles at thirds
    p1, w1 = c.curve(1)
    assert torch.allclose(p1, torch.tensor([[20.0, 20], [20, 30], [30, 30], [30, 20], [30, 10], [40, 10], [40, 20]]))
    assert float(w0[0]) == 2 and float(w1[0]) == 4
    p2, _ = c.curve(2)
    q = torch.tensor([[10.0, 50], [20, 60], [30, 50], [40, 40], [50, 50]])  # T reflects the control point
    expect = torch.stack(
        [
            q[0],
            q[0] + 2 / 3 * (q[1] - q[0]),
            q[2] + 2 / 3 * (q[1] - q[2]),
            q[2],
            q[2] + 2 / 3 * (q[3] - q[2]),
            q[4] + 2 / 3 * (q[3] - q[4]),
            q[4],
        ]
    )
    assert torch.allclose(p2, expect, atol=1e-5)


@pytest.mark.parametrize(
    ("doc", "word"),
    [
        (
            '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 9 9">'
            '<path stroke="#000" d="M0 0A3 3 0 0 1 5 5"/></svg>',
            "arcs",
        ),
        (
            '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 9 9"><path fill="#000" d="M0 0L5 5"/></svg>',
            "no stroked",
        ),
        ("<svg", "not readable"),
        ('<svg xmlns="http://www.w3.org/2000/svg"><path stroke="#000" d="M0 0L5 5"/></svg>', "no size"),
        ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 9 9"><path stroke="#000" d="M0 0L5"/></svg>', "lacks"),
    ],
)
def test_bad_svgs_are_one_line(doc, word):
    with pytest.raises(InputError) as e:
        svgparse.parse(doc)
    one_line(e, word)


def test_an_svg_file_is_read_directly(tmp_path, chair_curves):
    path = svg.save(chair_curves, tmp_path / "chair.svg")
    back = read_sketch(path)
    assert torch.equal(back.points, chair_curves.points)
    assert not list(tmp_path.glob(".*part"))  # written atomically


# -- optimisation and the method -----------------------------------------------------------


def method(encoder, on_step=None, **config) -> CurvesMethod:
    cfg = {"size": 64, "iters": 8, **config}
    return CurvesMethod(encoder, runtime_for("cpu"), CurvesConfig(**cfg), on_step=on_step)


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_optimisation_lowers_the_style_loss(encoder, optimizer):
    steps = []
    m = method(encoder, steps.append, optimizer=optimizer, lr=0.3)
    style = m.represent(style_sketch())
    result = m.transfer(chair(), [style])
    assert [s.iteration for s in steps] == list(range(1, 9)) and steps[-1].total == 8
    assert len(result.losses) >= 8 and steps[0].loss == result.losses[0]
    target = Target(style.grams)
    before = float(style_loss(encoder, render.render(result.source, (64, 64)), target))
    after = float(style_loss(encoder, render.render(result.curves, (64, 64)), target))
    assert after < before and abs(before - result.losses[0]) < 1e-6 * max(before, 1e-12) + 1e-12
    moved = (result.curves.points - result.source.points).norm(dim=1)
    assert float(moved.max()) <= result.rules.reach * (1 + 1e-5)


def test_alpha_zero_and_zero_iterations_return_the_input_curves_exactly(encoder):
    m = method(encoder)
    for kw, cfg in (({"alpha": 0.0}, {}), ({"alpha": 1.0}, {"iters": 0})):
        m.config = CurvesConfig(size=64, **cfg)
        res = m.transfer(chair(), [style_sketch()], **kw)
        assert torch.equal(res.curves.points, res.source.points) and torch.equal(res.curves.widths, res.source.widths)
        assert res.losses == ()


def test_a_curve_mask_freezes_the_other_curves(encoder, chair_curves):
    mask = torch.zeros(len(chair_curves), dtype=torch.bool)
    mask[1] = True
    res = method(encoder, iters=3).transfer(chair_curves, [style_sketch()], curve_mask=mask)
    for c in range(len(chair_curves)):
        same = torch.equal(res.curves.curve(c)[0], chair_curves.curve(c)[0])
        assert same == (c != 1)


def test_ctrl_c_keeps_the_best_curves_so_far(encoder):
    def stop(step):
        if step.iteration == 3:
            raise KeyboardInterrupt

    with pytest.raises(Interrupted) as e:
        method(encoder, stop).transfer(chair(), [style_sketch()])
    best = e.value.partial
    assert isinstance(best, CurvesResult)
    assert float((best.curves.points - best.source.points).norm(dim=1).max()) <= best.rules.reach * (1 + 1e-5)
    with pytest.raises(Interrupted) as e:
        method(encoder, stop).stylize(read_render(), [method(encoder).represent(style_sketch())], Mix((1.0,)), alpha=1)
    assert e.value.partial.shape == (1, 3, 128, 128)


def read_render() -> torch.Tensor:
    return torch.from_numpy(np.asarray(chair(), dtype=np.float32) / 255).permute(2, 0, 1)[None]


def test_stylize_returns_renders_at_the_content_size(encoder):
    m = method(encoder, iters=2)
    content = torch.cat([read_render(), read_render()])
    out = m.stylize(content, [m.represent(style_sketch())], Mix((1.0,)), alpha=1.0)
    assert out.shape == (2, 3, 128, 128) and float(out.min()) >= 0 and float(out.max()) <= 1
    still = m.stylize(content[:1], [m.represent(style_sketch())], Mix((1.0,)), alpha=0.0)
    assert torch.equal(still, render.render(read_sketch(chair())))


def test_region_masks_select_curves_and_mixed_styles_work(encoder, chair_curves):
    m = method(encoder, iters=2)
    styles = [m.represent(style_sketch(0)), m.represent(style_sketch(1))]
    masks = torch.zeros(2, 128, 128)
    masks[0, :, :64] = 1
    res = m.transfer(chair_curves, styles, Mix((0.5, 0.5), masks))
    chosen = select(chair_curves, masks.sum(0))
    assert torch.equal(res.strength > 0, chosen)
    res = m.transfer(chair_curves, styles, Mix((0.3, 0.7)))
    assert len(res.losses) == 2


def test_result_files_svg_png_and_report(encoder, tmp_path):
    res = method(encoder, iters=3).transfer(chair(), [style_sketch()])
    assert torch.equal(read_sketch(res.save(tmp_path / "a.svg")).points, res.curves.points)
    png = res.save(tmp_path / "a.png", size=(256, 256))
    assert Image.open(png).size == (256, 256)
    report = json.loads(res.save(tmp_path / "a.json").read_text())
    assert len(report["curves"]) == len(res.curves) and report["loss"]["steps"] == 3
    for entry in report["curves"]:
        assert entry["moved_px"] <= report["reach_px"] * (1 + 1e-5) and entry["selected"]
        assert set(entry["rules"]) == {
            "scale",
            "rotate",
            "curvature",
            "straighten",
            "wobble",
            "width",
            "taper",
            "swell",
        }
    with pytest.raises(InputError) as e:
        res.save(tmp_path / "a.txt")
    one_line(e, ".svg")


@pytest.mark.parametrize(
    ("make", "word"),
    [
        (lambda: CurvesConfig(iters=-1), "iters"),
        (lambda: CurvesConfig(optimizer="sgd"), "optimizer"),
        (lambda: CurvesConfig(size=4), "size"),
        (lambda: CurvesConfig(tolerance=0), "tolerance"),
        (lambda: RuleBounds(reach=-1), "reach"),
        (lambda: RuleBounds(width=0.5), "width"),
        (lambda: runtime_for("cpu", "bf16"), "fp32"),
    ],
)
def test_bad_settings_are_one_line(make, word):
    with pytest.raises(Exception) as e:
        make()
    one_line(e, word)


def test_bad_calls_are_one_line(encoder):
    m = method(encoder)
    with pytest.raises(InputError) as e:
        m.transfer(chair(), [style_sketch()], alpha=1.5)
    one_line(e, "alpha")
    with pytest.raises(InputError) as e:
        m.stylize(read_render(), [m.represent(style_sketch())], Mix((1.0,)), alpha=1.0, tile=256)
    one_line(e, "tile")
    with pytest.raises(InputError) as e:
        m.represent(torch.rand(1, 3, 8, 8))
    one_line(e, "16 px")
    with pytest.raises(InputError) as e:
        check_colour("luminance")
    one_line(e, "color=luminance", "line art")
    assert e.value.params == ("color",)
    check_colour(None)


def test_style_grams_match_the_encoder(encoder):
    img = style_sketch()
    g = grams(encoder, img)
    f = encoder(img)
    assert len(g) == 4 and all(torch.equal(a, ops_gram(b)) for a, b in zip(g, f))


def ops_gram(f):
    from styler import ops

    return ops.gram(f)


def test_load_resolves_the_weights_directory():
    from styler.methods import load

    m = load("curves", device="cpu", curves=CurvesConfig(size=64))
    assert isinstance(m, CurvesMethod) and m.runtime.precision == "fp32" and m.config.size == 64


def test_a_torchvision_vgg19_file_is_converted(tmp_path):
    """--vgg accepts torchvision's vgg19 layout (e.g. fine-tuned on sketches): the ImageNet normalisation
    folds into the first 1x1 conv, and relu1_1 matches torchvision's away from the border (zero vs
    reflection padding)."""
    from torchvision.models.vgg import cfgs, make_layers

    from styler.errors import WeightsError
    from styler.methods import load

    torch.manual_seed(0)
    features = make_layers(cfgs["E"])[:21]  # up to relu4_1
    state = {f"features.{k}": v for k, v in features.state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(2, 2)  # a whole model's file: the classifier is dropped
    torch.save(state, tmp_path / "vgg19.pth")
    m = load("curves", device="cpu", vgg=tmp_path / "vgg19.pth")
    x = torch.rand(1, 3, 24, 24)
    mean, std = (
        torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1),
        torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1),
    )
    with torch.no_grad():
        theirs = features[:2]((x - mean) / std)
        ours = m.encoder(x).relu1_1
    assert torch.allclose(ours[..., 1:-1, 1:-1], theirs[..., 1:-1, 1:-1], atol=1e-5)
    del state["features.16.weight"]
    torch.save(state, tmp_path / "cut.pth")
    with pytest.raises(WeightsError) as e:
        load("curves", device="cpu", vgg=tmp_path / "cut.pth")
    one_line(e, "torchvision", "features.16.weight")

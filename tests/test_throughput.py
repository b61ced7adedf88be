"""Directory jobs (background decoding, same-size batches) and `transfer --tile` through the CLI."""

import pytest

import styler
from conftest import make_image, run_cli
from styler.errors import InputError
from styler.media.images import load_image

run = run_cli


def test_a_folder_through_the_cli_equals_each_image_rendered_alone(tmp_path, engine):
    for i in range(3):
        make_image(tmp_path / "c" / f"same{i}.png", (40, 32), i)
    make_image(tmp_path / "c" / "other.png", (28, 36), 9)
    (tmp_path / "c" / "broken.png").write_bytes(b"not an image")
    style = make_image(tmp_path / "s" / "style.png", (32, 32), 5)
    r = run(
        "transfer",
        tmp_path / "c",
        style,
        "-o",
        tmp_path / "out",
        "--content-size",
        0,
        "--style-size",
        0,
        "--precision",
        "fp32",
    )
    assert r.exit_code == 1 and "broken.png" in r.stderr
    stats = engine.represent(load_image(style, 0))
    for name in ["same0", "same1", "same2", "other"]:
        want = engine.render(load_image(tmp_path / "c" / f"{name}.png", 0), [stats])
        got = load_image(tmp_path / "out" / f"{name}_stylized_style_cfull_sfull.png", 0)  # sizes 0: cfull, sfull
        assert got.shape == want.shape and (got - want).abs().max() <= 0.5 / 255 + 1e-4


def test_a_folder_job_in_three_lines(tmp_path, engine):
    """The library's folder job, as its docs show it: every content x style pair, named
    {content}_stylized_{style}_{settings}.png in the mirrored tree, bad inputs reported, not fatal."""
    for i in range(2):
        make_image(tmp_path / "photos" / f"p{i}.png", (40, 32), i)
    make_image(tmp_path / "photos" / "sub" / "deep.png", (24, 36), 5)  # another size, a sub-folder
    (tmp_path / "photos" / "bad.png").write_bytes(b"not an image")
    (tmp_path / "photos" / "notes.txt").write_text("not an image file: not listed")
    style = make_image(tmp_path / "paint.png", (32, 32), 7)

    report = styler.transfer(
        engine, tmp_path / "photos", [style], tmp_path / "out", content_size=0, style_size=0, alpha=0.7
    )

    names = ["sub/deep", "p0", "p1"]
    assert report.written == 3 and report.failed == 1
    assert len(report.failures) == 1 and "bad.png" in str(report.failures[0])
    written = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*.png"))
    assert written == sorted(f"{n}_stylized_paint_a0.7_cfull_sfull.png" for n in names)
    assert (tmp_path / "out" / "manifest.jsonl").read_text().count("\n") == 3
    stats = engine.represent(load_image(style, 0))
    for n in names:
        want = engine.render(load_image(tmp_path / "photos" / f"{n}.png", 0), [stats], alpha=0.7)
        got = load_image(tmp_path / "out" / f"{n}_stylized_paint_a0.7_cfull_sfull.png", 0)
        assert got.shape == want.shape and (got - want).abs().max() <= 0.5 / 255 + 1e-4


def test_a_file_job_names_its_results_and_reports_each_task(tmp_path, engine):
    content = make_image(tmp_path / "photo.png", (40, 32), 1)
    styles = [make_image(tmp_path / "s" / f"s{i}.png", (32, 32), i) for i in range(2)]
    (tmp_path / "s" / "bad.png").write_bytes(b"not an image")
    done = []
    report = styler.transfer(
        engine,
        content,
        [tmp_path / "s"],
        tmp_path / "out",
        content_size=0,
        style_size=0,
        on_result=lambda path, error: done.append((path.name, error is None)),
    )
    assert report.written == 2 and report.manifest is None  # a content file: no manifest
    names = ["photo_stylized_s0_cfull_sfull.png", "photo_stylized_s1_cfull_sfull.png"]
    assert sorted(done) == [(n, True) for n in names]
    assert len(report.failures) == 1 and "bad.png" in str(report.failures[0])
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == names
    want = engine.render(load_image(content, 0), [load_image(styles[1], 0)])
    got = load_image(tmp_path / "out" / names[1], 0)
    assert (got - want).abs().max() <= 0.5 / 255 + 1e-4


def test_a_folder_job_checks_its_output_before_any_work(tmp_path, engine):
    make_image(tmp_path / "c" / "a.png")
    make_image(tmp_path / "c" / "b.png")
    style = make_image(tmp_path / "s.png")
    with pytest.raises(InputError, match=r"output=.*x\.png is one file but there are 2 results"):
        styler.transfer(engine, tmp_path / "c", [style], tmp_path / "x.png")
    with pytest.raises(InputError, match="no style given"):
        styler.transfer(engine, tmp_path / "c", [], tmp_path / "out")
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "out").exists()


@pytest.mark.slow
def test_tiled_cli_matches_untiled(tmp_path, monkeypatch):
    from styler import tiling

    content = make_image(tmp_path / "big.png", (150, 130), 3)
    style = make_image(tmp_path / "style.png", (40, 40), 4)
    tiles, real = [], tiling.decode_tiled
    monkeypatch.setattr(tiling, "decode_tiled", lambda *a, **k: tiles.append(a[3]) or real(*a, **k))
    for tile, used in (("off", []), ("64", [64])):
        r = run(
            "transfer",
            content,
            style,
            "-o",
            tmp_path / f"{tile}.png",
            "--content-size",
            0,
            "--precision",
            "fp32",
            "--tile",
            tile,
        )
        assert r.exit_code == 0, r.output
        assert tiles == used  # --tile reached the method
    a, b = load_image(tmp_path / "off.png", 0), load_image(tmp_path / "64.png", 0)
    assert a.shape == (1, 3, 130, 150) and (a - b).abs().max() <= 1 / 255  # --tile's promise: max, not mean


@pytest.mark.parametrize("bad", ["huge", "100", "32", "13"])
def test_bad_tile_is_one_line_and_writes_nothing(tmp_path, bad):
    content = make_image(tmp_path / "c.png", (32, 32), 1)
    r = run("transfer", content, content, "-o", tmp_path / "out.png", "--tile", bad)
    assert r.exit_code == 2  # refused while parsing, before any weights or images are read
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.output
    assert f"Invalid value for '--tile': '{bad}' is not auto, off or a tile size in px" in lines[0]
    assert not (tmp_path / "out.png").exists()

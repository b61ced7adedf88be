"""Directory jobs (background decoding, same-size batches) and `transfer --tile` through the CLI."""

from pathlib import Path

import pytest
from PIL import Image

from conftest import make_image, run_cli
from styler.batching import prefetch, same_size_batches
from styler.errors import InputError
from styler.images import load_image

run = run_cli


def test_prefetch_keeps_order_and_passes_errors():
    def load(path: Path):
        if path.name == "bad":
            raise InputError("bad is broken")
        return Image.new("RGB", (int(path.name), 8))

    got = list(prefetch([Path(n) for n in ["8", "bad", "16", "8", "24"]], load))
    assert [p.name for p, _ in got] == ["8", "bad", "16", "8", "24"]
    assert isinstance(got[1][1], InputError) and got[2][1].size == (16, 8)


def test_same_size_batches():
    img = {w: Image.new("RGB", (w, 8)) for w in (8, 16)}
    err = InputError("x")
    items = [(Path(f"{i}"), img[w] if w else err) for i, w in enumerate([8, 8, 8, 16, 0, 16, 16, 8, 8, 8, 8, 8])]
    sizes = [[p.name for p, _ in b] for b in same_size_batches(items, max_batch=4)]
    assert sizes == [["0", "1", "2"], ["3"], ["4"], ["5", "6"], ["7", "8", "9", "10"], ["11"]]
    assert [len(b) for b in same_size_batches(items[:3], max_pixels=2 * 64)] == [2, 1]


def test_batched_folder_equals_one_by_one(tmp_path, stylizer):
    for i in range(3):
        make_image(tmp_path / "c" / f"same{i}.png", (40, 32), i)
    make_image(tmp_path / "c" / "other.png", (28, 36), 9)
    (tmp_path / "c" / "broken.png").write_bytes(b"not an image")
    style = make_image(tmp_path / "s" / "style.png", (32, 32), 5)
    r = run("transfer", tmp_path / "c", style, "-o", tmp_path / "out", "--content-size", 0,
            "--style-size", 0, "--precision", "fp32")
    assert r.exit_code == 1 and "broken.png" in r.stderr
    stats = stylizer.style_stats(load_image(style, 0))
    for name in ["same0", "same1", "same2", "other"]:
        want = stylizer.transfer(load_image(tmp_path / "c" / f"{name}.png", 0), stats)
        got = load_image(tmp_path / "out" / f"{name}_stylized_style.png", 0)
        assert got.shape == want.shape and (got - want).abs().max() <= 0.5 / 255 + 1e-4


def test_tiled_cli_matches_untiled(tmp_path):
    content = make_image(tmp_path / "big.png", (150, 130), 3)
    style = make_image(tmp_path / "style.png", (40, 40), 4)
    for tile in ("off", "64"):
        r = run("transfer", content, style, "-o", tmp_path / f"{tile}.png", "--content-size", 0,
                "--precision", "fp32", "--tile", tile)
        assert r.exit_code == 0, r.output
    a, b = load_image(tmp_path / "off.png", 0), load_image(tmp_path / "64.png", 0)
    assert a.shape == (1, 3, 130, 150) and (a - b).abs().mean() < 1 / 255


@pytest.mark.parametrize("bad", ["huge", "100", "32"])
def test_bad_tile_is_one_line_and_writes_nothing(tmp_path, bad):
    content = make_image(tmp_path / "c.png", (32, 32), 1)
    r = run("transfer", content, content, "-o", tmp_path / "out.png", "--tile", bad)
    assert r.exit_code != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "--tile" in lines[0] and "Traceback" not in r.output
    assert not (tmp_path / "out.png").exists()

import io

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import make_image
from reference import transform as reference_transform
from styler.errors import InputError, OutputError
from styler.media import images, sheets


def test_resize_matches_the_reference_transform(tmp_path):
    path = make_image(tmp_path / "c.png", (71, 45), 3)
    for size, crop in [(32, False), (32, True), (0, False), (100, True)]:
        want = reference_transform(Image.open(path).convert("RGB"), size, crop)
        got = images.load_image(path, size, crop)
        assert got.shape == want.shape
        assert torch.equal(got, want)


def test_an_over_budget_crop_resamples_only_the_square(tmp_path):
    # Resizing a 7 x 300 image to 64 px then cropping would make a 64 x 2742 intermediate, over
    # this budget: the square is resampled from its source box instead, within 1/255 of the reference.
    path = make_image(tmp_path / "tall.png", (7, 300), 4)
    want = reference_transform(Image.open(path).convert("RGB"), 64, True)
    got = images.load_image(path, 64, crop=True, max_pixels=100_000)
    assert got.shape == want.shape == (1, 3, 64, 64)
    assert (got - want).abs().max() <= 1 / 255 + 1e-6
    assert torch.equal(images.load_image(path, 64, crop=True, max_pixels=200_000), want)  # fits: exact


def test_crop_with_size_zero_is_the_central_square(tmp_path):
    assert images.load_image(make_image(tmp_path / "c.png", (60, 40)), 0, crop=True).shape == (1, 3, 40, 40)


def test_exif_orientation_is_applied(tmp_path):
    img = Image.new("RGB", (40, 20), (255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    img.save(tmp_path / "r.jpg", exif=exif)
    assert images.open_rgb(tmp_path / "r.jpg").size == (20, 40)


@pytest.mark.parametrize("mode", ["L", "P", "CMYK", "RGBA", "LA", "I;16", "1"])
def test_modes_become_rgb(tmp_path, mode):
    if mode == "I;16":
        img = Image.fromarray(np.full((8, 8), 65535, dtype=np.uint16))
        path = tmp_path / "x.png"
    else:
        img = Image.new("RGB", (8, 8), (10, 200, 30)).convert(mode)
        path = tmp_path / ("x.jpg" if mode == "CMYK" else "x.png")
    img.save(path)
    rgb = images.open_rgb(path)
    assert rgb.mode == "RGB" and rgb.size == (8, 8)
    if mode == "I;16":
        assert rgb.getpixel((0, 0)) == (255, 255, 255)  # full-scale 16-bit white stays white


def test_transparent_pixels_become_white(tmp_path):
    Image.new("RGBA", (4, 4), (0, 0, 0, 0)).save(tmp_path / "t.png")
    assert images.open_rgb(tmp_path / "t.png").getpixel((1, 1)) == (255, 255, 255)


def test_read_errors_are_one_line(tmp_path):
    (tmp_path / "bad.jpg").write_bytes(b"not an image")
    full = io.BytesIO()
    Image.new("RGB", (64, 64), (1, 2, 3)).save(full, "PNG")
    (tmp_path / "cut.png").write_bytes(full.getvalue()[:60])
    for path, words in [
        (tmp_path / "bad.jpg", "not an image"),
        (tmp_path / "cut.png", "truncated"),
        (tmp_path / "none.png", "does not exist"),
        (tmp_path, "directory"),
    ]:
        with pytest.raises(InputError, match=words) as e:
            images.open_rgb(path)
        assert "\n" not in str(e.value)


def test_decompression_bomb_is_refused(tmp_path, monkeypatch):
    path = make_image(tmp_path / "big.png", (64, 64))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(InputError, match="too large"):
        images.open_rgb(path)


@pytest.mark.parametrize("ext", ["png", "jpg", "webp", "tiff", "bmp"])
def test_save_by_extension_is_atomic(tmp_path, ext):
    t = torch.rand(1, 3, 10, 12)
    out = images.save_image(t, tmp_path / f"o.{ext}")
    assert Image.open(out).size == (12, 10)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"o.{ext}"]  # no temp file left
    if ext == "png":
        back = images.load_image(out, 0)
        assert (back - t).abs().max() <= 0.5 / 255 + 1e-6  # rounding as torchvision save_image


def test_save_refuses_unknown_extension_and_inputs(tmp_path):
    src = make_image(tmp_path / "in.png")
    before = src.read_bytes()
    with pytest.raises(InputError, match="unknown image extension"):
        images.save_image(torch.rand(1, 3, 4, 4), tmp_path / "o.xyz")
    with pytest.raises(OutputError, match="overwrite input"):
        images.save_image(torch.rand(1, 3, 4, 4), src, protect=(src,))
    assert src.read_bytes() == before


def test_unwritable_output_leaves_nothing(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="cannot write"):
        images.save_image(torch.rand(1, 3, 4, 4), blocker / "o.png")


@pytest.mark.parametrize("ext", [".tif", ".tiff"])
def test_tiff_keeps_16_bits_per_channel(tmp_path, ext):
    import imageio.v3 as iio

    torch.manual_seed(0)
    t = torch.rand(1, 3, 6, 9)
    path = images.save_image(t, tmp_path / f"out{ext}")
    back = iio.imread(path)
    assert back.dtype == np.uint16 and back.shape == (6, 9, 3)
    want = (t[0].permute(1, 2, 0).double() * 65535).round().numpy()
    assert np.array_equal(back.astype(np.float64), want)  # every value exact to 1/65535
    assert (back % 257 != 0).mean() > 0.9  # not 8-bit levels scaled up (those are multiples of 257)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # atomic: no temporary left


def test_contact_sheet_lays_tiles_on_white_with_gaps():
    a, b = torch.rand(1, 3, 5, 6), torch.rand(1, 3, 5, 6)
    sheet = sheets.contact_sheet([[a, None, b], [None, b]], gap=4)
    assert sheet.shape == (1, 3, 2 * 5 + 4, 3 * 6 + 2 * 4)
    assert torch.equal(sheet[..., 0:5, 0:6], a) and torch.equal(sheet[..., 0:5, 20:26], b)
    assert torch.equal(sheet[..., 9:14, 10:16], b)
    assert (sheet[..., 0:5, 10:16] == 1).all() and (sheet[..., 5:9, :] == 1).all()  # blank cell, gap

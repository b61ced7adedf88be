"""Extreme images and robust weights downloads: pixel budget, pinned hashes, mirror, lock,
resume. Downloads come from a local http.server on 127.0.0.1 (no network)."""

from __future__ import annotations

import dataclasses
import hashlib
import re
import threading
import time
import warnings
from contextlib import contextmanager
from fractions import Fraction
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch
from PIL import Image

from conftest import make_image, one_line_error, run_cli
from styler.errors import InputError, WeightsError
from styler.media import images, regions
from styler.media.video import VideoInfo, frame_size
from styler.nets import weights

# -- a local file server ---------------------------------------------------------------------


class Served:
    """What the test server serves and saw. ``cut``: bytes sent before the first response is
    cut off (the connection is closed mid-body); ``ranges``: honour ``Range: bytes=N-``."""

    def __init__(
        self, files: dict[str, bytes], *, ranges: bool = True, cut: int | None = None, delay: float = 0.0
    ) -> None:
        self.files, self.ranges, self.cut, self.delay = files, ranges, cut, delay
        self.requests: list[tuple[str, str | None]] = []  # (file name, Range header)
        self.lock = threading.Lock()


def _handler(served: Served):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep the test output clean
            pass

        def do_GET(self) -> None:
            name = self.path.lstrip("/")
            asked = self.headers.get("Range")
            with served.lock:
                served.requests.append((name, asked))
                cut, served.cut = served.cut, None  # only the first response is cut
            data = served.files.get(name)
            if data is None:
                self.send_error(404)
                return
            start = int(re.match(r"bytes=(\d+)-", asked).group(1)) if asked and served.ranges else 0
            if start >= len(data) and asked and served.ranges:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206 if start else 200)
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.send_header("Content-Length", str(len(data) - start))
            self.end_headers()
            body = data[start:] if cut is None else data[start : start + cut]
            for i in range(0, len(body), 1 << 16):
                self.wfile.write(body[i : i + (1 << 16)])
                if served.delay:
                    time.sleep(served.delay)
            self.close_connection = True

    return Handler


@contextmanager
def serve(served: Served):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(served))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def pinned_to(known: weights.KnownWeights, data: bytes) -> weights.KnownWeights:
    """``known`` pinned to ``data`` (the random test file plays the release file)."""
    return dataclasses.replace(known, sha256=hashlib.sha256(data).hexdigest(), size=len(data))


def names_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def files(weights_dir) -> dict[str, bytes]:
    return {n: (weights_dir / n).read_bytes() for n in ("vgg_normalised.pth", "decoder.pth")}


# -- pixel budget --------------------------------------------------------------------------


def test_budget_admits_8k_refuses_a_1x3000_at_512_and_the_help_states_it():
    for w, h in ((7680, 4320), (8192, 4320)):  # 8K UHD, DCI 8K
        images.check_pixels(w, h, images.MAX_PIXELS)
    with pytest.raises(InputError, match="1536000"):
        images.check_resize(1, 3000, 512, False, images.MAX_PIXELS)
    help_text = " ".join(run_cli("transfer", "--help").output.split())
    assert f"Default {images.MAX_PIXELS} (8K UHD and DCI 8K fit)" in help_text


def test_a_1x3000_image_is_refused_in_one_line_before_any_resize(tmp_path, monkeypatch):
    path = make_image(tmp_path / "tall.png", (1, 3000), 1)
    resized = []
    real = Image.Image.resize
    monkeypatch.setattr(
        Image.Image, "resize", lambda im, size, *a, **k: resized.append(size) or real(im, size, *a, **k)
    )
    with pytest.raises(InputError) as e:
        images.load_image(path, 512)
    assert resized == []  # refused from the header's size, before any resampling
    assert str(e.value) == (
        "tall.png would be 512 x 1536000 px (786 MP) after resizing, over "
        "max_pixels=40000000; use content_size=0, crop=True or a larger max_pixels"
    )
    # each fix it names works; the crop is resampled from its source box only (one 512 x 512 resize)
    assert images.load_image(path, 512, crop=True).shape == (1, 3, 512, 512)
    assert resized == [(512, 512)]
    assert images.load_image(path, 0).shape == (1, 3, 3000, 1)
    assert images.load_image(path, 16, max_pixels=16 * 48_000).shape == (1, 3, 48_000, 16)
    with pytest.raises(InputError, match="max_pixels must be"):
        images.load_image(path, 512, max_pixels=-1)
    assert images.load_image(path, 4, max_pixels=0).shape == (1, 3, 12_000, 4)  # 0 = no budget


def test_fixes_name_a_size_that_fits():
    with pytest.raises(InputError) as e:  # a 60 MP photo at its own size
        images.check_resize(10000, 6000, 0, False, images.MAX_PIXELS, "photo.jpg")
    size = int(re.search(r"content_size=(\d+)", str(e.value)).group(1))
    assert "crop=True" in str(e.value)  # 6000 x 6000 = 36 MP fits
    w, h = images.check_resize(10000, 6000, size, False, images.MAX_PIXELS)
    assert w * h <= images.MAX_PIXELS and w * h > 0.99 * images.MAX_PIXELS
    assert images.result_size(100, 30, 50, crop=True) == (50, 50)
    assert images.result_size(100, 30, 0, crop=True) == (30, 30)


def test_a_style_and_a_mask_over_budget_are_one_line(tmp_path):
    style = make_image(tmp_path / "wide.png", (3000, 1), 2)
    with pytest.raises(InputError) as e:
        images.load_image(style, 512, size_name="style_size")
    assert "wide.png would be 1536000 x 512 px" in str(e.value) and "style_size=0, crop=True" in str(e.value)
    mask = make_image(tmp_path / "mask.png", (8, 8), 3)
    with pytest.raises(InputError) as e:
        regions.load_regions(mask, (300, 400), 2, max_pixels=100_000)
    assert str(e.value) == (
        "mask mask.png would be 400 x 300 px (0.12 MP) after resizing, over max_pixels=100000; "
        "use a smaller content_size or a larger max_pixels"
    )
    assert regions.load_regions(mask, (300, 400), 2, max_pixels=120_000).shape == (2, 300, 400)


def test_video_frames_have_the_same_budget():
    def info(w, h):
        return VideoInfo(Path("clip.mp4"), w, h, Fraction(25), 10, 0.4, "h264", (), 0)

    assert frame_size(info(7680, 4320)) == (7680, 4320)
    assert frame_size(info(8192, 4320)) == (8192, 4320)
    with pytest.raises(InputError) as e:
        frame_size(info(1, 3000), 512)
    assert str(e.value).startswith("each frame of clip.mp4 would be 512 x 1536000 px (786 MP)")
    assert str(e.value).endswith("use content_size=0 or a larger max_pixels")  # no crop for video
    with pytest.raises(InputError, match="content_size=0 makes frames of 1 x 3000"):
        frame_size(info(1, 3000), 0)
    with pytest.raises(InputError, match="8640 x 4860"):
        frame_size(info(16, 9), 4860)
    assert frame_size(info(16, 9), 4860, max_pixels=0) == (8640, 4860)


def test_cli_transfer_of_a_1x3000_image_is_one_line_within_seconds(tmp_path):
    content = make_image(tmp_path / "tall.png", (1, 3000), 1)
    style = make_image(tmp_path / "style.png", (40, 40), 2)
    r = run_cli("transfer", content, style, "-o", tmp_path / "o.png", "--device", "cpu")
    one_line_error(r, "tall.png", "512 x 1536000 px (786 MP)")
    assert not (tmp_path / "o.png").exists()


def test_cli_transfer_with_a_1x3000_style_is_one_line(tmp_path):
    content = make_image(tmp_path / "c.png", (40, 40), 1)
    style = make_image(tmp_path / "tall.png", (1, 3000), 2)
    r = run_cli("transfer", content, style, "-o", tmp_path / "o.png", "--device", "cpu")
    one_line_error(r, "tall.png", "512 x 1536000 px (786 MP)")


# -- thread-safe decoding warnings --------------------------------------------------------


def test_decoding_warnings_are_ignored_without_catch_warnings(tmp_path, monkeypatch):
    path = make_image(tmp_path / "big.png", (64, 64))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 3000)  # 4096 px: Pillow warns (a near-bomb)

    class NoCatch:  # the warnings module, minus the context manager that is unsafe in threads
        def __getattr__(self, name):
            if name == "catch_warnings":
                raise AssertionError("warnings.catch_warnings swaps the process's filters: unsafe in threads")
            return getattr(warnings, name)

    monkeypatch.setattr(images, "warnings", NoCatch())
    results, errors = [], []

    def work():
        try:
            results.extend(images.open_rgb(path).size for _ in range(20))
        except Exception as e:
            errors.append(e)

    with warnings.catch_warnings(record=True) as log:
        warnings.simplefilter("always")  # any warning that leaks out of open_rgb is recorded
        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        warnings.warn("ours", UserWarning, stacklevel=1)  # not Pillow's: still shown
        for t in threads:
            t.join()
    assert not errors and results == [(64, 64)] * 80
    assert [str(w.message) for w in log] == ["ours"]


# -- weights: pinned, mirrored, locked, resumed ---------------------------------------------


def test_the_release_files_are_pinned():
    assert (weights.DECODER.size, weights.DECODER.sha256[:12]) == (14_023_458, "379ca41d59f3")
    assert (weights.VGG.size, weights.VGG.sha256[:12]) == (80_102_481, "804ca2835ecf")


def test_explicit_paths_are_named_as_parameters(tmp_path):
    with pytest.raises(WeightsError) as e:
        weights.resolve(weights.VGG, tmp_path / "x" / "y.pth")
    assert str(e.value) == f"vgg={tmp_path / 'x' / 'y.pth'} does not exist; check the path"
    with pytest.raises(WeightsError, match=r"^decoder=.* is a directory"):
        weights.resolve(weights.DECODER, tmp_path)


def test_a_mirror_with_the_wrong_hash_is_refused_and_leaves_nothing(files, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("STYLER_WEIGHTS_DIR", str(cache))
    monkeypatch.setitem(weights.KNOWN, "vgg", pinned_to(weights.VGG, files["vgg_normalised.pth"]))
    # the right layout and size, but not the pinned (real release) hash
    monkeypatch.setitem(weights.KNOWN, "decoder", dataclasses.replace(weights.DECODER, size=len(files["decoder.pth"])))
    served = Served(files)
    with serve(served) as url:
        monkeypatch.setenv("STYLER_WEIGHTS_MIRROR", url + "/")
        assert weights.download_url(weights.DECODER) == f"{url}/decoder.pth"
        r = run_cli("weights", "download")
    one_line_error(r, "decoder.pth", "SHA-256", "379ca41d59f3", "refused and deleted")
    assert [name for name, _ in served.requests] == ["vgg_normalised.pth", "decoder.pth"]  # the mirror, not github
    assert (cache / "vgg_normalised.pth").read_bytes() == files["vgg_normalised.pth"]
    assert names_in(cache) == [
        ".decoder.pth.lock",
        ".vgg_normalised.pth.lock",
        "vgg_normalised.pth",
        "vgg_normalised.pth.sha256",
    ]  # no decoder.pth, no partial file


def test_a_mirror_folder_and_the_offline_message(files, tmp_path, monkeypatch):
    (tmp_path / "mirror").mkdir()
    (tmp_path / "mirror" / "decoder.pth").write_bytes(files["decoder.pth"])
    monkeypatch.setenv("STYLER_WEIGHTS_MIRROR", str(tmp_path / "mirror"))
    known = pinned_to(weights.DECODER, files["decoder.pth"])
    dest = weights.fetch(known, tmp_path / "w")
    assert dest.read_bytes() == files["decoder.pth"] and weights.recorded_hash(dest) == known.sha256
    monkeypatch.setenv("STYLER_WEIGHTS_MIRROR", "https://mirror.invalid/adain")
    with pytest.raises(WeightsError) as e:
        weights.fetch(known, tmp_path / "w2")
    assert "https://mirror.invalid/adain/decoder.pth" in str(e.value) and "STYLER_WEIGHTS_MIRROR" in str(e.value)


def test_verify_tells_the_release_from_custom_files(files, weights_dir, tmp_path, monkeypatch):
    monkeypatch.setitem(weights.KNOWN, "decoder", pinned_to(weights.DECODER, files["decoder.pth"]))
    r = run_cli("weights", "verify")
    assert r.exit_code == 0, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 3
    assert f"{weights_dir / 'vgg_normalised.pth'}: a custom vgg file (valid layout" in lines[0]
    assert f"{weights_dir / 'decoder.pth'}: the release decoder.pth" in lines[1]
    assert f"{weights_dir / 'main.pth'}: not downloaded (only --method aesfa needs it" in lines[2]
    sd = torch.load(weights_dir / "decoder.pth", weights_only=True)
    torch.save({"decoder": sd, "iter": 3}, tmp_path / "trained.pth")  # a training checkpoint
    r = run_cli("weights", "verify", tmp_path / "trained.pth", tmp_path / "missing.pth")
    assert r.exit_code == 1
    lines = r.stderr.strip().splitlines()
    assert "trained.pth: a custom decoder file (valid layout, not the release decoder.pth)" in lines[0]
    assert "missing.pth is missing; check the path" in lines[1] and "1 weights file(s) failed" in lines[2]


def test_two_concurrent_downloads_fetch_once(files, tmp_path):
    data = files["decoder.pth"]
    known = pinned_to(weights.DECODER, data)
    served = Served(files, delay=0.01)  # slow enough that the second caller arrives mid-download
    results, errors = [], []

    def one(url):
        try:
            results.append(weights.fetch(known, tmp_path / "w", url=url))
        except Exception as e:
            errors.append(e)

    with serve(served) as base:
        threads = [threading.Thread(target=one, args=(f"{base}/decoder.pth",)) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors and results == [tmp_path / "w" / "decoder.pth"] * 2
    assert served.requests == [("decoder.pth", None)]  # one download; the other waited and used it
    assert (tmp_path / "w" / "decoder.pth").read_bytes() == data
    assert names_in(tmp_path / "w") == [".decoder.pth.lock", "decoder.pth", "decoder.pth.sha256"]


@pytest.mark.parametrize("ranges", [True, False])
def test_a_cut_download_resumes(files, tmp_path, ranges):
    data = files["decoder.pth"]
    known = pinned_to(weights.DECODER, data)
    cut = len(data) // 3
    served = Served(files, ranges=ranges, cut=cut)
    seen = []
    with serve(served) as base:
        url = f"{base}/decoder.pth"
        with pytest.raises(WeightsError, match="run it again to resume") as e:
            weights.fetch(known, tmp_path / "w", url=url)
        assert "\n" not in str(e.value)
        part = tmp_path / "w" / ".decoder.pth.part"
        assert part.read_bytes() == data[:cut]  # kept, under a name never loaded
        assert not (tmp_path / "w" / "decoder.pth").exists()
        dest = weights.fetch(known, tmp_path / "w", url=url, progress=lambda d, t: seen.append((d, t)))
    assert served.requests == [("decoder.pth", None), ("decoder.pth", f"bytes={cut}-")]
    assert dest.read_bytes() == data and weights.recorded_hash(dest) == known.sha256
    assert seen[-1] == (len(data), len(data))
    assert seen[0][0] > (cut if ranges else 0) and seen[0][0] <= (cut if ranges else 0) + (1 << 20)
    assert not part.exists()


def test_a_stale_partial_of_another_file_is_deleted(files, tmp_path):
    data = files["decoder.pth"]
    known = pinned_to(weights.DECODER, data)
    (tmp_path / "w").mkdir()
    part = tmp_path / "w" / ".decoder.pth.part"
    part.write_bytes(b"x" * 1000)  # resumed onto the real tail: the hash cannot match
    served = Served(files)
    with serve(served) as base:
        with pytest.raises(WeightsError, match="SHA-256"):
            weights.fetch(known, tmp_path / "w", url=f"{base}/decoder.pth")
        assert not part.exists()
        assert weights.fetch(known, tmp_path / "w", url=f"{base}/decoder.pth").read_bytes() == data
    assert served.requests == [("decoder.pth", "bytes=1000-"), ("decoder.pth", None)]

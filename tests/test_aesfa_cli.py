"""AesFA from the command line: wiring (the core patched out, as test_cli_wiring), one real
end-to-end transfer from a release-layout main.pth equal to the reference transcription, the
weights table entry (unpinned, layout-verified) and downloads behind a confirmation page."""

from __future__ import annotations

import dataclasses
import threading
from contextlib import contextmanager
from fractions import Fraction
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
import torch
from PIL import Image

import reference_aesfa as R
from conftest import make_image, one_line_error, patch_load_engine, run_cli
from styler.controls import Controls
from styler.errors import WeightsError
from styler.methods.aesfa.config import AesFATrainConfig
from styler.methods.aesfa.modelfile import check_file
from styler.methods.base import Bands
from styler.names import Color
from styler.nets import download, weights


@pytest.fixture(scope="module")
def release():
    """Random weights in the release layout: {"netE": sd, "netS": sd, "netG": sd}."""
    return R.random_weights(0)


@pytest.fixture
def main_pth(release, tmp_path) -> Path:
    path = tmp_path / "main.pth"
    torch.save(release, path)
    return path


def files(tmp_path: Path) -> tuple[Path, Path, Path]:
    return (
        make_image(tmp_path / "content.jpg", (40, 32), 1),
        make_image(tmp_path / "style.jpg", (36, 36), 2),
        make_image(tmp_path / "low.jpg", (30, 38), 3),
    )


# -- wiring: the core patched out ----------------------------------------------------------------


class Recorder:
    """A fake engine that keeps the styles and controls each render got."""

    def __init__(self) -> None:
        self.calls: list[tuple[list, Controls]] = []

    def describe(self) -> str:
        return "fake on cpu"

    def represent(self, style):
        return style

    def apply(self, content, styles, controls, masks=None):
        self.calls.append((list(styles), controls))
        return torch.full_like(content, 0.5)

    def result(self, content, styles, controls, masks=None):
        from styler.methods.base import ImageResult

        return ImageResult(self.apply(content, styles, controls, masks))


@pytest.fixture
def fake(monkeypatch):
    engine, seen = Recorder(), []

    def load_engine(model, gatys=None, diffstyler=None, *, curves=None, on_step=None):
        seen.append(model)
        return engine

    patch_load_engine(monkeypatch, load_engine)
    return engine, seen


@pytest.mark.parametrize(
    ("args", "method"),
    [
        (["--method", "aesfa"], "aesfa"),
        (["--model", "main.pth"], "aesfa"),  # the release's file name selects aesfa
        (["--method", "aesfa", "--model", "weights/aesfa.pth"], "aesfa"),  # an explicit --method is kept
        (["--model", "model.pth"], "cin"),  # any other network file is a CIN one, as before
    ],
)
def test_method_and_model_reach_the_loader(tmp_path, fake, jobs, monkeypatch, args, method):
    content, style, _ = files(tmp_path)
    monkeypatch.chdir(tmp_path)
    r = run_cli("transfer", content, style if method == "aesfa" else "3", "-o", tmp_path / "o", *args)
    assert r.exit_code == 0, r.output
    (model,) = fake[1]
    assert model.method.value == method
    assert model.model == (Path(args[args.index("--model") + 1]) if "--model" in args else None)


def test_a_folder_holding_main_pth_selects_aesfa(tmp_path, fake, jobs, main_pth):
    content, style, _ = files(tmp_path)
    r = run_cli("transfer", content, style, "-o", tmp_path / "o", "--model", main_pth.parent)
    assert r.exit_code == 0, r.output
    assert fake[1][0].method.value == "aesfa" and fake[1][0].model == main_pth.parent


def test_low_style_reaches_the_job_and_names_the_outputs(tmp_path, fake, jobs):
    content, style, low = files(tmp_path)
    r = run_cli("transfer", content, style, "--method", "aesfa", "--low-style", low, "-o", tmp_path / "o")
    assert r.exit_code == 0, r.output
    ((job, pairs),) = jobs
    assert job.inputs.low_style == low and [p.output for p in pairs] == ["content_stylized_style_aesfa_low-low.png"]


def test_low_style_is_refused_for_other_methods_in_one_line(tmp_path, fake, jobs):
    content, style, low = files(tmp_path)
    for command in (["transfer", content, style], ["interpolate", content, style, low]):
        r = run_cli(*command, "--low-style", low)
        one_line_error(r, "--low-style", "method adain", "--method aesfa")
    assert jobs == [] and fake[1] == []  # refused before any weights load


def test_interpolate_takes_each_style_with_the_low_band(tmp_path, fake):
    content, style, low = files(tmp_path)
    other = make_image(tmp_path / "b.jpg", (30, 30), 4)
    out = tmp_path / "i.png"
    r = run_cli(
        "interpolate", content, style, other, "--method", "aesfa", "--low-style", low, "--weights", "1,3",
        "--color", "coral", "-o", out,
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    ((styles, controls),) = fake[0].calls
    assert [type(s) for s in styles] == [Bands, Bands] and controls.weights == (0.25, 0.75)
    assert all(torch.equal(s.low, styles[0].low) for s in styles) and not torch.equal(styles[0].high, styles[1].high)
    assert controls.color is Color.coral and out.is_file() and "low band from low.jpg" in r.stderr


def test_video_takes_the_low_band(tmp_path, fake, monkeypatch):
    import styler.jobs.video as pipeline
    import styler.media.video as video

    _, style, low = files(tmp_path)
    (tmp_path / "in.mp4").write_bytes(b"not read: probe is patched")
    info = video.VideoInfo(tmp_path / "in.mp4", 64, 48, Fraction(24), 10, 0.4, "h264", (), 0)
    monkeypatch.setattr(video, "probe", lambda path: info)
    seen = []

    def stylize_video(engine, info, dest, styles, controls, **kw):
        seen.append((dest, styles))
        return pipeline.VideoReport(Path(dest), 10, 1.0, (64, 48), 0.5, 0.1, 0.05)

    monkeypatch.setattr(pipeline, "stylize_video", stylize_video)
    monkeypatch.chdir(tmp_path)
    r = run_cli("video", "in.mp4", "-s", style, "--method", "aesfa", "--low-style", low)
    assert r.exit_code == 0, r.output
    ((dest, styles),) = seen
    assert dest == tmp_path / "in_stylized_style_aesfa_low-low.mp4" and isinstance(styles[0], Bands)
    assert fake[1][0].method.value == "aesfa"


def test_train_aesfa_hands_the_loop_the_release_recipe(tmp_path, monkeypatch):
    import styler.training.loop as loop
    from styler.training.support import TrainResult

    seen = []
    monkeypatch.setattr(loop, "train", lambda cfg, **kw: seen.append(cfg) or TrainResult(tmp_path, 0, None, None, []))
    base = ["train", "--method", "aesfa", "--coco", tmp_path, "--wikiart", tmp_path]
    r = run_cli(*base, "-o", tmp_path / "run", "--contrast-weight", "2")
    assert r.exit_code == 0, r.output
    (cfg,) = seen
    assert type(cfg) is AesFATrainConfig and cfg.contrast_weight == 2.0 and cfg.out == str(tmp_path / "run")
    assert cfg == AesFATrainConfig(content_dir=str(tmp_path), style_dir=str(tmp_path), out=cfg.out, contrast_weight=2)
    assert (cfg.max_iter, cfg.batch_size, cfg.lr, cfg.lr_decay, cfg.beta1, cfg.beta2) == (160_000, 8, 1e-4, 0, 0, 0.99)
    assert (cfg.content_weight, cfg.style_weight, cfg.resize, cfg.square_resize, cfg.crop) == (1, 10, 512, True, 256)
    help_text = " ".join(run_cli("train", "--help").output.split())
    assert "adain 160000, cin 40000, aesfa 160000" in help_text and "aesfa: weight of the contrastive loss" in help_text
    one_line_error(run_cli("train", "--coco", tmp_path, "--wikiart", tmp_path, "--contrast-weight", "1"), "adain")
    one_line_error(run_cli(*base, "--batch-size", "1"), "--batch-size 1", "hard negative", "--contrast-weight 0")
    one_line_error(run_cli(*base, "--styles", tmp_path), "--styles does not apply to --method aesfa")


# -- end to end ----------------------------------------------------------------------------------


def test_transfer_with_a_release_layout_main_pth_equals_the_reference(tmp_path, release, main_pth):
    """`styler transfer photo.png art.png --method aesfa --model main.pth` with random release weights."""
    photo = make_image(tmp_path / "photo.png", (61, 45), 5)
    art = make_image(tmp_path / "art.png", (40, 52), 6)
    out = tmp_path / "out.png"
    r = run_cli(
        "transfer", photo, art, "--method", "aesfa", "--model", main_pth, "-o", out,
        "--content-size", "0", "--style-size", "0", "--device", "cpu", "--precision", "fp32",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    content, style = (
        torch.from_numpy(np.asarray(Image.open(p), np.float32) / 255).permute(2, 0, 1)[None] for p in (photo, art)
    )
    want = (R.stylize(release, content, style)[0].permute(1, 2, 0).numpy() * 255).round()
    got = np.asarray(Image.open(out), np.float32)
    assert got.shape == (45, 61, 3) and np.abs(got - want).max() <= 1  # the PNG's rounding, at most
    assert want.std() > 5


# -- weights ---------------------------------------------------------------------------------------


def test_the_table_entry_is_unpinned_and_verified_by_layout(tmp_path, monkeypatch, weights_dir, main_pth):
    assert weights.AESFA.sha256 is None and weights.AESFA.filename == "main.pth" and weights.KNOWN["aesfa"]
    assert "1Y3OutPAsmPmJcnZs07ZVbDFf6nn3RzxR" in weights.AESFA.url
    r = run_cli("weights", "list")
    line = next(x for x in r.stdout.splitlines() if "main.pth" in x)
    assert "unpinned" in line and "missing" in line
    r = run_cli("weights", "verify")  # main.pth absent: noted, not a failure (only aesfa needs it)
    assert r.exit_code == 0 and "only --method aesfa needs it" in r.stderr
    monkeypatch.setenv("STYLER_WEIGHTS_DIR", str(tmp_path / "w"))
    r = run_cli("weights", "import", main_pth)
    assert r.exit_code == 0, r.output
    r = run_cli("weights", "verify", tmp_path / "w" / "main.pth")
    assert r.exit_code == 0 and "a valid main.pth layout" in r.stderr and "unpinned" in r.stderr
    broken = tmp_path / "bad" / "main.pth"
    broken.parent.mkdir()
    torch.save({"netE": {}, "netS": {}, "netG": {}}, broken)
    one_line_error(run_cli("weights", "import", broken), "missing key 'netE.conv.weight'")  # named like it: its reason


def test_offline_names_the_file_and_where_to_put_it(tmp_path, monkeypatch):
    content, style, _ = files(tmp_path)
    monkeypatch.setenv("STYLER_WEIGHTS_DIR", str(tmp_path / "w"))
    r = run_cli("transfer", content, style, "--method", "aesfa", "-o", tmp_path / "o.png")
    assert r.exit_code == 1 and "Traceback" not in r.output  # the offline block: every missing file, two fixes
    assert r.stderr.startswith(f"error: 1 weights file(s) missing from {tmp_path / 'w'}")
    for words in ("main.pth", "drive.google.com", "STYLER_WEIGHTS_DIR", "styler weights import main.pth"):
        assert words in r.stderr


def test_a_missing_model_folder_file_is_one_line(tmp_path):
    content, style, _ = files(tmp_path)
    r = run_cli("transfer", content, style, "--method", "aesfa", "--model", tmp_path, "-o", tmp_path / "o.png")
    one_line_error(r, "--model", "is a folder without main.pth")


class Drive:
    """A local stand-in for Google Drive's two answers: ``direct`` serves the file at once, else
    an HTML page whose form (``style="form"``: confirm and uuid fields) or link (``"link"``:
    confirm= in its href) leads to it. Ranges are honoured on the file; ``cut`` bytes end the
    first file response early."""

    def __init__(self, data: bytes, style: str, cut: int | None = None) -> None:
        self.data, self.style, self.cut = data, style, cut
        self.seen: list[tuple[str, str | None, str | None]] = []  # (path, Range, Cookie)

    def page(self) -> bytes:
        if self.style == "form":
            body = (
                '<form id="download-form" action="/download" method="get">'
                '<input type="submit" value="Download anyway"/>'
                '<input type="hidden" name="id" value="FILEID"><input type="hidden" name="export" value="download">'
                '<input type="hidden" name="confirm" value="t"><input type="hidden" name="uuid" value="u-1"></form>'
            )
        elif self.style == "link":
            body = '<a id="uc-download-link" href="/uc?export=download&amp;confirm=AbC1&amp;id=FILEID">Download</a>'
        else:
            body = "<p>Too many users have viewed or downloaded this file recently.</p>"
        return f"<html><body>{body}</body></html>".encode()


@contextmanager
def drive(served: Drive):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            query = parse_qs(url.query)
            asked = self.headers.get("Range")
            served.seen.append((self.path, asked, self.headers.get("Cookie")))
            confirmed = (url.path == "/download" and query.get("uuid") == ["u-1"]) or query.get("confirm") == ["AbC1"]
            if served.style != "direct" and not confirmed:
                page = served.page()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Set-Cookie", "download_warning=xyz; Path=/")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)
                return
            start = int(asked.split("=")[1].rstrip("-")) if asked else 0
            body = served.data[start:]
            self.send_response(206 if start else 200)
            self.send_header("Content-Type", "application/octet-stream")
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(served.data) - 1}/{len(served.data)}")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            cut, served.cut = served.cut, None
            self.wfile.write(body if cut is None else body[:cut])
            self.close_connection = True

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/uc?export=download&id=FILEID"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("style", ["direct", "form", "link"])
def test_drive_serves_directly_or_behind_a_confirmation_page(tmp_path, main_pth, style):
    data = main_pth.read_bytes()
    served = Drive(data, style)
    with drive(served) as url:
        dest = weights.fetch(dataclasses.replace(weights.AESFA, url=url), tmp_path / "w", url=url, check=check_file)
    assert dest.read_bytes() == data and weights.recorded_hash(dest) == weights.sha256_of(dest)
    paths = [p for p, _, _ in served.seen]
    if style == "form":
        assert paths[1].startswith("/download?") and "confirm=t" in paths[1] and "uuid=u-1" in paths[1]
        assert served.seen[1][2] == "download_warning=xyz"  # the page's cookie goes along
    elif style == "link":
        assert paths[1] == "/uc?export=download&confirm=AbC1&id=FILEID"
    assert len(paths) == (1 if style == "direct" else 2)


def test_a_cut_download_behind_the_page_resumes_with_a_range(tmp_path, main_pth):
    data = main_pth.read_bytes()
    served = Drive(data, "form", cut=len(data) // 3)
    known = dataclasses.replace(weights.AESFA)
    with drive(served) as url:
        with pytest.raises(WeightsError, match="run it again to resume"):
            weights.fetch(known, tmp_path / "w", url=url, check=check_file)
        dest = weights.fetch(known, tmp_path / "w", url=url, check=check_file)
    assert dest.read_bytes() == data
    ranges = [r for _, r, _ in served.seen]
    assert ranges[2:] == [f"bytes={len(data) // 3}-"] * 2  # the page and the file were both asked from there


def test_a_page_without_a_link_is_one_line(tmp_path):
    with drive(Drive(b"", "quota")) as url, pytest.raises(WeightsError) as e:
        weights.fetch(weights.AESFA, tmp_path / "w", url=url)
    message = str(e.value)
    assert "answered with a web page, not main.pth" in message and str(tmp_path / "w") in message
    assert "\n" not in message and not list((tmp_path / "w").glob("*.part"))


def test_confirmation_url_reads_forms_and_links():
    base = "https://drive.google.com/uc?export=download&id=X"
    form = '<form action="https://drive.usercontent.google.com/download"><input type="hidden" name="id" value="X">'
    form += '<input type="hidden" name="confirm" value="t"><input type="hidden" name="uuid" value="9"></form>'
    assert (
        download.confirmation_url(form, base) == "https://drive.usercontent.google.com/download?id=X&confirm=t&uuid=9"
    )
    link = '<a href="/uc?export=download&amp;confirm=Zz&amp;id=X">go</a>'
    assert download.confirmation_url(link, base) == "https://drive.google.com/uc?export=download&confirm=Zz&id=X"
    assert download.confirmation_url("<p>no link</p>", base) is None


def test_download_by_name_from_a_mirror_checks_the_layout(tmp_path, monkeypatch, main_pth):
    monkeypatch.setenv("STYLER_WEIGHTS_MIRROR", str(main_pth.parent))  # a local folder serving main.pth
    monkeypatch.setenv("STYLER_WEIGHTS_DIR", str(tmp_path / "w"))
    r = run_cli("weights", "download", "aesfa")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "w" / "main.pth").read_bytes() == main_pth.read_bytes()
    assert sorted(p.name for p in (tmp_path / "w").iterdir()) == [
        "main.pth",
        "main.pth.sha256",
    ]  # the lock lives elsewhere
    torch.save({"netE": {}}, tmp_path / "bad.pth")
    monkeypatch.setenv("STYLER_WEIGHTS_MIRROR", str(tmp_path / "m"))
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "main.pth").write_bytes((tmp_path / "bad.pth").read_bytes())
    one_line_error(run_cli("weights", "download", "aesfa", "--force"), "missing key 'netS'")
    assert (tmp_path / "w" / "main.pth").read_bytes() == main_pth.read_bytes()  # the good file is untouched
    one_line_error(run_cli("weights", "download", "nope"), "no weights named 'nope'", "vgg, decoder, aesfa")

"""Dataset jobs: pairing, names, mirrored trees, manifest, resume, shards, the worker pipeline, style cache."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import make_image, process_env, torchrun_styler
from styler.errors import InputError
from styler.jobs import loader, manifest, runner
from styler.jobs.pairing import PairMode, Source, list_tree, make_pairs, shard
from styler.jobs.spec import Job, make_job
from styler.media.images import load_image, to_pil


def sources(names: list[str]) -> list[Source]:
    return [Source(Path("/x") / n, n) for n in names]


@pytest.fixture(scope="module")
def engine(weights_dir):
    from styler.engine import Engine
    from styler.methods.adain.method import load

    vgg, dec = weights_dir / "vgg_normalised.pth", weights_dir / "decoder.pth"
    return Engine(load(vgg=vgg, decoder=dec, device="cpu", precision="fp32"))


@pytest.fixture
def tree(tmp_path) -> tuple[Path, Path]:
    """contents: a.png, sub/b.png, sub/deep/c.jpg (different sizes); styles: s0..s2."""
    c, s = tmp_path / "c", tmp_path / "s"
    make_image(c / "a.png", (40, 32), 1)
    make_image(c / "sub" / "b.png", (32, 40), 2)
    make_image(c / "sub" / "deep" / "c.jpg", (36, 36), 3)
    for i in range(3):
        make_image(s / f"s{i}.png", (24, 24), 10 + i)
    return c, s


def job(tree, out, **kw) -> Job:
    kw.setdefault("content_size", 16)
    kw.setdefault("style_size", 16)
    kw.setdefault("workers", 0)
    kw.setdefault("style_cache", False)
    kw.setdefault("name", "{content}_stylized_{style}")  # the default name would add _c16_s16
    return make_job(tree[0], [tree[1]], out, **kw)


def files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


# -- pairing and names --------------------------------------------------------------------


def test_all_pairs_every_content_with_every_style_content_major():
    pairs = make_pairs(sources(["b.png", "a.png"]), sources(["y.png", "x.png"]))
    assert [(p.content.rel, p.style.rel) for p in pairs] == [
        ("a.png", "x.png"),
        ("a.png", "y.png"),
        ("b.png", "x.png"),
        ("b.png", "y.png"),
    ]
    assert [p.index for p in pairs] == [0, 1, 2, 3]
    assert pairs[1].output == "a_stylized_y.png"


def test_random_gives_k_distinct_styles_per_content_reproducibly():
    contents = sources([f"d{i % 3}/img{i}.jpg" for i in range(40)])
    styles = sources([f"s{j}.png" for j in range(10)])
    pairs = make_pairs(contents, styles, mode="random", per_content=3, seed=7)
    per = {}
    for p in pairs:
        per.setdefault(p.content.rel, []).append(p.style.rel)
    assert len(per) == 40 and all(len(v) == 3 == len(set(v)) for v in per.values())
    # the styles spread over the whole folder (40 x 3 draws from 10 styles)
    assert len(Counter(s for v in per.values() for s in v)) == 10
    # independent of the order and of which other contents are in the job
    shuffled = make_pairs(list(reversed(contents))[:7], styles, mode=PairMode.RANDOM, per_content=3, seed=7)
    for p in shuffled:
        assert p.style.rel in per[p.content.rel]
    again = make_pairs(contents, styles, mode="random", per_content=3, seed=7)
    assert [(p.content.rel, p.style.rel) for p in again] == [(p.content.rel, p.style.rel) for p in pairs]
    other = make_pairs(contents, styles, mode="random", per_content=3, seed=8)
    assert [p.style.rel for p in other] != [p.style.rel for p in pairs]


def test_random_draw_is_the_documented_hash_seeded_generator():
    import hashlib

    seed = int.from_bytes(hashlib.sha256(b"3:dir/x.jpg").digest()[:8], "little")
    want = sorted(np.random.default_rng(seed).choice(5, size=2, replace=False).tolist())
    pairs = make_pairs(
        sources(["dir/x.jpg"]), sources([f"s{j}" + ".png" for j in range(5)]), mode="random", per_content=2, seed=3
    )
    assert [p.style.rel for p in pairs] == [f"s{j}.png" for j in want]


def test_shards_are_disjoint_cover_everything_and_keep_names():
    pairs = make_pairs(sources([f"c{i}.png" for i in range(7)]), sources(["s0.png", "s1.png"]))
    for world in (1, 2, 3, 8):
        shards = [shard(pairs, r, world) for r in range(world)]
        flat = [p for s in shards for p in s]
        assert sorted(p.index for p in flat) == list(range(len(pairs)))
        assert {p.output for p in flat} == {p.output for p in pairs}
    # with fewer contents than ranks single pairs are dealt out
    few = make_pairs(sources(["c.png"]), sources([f"s{j}.png" for j in range(4)]))
    assert [len(shard(few, r, 4)) for r in range(4)] == [1, 1, 1, 1]


def test_zip_cycles_the_shorter_list():
    pairs = make_pairs(sources(["a.png", "b.png", "c.png", "d.png", "e.png"]), sources(["y.png", "x.png"]), mode="zip")
    assert [(p.content.rel, p.style.rel) for p in pairs] == [
        ("a.png", "x.png"),
        ("b.png", "y.png"),
        ("c.png", "x.png"),
        ("d.png", "y.png"),
        ("e.png", "x.png"),
    ]
    more_styles = make_pairs(sources(["a.png"]), sources(["x.png", "y.png", "z.png"]), mode="zip")
    assert [p.style.rel for p in more_styles] == ["x.png", "y.png", "z.png"]


def test_name_template_fields_and_mirrored_folders():
    pairs = make_pairs(
        sources(["sub/deep/a.jpg"]),
        sources(["st/x.png"]),
        name="{index:03d}-{content}-{style}-{alpha}",
        ext="jpg",
        alpha=0.5,
    )
    assert pairs[0].output == "sub/deep/000-a-x-0.5.jpg"


@pytest.mark.parametrize(
    ("name", "words"),
    [("{content}_{nope}", ["unknown field", "{nope}"]), ("a/{content}", ["without folders"]), ("", ["empty"])],
)
def test_bad_templates_are_one_input_error(name, words):
    with pytest.raises(InputError) as e:
        make_pairs(sources(["a.png"]), sources(["x.png"]), name=name)
    assert all(w in str(e.value) for w in words) and "\n" not in str(e.value)


def test_random_needs_enough_styles():
    with pytest.raises(InputError, match="per_content=3 but there are only 2"):
        make_pairs(sources(["a.png"]), sources(["x.png", "y.png"]), mode="random", per_content=3)


def test_collision_is_one_error_naming_both_inputs_before_any_work(tree, tmp_path, engine):
    make_image(tree[0] / "a.jpg", (40, 32), 5)  # a.png and a.jpg both become a_....png
    j = job(tree, tmp_path / "out", name="{content}", pairs="random", per_content=1)
    with pytest.raises(InputError) as e:
        runner.run(engine, j)
    msg = str(e.value)
    assert "a.jpg + s" in msg and "a.png + s" in msg and "would both write" in msg and "\n" not in msg
    assert not (tmp_path / "out").exists()


def test_list_tree_recursive_sorted_and_skips_hidden(tree):
    (tree[0] / ".hidden").mkdir()
    make_image(tree[0] / ".hidden" / "h.png")
    (tree[0] / "notes.txt").write_text("x")
    assert [s.rel for s in list_tree(tree[0])] == ["a.png", "sub/b.png", "sub/deep/c.jpg"]
    assert [s.rel for s in list_tree(tree[0] / "a.png")] == ["a.png"]


# -- jobs ---------------------------------------------------------------------------------


def test_job_mirrors_the_tree_and_writes_a_sorted_complete_manifest(tree, tmp_path, engine):
    out = tmp_path / "out"
    report = runner.run(engine, job(tree, out, pairs="random", per_content=2, seed=0))
    assert report.written == 6 and report.failures == [] and not report.interrupted
    records = manifest.read(out / "manifest.jsonl")
    assert [r["output"] for r in records] == sorted(r["output"] for r in records)
    assert files(out) == sorted([r["output"] for r in records] + ["manifest.jsonl"])
    assert {r["content"] for r in records} == {"a.png", "sub/b.png", "sub/deep/c.jpg"}
    for r in records:
        folder = str(Path(r["content"]).parent)
        assert str(Path(r["output"]).parent) == folder
        assert Path(r["output"]).name == f"{Path(r['content']).stem}_stylized_{Path(r['style']).stem}.png"


def test_job_pixels_equal_a_plain_transfer(tree, tmp_path, engine):
    out = tmp_path / "out"
    runner.run(engine, job(tree, out, pairs="zip", workers=1))
    c, s = tree[0] / "sub" / "b.png", tree[1] / "s1.png"
    style = engine.represent(load_image(s, 16))
    want = np.asarray(to_pil(engine.render(load_image(c, 16), [style])))
    got = np.asarray(Image.open(out / "sub" / "b_stylized_s1.png"))
    assert np.array_equal(got, want)


def test_colour_preservation_renders_through_the_engine(tree, tmp_path, engine):
    out = tmp_path / "out"
    report = runner.run(engine, job(tree, out, pairs="zip", color="coral"))
    assert report.written == 3
    c, s = tree[0] / "a.png", tree[1] / "s0.png"
    want = np.asarray(to_pil(engine.render(load_image(c, 16), [load_image(s, 16)], color="coral")))
    assert np.array_equal(np.asarray(Image.open(out / "a_stylized_s0.png")), want)


def test_bad_file_is_skipped_reported_and_absent_from_the_manifest(tree, tmp_path, engine):
    (tree[0] / "sub" / "broken.jpg").write_bytes(b"not a jpeg")
    out = tmp_path / "out"
    report = runner.run(engine, job(tree, out, workers=1, pairs="zip"))  # 4 contents, 3 styles: 4 pairs
    assert report.written == 3 and report.failed == 1
    assert len(report.failures) == 1 and "broken.jpg" in str(report.failures[0])
    records = manifest.read(out / "manifest.jsonl")
    assert len(records) == 3 and not any("broken" in r["content"] for r in records)
    assert files(out) == sorted([r["output"] for r in records] + ["manifest.jsonl"])


def test_skip_existing_keeps_records_and_does_no_work(tree, tmp_path, engine):
    out = tmp_path / "out"
    first = runner.run(engine, job(tree, out, pairs="zip"))
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.png")}
    victim = out / "sub" / "b_stylized_s1.png"
    victim.unlink()
    second = runner.run(engine, job(tree, out, pairs="zip", skip_existing=True))
    assert (second.written, second.existing) == (1, first.written - 1)
    assert victim.is_file()
    assert all(p.stat().st_mtime_ns == t for p, t in before.items() if p != victim)
    assert manifest.read(out / "manifest.jsonl") == sorted(
        manifest.read(out / "manifest.jsonl"), key=lambda r: r["output"]
    )
    assert len(manifest.read(out / "manifest.jsonl")) == 3


def test_shards_under_fake_ranks_write_the_same_files(tree, tmp_path, engine, monkeypatch):
    """Each rank alone (its part file), merged, equals one process's files and manifest."""
    one = tmp_path / "one"
    runner.run(engine, job(tree, one, pairs="random", per_content=2))
    many = tmp_path / "many"
    monkeypatch.setattr(
        manifest, "finish", lambda out, rank, world, records, interrupted: manifest.write_part(out, rank, records)
    )
    for rank in range(3):
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("WORLD_SIZE", "3")
        runner.run(engine, job(tree, many, pairs="random", per_content=2))
    manifest.merge(many, 3)
    assert files(one) == files(many)
    for f in files(one):
        assert (one / f).read_bytes() == (many / f).read_bytes(), f


def test_interrupt_finishes_writes_and_reports(tree, tmp_path, engine):
    import threading

    stop = threading.Event()
    calls = []

    def progress(done, total):
        calls.append(done)
        if done >= 2:
            stop.set()

    out = tmp_path / "out"
    report = runner.run(engine, job(tree, out), progress=progress, stop=stop)
    assert report.interrupted and 2 <= report.written < 9
    assert not [p for p in out.rglob("*") if p.name.endswith(".part")]
    assert len(manifest.read(out / "manifest.jsonl")) == report.written
    resumed = runner.run(engine, job(tree, out, skip_existing=True))
    assert resumed.written + resumed.existing == 9 and resumed.existing == report.written


# -- pipeline pieces ----------------------------------------------------------------------


def test_buckets_group_sizes_and_flush_everything():
    from styler.errors import InputError as E

    a, b = np.zeros((4, 6, 3), np.uint8), np.zeros((6, 4, 3), np.uint8)
    items = [(0, a), (1, b), (2, a), (3, E("bad")), (4, a), (5, b), (6, a)]
    batches = list(loader.buckets(items, max_batch=2, max_pixels=10**6, hold=8))
    keys = [[k for k, _ in bt] for bt in batches]
    assert sorted(k for ks in keys for k in ks) == list(range(7))
    assert [0, 2] in keys and [3] in keys and [1, 5] in keys
    for bt in batches:
        assert len({px.shape for _, px in bt if not isinstance(px, E)}) <= 1


def test_uint8_round_trip_matches_to_pil():
    x = torch.rand(2, 3, 5, 7)
    px = loader.to_pixels(x)
    assert all(np.array_equal(p, np.asarray(to_pil(x[i]))) for i, p in enumerate(px))
    back = loader.to_device(px, torch.device("cpu"))
    assert back.shape == (2, 3, 5, 7) and (back - x).abs().max() <= 0.5 / 255 + 1e-6


@pytest.mark.parametrize("workers", [0, 1])
def test_writer_saves_atomically_with_the_options(tmp_path, workers):
    px = np.random.default_rng(0).integers(0, 255, (16, 16, 3), dtype=np.uint8)
    pool = loader.pool(workers, "test")
    w = loader.Writer(pool, loader.Encoding(png_level=0, jpeg_quality=50), limit=2)
    done = w.submit("a", px, tmp_path / "a.png") + w.submit("b", px, tmp_path / "b.jpg")
    done += w.submit("c", px, tmp_path / "c.gif2") + w.drain()
    pool.shutdown()
    assert {k for k, e in done if e is None} == {"a", "b"} and "unknown image extension" in str(dict(done)["c"])
    assert np.array_equal(np.asarray(Image.open(tmp_path / "a.png")), px)
    assert (tmp_path / "a.png").stat().st_size > 16 * 16 * 3  # level 0: stored, not compressed
    assert sorted(os.listdir(tmp_path)) == ["a.png", "b.jpg"]


def test_style_cache_hits_on_the_second_run_with_equal_stats(tree, tmp_path, engine):
    cache = tmp_path / "cache"
    first = runner.run(engine, job(tree, tmp_path / "o1", pairs="zip", style_cache=True, cache_dir=cache))
    second = runner.run(engine, job(tree, tmp_path / "o2", pairs="zip", style_cache=True, cache_dir=cache))
    assert (first.style_misses, first.style_hits) == (3, 0) and (second.style_misses, second.style_hits) == (0, 3)
    assert files(tmp_path / "o1") == files(tmp_path / "o2")
    for f in files(tmp_path / "o1"):
        assert (tmp_path / "o1" / f).read_bytes() == (tmp_path / "o2" / f).read_bytes()
    entry = next(cache.rglob("*.pt"))
    entry.write_bytes(b"garbage")  # a corrupt entry is a miss, recomputed and rewritten
    third = runner.run(engine, job(tree, tmp_path / "o3", pairs="zip", style_cache=True, cache_dir=cache))
    assert (third.style_misses, third.style_hits) == (1, 2)
    assert json.dumps(manifest.read(tmp_path / "o3" / "manifest.jsonl")) == json.dumps(
        manifest.read(tmp_path / "o1" / "manifest.jsonl")
    )


# -- the command --------------------------------------------------------------------------


def styler_cmd(*args, torchrun: int = 0) -> list[str]:
    head = torchrun_styler(torchrun) if torchrun else [sys.executable, "-m", "styler"]
    return [*head, "transfer", *map(str, args), "--device", "cpu", "--precision", "fp32"]


def test_cli_collision_is_one_line_and_writes_nothing(tree, tmp_path):
    from conftest import one_line_error, run_cli

    make_image(tree[0] / "a.jpg", (40, 32), 5)
    r = run_cli("transfer", tree[0], tree[1], "-o", tmp_path / "out", "--pairs", "random", "--name", "{content}")
    one_line_error(r, "a.jpg + s", "a.png + s", "would both write", "--name")
    assert not (tmp_path / "out").exists()


def test_cli_alpha_sweep_is_a_dataset_job_too(tree, tmp_path):
    """Every folder job has one layout, whatever the controls: an alpha sweep mirrors the tree,
    lists its strips in the manifest and resumes with --skip-existing."""
    from conftest import run_cli

    args = (
        "transfer",
        tree[0],
        tree[1] / "s0.png",
        "-o",
        tmp_path / "out",
        "--alpha-sweep",
        "0,1",
        "--content-size",
        16,
        "--style-size",
        16,
        "--skip-existing",
        "--no-labels",
    )
    r = run_cli(*args)
    assert r.exit_code == 0, r.output
    tags = "_sweep0-1_nolabels_c16_s16.png"  # the name says every setting that is not the default
    strips = [f"{c}_stylized_s0{tags}" for c in ("a", "sub/b", "sub/deep/c")]
    assert files(tmp_path / "out") == sorted([*strips, "manifest.jsonl"])
    w, h = Image.open(tmp_path / "out" / strips[0]).size
    assert (w, h) == (2 * 20 + 4, 16)  # a.png is 40 x 32 -> 20 x 16 at content size 16; two tiles, one gap
    r = run_cli(*args)
    assert r.exit_code == 0 and "0 written, 3 already there" in r.stderr


def test_cli_dataset_job_and_summary(tree, tmp_path):
    from conftest import run_cli

    r = run_cli(
        "transfer",
        tree[0],
        tree[1],
        "-o",
        tmp_path / "out",
        "--pairs",
        "zip",
        "--name",
        "{index}-{style}",
        "--ext",
        "jpg",
        "--content-size",
        16,
        "--style-size",
        16,
        "--jpeg-quality",
        70,
        "--workers",
        1,
    )
    assert r.exit_code == 0, r.output
    assert files(tmp_path / "out") == ["0-s0.jpg", "manifest.jsonl", "sub/1-s1.jpg", "sub/deep/2-s2.jpg"]
    assert "3 written, 0 already there, 0 failed" in r.stderr


@pytest.mark.slow
def test_torchrun_two_processes_write_what_one_process_writes(tree, tmp_path, weights_dir):
    import subprocess

    for i in range(5):
        make_image(tree[0] / "more" / f"m{i}.png", (30 + i, 28), 20 + i)
    env = process_env(STYLER_WEIGHTS_DIR=str(weights_dir))
    common = [tree[0], tree[1], "--pairs", "random", "--per-content", 2, "--content-size", 16, "--style-size", 16]
    one = subprocess.run(
        styler_cmd(*common, "-o", tmp_path / "one"), env=env, capture_output=True, text=True, timeout=300
    )
    assert one.returncode == 0, one.stderr
    two = subprocess.run(
        styler_cmd(*common, "-o", tmp_path / "two", torchrun=2), env=env, capture_output=True, text=True, timeout=300
    )
    assert two.returncode == 0, two.stderr[-2000:]
    assert files(tmp_path / "one") == files(tmp_path / "two") and len(files(tmp_path / "one")) == 17
    for f in files(tmp_path / "one"):
        assert (tmp_path / "one" / f).read_bytes() == (tmp_path / "two" / f).read_bytes(), f
    assert two.stderr.count("done:") == 1  # rank 0 alone reports


@pytest.mark.slow
def test_sigterm_then_skip_existing_writes_every_output_once(tmp_path, weights_dir):
    import signal
    import subprocess
    import time

    for i in range(30):
        make_image(tmp_path / "c" / f"d{i % 3}" / f"img{i:02d}.png", (40, 32), i)
    style = make_image(tmp_path / "s.png", (24, 24), 99)
    out = tmp_path / "out"
    env = process_env(STYLER_WEIGHTS_DIR=str(weights_dir))
    args = [tmp_path / "c", style, "-o", out, "--content-size", 24, "--style-size", 16, "--workers", 1]
    proc = subprocess.Popen(styler_cmd(*args), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(out.rglob("*.png"))) < 3 and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "interrupted:" in stderr and "--skip-existing" in stderr and len(stderr.strip().splitlines()) == 1
    first = {p: p.stat().st_mtime_ns for p in out.rglob("*.png")}
    assert 3 <= len(first) < 30
    assert not [p for p in out.rglob("*") if p.name.startswith(".") and p.is_file()]
    assert len(manifest.read(out / "manifest.jsonl")) == len(first)
    again = subprocess.run(styler_cmd(*args, "--skip-existing"), env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    pngs = sorted(out.rglob("*.png"))
    assert len(pngs) == 30 and all(p.stat().st_mtime_ns == t for p, t in first.items())
    for p in pngs:
        with Image.open(p) as im:
            im.load()
    assert [r["output"] for r in manifest.read(out / "manifest.jsonl")] == sorted(
        p.relative_to(out).as_posix() for p in pngs
    )
    assert not [p for p in out.rglob("*") if p.name.startswith(".")]


def test_a_batch_takes_each_images_own_styles(tree, engine):
    """CUDA batches mix contents with different styles (and numbers of styles): round j decodes
    every content's j-th style at once with stacked statistics; equal to one render per pair."""
    from styler.jobs.pairing import Pair

    x = torch.rand(3, 3, 16, 24)
    styles = {f"s{i}.png": engine.represent(load_image(tree[1] / f"s{i}.png", 16)) for i in range(3)}
    src = [Source(tree[1] / n, n) for n in styles]
    plan = [[src[2], src[0]], [src[1]], [src[0], src[1]]]
    pairs = [[Pair(0, Source(Path("c"), f"c{i}"), s, f"o{i}{s.rel}") for s in ss] for i, ss in enumerate(plan)]
    from styler.controls import Controls

    rows = [[styles[s.rel] for s in ss] for ss in plan]
    got = {
        pairs[i][j].output: img
        for keys, out in engine.render_batch(x, rows, Controls(alpha=0.7))
        for (i, j), img in zip(keys, out, strict=True)
    }
    assert len(got) == 5
    for i, ss in enumerate(plan):
        for s in ss:
            want = engine.render(x[i : i + 1], [styles[s.rel]], alpha=0.7)[0]
            assert torch.allclose(got[f"o{i}{s.rel}"], want, atol=1e-5)


def test_cli_cin_folder_job_pairs_contents_with_style_names(tree, tmp_path):
    """CIN styles are names, not files: the folder job pairs and names by them, and records them."""
    from conftest import run_cli
    from styler.methods.cin.modelfile import save_model
    from test_cin import random_net

    model = save_model(tmp_path / "m.pth", random_net(2), ["starry", "wave"], {}, iterations=1)
    r = run_cli(
        "transfer", tree[0], "--model", model, "-s", "wave", "-s", "0", "-o", tmp_path / "out", "--content-size", 16
    )
    assert r.exit_code == 0, r.output
    got = files(tmp_path / "out")
    names = [f"{c}_stylized_{s}_cin_m_c16.png" for c in ("a", "sub/b", "sub/deep/c") for s in ("0", "wave")]
    assert got == sorted(["manifest.jsonl", *names])
    records = [json.loads(line) for line in (tmp_path / "out" / "manifest.jsonl").read_text().splitlines()]
    assert {r["style"] for r in records} == {"0", "wave"} and len(records) == 6


def test_a_long_method_interrupted_mid_job_leaves_no_result_under_an_output_name(engine, tree, tmp_path):
    """Gatys raises Interrupted(best image so far) on Ctrl-C. In a dataset job that image is not a
    finished result: nothing is written under its name (skip_existing would take it as complete),
    the pairs done before are kept, and a resumed run completes the job."""
    from styler.errors import Interrupted

    out, calls, real = tmp_path / "out", [], engine.apply

    def apply(content, styles, controls, masks=None):
        calls.append(1)
        if len(calls) == 2:
            raise Interrupted(torch.zeros_like(content))
        return real(content, styles, controls, masks)

    j = job(tree, out, pairs="zip", color="coral")  # colour: rendered pair by pair through engine.apply
    engine.apply = apply
    try:
        report = runner.run(engine, j)
    finally:
        del engine.apply
    assert report.interrupted and report.written == 1
    assert [f for f in files(out) if f.endswith(".png")] == ["a_stylized_s0.png"]
    assert not [p for p in out.rglob("*") if p.name.startswith(".") and p.is_file() and "part" in p.name]
    second = runner.run(engine, dataclasses.replace(j, run=dataclasses.replace(j.run, skip_existing=True)))
    assert (second.written, second.existing) == (2, 1) and not second.interrupted
    assert len(manifest.read(out / manifest.MANIFEST)) == 3

import dataclasses
import os
import pickle

import pytest
import torch

from styler.errors import WeightsError
from styler.nets import weights
from styler.nets.vgg import load_decoder

check_weights = weights.check_file
# The random test files are not the release files: unpinned copies of the table entries.
VGG = dataclasses.replace(weights.VGG, sha256=None, size=None)
DECODER = dataclasses.replace(weights.DECODER, sha256=None, size=None)


def test_resolution_order(weights_dir, tmp_path, monkeypatch):
    other = tmp_path / "mine.pth"
    other.write_bytes((weights_dir / "decoder.pth").read_bytes())
    assert weights.resolve(weights.DECODER, other) == other  # 1. the flag
    assert weights.resolve(weights.DECODER) == weights_dir / "decoder.pth"  # 2. $STYLER_WEIGHTS_DIR
    monkeypatch.delenv("STYLER_WEIGHTS_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert weights.default_dir() == tmp_path / "xdg" / "styler"  # 3. the default
    with pytest.raises(WeightsError, match="not in"):
        weights.resolve(weights.DECODER, download=False)


def test_offline_error_names_url_and_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("STYLER_WEIGHTS_DIR", str(tmp_path / "w"))
    with pytest.raises(WeightsError) as e:
        weights.resolve(weights.VGG)
    msg = str(e.value)
    assert weights.VGG.url in msg and str(tmp_path / "w") in msg
    assert weights.ENV_MIRROR in msg and weights.ENV_DIR in msg and "styler weights import vgg_normalised.pth" in msg
    assert not (tmp_path / "w").exists()  # a refused download leaves nothing, not even a lock file


def test_offline_error_lists_every_missing_file_at_once(weights_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("STYLER_WEIGHTS_DIR", str(tmp_path / "w"))
    with pytest.raises(WeightsError) as e:
        weights.resolve_all([(weights.VGG, None), (weights.DECODER, None)])
    lines = str(e.value).splitlines()
    assert lines[0].startswith(f"2 weights file(s) missing from {tmp_path / 'w'}")
    assert [ln.split()[0] for ln in lines[1:3]] == ["vgg_normalised.pth", "decoder.pth"]
    assert weights.VGG.url in lines[1] and weights.DECODER.url in lines[2]
    # an explicit file counts as found; only the missing one is listed
    with pytest.raises(WeightsError) as e:
        weights.resolve_all([(weights.VGG, weights_dir / "vgg_normalised.pth"), (weights.DECODER, None)])
    assert str(e.value).startswith("1 weights file(s) missing") and "vgg_normalised" not in str(e.value).split("\n")[1]


def test_fetch_is_atomic_checked_and_records_the_hash(weights_dir, tmp_path):
    src = weights_dir / "decoder.pth"
    seen = []
    dest = weights.fetch(
        DECODER,
        tmp_path / "w",
        url=src.as_uri(),
        progress=lambda d, t: seen.append((d, t)),
        check=lambda p: check_weights(DECODER, p),
    )
    assert dest.read_bytes() == src.read_bytes()
    assert weights.recorded_hash(dest) == weights.sha256_of(src)
    assert seen and seen[-1][0] == src.stat().st_size
    assert sorted(p.name for p in (tmp_path / "w").iterdir()) == ["decoder.pth", "decoder.pth.sha256"]  # no lock


def test_fetch_rejects_a_wrong_hash_and_a_wrong_layout(weights_dir, tmp_path):
    with pytest.raises(WeightsError, match="SHA-256"):  # the real pinned hash
        weights.fetch(
            dataclasses.replace(weights.DECODER, size=None), tmp_path / "w", url=(weights_dir / "decoder.pth").as_uri()
        )
    with pytest.raises(WeightsError, match="bytes, not the 14023458 of the release"):  # the real pinned size
        weights.fetch(weights.DECODER, tmp_path / "w", url=(weights_dir / "decoder.pth").as_uri())
    with pytest.raises(WeightsError, match="layout"):
        weights.fetch(DECODER, tmp_path / "w", url=(weights_dir / "vgg_normalised.pth").as_uri())
    assert not (tmp_path / "w" / "decoder.pth").exists()
    assert not list((tmp_path / "w").glob("*.part"))


class Boom:
    def __reduce__(self):
        return (os.system, ("echo pwned > /tmp/styler-pwned",))


@pytest.mark.parametrize("kind", ["truncated", "garbage", "hostile", "not_a_dict", "nan", "empty"])
def test_bad_files_get_one_line_errors(weights_dir, tmp_path, kind):
    path = tmp_path / "bad.pth"
    good = (weights_dir / "decoder.pth").read_bytes()
    if kind == "truncated":
        path.write_bytes(good[: len(good) // 2])
    elif kind == "garbage":
        path.write_bytes(b"\x00garbage" * 100)
    elif kind == "hostile":
        path.write_bytes(pickle.dumps({"1.weight": Boom()}, protocol=2))
    elif kind == "not_a_dict":
        torch.save([1, 2, 3], path)
    elif kind == "nan":
        sd = torch.load(weights_dir / "decoder.pth", weights_only=True)
        sd["1.weight"][0, 0, 0, 0] = float("nan")
        torch.save(sd, path)
    else:
        path.write_bytes(b"")
    with pytest.raises(WeightsError) as e:
        check_weights(weights.DECODER, path)
    assert str(path) in str(e.value) and "\n" not in str(e.value)
    assert not os.path.exists("/tmp/styler-pwned")


def test_checkpoint_with_a_decoder_entry_loads(weights_dir, tmp_path):
    sd = torch.load(weights_dir / "decoder.pth", weights_only=True)
    torch.save({"decoder": sd, "iter": 10, "config": {"lr": 1e-4}}, tmp_path / "ckpt.pth")
    path = weights.resolve(weights.DECODER, tmp_path / "ckpt.pth")
    check_weights(weights.DECODER, path)
    assert torch.equal(load_decoder(weights.load_state_dict(path))[1].weight, sd["1.weight"])


def test_install_copies_and_checks(weights_dir, tmp_path):
    dest = weights.install(weights.VGG, weights_dir / "vgg_normalised.pth", tmp_path / "w")
    assert dest.name == "vgg_normalised.pth" and weights.recorded_hash(dest) == weights.sha256_of(dest)
    with pytest.raises(WeightsError, match="layout"):
        weights.install(weights.VGG, weights_dir / "decoder.pth", tmp_path / "w2")
    assert not (tmp_path / "w2" / "vgg_normalised.pth").exists()


def test_non_finite_weights_are_refused_where_a_network_uses_them(weights_dir, tmp_path):
    """The loaders check the tensors they keep (AdaIN keeps the VGG up to relu4_1); the plain
    ``load_state_dict`` checks everything."""
    from styler.methods.adain.method import load

    state = torch.load(weights_dir / "vgg_normalised.pth", weights_only=True)
    used, unused = dict(state), dict(state)
    used["2.weight"] = used["2.weight"].clone()
    used["2.weight"][0, 0, 0, 0] = float("nan")
    deepest = max(state, key=lambda k: int(k.split(".")[0]))  # relu5_4's conv: beyond relu4_1
    unused[deepest] = torch.full_like(state[deepest], float("inf"))
    torch.save(used, tmp_path / "used.pth")
    torch.save(unused, tmp_path / "unused.pth")
    dec = weights_dir / "decoder.pth"
    with pytest.raises(WeightsError, match=r"used.pth has non-finite values in 2.weight"):
        load(vgg=tmp_path / "used.pth", decoder=dec, device="cpu", precision="fp32")
    assert load(vgg=tmp_path / "unused.pth", decoder=dec, device="cpu", precision="fp32").name == "adain"
    with pytest.raises(WeightsError, match=rf"non-finite values in {deepest}"):
        weights.load_state_dict(tmp_path / "unused.pth")

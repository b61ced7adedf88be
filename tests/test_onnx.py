"""ONNX graphs (styler.export): exported graphs run by ONNX Runtime equal torch (fp32), int8 stays
close, the cache builds once, --backend/--precision int8 route through them, user errors are one line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import one_line_error, run_cli
from styler import export, precision
from styler.engine import Engine
from styler.methods.base import Mix, sample_image

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

TOL = 1e-4  # ONNX Runtime fp32 against torch fp32


@pytest.fixture
def cin_file(tmp_path):
    from styler.methods.cin.modelfile import save_model
    from test_cin import random_net

    return save_model(tmp_path / "cin.pth", random_net(), ["a", "b", "c"], {}, iterations=1)


@pytest.fixture
def aesfa_file(tmp_path):
    import reference_aesfa

    path = tmp_path / "main.pth"
    torch.save(reference_aesfa.random_weights(0), path)
    return path


def fresh(name, **options):
    """The method in fp32 on the CPU, its own (not the session's shared) instance."""
    return precision.load_candidate(name, "fp32", {"device": "cpu", **options})


def method_of(name, cin_file, aesfa_file):
    return fresh(name, **{"cin": {"model": cin_file}, "aesfa": {"model": aesfa_file}}.get(name, {}))


def style_of(method):
    return 1 if method.name == "cin" else sample_image(40, seed=5)


def other_size(x: torch.Tensor) -> torch.Tensor:
    """An image or feature map of another batch, height and width than the traced example ``x``."""
    return torch.rand(2, x.shape[1], x.shape[2] + 8, x.shape[3] + 16)


@pytest.mark.parametrize("name", ["adain", "cin", "aesfa"])
def test_exported_graphs_run_in_onnx_runtime_equal_to_torch(name, cin_file, aesfa_file, tmp_path):
    method = method_of(name, cin_file, aesfa_file)
    paths = export.export(method, tmp_path / "out")
    assert sorted(p.name for p in paths) == sorted([*(f"{g}.onnx" for g in method.graph_names), "graphs.json"])
    described = json.loads((tmp_path / "out" / "graphs.json").read_text())
    assert (
        described["method"] == name and described["opset"] == 17 and set(described["graphs"]) == set(method.graph_names)
    )
    for gname, graph in method.graphs().items():
        session = ort.InferenceSession(str(tmp_path / "out" / f"{gname}.onnx"), providers=["CPUExecutionProvider"])
        torch.manual_seed(0)
        if gname == "netG":  # a real content code keeps the generator's statistics meaningful
            c = method.model.netE(torch.rand(1, 3, 72, 96)).stage2
            inputs = (*c, torch.rand(1, 128, 3, 3), torch.rand(1, 128, 3, 3))
        elif gname == "net":
            inputs = (torch.rand(2, 3, 40, 52), torch.softmax(torch.rand(2, 3), 1))
        else:
            inputs = tuple(other_size(x) for x in graph.inputs)  # encoders and AdaIN's decoder
        with torch.no_grad():
            want = graph.module(*inputs)
        want = want if isinstance(want, tuple) else (want,)
        got = session.run(None, {n: x.numpy() for n, x in zip(graph.input_names, inputs)})
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert g.shape == tuple(w.shape)
            assert np.abs(g - w.numpy()).max() < TOL * max(1.0, float(w.abs().max()))


@pytest.mark.parametrize("name", ["adain", "cin", "aesfa"])
def test_onnx_fp32_backend_equals_torch_with_every_control(name, cin_file, aesfa_file):
    torch_side = method_of(name, cin_file, aesfa_file)
    graphs = export.attach(method_of(name, cin_file, aesfa_file), "fp32")
    assert graphs.runtime.graphs == "onnxruntime fp32" and graphs.describe().endswith("onnxruntime fp32")
    content = torch.cat([sample_image(48, 1)[..., :44, :], sample_image(48, 2)[..., :44, :]])  # a batch of 2
    styles = [style_of(torch_side), 0 if name == "cin" else sample_image(36, seed=6)]
    masks = torch.zeros(2, 44, 48)
    masks[0, :, :20], masks[1, :, 20:] = 1, 1
    a, b = Engine(torch_side), Engine(graphs)
    for kw in ({"alpha": 0.6}, {"weights": [0.3, 0.7]}, {"masks": masks}, {"color": "luminance"}):
        n = 1 if "masks" in kw or "color" in kw else 2  # a batch of two, and controls one image at a time
        want, got = a.render(content[:n], styles, **kw), b.render(content[:n], styles, **kw)
        assert got.shape == want.shape and (got - want).abs().max() < TOL, kw


def test_int8_graphs_are_quantized_and_close_to_fp32(tmp_path):
    method = fresh("adain")
    steps = []
    export.attach(method, "int8", on_build=lambda what, done, total: steps.append((done, total)))
    # progress: 2 graphs written, 4 photos + 4 paintings through the encoder, 16 AdaIN targets through the decoder
    assert steps[0] == (0, 2) and steps[-1] == (26, 26) and [d for d, _ in steps[1:]] == list(range(1, 27))
    folder = next((export.store.cache_dir("exports")).glob("adain-int8-*"))
    graph = onnx.load(str(folder / "decoder.onnx")).graph
    kinds = [n.op_type for n in graph.node]
    assert "QuantizeLinear" in kinds and "DequantizeLinear" in kinds
    convs = [n for n in graph.node if n.op_type == "Conv"]
    made_by = {o: n.op_type for n in graph.node for o in n.output}
    weight_sources = [made_by.get(c.input[1]) for c in convs]
    assert weight_sources[0] != "DequantizeLinear" and weight_sources[-1] != "DequantizeLinear"  # kept fp32
    assert weight_sources[1:-1] and all(s == "DequantizeLinear" for s in weight_sources[1:-1])
    content, style = sample_image(96, 3), sample_image(80, 7)
    reference = fresh("adain")
    want = reference.stylize(content, [reference.represent(style)], Mix((1.0,)), alpha=1.0)
    got = method.stylize(content, [method.represent(style)], Mix((1.0,)), alpha=1.0)
    assert 35.0 < precision.psnr(got, want) < 80.0  # close, and really int8 (not the fp32 graph)
    assert method.style_key() != reference.style_key()  # int8 statistics never meet fp32 ones in the style cache


def test_graphs_build_once_per_weights_and_precision(monkeypatch):
    from styler.export import graph as graph_module

    writes = []
    real = graph_module.write
    monkeypatch.setattr(graph_module, "write", lambda g, p: writes.append(p.name) or real(g, p))
    export.attach(fresh("adain"), "fp32")
    export.attach(fresh("adain"), "fp32")
    assert writes == ["encoder.onnx", "decoder.onnx"]  # the second run reads the cache
    other = fresh("adain")
    with torch.no_grad():
        other.decoder[-1].bias.add_(0.1)  # other weights: other graphs
    export.attach(other, "fp32")
    assert len(writes) == 4 and len(list(export.store.cache_dir("exports").glob("adain-fp32-*"))) == 2


def test_auto_measures_onnx_beside_torch_and_caches_the_choice(monkeypatch):
    monkeypatch.setenv("STYLER_PRECISIONS", "fp32,onnx-fp32")
    seconds = {"fp32": 3.0, "onnx-fp32": 1.0}  # ONNX Runtime made the faster one on a fake clock
    loaded, ran = [], []
    real_load = precision.load_candidate

    def load_candidate(name, cand, options, calibrate=None, on_build=None):
        loaded.append(cand)
        method = real_load(name, cand, options, calibrate, on_build)
        run = method.benchmark_workload(side=32)  # small: the real workload, sized for a test
        method.benchmark_workload = lambda: lambda: (ran.append(cand), run())[1]
        return method

    monkeypatch.setattr(precision, "load_candidate", load_candidate)
    monkeypatch.setattr(precision, "timed", lambda run: (run(), seconds[ran[-1]])[1])
    said = []
    method = precision.load_method("adain", device="cpu", on_measure=said.append)
    assert method.runtime.graphs == "onnxruntime fp32" and loaded == ["fp32", "onnx-fp32"]
    assert "fp32, onnx-fp32" in said[0]
    (decision,) = precision.read_decisions().values()
    assert decision.chosen == "onnx-fp32" and decision.key.endswith("| fp32,onnx-fp32")
    assert [t.precision for t in decision.trials] == ["fp32", "onnx-fp32"] and decision.trials[1].psnr > 80
    loaded.clear()
    assert precision.load_method("adain", device="cpu").runtime.graphs == "onnxruntime fp32"
    assert loaded == ["onnx-fp32"]  # read from the cache: nothing measured
    assert precision.load_method("adain", device="cpu", backend="torch").runtime.graphs == ""


def test_cli_export_writes_graphs_and_transfer_runs_them(tmp_path, images):
    result = run_cli("export", "-o", tmp_path / "graphs")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "graphs").iterdir()) == ["decoder.onnx", "encoder.onnx", "graphs.json"]
    out = tmp_path / "out.png"
    result = run_cli("transfer", images["content"], images["style"], "-o", out, "--precision", "int8")
    assert result.exit_code == 0, result.output
    assert out.is_file() and "onnxruntime int8" in result.stderr


@pytest.mark.parametrize(
    "args, words",
    [
        (["--precision", "int8", "--backend", "torch"], ["--precision int8", "--backend torch"]),
        (["--backend", "onnx", "--method", "gatys"], ["method gatys", "--backend onnx"]),
        (["--backend", "onnx", "--precision", "bf16"], ["fp32 or int8", "--backend torch"]),
        (["--calibrate", "."], ["--calibrate", "--precision int8"]),
        (["--precision", "int8", "--calibrate", "missing_dir"], ["--calibrate", "missing_dir", "not a folder"]),
        (["--backend", "onnx", "--device", "cuda"], ["--device"]),
    ],
)
def test_backend_mistakes_are_one_line(args, words, images, tmp_path):
    if "--device" in args and torch.cuda.is_available():
        pytest.skip("CUDA present: the device check is torch's")
    out = tmp_path / "x.png"
    result = run_cli("transfer", images["content"], images["style"], "-o", out, *args)
    one_line_error(result, *words)
    assert not out.exists()


def test_missing_extra_is_one_line(monkeypatch, images, tmp_path):
    monkeypatch.setattr(export, "available", lambda: False)
    result = run_cli("transfer", images["content"], images["style"], "-o", tmp_path / "x.png", "--backend", "onnx")
    one_line_error(result, "ONNX Runtime", "pip install 'styler[onnx]'")
    # auto without the extra: torch, silently
    assert precision.candidates(precision.kind("adain"), set()) == ("fp32",)


def test_empty_calibration_folder_is_one_line(tmp_path, images):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no pictures here")
    result = run_cli("export", "--precision", "int8", "--calibrate", tmp_path / "empty", "-o", tmp_path / "g")
    one_line_error(result, "--calibrate", "no images")
    assert not (tmp_path / "g").exists()


def test_unwritable_cache_is_one_line(monkeypatch, images, tmp_path):
    blocked = tmp_path / "cache"
    blocked.mkdir()
    (blocked / "exports").write_text("a file where the exports folder goes")  # unwritable, even for root
    monkeypatch.setenv("STYLER_CACHE_DIR", str(blocked))
    out = tmp_path / "x.png"
    result = run_cli("transfer", images["content"], images["style"], "-o", out, "--backend", "onnx")
    one_line_error(result, "cannot write exported graphs", "STYLER_CACHE_DIR")
    assert not out.exists()

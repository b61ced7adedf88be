"""--precision auto measured on CPUs (styler.precision): fake methods and a fake clock make it exact."""

from __future__ import annotations

import json
import math
from typing import ClassVar

import pytest
import torch

from styler import precision
from styler.methods.base import Method, sample_image

# Seconds each precision's workload takes on the fake clock, and the noise its output carries.
SPEED = {"fp32": 1.0, "bf16": 0.5, "fp16": 0.25}  # exact in binary: exact times
NOISE = {"fp32": 0.0, "bf16": 2**-10, "fp16": 2**-10}  # a constant offset e: PSNR -20 log10(e) = 60.2 dB


class Fake:
    """What ``precision`` needs of a method class and instance: a name, candidates, a workload."""

    name = "fake"
    auto_precisions = ("fp32", "bf16", "fp16")
    graph_names = ()  # no ONNX graphs: torch's precisions only
    loads: ClassVar[list[str]] = []
    runs: ClassVar[list[str]] = []

    def __init__(self, p: str) -> None:
        self.precision = p

    def benchmark_workload(self):
        def run():
            Fake.runs.append(self.precision)
            now[0] += SPEED[self.precision]
            return torch.full((1, 3, 8, 8), 0.5 + NOISE[self.precision])

        return run


now = [0.0]


@pytest.fixture
def fake(monkeypatch):
    Fake.loads, Fake.runs = [], []
    now[0] = 0.0

    def load(name, **options):
        Fake.loads.append(options["precision"])
        return Fake(options["precision"])

    monkeypatch.setattr(precision, "clock", lambda: now[0])
    monkeypatch.setattr(precision, "load", load)
    monkeypatch.setattr(precision, "kind", lambda name: Fake)
    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx512_bf16", "avx512_fp16"})
    monkeypatch.delenv("STYLER_PRECISIONS")
    return Fake


def test_measures_once_then_reads_the_cache(fake):
    said = []
    method = precision.load_method("fake", device="cpu", on_measure=said.append)
    assert method.precision == "fp16"  # the fastest, 60.2 dB from fp32
    assert said == ["measuring how fake runs fastest on this CPU (fp32, bf16, fp16; once)"]
    assert fake.loads == ["fp32", "bf16", "fp16"]
    assert fake.runs == ["fp32", "bf16", "fp16"] * (1 + precision.REPEATS)  # warm-ups, then interleaved rounds
    data = json.loads(precision.cache_file().read_text())
    (entry,) = data["decisions"].values()
    assert entry["chosen"] == "fp16" and entry["candidates"] == ["fp32", "bf16", "fp16"]
    assert [(t["precision"], t["seconds"]) for t in entry["trials"]] == [("fp32", 1.0), ("bf16", 0.5), ("fp16", 0.25)]
    assert entry["trials"][0]["psnr"] is None and entry["trials"][1]["psnr"] == pytest.approx(200 * math.log10(2))
    assert (precision.cache_file().parent / "CACHEDIR.TAG").is_file()  # listed by `styler cache info`

    fake.loads, fake.runs = [], []
    again = precision.load_method("fake", device="cpu", on_measure=said.append)
    assert again.precision == "fp16" and fake.loads == ["fp16"] and fake.runs == []  # nothing measured
    assert len(said) == 1


def test_quality_bar_rejects_a_fast_precision_far_from_fp32(fake, monkeypatch):
    monkeypatch.setitem(NOISE, "fp16", 2**-4)  # 24 dB: below MIN_PSNR
    assert precision.load_method("fake", device="cpu").precision == "bf16"
    (decision,) = precision.read_decisions().values()
    fp16 = decision.trials[2]
    assert fp16.psnr == pytest.approx(80 * math.log10(2)) and not fp16.passes
    monkeypatch.setitem(SPEED, "bf16", 1.5)  # slower than fp32: fp32 is kept
    precision.cache_file().unlink()
    assert precision.load_method("fake", device="cpu").precision == "fp32"


def test_corrupt_or_foreign_cache_is_measured_again(fake):
    path = precision.cache_file()
    for text in ("{not json", '{"version": 1, "decisions": {"x": {"key": 1}}}', "[]", '{"version": 99}'):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        fake.loads = []
        assert precision.load_method("fake", device="cpu").precision == "fp16"
        assert fake.loads == ["fp32", "bf16", "fp16"]
    assert len(precision.read_decisions()) == 1


def test_candidates_follow_the_cpu_the_method_and_the_environment(fake, monkeypatch):
    assert precision.candidates(Fake, set()) == ("fp32",)
    assert precision.candidates(Fake, {"avx512_bf16"}) == ("fp32", "bf16")
    assert precision.candidates(Fake, {"amx_bf16", "amx_fp16"}) == ("fp32", "bf16", "fp16")
    monkeypatch.setattr(Fake, "auto_precisions", ("fp32", "bf16", "int8"))  # a method's own extra
    assert precision.candidates(Fake, {"avx512_fp16"}) == ("fp32", "int8")
    monkeypatch.setenv("STYLER_PRECISIONS", "bf16")
    assert precision.candidates(Fake, {"avx512_bf16"}) == ("fp32", "bf16")
    # a changed candidate set is measured again; a single candidate or a fixed precision is not measured
    monkeypatch.setattr(Fake, "auto_precisions", ("fp32", "bf16", "fp16"))
    assert precision.load_method("fake", device="cpu").precision == "bf16"
    monkeypatch.setenv("STYLER_PRECISIONS", "fp32")
    fake.runs = []
    assert precision.load_method("fake", device="cpu").precision == "fp32"
    assert precision.load_method("fake", device="cpu", precision="bf16").precision == "bf16"
    assert fake.runs == []


def test_a_precision_whose_kernels_fail_is_left_out(fake, monkeypatch):
    real = Fake.benchmark_workload

    def workload(self):
        if self.precision == "fp16":
            raise RuntimeError("\"slow_conv2d_cpu\" not implemented for 'Half'")
        return real(self)

    monkeypatch.setattr(Fake, "benchmark_workload", workload)
    assert precision.load_method("fake", device="cpu").precision == "bf16"
    (decision,) = precision.read_decisions().values()
    assert [t.precision for t in decision.trials] == ["fp32", "bf16"] and decision.candidates[-1] == "fp16"


def test_unmeasured_methods_keep_their_own_rule(fake, monkeypatch):
    monkeypatch.setattr(Fake, "auto_precisions", ())
    assert precision.load_method("fake", device="cpu").precision == "auto"  # the method's loader decides
    assert fake.runs == [] and not precision.cache_file().exists()


def test_default_workload_is_the_methods_own_stylize(adain):
    run = Method.benchmark_workload(adain, side=24)
    out = run()
    style = adain.represent(sample_image(24, seed=1))
    from styler.methods.base import Mix

    want = adain.stylize(sample_image(24, seed=0), [style], Mix((1.0,)), alpha=1.0)
    assert out.shape == (1, 3, 24, 24) and torch.equal(out, want)
    assert precision.psnr(out, out) == math.inf and precision.psnr(out * 0, out * 0 + 0.1) == pytest.approx(20.0)


def test_info_shows_the_machine_and_the_measured_decisions(fake):
    from conftest import run_cli

    precision.load_method("fake", device="cpu")
    result = run_cli("info", "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["torch"] == torch.__version__ and record["threads"] == torch.get_num_threads()
    assert record["device"] == "cpu" or record["cuda"]
    (decision,) = record["decisions"]
    assert decision["chosen"] == "fp16" and [t["precision"] for t in decision["trials"]] == ["fp32", "bf16", "fp16"]
    text = run_cli("info")
    assert text.exit_code == 0 and "fake: fp16" in text.stdout and "<- chosen" in text.stdout
    assert "1000.0 ms  reference" in text.stdout and "250.0 ms  60.2 dB vs fp32  <- chosen" in text.stdout


def test_cuda_out_of_memory_is_one_line():
    import typer
    from typer.testing import CliRunner

    from conftest import one_line_error
    from styler.cli.console import guarded

    @guarded
    def boom() -> None:
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    app = typer.Typer()
    app.command()(boom)
    one_line_error(CliRunner().invoke(app, []), "CUDA out of memory", "--tile", "--precision fp16")

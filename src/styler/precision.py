"""``--precision auto`` and ``--backend auto`` on CPUs, measured: how a method runs fastest here.

CPU flags cannot tell whether bf16 pays: oneDNN's bf16 convolutions are slower than fp32 on some
CPUs that report AVX512-BF16 (Intel Xeons without AMX) and twice as fast on others (AMD Zen 4).
So on first use ``load_method`` times each candidate precision on the method's own small workload
(``Method.benchmark_workload``, about 256 px), keeps the fastest whose output stays within
``MIN_PSNR`` dB of fp32's, and caches the decision as JSON in ``cache_dir("precision")``, keyed by
CPU model, torch version, threads, method and device; later runs read it and pay nothing. A
corrupt or foreign cache file is a miss: it is measured again, never an error.

The candidates are torch precisions (fp32, bf16, fp16) and, for methods with exportable networks
when ONNX Runtime is installed (``styler.export``), ``onnx-fp32``: the same networks as ONNX graphs.
``backend="torch"`` keeps to torch. ``onnx-int8`` is never chosen by measurement (its error depends
on the trained weights' activation ranges, which a synthetic workload cannot judge):
``--precision int8`` asks for it.

CUDA keeps ``runtime.pick_precision``'s rules (native bf16, else fp16), training keeps fp32 on
CPUs, and methods whose ``auto_precisions`` is empty (optimisation methods) keep their own rule.
``$STYLER_PRECISIONS`` (e.g. ``fp32`` or ``fp32,bf16,onnx-fp32``) limits the candidates ``auto``
considers.
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from . import export
from .errors import DeviceError, InputError, Param
from .methods.base import Method
from .paths import cache_dir, mark_cache
from .runtime import pick_device

MIN_PSNR = 35.0  # dB against fp32 on the workload: below it a precision visibly changes the result
REPEATS = 2  # timed runs per candidate after one warm-up; the fastest counts (others share the CPU)
ENV_PRECISIONS = "STYLER_PRECISIONS"
CACHE = "precision"
FILE = "decisions.json"
VERSION = 1
BACKENDS = ("auto", "torch", "onnx")
GRAPHS = "onnx-"  # candidates run as ONNX graphs: onnx-fp32, onnx-int8

clock: Callable[[], float] = time.perf_counter  # tests replace it to make timings exact


def load(name: Any, **options: Any) -> Method:
    from .methods import load as registry_load  # looked up at each call: tests may replace the registry's

    return registry_load(name, **options)


def kind(name: Any) -> type[Method]:
    from .methods import kind as registry_kind

    return registry_kind(name)


@dataclass(frozen=True)
class Trial:
    """One candidate precision on the workload: its best time (s) and PSNR (dB) against fp32."""

    precision: str
    seconds: float
    psnr: float  # inf for fp32 itself

    @property
    def passes(self) -> bool:
        return self.psnr >= MIN_PSNR


@dataclass(frozen=True)
class Decision:
    """What ``auto`` chose for one key, and what was measured to choose it."""

    key: str
    chosen: str
    candidates: tuple[str, ...]
    trials: tuple[Trial, ...] = field(default=())
    measured_at: float = 0.0

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["trials"] = [{**asdict(t), "psnr": None if math.isinf(t.psnr) else t.psnr} for t in self.trials]
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Decision:
        trials = tuple(
            Trial(str(t["precision"]), float(t["seconds"]), math.inf if t["psnr"] is None else float(t["psnr"]))
            for t in d["trials"]
        )
        return cls(str(d["key"]), str(d["chosen"]), tuple(map(str, d["candidates"])), trials, float(d["measured_at"]))


# -- the machine -----------------------------------------------------------------------------


def cpu_flags() -> set[str]:
    """The CPU's feature flags (Linux ``/proc/cpuinfo``); empty elsewhere."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return set(line.split(":", 1)[1].split())
    return set()


def cpu_model() -> str:
    """'AMD EPYC 9R14 ...' from ``/proc/cpuinfo``, else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def hardware_precisions(flags: set[str] | None = None) -> set[str]:
    """The reduced precisions this CPU computes natively (oneDNN uses them): bf16 with
    AVX512-BF16 or AMX-BF16, fp16 with AVX512-FP16 or AMX-FP16; fp32 always."""
    flags = cpu_flags() if flags is None else flags
    found = {"fp32"}
    if flags & {"avx512_bf16", "amx_bf16"}:
        found.add("bf16")
    if flags & {"avx512_fp16", "amx_fp16"}:
        found.add("fp16")
    return found


def candidates(
    method: type[Method], flags: set[str] | None = None, backend: str = "auto", precision: str = "auto"
) -> tuple[str, ...]:
    """What ``auto`` measures for ``method`` on this CPU: the method's ``auto_precisions`` less the
    floating-point ones the CPU lacks (or the one ``precision`` asked for), and ``onnx-fp32`` where
    its networks export (not with ``backend="torch"``); limited by ``$STYLER_PRECISIONS`` when set.
    The first is the reference the others are compared with (fp32 when it is there)."""
    have = hardware_precisions(flags)
    chosen = [p for p in method.auto_precisions if p in have or p not in ("bf16", "fp16")]
    if precision != "auto":
        chosen = [precision]
    if backend != "torch" and precision in ("auto", "fp32") and method.graph_names and export.available():
        chosen.append(GRAPHS + "fp32")
    allowed = os.environ.get(ENV_PRECISIONS)
    if allowed:
        wanted = {p.strip() for p in allowed.split(",")}
        chosen = [p for p in chosen if p in wanted or p == chosen[0]]
    return tuple(sorted(set(chosen), key=lambda p: (p != "fp32", chosen.index(p))))


def key(method: str, device: torch.device) -> str:
    return f"{cpu_model()} | torch {torch.__version__} | {torch.get_num_threads()} threads | {method} | {device.type}"


# -- the cache --------------------------------------------------------------------------------


def cache_file() -> Path:
    return cache_dir(CACHE) / FILE


def read_decisions(path: Path | None = None) -> dict[str, Decision]:
    """Every cached decision by key; an unreadable, corrupt or foreign file reads as none."""
    path = cache_file() if path is None else path
    try:
        data = json.loads(path.read_text())
        if data.get("version") != VERSION:
            return {}
        return {k: Decision.from_json(v) for k, v in data["decisions"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def write_decision(decision: Decision, path: Path | None = None) -> None:
    """Add ``decision`` to the cache file atomically (best effort: a read-only cache is skipped)."""
    path = cache_file() if path is None else path
    mark_cache(path.parent)
    found = read_decisions(path)
    found[decision.key] = decision
    data = {"version": VERSION, "decisions": {k: d.to_json() for k, d in found.items()}}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)


# -- measuring --------------------------------------------------------------------------------


def psnr(a: Tensor, b: Tensor) -> float:
    """Peak signal-to-noise ratio (dB) of two images in [0, 1]; inf when equal."""
    mse = float((a.float() - b.float()).pow(2).mean())
    return math.inf if mse == 0 else 10 * math.log10(1.0 / mse)


def timed(run: Callable[[], Tensor]) -> float:
    start = clock()
    run()
    return clock() - start


def choose(trials: Sequence[Trial]) -> str:
    """The fastest precision whose quality bar holds (fp32 always holds)."""
    return min((t for t in trials if t.passes), key=lambda t: t.seconds).precision


def measure(
    name: Any, k: str, options: dict[str, Any], cands: Sequence[str], on_build: export.OnBuild | None = None
) -> tuple[Decision, Method]:
    """Load ``name`` as each candidate, run each workload once (warm-up; its output is compared
    with the first candidate's), then time them in ``REPEATS`` interleaved rounds (a load from
    elsewhere on the machine hits every candidate alike) and keep each one's fastest run. Returns
    the decision and the method loaded as the chosen candidate (the others are dropped)."""
    loaded: dict[str, tuple[Method, Callable[[], Tensor]]] = {}
    outputs: dict[str, Tensor] = {}
    for p in cands:
        try:
            method = load_candidate(name, p, options, on_build=on_build)
            workload = method.benchmark_workload()
            if workload is None:  # the method does not measure after all: its own rule stands
                return Decision(k, p, tuple(cands)), method
            outputs[p] = workload().float().cpu()
        except (RuntimeError, NotImplementedError):
            if p == cands[0]:
                raise
            continue  # a kernel this build lacks in that precision: not a candidate here
        loaded[p] = (method, workload)
    seconds = dict.fromkeys(loaded, math.inf)
    for _ in range(REPEATS):
        for p in loaded:
            seconds[p] = min(seconds[p], timed(loaded[p][1]))
    ref = outputs[cands[0]]
    trials = tuple(Trial(p, seconds[p], psnr(outputs[p], ref) if p != cands[0] else math.inf) for p in loaded)
    decision = Decision(k, choose(trials), tuple(cands), trials, time.time())
    return decision, loaded[decision.chosen][0]


def load_candidate(
    name: Any,
    candidate: str,
    options: dict[str, Any],
    calibrate: Path | None = None,
    on_build: export.OnBuild | None = None,
) -> Method:
    """``methods.load`` in a torch precision, or fp32 on the CPU with its networks run as ONNX
    graphs (``onnx-fp32``, ``onnx-int8``: exported and cached on first use)."""
    if not candidate.startswith(GRAPHS):
        return load(name, **{**options, "precision": candidate})
    method = load(name, **{**options, "precision": "fp32", "device": "cpu"})
    return export.attach(method, candidate.removeprefix(GRAPHS), calibrate, on_build)


def load_method(
    name: Any,
    *,
    backend: str = "auto",
    calibrate: Path | None = None,
    on_measure: Callable[[str], None] | None = None,
    on_build: export.OnBuild | None = None,
    **options: Any,
) -> Method:
    """``methods.load`` with ``precision="auto"`` (and ``backend="auto"``) measured on CPUs (see
    the module docstring); ``backend="onnx"`` or ``precision="int8"`` runs the networks as ONNX
    graphs (int8 calibrated on ``calibrate``'s images, else synthetic ones); every other case
    goes straight to ``methods.load``. ``on_measure(what)`` is called before a measurement (a few
    seconds, once), so a command can say why it pauses; ``on_build`` follows an export (once)."""
    precision = options.pop("precision", None) or "auto"
    if backend not in BACKENDS:
        raise DeviceError(f"unknown backend '{backend}'; use one of {', '.join(BACKENDS)}")
    if calibrate is not None and precision != "int8":
        raise InputError(Param("calibrate"), " calibrates int8 graphs; add ", Param("precision", "int8"), " or drop it")
    if precision == "int8" or backend == "onnx":
        return load_graphs(name, precision, backend, calibrate, on_build, options)
    device = pick_device(options.get("device") or "auto")
    cls = kind(name)
    if device.type != "cpu" or not cls.auto_precisions or (precision != "auto" and backend == "torch"):
        return load(name, **options, precision=precision)
    cands = candidates(cls, backend=backend, precision=precision)
    if len(cands) < 2:
        return load_candidate(name, cands[0], options, on_build=on_build)
    k = f"{key(cls.name, device)} | {','.join(cands)}"
    cached = read_decisions().get(k)
    if cached is not None and cached.candidates == cands and cached.chosen in cands:
        return load_candidate(name, cached.chosen, options, on_build=on_build)
    if on_measure is not None:
        on_measure(f"measuring how {cls.name} runs fastest on this CPU ({', '.join(cands)}; once)")
    decision, method = measure(name, k, options, cands, on_build)
    write_decision(decision)
    return method


def load_graphs(
    name: Any,
    precision: str,
    backend: str,
    calibrate: Path | None,
    on_build: export.OnBuild | None,
    options: dict[str, Any],
) -> Method:
    """The method with its networks as ONNX graphs, as ``--backend onnx`` or ``--precision int8`` ask."""
    if backend == "torch":
        raise DeviceError(
            Param("precision", "int8"), " runs the networks as ONNX graphs; drop ", Param("backend", "torch")
        )
    wanted = "fp32" if precision == "auto" else precision
    export.check(kind(name), wanted, options.get("device") or "cpu")
    return load_candidate(name, GRAPHS + wanted, options, calibrate, on_build)

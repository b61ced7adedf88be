"""styler info: where styler runs here (device, CPU, torch, threads, GPUs) and what ``--precision auto`` measured."""

from __future__ import annotations

import json
import platform

from rich.markup import escape

from .. import __version__
from .console import guarded, out
from .options import Json

# The CPU flags that decide which kernels oneDNN can use for styler's networks.
FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_fp16", "amx_int8")


def _gpus() -> list[dict]:
    import torch

    if not torch.cuda.is_available():
        return []
    found = []
    for i in range(torch.cuda.device_count()):
        p = torch.cuda.get_device_properties(i)
        with torch.cuda.device(i):
            bf16 = bool(torch.cuda.is_bf16_supported(including_emulation=False))
        found.append(
            {
                "device": f"cuda:{i}",
                "name": p.name,
                "memory_gb": round(p.total_memory / 2**30, 1),
                "capability": f"{p.major}.{p.minor}",
                "native_bf16": bf16,
            }
        )
    return found


def _onnxruntime() -> str | None:
    """ONNX Runtime's version, None without the ``styler[onnx]`` extra (not imported: its metadata)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("onnxruntime")
    except PackageNotFoundError:
        return None


def facts() -> dict:
    """Everything ``styler info`` shows, as one JSON-ready record."""
    import torch

    from ..precision import cache_file, cpu_flags, cpu_model, hardware_precisions, read_decisions
    from ..runtime import pick_device

    flags = cpu_flags()
    return {
        "styler": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device": str(pick_device("auto")),
        "threads": torch.get_num_threads(),
        "cpu": {
            "model": cpu_model(),
            "flags": [f for f in FLAGS if f in flags],
            "precisions": sorted(hardware_precisions(flags)),
        },
        "cuda": _gpus(),
        "onnxruntime": _onnxruntime(),
        "precision_cache": str(cache_file()),
        "decisions": [d.to_json() for d in read_decisions().values()],
    }


def _decision_lines(d: dict) -> list[str]:
    from ..precision import MIN_PSNR

    parts = d["key"].split(" | ")  # cpu | torch | threads | method | device | candidates
    method = parts[3] if len(parts) > 3 else d["key"]
    lines = [f"  {method}: {d['chosen']}   ({d['key']})"]
    for t in d["trials"]:
        quality = "reference" if t["psnr"] is None else f"{t['psnr']:.1f} dB vs fp32"
        mark = "  <- chosen" if t["precision"] == d["chosen"] else ""
        bar = f"  (below the {MIN_PSNR:g} dB bar)" if t["psnr"] is not None and t["psnr"] < MIN_PSNR else ""
        lines.append(f"    {t['precision']:<9} {t['seconds'] * 1000:8.1f} ms  {quality}{bar}{mark}")
    return lines


@guarded
def info(json_out: Json = False) -> None:
    """Show the device, CPU (model and the flags that matter), torch, threads, CUDA GPUs and ONNX
    Runtime, and what --precision/--backend auto measured and chose for each method (measured
    once, then cached)."""
    f = facts()
    if json_out:
        out.print(json.dumps(f), markup=False)
        return
    cpu = f["cpu"]
    lines = [
        f"styler {f['styler']}   python {f['python']}   torch {f['torch']}",
        f"device (auto): {f['device']}   threads: {f['threads']}",
        f"cpu: {cpu['model']}",
        f"  flags: {' '.join(cpu['flags']) or 'none of ' + ', '.join(FLAGS)}",
        f"  native precisions: {', '.join(cpu['precisions'])}",
    ]
    if not f["cuda"]:
        lines.append("cuda: no GPU visible to torch")
    for g in f["cuda"]:
        bf16 = "native bf16" if g["native_bf16"] else "no native bf16"
        lines.append(f"{g['device']}: {g['name']}, {g['memory_gb']} GB, compute {g['capability']}, {bf16}")
    ort = f["onnxruntime"]
    missing = "not installed (--backend onnx, int8: pip install 'styler[onnx]')"
    lines.append(f"onnxruntime: {ort or missing}")
    lines.append(f"precision and backend auto (measured on first use; {f['precision_cache']}):")
    if not f["decisions"]:
        lines.append("  nothing measured yet: the first CPU run of a method with --precision auto measures it")
    for d in f["decisions"]:
        lines.extend(_decision_lines(d))
    for line in lines:
        out.print(escape(line))

"""Where and how the networks run: device, precision, memory. Used by inference and training alike.

Nothing here changes process-wide state when imported or constructed; ``autotune`` switches
cuDNN autotuning on for one job and restores the previous setting afterwards.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from .errors import DeviceError, Param

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def check_device_name(name: str) -> str:
    """Validate a device name without touching any hardware: auto, cpu, cuda, cuda:N or mps."""
    text = str(name).strip().lower()
    if not _DEVICE.match(text):
        raise DeviceError(f"unknown device '{name}'; use auto, cpu, cuda, cuda:N or mps")
    return text


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def pick_device(name: str = "auto") -> torch.device:
    """auto = CUDA when available, else CPU (MPS is used only when asked for: it lacks ops we need)."""
    text = check_device_name(name)
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if text.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceError(f"device {text} was asked for but torch sees no CUDA GPU; use cpu or auto")
        index = int(text.split(":")[1]) if ":" in text else torch.cuda.current_device()
        if index >= torch.cuda.device_count():
            raise DeviceError(
                f"device {text} does not exist: this machine has {torch.cuda.device_count()} "
                "CUDA GPU(s), numbered from 0"
            )
        return torch.device("cuda", index)
    if text == "mps" and not _mps_available():
        raise DeviceError("device mps was asked for but this torch has no usable Apple GPU; use cpu or auto")
    return torch.device(text)


def cuda_native_bf16(device: torch.device) -> bool:
    """bf16 in hardware (Ampere and later), not the emulation older GPUs also report."""
    with torch.cuda.device(device):
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))


def pick_precision(name: str, device: torch.device, *, training: bool = False) -> str:
    """``auto``: bf16 on CUDA GPUs with native bf16, fp16 on other CUDA GPUs (inference only:
    training would need loss scaling); fp32 elsewhere. On CPUs the flags cannot tell whether bf16
    pays (it is slower than fp32 on some CPUs that have it), so ``precision.load_method`` measures
    it per method and passes the precision it chose; unmeasured, fp32 is the safe floor."""
    if name not in PRECISIONS:
        raise DeviceError(f"unknown precision '{name}'; use one of {', '.join(PRECISIONS)}")
    if training and name == "fp16":
        raise DeviceError(
            "training supports ", Param("precision", "auto"), ", fp32 or bf16 (fp16 would need loss scaling)"
        )
    native_bf16 = cuda_native_bf16(device) if device.type == "cuda" else False
    if name == "bf16" and device.type == "cuda" and not native_bf16:
        raise DeviceError("this GPU has no native bf16; use precision fp16 or fp32")
    if name != "auto":
        return name
    if device.type == "cuda":
        return "bf16" if native_bf16 else ("fp32" if training else "fp16")
    return "fp32"  # training on CPU too: autocast there is slower than fp32 for the backward pass


@dataclass(frozen=True)
class Runtime:
    """A device and the precision the networks run in there. Immutable: a job that wants
    other settings makes another ``Runtime``."""

    device: torch.device
    precision: str  # fp32 | bf16 | fp16: what torch computes in
    graphs: str = ""  # "onnxruntime int8": the networks run as exported graphs there ("": on torch)

    @property
    def dtype(self) -> torch.dtype:
        return DTYPES[self.precision]

    def describe(self) -> str:
        """'cpu (CPU), bf16', 'cuda:0 (NVIDIA H100 80GB HBM3), bf16' or 'cpu (CPU), onnxruntime
        int8': printed by every command."""
        how = self.graphs or self.precision
        if self.device.type == "cuda":
            return f"{self.device} ({torch.cuda.get_device_name(self.device)}), {how}"
        return f"{self.device.type} ({'CPU' if self.device.type == 'cpu' else 'Apple GPU'}), {how}"


def runtime(device: str = "auto", precision: str = "auto", *, training: bool = False) -> Runtime:
    dev = pick_device(device)
    return Runtime(dev, pick_precision(precision, dev, training=training))


@contextmanager
def autotune(rt: Runtime) -> Iterator[None]:
    """cuDNN autotuning for a job that runs the same shapes many times (folders, video,
    training): the first call per shape picks the fastest kernels. Restored on exit."""
    if rt.device.type != "cuda":
        yield
        return
    before = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = before


def free_bytes(device: torch.device) -> int | None:
    """Memory free for new tensors on a CUDA device: what the driver reports free plus what
    PyTorch's caching allocator holds reserved but unused. None off CUDA."""
    if device.type != "cuda":
        return None
    free, _ = torch.cuda.mem_get_info(device)
    cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    return int(free + max(0, cached))

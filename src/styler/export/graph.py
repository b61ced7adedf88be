"""One graph to an ONNX file, and an ONNX file run by ONNX Runtime as a tensor function.

Export uses torch's TorchScript-based exporter (``dynamo=False``, opset 17): it traces the
module once at the example inputs, with autograd on so the plain formulas are what is traced
(the inference fast paths choose kernels by map size), and marks the graph's free axes dynamic.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..methods.base import Graph

OPSET = 17


def write(graph: Graph, path: Path) -> Path:
    """``graph`` as an ONNX file at ``path`` (the caller writes to a temporary name and renames)."""
    module = graph.module.eval()  # fp32 on the CPU: the method was loaded so (``store``)
    with torch.enable_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notes
        torch.onnx.export(
            module,
            tuple(x.float() for x in graph.inputs),
            str(path),
            input_names=list(graph.input_names),
            output_names=list(graph.output_names),
            dynamic_axes=graph.dynamic,
            opset_version=OPSET,
            dynamo=False,
        )
    return path


class Session:
    """An ONNX file run by ONNX Runtime on the CPU: ``session(*tensors)`` -> a tensor, or a tuple
    when the graph has several outputs; float32 CPU tensors in any memory format. A graph that
    takes one sample (``Graph.batch_one``) is run sample by sample; inputs of batch 1 are shared."""

    def __init__(self, path: Path, *, batch_one: bool = False) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()  # as torch would use: one pool per process
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only
        # No busy-waiting between runs: spinning pool threads took the cores from torch's kernels and the
        # jobs' decode/encode workers that run next (AdaIN folder of photos, 2 cores: 2.86 -> 2.68 s per image).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.names = [i.name for i in self.session.get_inputs()]
        self.batch_one = batch_one

    def __call__(self, *xs: Tensor) -> Tensor | tuple[Tensor, ...]:
        n = max(x.shape[0] for x in xs)
        if self.batch_one and n > 1:
            parts = [self._run([x[i : i + 1] if x.shape[0] > 1 else x for x in xs]) for i in range(n)]
            outs = [torch.cat(o) for o in zip(*parts)]
        else:
            outs = self._run(list(xs))
        return outs[0] if len(outs) == 1 else tuple(outs)

    def _run(self, xs: list[Tensor]) -> list[Tensor]:
        feeds = {name: as_array(x) for name, x in zip(self.names, xs, strict=True)}
        return [torch.from_numpy(y) for y in self.session.run(None, feeds)]


def as_array(x: Tensor) -> np.ndarray:
    """A tensor as ONNX Runtime takes it: a C-ordered float32 array on the host."""
    return x.detach().to("cpu", torch.float32).contiguous().numpy()

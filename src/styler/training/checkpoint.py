"""Training run folder: self-describing checkpoints, the exported decoder, the loss log.

Layout of a run folder (``-o``)::

    checkpoints/iter_0010000.pt   {"decoder" | "model", "optimizer", "iter", "config", "rng", "world_size"}
    decoder.pth                   adain: plain decoder state dict, public pytorch-AdaIN key layout
    model.pth                     cin: the self-describing model file (methods.cin)
    log.jsonl                     one JSON object per logged iteration
    samples/iter_0001000.jpg      content | style | output rows (cin: content | one column per style)

Everything is written through ``files.atomic_path``: a file is complete or absent, so a
crash or Ctrl-C mid-write never leaves a checkpoint that cannot be loaded. The decoder is
saved from the unwrapped module as CPU tensors (nanoGPT's lesson: no ``module.`` or
``_orig_mod.`` prefixes to strip later).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch

from ..errors import InputError, Param, WeightsError
from ..media.files import atomic_path
from ..nets.weights import safe_load

_NAME = re.compile(r"^iter_(\d+)\.pt$")
HINT = ("choose a writable run folder (", Param("out"), ")")


def checkpoint_dir(run: Path) -> Path:
    return Path(run) / "checkpoints"


def checkpoints(run: Path) -> list[Path]:
    """Checkpoint files of a run, oldest first."""
    folder = checkpoint_dir(run)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def save(run: Path, state: dict, keep: int, export: tuple[str, object] | None = None) -> Path:
    """Write ``checkpoints/iter_N.pt`` and the exported model ``export`` = (file name, contents),
    by default ``decoder.pth`` from ``state["decoder"]``; then drop all but the newest ``keep``."""
    path = checkpoint_dir(run) / f"iter_{state['iter']:07d}.pt"
    with atomic_path(path, HINT) as tmp:
        torch.save(state, tmp)
    name, payload = export if export is not None else ("decoder.pth", state["decoder"])
    with atomic_path(Path(run) / name, HINT) as tmp:
        torch.save(payload, tmp)
    for old in checkpoints(run)[:-keep] if keep > 0 else []:
        old.unlink(missing_ok=True)
    return path


def load(path: Path) -> dict:
    """A checkpoint, loaded without executing pickled code; one-line errors otherwise."""
    state = safe_load(path, f"checkpoint {path}", "resume from an older one (delete this file) or start a new run")
    needed = {"optimizer", "iter", "config"}
    if not isinstance(state, dict) or not needed <= set(state) or not {"decoder", "model"} & set(state):
        raise WeightsError(f"{path} is not a styler training checkpoint; pass the run folder given as out")
    return state


def latest(run: Path) -> Path:
    found = checkpoints(run)
    if not found:
        raise InputError(
            f"{run} has no checkpoints to resume from; drop ", Param("resume", True), " to start a new run there"
        )
    return found[-1]


def write_log(run: Path, records: list[dict]) -> None:
    """Rewrite ``log.jsonl`` whole (atomically): small, and never half a line after a crash."""
    text = "".join(json.dumps(r) + "\n" for r in records)
    with atomic_path(Path(run) / "log.jsonl", HINT) as tmp:
        tmp.write_text(text)


def read_log(run: Path, up_to: int) -> list[dict]:
    """The log records of iterations ``<= up_to``: what a resumed run continues from."""
    path = Path(run) / "log.jsonl"
    if not path.is_file():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("iter", up_to + 1) <= up_to:
            records.append(record)
    return records

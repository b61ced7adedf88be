"""The CIN model file: self-describing, read safely (``torch.save`` of plain containers, loaded
with ``weights_only=True``)::

    {"kind": "cin", "format": 1, "styles": [names], "config": {training config}, "iterations": int,
     "weights": CINNet state dict}
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from ...errors import WeightsError
from ...media.files import atomic_path
from ...nets.weights import safe_load
from .net import CINNet

KIND, FORMAT = "cin", 1
FIX = "pass a model.pth written by CIN training"


def model_state(net: CINNet, styles: Sequence[str], config: dict, iterations: int) -> dict:
    """The self-describing model file's contents (CPU tensors, plain containers only)."""
    return {
        "kind": KIND,
        "format": FORMAT,
        "styles": list(styles),
        "config": dict(config),
        "iterations": int(iterations),
        "weights": {k: v.detach().cpu().float().contiguous() for k, v in net.state_dict().items()},
    }


def save_model(
    path: Path,
    net: CINNet,
    styles: Sequence[str],
    config: dict,
    iterations: int,
    hint: str = "choose a writable output",
) -> Path:
    with atomic_path(Path(path), hint) as tmp:
        torch.save(model_state(net, styles, config, iterations), tmp)
    return Path(path)


def read_model(path: Path) -> tuple[CINNet, dict]:
    """A CIN model file -> (the net on CPU in float32, its description without the weights)."""
    path = Path(path).expanduser()
    state = safe_load(path, f"CIN model {path}", FIX)
    if not isinstance(state, dict) or state.get("kind") != KIND or "weights" not in state:
        what = f"kind '{state.get('kind')}'" if isinstance(state, dict) and "kind" in state else "no kind 'cin'"
        raise WeightsError(f"{path} is not a CIN model ({what}); {FIX}")
    styles = state.get("styles")
    if not isinstance(styles, list) or not styles or not all(isinstance(s, str) for s in styles):
        raise WeightsError(f"{path} has no list of style names; {FIX}")
    net = CINNet(len(styles))
    try:
        net.load_state_dict(state["weights"])
    except (RuntimeError, TypeError, AttributeError) as e:
        first = str(e).strip().splitlines()[0][:120] if str(e).strip() else type(e).__name__
        raise WeightsError(
            f"{path}: the weights do not fit a {len(styles)}-style CIN network ({first}); {FIX}"
        ) from None
    info = {k: v for k, v in state.items() if k != "weights"}
    info.setdefault("config", {})
    info.setdefault("iterations", 0)
    return net, info

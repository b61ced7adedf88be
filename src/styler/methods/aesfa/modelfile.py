"""The AesFA model file: the release's ``main.pth`` layout, read strictly, written compatibly.

The release saves ``{"netE": sd, "netS": sd, "netG": sd}`` (training files add ``optim_E``,
``optim_S``, ``optim_G``), each a plain state dict, from CUDA. Its test script reads only the
three networks, so styler writes the same three keys plus one of its own that the release
ignores::

    {"netE": ..., "netS": ..., "netG": ...,
     "styler": {"kind": "aesfa", "format": 1, "iterations": int, "config": {training config}}}

Read with ``torch.load(weights_only=True, map_location="cpu")``; nothing pickled is executed.
No hash of the release file is published, so the layout is what is verified: every key and
shape exactly, finite values.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from ...errors import WeightsError
from ...media.files import atomic_path
from ...nets.weights import safe_load
from .net import AesFANet

KIND, FORMAT = "aesfa", 1
MODEL_FILE = "main.pth"  # the release's name; training runs export the same
NETS = ("netE", "netS", "netG")
META = "styler"  # styler's own entry; the release's loader never reads it
FIX = "pass the AesFA release's main.pth or one written by AesFA training"


def _check_net(state: object, net: str, expected: dict[str, Tensor], label: str) -> dict[str, Tensor]:
    """One network's state dict, checked key by key against ``expected`` (in the release's order)."""
    if not isinstance(state, dict):
        raise WeightsError(f"{label}: '{net}' is not a state dict ({type(state).__name__}); {FIX}")
    for key in expected:
        if key not in state:
            raise WeightsError(f"{label}: missing key '{net}.{key}'; {FIX}")
    for key in state:
        if key not in expected:
            raise WeightsError(f"{label}: unexpected key '{net}.{key}'; {FIX}")
    for key, want in expected.items():
        got = state[key]
        if not isinstance(got, Tensor):
            raise WeightsError(f"{label}: '{net}.{key}' is not a tensor; {FIX}")
        if tuple(got.shape) != tuple(want.shape):
            raise WeightsError(
                f"{label}: '{net}.{key}' has shape {tuple(got.shape)}, the release's is {tuple(want.shape)}; {FIX}"
            )
        if not bool(torch.isfinite(got).all()):
            raise WeightsError(f"{label}: '{net}.{key}' has non-finite values; the file is corrupt, download it again")
    return state


def load_state(state: object, label: str) -> tuple[AesFANet, dict]:
    """A loaded ``main.pth`` object -> (the networks on CPU in float32, styler's metadata or {})."""
    if not isinstance(state, dict):
        raise WeightsError(f"{label} holds a {type(state).__name__}, not the dict of main.pth; {FIX}")
    for net in NETS:
        if net not in state:
            raise WeightsError(f"{label}: missing key '{net}'; {FIX}")
    for key in state:
        if key not in NETS and key != META and not str(key).startswith("optim_"):
            raise WeightsError(f"{label}: unexpected key '{key}'; {FIX}")
    meta = state.get(META, {})
    if not isinstance(meta, dict) or meta.get("kind", KIND) != KIND:
        raise WeightsError(f"{label}: its '{META}' entry does not describe an AesFA model; {FIX}")
    model = AesFANet()
    for net in NETS:
        module = getattr(model, net)
        checked = _check_net(state[net], net, module.state_dict(), label)
        module.load_state_dict({k: v.float() for k, v in checked.items()}, strict=True)
    return model.eval(), dict(meta)


def read_model(path: Path) -> tuple[AesFANet, dict]:
    """``main.pth`` (the release's or styler's) -> (networks, metadata); one WeightsError line otherwise."""
    path = Path(path).expanduser()
    label = f"AesFA model {path}"
    return load_state(safe_load(path, label, FIX), label)


def check_file(path: Path) -> None:
    """Raise WeightsError unless ``path`` is a usable ``main.pth`` (for ``weights verify``)."""
    read_model(path)


def model_state(model: AesFANet, *, iterations: int = 0, config: dict | None = None) -> dict:
    """The release layout (CPU float32 state dicts) plus styler's metadata."""
    out: dict = {}
    for net in NETS:
        sd = getattr(model, net).state_dict()
        out[net] = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in sd.items()}
    out[META] = {"kind": KIND, "format": FORMAT, "iterations": int(iterations), "config": dict(config or {})}
    return out


def save_model(path: Path, model: AesFANet, *, iterations: int = 0, config: dict | None = None) -> Path:
    """Write ``main.pth`` atomically; the release's own loader reads it unchanged."""
    path = Path(path).expanduser()
    with atomic_path(path, "choose a writable output") as tmp:
        torch.save(model_state(model, iterations=iterations, config=config), tmp)
    return path

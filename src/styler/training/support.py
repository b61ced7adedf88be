"""What the training loop (``train``) needs besides the loop itself: the step report, the
result, config checks, signals, torchrun's environment and RNG state. No UI, no files."""

from __future__ import annotations

import os
import signal
import threading
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..errors import StylerError


class StepInfo:
    """What the loop reports after each iteration. The losses are that iteration's (averaged
    over ranks on ``synced`` iterations, else this rank's); reading them copies them from the
    device, so a callback that only reads them when ``synced`` never stalls the GPU."""

    def __init__(
        self,
        iteration: int,
        max_iter: int,
        start_iter: int,
        losses: Tensor,
        lr: float,
        skipped: int,
        synced: bool,
        extra_names: tuple[str, ...] = (),
    ) -> None:
        self.iter, self.max_iter, self.start_iter = iteration, max_iter, start_iter
        self.lr, self.skipped, self.synced = lr, skipped, synced
        self._losses = losses  # (3 + extra,) total, content, style, the objective's extra terms, on the device
        self.extra_names = extra_names
        self.checkpoint: Path | None = None
        self.sample: Path | None = None
        self._host: list[float] | None = None

    def _values(self) -> list[float]:
        if self._host is None:
            self._host = self._losses.tolist()
        return self._host

    @property
    def loss(self) -> float:
        return self._values()[0]

    @property
    def content_loss(self) -> float:
        return self._values()[1]

    @property
    def style_loss(self) -> float:
        return self._values()[2]

    @property
    def extra_losses(self) -> dict[str, float]:
        """The objective's further terms by name (unweighted), e.g. {"contrast": 0.9}; {} for most."""
        return dict(zip(self.extra_names, self._values()[3:], strict=True))


@dataclass
class TrainResult:
    run: Path
    iter: int
    checkpoint: Path | None
    decoder: Path | None  # the exported model: decoder.pth (adain), model.pth (cin), main.pth (aesfa)
    skipped: list[str]
    interrupted: bool = False


class NonFiniteLoss(StylerError):
    """The loss became NaN or Inf; the run stops with its last good checkpoint intact."""


def learning_rate(cfg: Any, iteration: int) -> float:
    return cfg.lr / (1.0 + cfg.lr_decay * iteration)


def resumed_config(cli: Any, saved: dict) -> Any:
    """The command line's config with the saved run's recipe (``cli.recipe``: what defines the optimisation)."""
    merged = asdict(cli)
    merged.update({k: saved[k] for k in cli.recipe if k in saved})
    return type(cli)(**{f.name: merged[f.name] for f in fields(cli)})


def one_line(e: StylerError) -> StylerError:
    """An error re-raised by a DataLoader worker carries the worker's traceback; keep the message."""
    last = str(e).strip().splitlines()[-1] if str(e).strip() else ""
    return type(e)(last.split(": ", 1)[-1] if "Traceback" in str(e) else str(e))


def worker_signals(_worker: int) -> None:
    # Ctrl-C reaches the whole process group; the main process handles it and stops cleanly.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # SIGTERM (also how multiprocessing ends workers at exit) quits quietly with status 0, so
    # the main process sees no "worker killed by signal" error in the middle of a step.
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))


class StopFlag:
    """SIGINT/SIGTERM set a flag the loop checks between iterations (so a checkpoint is never
    written mid-update); a second Ctrl-C raises KeyboardInterrupt at once."""

    def __init__(self) -> None:
        self.set = False
        self._old: dict[int, object] = {}

    def _handle(self, signum, frame) -> None:
        if self.set and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.set = True

    def __enter__(self) -> StopFlag:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def rng_state(device: torch.device) -> dict[str, Tensor]:
    """Every RNG the loop draws from: torch's CPU generator and, on CUDA, the device's. (Data
    order, crops and CIN style draws come from explicitly seeded generators, not global ones.)"""
    state = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def restore_rng(state: dict, device: torch.device) -> list[str]:
    """Put back the RNG states ``rng_state`` saved; returns the names restored. A CUDA state is
    restored on a CUDA run only (a CPU run has no such generator to give it to)."""
    done = []
    if "torch" in state:
        torch.set_rng_state(state["torch"])
        done.append("torch")
    if "cuda" in state and device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda"], device)
        done.append("cuda")
    return done

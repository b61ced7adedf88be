"""The training loop every trainable method shares; the methods supply the objective.

    train(AdaINTrainConfig(...))   AdaIN decoder (Huang & Belongie 2017, section 6.2)
    train(CINTrainConfig(...))     multi-style CIN network (Dumoulin et al. 2017)

A config's ``objective()`` (``methods.trainable``) gives the model, data, losses, checkpoint
payload and samples; the loop owns what does not depend on the method: device and precision
(bf16 autocast on CUDA), torchrun DDP, the run folder (self-describing atomic checkpoints, the
exported model, log.jsonl, sample grids), resume (weights, optimiser, every RNG, data position),
stopping cleanly on SIGINT/SIGTERM, and stopping on a NaN/Inf loss with the last good checkpoint
intact. It has no UI (minGPT's callbacks): ``on_step(StepInfo)`` after every iteration.
Objectives see a narrow ``Context``, never the loop.

Losses stay on the device: the host synchronises only on logging, checkpoint and sample
iterations (and, under DDP, every ``STOP_EVERY`` iterations to agree on a stop signal),
where one all-reduce gives every rank the same window sums, NaN verdict and stop decision.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from .. import runtime
from ..dist import dist_env, rank_device
from ..errors import InputError, Param, StylerError
from ..media.files import check_writable
from ..methods.trainable import Batch, TrainConfig
from . import checkpoint, data
from .support import (
    NonFiniteLoss,
    StepInfo,
    StopFlag,
    TrainResult,
    learning_rate,
    one_line,
    restore_rng,
    resumed_config,
    rng_state,
    worker_signals,
)

STOP_EVERY = 10  # DDP: iterations between stop-signal agreements when no other sync falls due


@dataclass
class Context:
    """The ``TrainContext`` an objective gets: where and how the run goes, and its data streams."""

    cfg: Any
    rank: int
    world: int
    start: int
    device: torch.device
    memory_format: torch.memory_format
    bf16: bool
    model: nn.Module | None = None  # set once the loop has wrapped the module (DDP under torchrun)

    def autocast(self) -> AbstractContextManager[Any]:
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16)

    def to_device(self, x: Tensor) -> Tensor:
        if x.dim() != 4:
            return x.to(self.device, non_blocking=True)
        return x.to(self.device, non_blocking=True).contiguous(memory_format=self.memory_format)

    def images(self, folder: str, param: str) -> list[Path]:
        return data.find_images(Path(folder), param)

    def stream(self, paths: list[Path], stream: int, *, square: bool = False) -> Iterator[Batch]:
        cfg = self.cfg
        return data.batches(
            paths,
            batch_size=cfg.batch_size,
            resize=cfg.resize,
            crop=cfg.crop,
            seed=cfg.seed,
            stream=stream,
            rank=self.rank,
            world=self.world,
            start_batch=self.start,
            workers=cfg.workers,
            pin_memory=self.device.type == "cuda",
            worker_init_fn=worker_signals,
            square=square,
        )


class Loop:
    """One training process: device, optimiser, DDP and the run folder around an ``Objective``."""

    def __init__(self, cfg: TrainConfig, on_step: Callable[[StepInfo], None] | None) -> None:
        """Everything that can fail on the user's input fails here, before the first iteration."""
        self.rank, self.world, _ = dist_env()
        self.rt = runtime.runtime(rank_device(cfg.device), cfg.precision, training=True)
        self.device = self.rt.device
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        run = Path(cfg.out).expanduser()
        saved = None
        if cfg.resume:
            saved = checkpoint.load(checkpoint.latest(run))
            cfg = resumed_config(cfg, saved["config"])
        elif checkpoint.checkpoints(run):
            raise InputError(
                f"{run} already holds checkpoints; pass ",
                Param("resume", True),
                " to continue that run or choose a new run folder (",
                Param("out"),
                ")",
            )
        self.objective = objective = cfg.objective()
        self.extra: tuple[str, ...] = tuple(getattr(objective, "extra_losses", ()))  # terms beyond content, style
        if self.rank == 0:  # fail now, not at the first checkpoint hours from now
            check_writable(run / objective.export_name, checkpoint.HINT)
        self.cfg, self.run, self.on_step = cfg, run, on_step
        self.start = int(saved["iter"]) if saved is not None else 0
        # channels_last lets cuDNN pick its fastest conv kernels; on CPU it only costs conversions.
        fmt = torch.channels_last if self.device.type == "cuda" else torch.contiguous_format
        self.ctx = Context(cfg, self.rank, self.world, self.start, self.device, fmt, self.rt.precision == "bf16")
        torch.manual_seed(cfg.seed)  # same initial weights on every rank (DDP also broadcasts rank 0's)
        self.module = objective.setup(self.ctx, saved)
        if saved is not None:
            restore_rng(saved.get("rng", {}), self.device)
        self.module.to(self.device, memory_format=fmt)
        params = objective.to_device(self.ctx)
        self.optimizer = torch.optim.Adam(params, lr=cfg.lr)
        if saved is not None:  # after the move, so Adam's moments land on the parameters' device
            self.optimizer.load_state_dict(saved["optimizer"])
        self.ctx.model = self.module
        if self.world > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.ctx.model = nn.parallel.DistributedDataParallel(self.module, device_ids=ids)
        self.records = checkpoint.read_log(run, self.start) if self.rank == 0 else []
        self.last_saved: Path | None = None
        self.saved_iter = self.start if saved is not None else -1

    def summary(self) -> str:
        return (
            f"training on {self.rt.describe()}, {self.world} process(es) x batch {self.cfg.batch_size}; "
            f"{self.objective.describe()}; iteration {self.start} of {self.cfg.max_iter}; run folder {self.run}"
        )

    def _save(self, iteration: int) -> Path | None:
        if self.rank != 0 or iteration == self.saved_iter:
            return None
        weights, export = self.objective.state(self.ctx, iteration)
        state = {
            **weights,
            "optimizer": self.optimizer.state_dict(),
            "iter": iteration,
            "config": asdict(self.cfg),
            "rng": rng_state(self.device),
            "world_size": self.world,
        }
        self.last_saved = checkpoint.save(self.run, state, self.cfg.keep, export=(self.objective.export_name, export))
        self.saved_iter = iteration
        return self.last_saved

    def _sample(self, iteration: int, batch: tuple, output: Tensor) -> Path:
        from ..media.images import save_image

        with torch.no_grad():
            grid = self.objective.sample(self.ctx, batch, output).float().clamp(0, 1).cpu()
        return save_image(grid, self.run / "samples" / f"iter_{iteration:07d}.jpg")

    def _nonfinite(self, value: float, first_bad: int, it: int) -> NonFiniteLoss:
        good = checkpoint.checkpoints(self.run)
        where = f"; the last good checkpoint is {good[-1]}" if good else "; no checkpoint was written yet"
        return NonFiniteLoss(
            f"the loss became {value} at iteration {first_bad or it}{where}; resume with ",
            Param("resume", True),
            " and a lower ",
            Param("lr"),
        )

    def train(self) -> TrainResult:
        cfg, obj = self.cfg, self.objective
        done, tick, window = self.start, time.perf_counter(), 0
        terms = 3 + len(self.extra)
        sums = torch.zeros(terms, device=self.device)  # window sums: total, content, style, extra terms
        first_bad = torch.zeros((), dtype=torch.int64, device=self.device)
        with StopFlag() as stop:
            for it in range(self.start, cfg.max_iter):
                if stop.set and self.world == 1:
                    break
                try:
                    batch = obj.next_batch(self.ctx, it)
                except StylerError as e:
                    raise one_line(e) from None
                except Exception:
                    if stop.set:  # a worker went down with the signal: stop as asked
                        break
                    raise
                lr = learning_rate(cfg, it)
                batch = tuple(self.ctx.to_device(x) if isinstance(x, Tensor) else x for x in batch)
                losses, output = self._step(batch, lr)
                sums += losses
                bad = ~torch.isfinite(losses[0])
                first_bad = torch.where(bad & (first_bad == 0), torch.full_like(first_bad, it + 1), first_bad)
                done, window = it + 1, window + 1
                logging = done % cfg.log_every == 0 or done == cfg.max_iter
                saving = done % cfg.save_every == 0
                sampling = bool(cfg.sample_every) and done % cfg.sample_every == 0
                synced = logging or saving or sampling or (self.world > 1 and done % STOP_EVERY == 0)
                info = StepInfo(done, cfg.max_iter, self.start, losses, lr, len(obj.skipped()), synced, self.extra)
                if synced:
                    # One collective: window sums (a NaN anywhere poisons all), this step, stop votes.
                    vec = torch.cat([sums, losses, torch.tensor([float(stop.set)], device=self.device)])
                    if self.world > 1:
                        dist.all_reduce(vec)
                    host = vec.tolist()  # the one host synchronisation
                    if not all(math.isfinite(v) for v in host[: 2 * terms]):
                        now = host[terms : 2 * terms] + host[:terms]
                        raise self._nonfinite(next(v for v in now if not math.isfinite(v)), int(first_bad.item()), done)
                    info._host = [v / self.world for v in host[terms : 2 * terms]]
                    if self.rank == 0 and logging:
                        self._log(
                            done,
                            [v / self.world / window for v in host[:terms]],
                            lr,
                            window / (time.perf_counter() - tick),
                            info.skipped,
                        )
                    if logging:
                        sums.zero_()
                        window, tick = 0, time.perf_counter()
                    if self.rank == 0 and sampling:
                        info.sample = self._sample(done, batch, output)
                    if saving:
                        info.checkpoint = self._save(done)
                    if host[2 * terms] > 0:
                        if self.on_step:
                            self.on_step(info)
                        break
                if self.on_step:
                    self.on_step(info)
            if window:  # a stop between syncs: never save weights that a NaN/Inf step went through
                host = sums.tolist()
                if not all(math.isfinite(v) for v in host):
                    raise self._nonfinite(next(v for v in host if not math.isfinite(v)), int(first_bad.item()), done)
            self._save(done)  # still under the flag: a signal now cannot cut the final save short
        return self.result(done)

    def _step(self, batch: tuple, lr: float) -> tuple[Tensor, Tensor]:
        """One optimiser step at ``lr`` on a device batch -> ((3 + extra,) total, content, style and
        the extra terms, output)."""
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        lc, ls, output, *more = self.objective.losses(self.ctx, batch)
        extra = [more[0][name] for name in self.extra]
        total = self.cfg.content_weight * lc + self.cfg.style_weight * ls
        for name, term in zip(self.extra, extra, strict=True):
            total = total + getattr(self.cfg, f"{name}_weight") * term
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        self.optimizer.step()
        return torch.stack([total, lc, ls, *extra]).detach().float(), output

    def _log(self, iteration: int, mean: list[float], lr: float, rate: float, skipped: int) -> None:
        """One log.jsonl record: the window's mean losses (over ranks), lr, speed, files skipped."""
        record = {"iter": iteration, "loss": mean[0], "content": mean[1], "style": mean[2]}
        record.update(zip(self.extra, mean[3:], strict=True))
        record["lr"] = lr
        self.records.append({**record, "it_s": rate, "skipped": skipped})
        checkpoint.write_log(self.run, self.records)

    def result(self, iteration: int) -> TrainResult:
        export = self.run / self.objective.export_name if self.last_saved else None
        return TrainResult(
            self.run, iteration, self.last_saved, export, self.objective.skipped(), iteration < self.cfg.max_iter
        )


def train(
    cfg: TrainConfig,
    on_step: Callable[[StepInfo], None] | None = None,
    on_start: Callable[[str, int], None] | None = None,
) -> TrainResult:
    """Train (or with ``cfg.resume`` continue) the method ``cfg`` is the config of; returns where
    its files are. Under torchrun, sets up the process group (env://; nccl on CUDA, gloo on CPU).

    Stops early, with a checkpoint, on SIGINT/SIGTERM (``TrainResult.interrupted``); raises
    ``NonFiniteLoss`` on a NaN/Inf loss. ``on_start`` gets a one-line summary and the starting
    iteration once the data and weights are loaded."""
    _, world, _ = dist_env()
    started = False
    if world > 1 and not dist.is_initialized():
        cuda = runtime.pick_device(cfg.device).type == "cuda"
        dist.init_process_group("nccl" if cuda else "gloo", init_method="env://")
        started = True
    try:
        loop = Loop(cfg, on_step)
        if on_start:
            on_start(loop.summary(), loop.start)
        with runtime.autotune(loop.rt):
            return loop.train()
    finally:
        if started:
            dist.destroy_process_group()

"""Train an AdaIN decoder: the recipe of Huang & Belongie 2017, section 6.2.

    t = AdaIN(f(c), f(s))            f: the frozen VGG encoder up to relu4_1
    g(t) = decoded image             g: the decoder, the only thing trained
    L = content_weight * ||f(g(t)) - t||^2 + style_weight * sum_l (||mu(f_l(g(t))) - mu(f_l(s))||^2
                                                                  + ||sigma(...) - sigma(...)||^2)

Adam, lr 1e-4 decayed as lr / (1 + 5e-5 * iter), batch 8 of 256 x 256 random crops,
160k iterations. The loop has no UI (minGPT's callbacks): ``train_decoder(cfg, on_step=cb)``
calls ``cb(StepInfo)`` after every iteration and the CLI draws the progress bar.

Scale-out: under ``torchrun`` (``WORLD_SIZE`` > 1) each process trains a DDP replica on its
own shard of the data, ``--batch-size`` images per process; only rank 0 writes files.
"""

from __future__ import annotations

import math
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
import torch.distributed as dist
from torch import Tensor

from . import checkpoint, data, ops, runtime, weights
from .errors import InputError, StylerError
from .files import check_writable
from .images import save_image
from .model import Decoder, Encoder, load_encoder


@dataclass
class TrainConfig:
    content_dir: str = ""           # content images (MS-COCO train2014 in the paper), searched recursively
    style_dir: str = ""             # style images (WikiArt in the paper), searched recursively
    out: str = "runs/adain"         # run folder: checkpoints/, decoder.pth, log.jsonl, samples/
    max_iter: int = 160_000
    batch_size: int = 8             # per process: the global batch is batch_size * world size
    lr: float = 1e-4
    lr_decay: float = 5e-5          # lr / (1 + lr_decay * iter), as pytorch-AdaIN
    content_weight: float = 1.0
    style_weight: float = 10.0      # pytorch-AdaIN's default (10 since its commit 80650a0)
    resize: int = 512               # shorter side before cropping (0 = keep)
    crop: int = 256
    save_every: int = 10_000
    keep: int = 3                   # checkpoints kept; older ones are deleted
    log_every: int = 100
    sample_every: int = 1000        # 0 = no sample grids
    workers: int = 4                # data-loading processes per training process (0 = in-process)
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"         # auto = bf16 autocast on CUDA with bf16, else fp32
    vgg: str | None = None          # encoder weights; None = the weights directory, as `transfer`
    resume: bool = False            # continue from the newest checkpoint in `out`


# What defines the optimisation; a resumed run takes these from its checkpoint so it continues
# the same run. Everything else (max_iter, save_every, workers, device, ...) may change.
RECIPE = ("batch_size", "lr", "lr_decay", "content_weight", "style_weight", "resize", "crop", "seed")


@dataclass
class StepInfo:
    """What the loop reports after each iteration (losses of that iteration, averaged over ranks)."""

    iter: int                       # iterations done, 1-based
    max_iter: int
    start_iter: int                 # where this process started (0, or the resumed iteration)
    loss: float
    content_loss: float
    style_loss: float
    lr: float
    skipped: int                    # unreadable files met so far (this rank)
    checkpoint: Path | None = None  # set on iterations that wrote one
    sample: Path | None = None


@dataclass
class TrainResult:
    run: Path
    iter: int
    checkpoint: Path | None
    decoder: Path | None
    skipped: list[str]
    interrupted: bool = False


class NonFiniteLoss(StylerError):
    """The loss became NaN or Inf; the run stops with its last good checkpoint intact."""


def learning_rate(cfg: TrainConfig, iteration: int) -> float:
    return cfg.lr / (1.0 + cfg.lr_decay * iteration)


def check_config(cfg: TrainConfig) -> None:
    positive = ("max_iter", "batch_size", "crop", "save_every", "log_every")
    for name in positive:
        if getattr(cfg, name) < 1:
            raise InputError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(cfg, name)}")
    for name in ("lr", "lr_decay", "content_weight", "style_weight", "resize", "keep", "sample_every", "workers"):
        value = getattr(cfg, name)
        if not math.isfinite(value) or value < 0:
            raise InputError(f"--{name.replace('_', '-')} must be a number >= 0, got {value}")
    if cfg.lr == 0:
        raise InputError("--lr must be above 0, e.g. the paper's 1e-4")
    if cfg.keep == 0:
        raise InputError("--keep must be at least 1 so that the run can be resumed")


def resumed_config(cli: TrainConfig, saved: dict) -> TrainConfig:
    merged = asdict(cli)
    merged.update({k: saved[k] for k in RECIPE if k in saved})
    return TrainConfig(**{f.name: merged[f.name] for f in fields(TrainConfig)})


def _one_line(e: StylerError) -> StylerError:
    """An error re-raised by a DataLoader worker carries the worker's traceback; keep the message."""
    last = str(e).strip().splitlines()[-1] if str(e).strip() else ""
    return type(e)(last.split(": ", 1)[-1] if "Traceback" in str(e) else str(e))


def _worker_signals(_worker: int) -> None:
    # Ctrl-C reaches the whole process group; the main process handles it and stops cleanly.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # SIGTERM (also how multiprocessing ends workers at exit) quits quietly with status 0, so
    # the main process sees no "worker killed by signal" error in the middle of a step.
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))


class _StopFlag:
    """SIGINT/SIGTERM set a flag the loop checks between iterations (so a checkpoint is never
    written mid-update); a second Ctrl-C raises KeyboardInterrupt at once."""

    def __init__(self) -> None:
        self.set = False
        self._old: dict[int, object] = {}

    def _handle(self, signum, frame) -> None:
        if self.set and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.set = True

    def __enter__(self) -> _StopFlag:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def _dist_env() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment; (0, 1, 0) when run alone."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, 0
    return int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0"))


def _rng_state(device: torch.device) -> dict[str, Tensor]:
    state = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


class _Run:
    """One training process: models, optimiser, data streams and the files it writes."""

    def __init__(self, cfg: TrainConfig, on_step: Callable[[StepInfo], None] | None) -> None:
        """Everything that can fail on the user's input fails here, before the first iteration."""
        self.rank, self.world, local = _dist_env()
        device = f"cuda:{local}" if self.world > 1 and runtime.pick_device(cfg.device).type == "cuda" else cfg.device
        self.rt = runtime.runtime(device, cfg.precision, training=True)
        self.device, self.precision = self.rt.device, self.rt.precision
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        check_config(cfg)
        run = Path(cfg.out).expanduser()
        if self.rank == 0:  # fail now, not at the first checkpoint hours from now
            check_writable(run / "decoder.pth", checkpoint.HINT)
        saved = None
        if cfg.resume:
            saved = checkpoint.load(checkpoint.latest(run))
            cfg = resumed_config(cfg, saved["config"])
        elif checkpoint.checkpoints(run):
            raise InputError(f"{run} already holds checkpoints; pass --resume to continue that run "
                             "or choose a new -o folder")
        self.cfg, self.run, self.on_step = cfg, run, on_step
        self.contents = data.find_images(Path(cfg.content_dir), "--coco")
        self.styles = data.find_images(Path(cfg.style_dir), "--wikiart")
        vgg = weights.resolve(weights.VGG, Path(cfg.vgg) if cfg.vgg else None)
        self.encoder: Encoder = load_encoder(weights.load_state_dict(vgg), label=str(vgg)).eval()
        torch.manual_seed(cfg.seed)  # same initial decoder on every rank (DDP also broadcasts rank 0's)
        self.decoder = Decoder()
        self.start = 0
        if saved is not None:
            self.decoder.load_state_dict(saved["decoder"])
            self.start = int(saved["iter"])
            torch.set_rng_state(saved.get("rng", {}).get("torch", torch.get_rng_state()))
        # channels_last lets cuDNN pick its fastest conv kernels; on CPU it only costs conversions.
        self.fmt = torch.channels_last if self.device.type == "cuda" else torch.contiguous_format
        self.encoder.to(self.device, memory_format=self.fmt)
        self.decoder.to(self.device, memory_format=self.fmt)
        self.optimizer = torch.optim.Adam(self.decoder.parameters(), lr=cfg.lr)
        if saved is not None:  # after the move, so Adam's moments land on the parameters' device
            self.optimizer.load_state_dict(saved["optimizer"])
        self.model: torch.nn.Module = self.decoder
        if self.world > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.model = torch.nn.parallel.DistributedDataParallel(self.decoder, device_ids=ids)
        self.records = checkpoint.read_log(run, self.start) if self.rank == 0 else []
        self.bad: dict[str, set[int]] = {"content": set(), "style": set()}
        self.last_saved: Path | None = None
        self.saved_iter = self.start if saved is not None else -1

    def summary(self) -> str:
        return (f"training on {self.rt.describe()}, {self.world} process(es) x batch "
                f"{self.cfg.batch_size}; {len(self.contents)} content and {len(self.styles)} style images; "
                f"iteration {self.start} of {self.cfg.max_iter}; run folder {self.run}")

    def _stream(self, paths: list[Path], stream: int):
        cfg = self.cfg
        return data.batches(paths, batch_size=cfg.batch_size, resize=cfg.resize, crop=cfg.crop, seed=cfg.seed,
                            stream=stream, rank=self.rank, world=self.world, start_batch=self.start,
                            workers=cfg.workers, pin_memory=self.device.type == "cuda",
                            worker_init_fn=_worker_signals)

    def _to_device(self, x: Tensor) -> Tensor:
        return x.to(self.device, non_blocking=True).contiguous(memory_format=self.fmt)

    def _losses(self, content: Tensor, style: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """content, style (B, 3, crop, crop) -> (Lc, Ls, output (B, 3, crop, crop)); losses in fp32."""
        bf16 = self.precision == "bf16"
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=bf16):
            with torch.no_grad():
                style_feats = self.encoder(style)              # relu1_1..relu4_1
                content_feat = self.encoder.relu4_1(content)   # (B, 512, crop/8, crop/8)
            # AdaIN happens at relu4_1, in fp32 like the statistics the loss compares.
            t = ops.adain(content_feat.float(), style_feats.relu4_1.float())
            output = self.model(t)                             # (B, 3, crop, crop)
            out_feats = self.encoder(output)
        lc = ops.content_loss(out_feats.relu4_1.float(), t)
        ls = ops.style_loss(tuple(f.float() for f in out_feats), tuple(f.float() for f in style_feats))
        return lc, ls, output

    def _save(self, iteration: int) -> Path | None:
        if self.rank != 0 or iteration == self.saved_iter:
            return None
        state = {
            "decoder": {k: v.detach().cpu().contiguous() for k, v in self.decoder.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "iter": iteration,
            "config": asdict(self.cfg),
            "rng": _rng_state(self.device),
            "world_size": self.world,
        }
        self.last_saved = checkpoint.save(self.run, state, self.cfg.keep)
        self.saved_iter = iteration
        return self.last_saved

    def _sample(self, iteration: int, content: Tensor, style: Tensor, output: Tensor) -> Path | None:
        """A grid of up to 4 rows: content | style | output, each (3, crop, crop)."""
        output = output.detach().float()  # bf16 under autocast
        rows = [torch.cat([content[i], style[i], output[i]], dim=2) for i in range(min(4, len(content)))]
        grid = torch.cat(rows, dim=1).clamp(0, 1).cpu()  # (3, rows*crop, 3*crop)
        return save_image(grid, self.run / "samples" / f"iter_{iteration:07d}.jpg")

    def _result(self, iteration: int, interrupted: bool) -> TrainResult:
        names = [str(self.contents[j]) for j in sorted(self.bad["content"])]
        names += [str(self.styles[j]) for j in sorted(self.bad["style"])]
        decoder = self.run / "decoder.pth" if self.last_saved else None
        return TrainResult(self.run, iteration, self.last_saved, decoder, names, interrupted)

    def train(self) -> TrainResult:
        cfg = self.cfg
        contents, styles = self._stream(self.contents, 0), self._stream(self.styles, 1)
        done, window, tick = self.start, [], time.perf_counter()
        with _StopFlag() as stop:
            for it in range(self.start, cfg.max_iter):
                try:
                    (c, bad_c), (s, bad_s) = next(contents), next(styles)
                except StylerError as e:
                    raise _one_line(e) from None
                except Exception:
                    if stop.set:  # a worker went down with the signal: stop as asked
                        break
                    raise
                self.bad["content"].update(bad_c)
                self.bad["style"].update(bad_s)
                lr = learning_rate(cfg, it)
                for group in self.optimizer.param_groups:
                    group["lr"] = lr
                c, s = self._to_device(c), self._to_device(s)
                lc, ls, output = self._losses(c, s)
                # One collective per iteration: the ranks agree on the losses and on stopping.
                stats = torch.stack([lc.detach(), ls.detach(), torch.tensor(float(stop.set), device=lc.device)])
                if self.world > 1:
                    dist.all_reduce(stats)
                    stats[:2] /= self.world
                lc_v, ls_v, stopping = stats.tolist()
                if stopping:
                    break
                loss_v = cfg.content_weight * lc_v + cfg.style_weight * ls_v
                if not math.isfinite(loss_v):
                    good = checkpoint.checkpoints(self.run)
                    where = f"; the last good checkpoint is {good[-1]}" if good else "; no checkpoint was written yet"
                    raise NonFiniteLoss(f"the loss became {loss_v} at iteration {it + 1}{where}; resume with "
                                        "--resume and a lower --lr")
                self.optimizer.zero_grad(set_to_none=True)
                (cfg.content_weight * lc + cfg.style_weight * ls).backward()
                self.optimizer.step()
                done = it + 1
                info = StepInfo(done, cfg.max_iter, self.start, loss_v, lc_v, ls_v, lr,
                                len(self.bad["content"]) + len(self.bad["style"]))
                if self.rank == 0:
                    window.append((loss_v, lc_v, ls_v))
                    if done % cfg.log_every == 0 or done == cfg.max_iter:
                        now = time.perf_counter()
                        means = [sum(x) / len(window) for x in zip(*window)]
                        self.records.append({"iter": done, "loss": means[0], "content": means[1], "style": means[2],
                                             "lr": lr, "it_s": len(window) / (now - tick), "skipped": info.skipped})
                        checkpoint.write_log(self.run, self.records)
                        window, tick = [], now
                    if cfg.sample_every and done % cfg.sample_every == 0:
                        info.sample = self._sample(done, c, s, output)
                    if done % cfg.save_every == 0:
                        info.checkpoint = self._save(done)
                if self.on_step:
                    self.on_step(info)
            self._save(done)  # still under the flag: a signal now cannot cut the final save short
        return self._result(done, interrupted=done < cfg.max_iter)


def train_decoder(cfg: TrainConfig, on_step: Callable[[StepInfo], None] | None = None,
                  on_start: Callable[[str, int], None] | None = None) -> TrainResult:
    """Train (or with ``cfg.resume`` continue) a decoder; returns where its files are.

    Under torchrun the process group is set up here (env://; nccl on CUDA, gloo on CPU)
    and torn down on the way out. Stops early, with a checkpoint, on SIGINT/SIGTERM
    (``TrainResult.interrupted``); raises ``NonFiniteLoss`` on a NaN/Inf loss. ``on_start``
    gets a one-line summary and the starting iteration once the data and weights are loaded.
    """
    rank, world, _ = _dist_env()
    started = False
    if world > 1 and not dist.is_initialized():
        cuda = runtime.pick_device(cfg.device).type == "cuda"
        dist.init_process_group("nccl" if cuda else "gloo", init_method="env://")
        started = True
    try:
        run = _Run(cfg, on_step)
        if on_start:
            on_start(run.summary(), run.start)
        with runtime.autotune(run.rt):
            return run.train()
    finally:
        if started:
            dist.destroy_process_group()

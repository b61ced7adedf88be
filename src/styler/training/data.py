"""Training data: folders of images -> endless, reproducible, sharded batches of random crops.

The paper's recipe (Huang & Belongie 2017, section 6.2): resize the shorter side to 512,
keeping the aspect ratio, then take a random 256 x 256 crop. (pytorch-AdaIN squashes to
512 x 512 instead; we follow the paper.) A multi-day run must never die on one bad file,
so unreadable images are skipped and reported, not raised.

Reproducibility: sample number ``k`` of rank ``r`` is fully determined by (seed, stream,
epoch, r, k): which file (a seeded permutation per epoch, sharded like
``DistributedSampler``) and where the crop falls (a per-sample seeded generator). So the
order does not depend on the number of workers, and a resumed run can jump straight to
sample ``k`` without replaying the ones before it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler

from ..errors import InputError, Param
from ..media.images import IMAGE_SUFFIXES, open_rgb, resized_size, to_tensor

MAX_TRIES = 100  # consecutive unreadable files before we decide the folder is unusable


def find_images(root: Path, param: str) -> list[Path]:
    """Every image file under ``root``, recursively (symlinked folders too), in a stable order;
    ``param`` is the parameter that named the folder, for the error lines."""
    root = Path(root).expanduser()
    if not root.exists():
        raise InputError(Param(param), f" {root} does not exist; pass the folder of training images")
    if not root.is_dir():
        raise InputError(Param(param), f" {root} is a file; pass the folder of training images")
    found = [
        Path(d) / name
        for d, _, names in os.walk(root, followlinks=True)
        for name in names
        if Path(name).suffix.lower() in IMAGE_SUFFIXES
    ]
    if not found:
        raise InputError(
            Param(param),
            f" {root} holds no image files (searched recursively for "
            f"{', '.join(sorted(IMAGE_SUFFIXES)[:6])}, ...); pass the folder of training images",
        )
    return sorted(found)


def random_crop(img: Image.Image, resize: int, crop: int, rng: np.random.Generator, square: bool = False) -> Tensor:
    """Shorter side to ``resize`` (0 = keep; ``square``: both sides, the aspect distorted, as
    some recipes do), upscaled further if still under ``crop``, then a random ``crop`` x ``crop``
    window -> (3, crop, crop) float in [0, 1]."""
    w, h = (resize, resize) if square and resize else resized_size(*img.size, resize)
    if min(w, h) < crop:  # small images are upscaled, never padded
        w, h = resized_size(w, h, crop)
    w, h = max(w, crop), max(h, crop)  # int() truncation in resized_size can land 1 px short
    if (w, h) != img.size:
        img = img.resize((w, h), Image.Resampling.BILINEAR)
    left, top = int(rng.integers(0, w - crop + 1)), int(rng.integers(0, h - crop + 1))
    return to_tensor(img.crop((left, top, left + crop, top + crop)))[0]


class ImageFolder(Dataset):
    """Indexed by ``(file index, crop seed)`` as yielded by :class:`InfiniteSampler`.

    Returns ``(image (3, crop, crop), bad)``: when the file cannot be read, the next files
    are tried in order and ``bad`` lists the indices that failed, for the caller to count.
    """

    def __init__(self, paths: list[Path], resize: int = 512, crop: int = 256, square: bool = False) -> None:
        self.paths, self.resize, self.crop, self.square = paths, resize, crop, square

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, key: tuple[int, tuple[int, ...]]) -> tuple[Tensor, list[int]]:
        index, seed = key
        bad: list[int] = []
        for i in range(min(MAX_TRIES, len(self.paths))):
            j = (index + i) % len(self.paths)
            try:
                img = open_rgb(self.paths[j], draft=self.resize)
            except Exception:  # truncated, corrupt, not an image, a bomb: skip it, never crash
                bad.append(j)
                continue
            return random_crop(img, self.resize, self.crop, np.random.default_rng(seed), self.square), bad
        folder = os.path.commonpath([str(self.paths[0]), str(self.paths[-1])])
        raise InputError(f"{len(bad)} images in a row under {folder} cannot be read; check the dataset")


class InfiniteSampler(Sampler):
    """Endless ``(file index, crop seed)`` keys for one rank, starting at its sample ``start``.

    Each epoch is a fresh seeded permutation, padded to a multiple of ``world`` and dealt
    round-robin to the ranks (``DistributedSampler``'s scheme), so ranks never share a file
    within an epoch and every rank sees ``ceil(n / world)`` samples per epoch.
    """

    def __init__(self, n: int, *, seed: int, stream: int, rank: int = 0, world: int = 1, start: int = 0) -> None:
        self.n, self.seed, self.stream, self.rank, self.world, self.start = n, seed, stream, rank, world, start
        self.per_rank = -(-n // world)  # ceil

    def _shard(self, epoch: int) -> np.ndarray:
        perm = np.random.default_rng([self.seed, self.stream, epoch]).permutation(self.n)
        perm = np.resize(perm, self.per_rank * self.world)  # pads by repeating from the start
        return perm[self.rank :: self.world]

    def __iter__(self) -> Iterator[tuple[int, tuple[int, ...]]]:
        k = self.start
        while True:
            epoch, offset = divmod(k, self.per_rank)
            shard = self._shard(epoch)
            for index in shard[offset:]:
                yield int(index), (self.seed, self.stream, self.rank, k)
                k += 1


def _collate(items: list[tuple[Tensor, list[int]]]) -> tuple[Tensor, list[int]]:
    return torch.stack([img for img, _ in items]), [j for _, bad in items for j in bad]


def batches(
    paths: list[Path],
    *,
    batch_size: int,
    resize: int,
    crop: int,
    seed: int,
    stream: int,
    rank: int = 0,
    world: int = 1,
    start_batch: int = 0,
    workers: int = 0,
    pin_memory: bool = False,
    worker_init_fn=None,
    square: bool = False,
) -> Iterator[tuple[Tensor, list[int]]]:
    """Endless ``(images (B, 3, crop, crop), bad file indices)``, resuming at batch ``start_batch``."""
    sampler = InfiniteSampler(
        len(paths), seed=seed, stream=stream, rank=rank, world=world, start=start_batch * batch_size
    )
    loader = DataLoader(
        ImageFolder(paths, resize, crop, square),
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        collate_fn=_collate,
        pin_memory=pin_memory,
        drop_last=True,
        prefetch_factor=4 if workers else None,
        worker_init_fn=worker_init_fn,
    )
    return iter(loader)

"""torchrun's environment, read in one place by jobs and training (no process group is made here)."""

from __future__ import annotations

import os


def dist_env() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment; (0, 1, 0) when run alone."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, 0
    return int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0"))


def rank_device(device: str) -> str:
    """The device a rank uses: ``cuda:LOCAL_RANK`` under torchrun when ``device`` resolves to
    CUDA, else ``device`` as given."""
    _, world, local = dist_env()
    if world <= 1:
        return device
    from .runtime import pick_device

    return f"cuda:{local}" if pick_device(device).type == "cuda" else device

"""out/manifest.jsonl: one JSON object per result of a dataset job, sorted by output path.

Each record names the content and style (relative to their folders) and the output
(relative to the output folder), so a stylized dataset can be traced back to its sources.
Under torchrun every rank writes its own part (``.manifest.rank{R}.jsonl``) and rank 0
merges them after a barrier; a single process writes the manifest directly. Records are
sorted, so one process and N processes give the same file byte for byte.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path

from ..errors import OutputError, Param
from ..media.files import atomic_path
from .pairing import Pair

MANIFEST = "manifest.jsonl"
HINT = "choose a writable output folder"
BARRIER_TIMEOUT = timedelta(days=2)  # ranks wait for the slowest one before the merge


def record(pair: Pair, alpha: float, low_style: Path | None = None) -> dict[str, object]:
    """The manifest line of one written (or already present) result (``low_style``: the file
    every style took its low frequency band from, when the job blends by band)."""
    line: dict[str, object] = {"output": pair.output, "content": pair.content.rel, "style": pair.style.rel}
    line["alpha"] = alpha
    if low_style is not None:
        line["low_style"] = str(low_style)
    return line


def part_path(out: Path, rank: int) -> Path:
    # Hidden, so that listing the output folder as a job's input never picks it up.
    return Path(out) / f".manifest.rank{rank}.jsonl"


def _dump(records: Iterable[dict[str, object]]) -> str:
    ordered = sorted(records, key=lambda r: str(r["output"]))
    return "".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n" for r in ordered)


def _write(path: Path, records: Iterable[dict[str, object]]) -> Path:
    text = _dump(records)
    with atomic_path(path, HINT) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def write(out: Path, records: Iterable[dict[str, object]]) -> Path:
    """The whole manifest at once (a single process): ``out/manifest.jsonl``, sorted, atomic."""
    return _write(Path(out) / MANIFEST, records)


def write_part(out: Path, rank: int, records: Iterable[dict[str, object]]) -> Path:
    """This rank's records, for rank 0 to merge."""
    return _write(part_path(out, rank), records)


def read(path: Path) -> list[dict[str, object]]:
    """The records of a manifest or part file, in file order."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise OutputError(f"cannot read {path} ({e.strerror or e}); rerun the job to rewrite it") from None
    try:
        return [json.loads(line) for line in lines if line.strip()]
    except json.JSONDecodeError as e:
        raise OutputError(f"{path} is not JSON lines ({e}); delete it and rerun the job") from None


def merge(out: Path, world: int) -> Path:
    """Rank 0, after every rank wrote its part: one sorted manifest, then the parts removed.

    A missing part means a rank did not finish; that is an error, not a shorter manifest."""
    out = Path(out)
    parts = [part_path(out, r) for r in range(world)]
    missing = [p.name for p in parts if not p.is_file()]
    if missing:
        raise OutputError(
            f"{', '.join(missing)} missing in {out}: a process did not finish; rerun the job with ",
            Param("skip_existing", True),
            " to complete it",
        )
    records: dict[str, dict[str, object]] = {}
    for p in parts:
        for r in read(p):
            records[str(r["output"])] = r  # shards are disjoint; a repeat would be the same pair
    path = write(out, records.values())
    remove_parts(out)
    return path


def remove_parts(out: Path) -> None:
    """Every rank's part, also those of an earlier run with more ranks."""
    for p in Path(out).glob(".manifest.rank*.jsonl"):
        p.unlink(missing_ok=True)


def finish(
    out: Path, rank: int, world: int, records: Iterable[dict[str, object]], *, interrupted: bool = False
) -> Path | None:
    """The end of a job: alone, write the manifest; under torchrun, write this rank's part, wait
    for every rank (a gloo barrier) and let rank 0 merge. Returns the manifest path, or None on
    ranks other than 0 and after an interrupt (the other ranks may be gone; the resumed run merges)."""
    if world <= 1:
        remove_parts(out)  # left by an interrupted torchrun run: this manifest replaces them
        return write(out, records)
    write_part(out, rank, records)
    if interrupted:
        return None
    import torch.distributed as dist

    started = not dist.is_initialized()
    if started:
        dist.init_process_group("gloo", init_method="env://", timeout=BARRIER_TIMEOUT)
    try:
        dist.barrier()
        path = merge(out, world) if rank == 0 else None
        dist.barrier()  # nobody leaves before the merge, so the job ends with the manifest complete
        return path
    finally:
        if started:
            dist.destroy_process_group()

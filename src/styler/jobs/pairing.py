"""Which content goes with which style, and where each result is written.

A dataset job is a deterministic, sorted list of ``Pair``s computed the same way by every
process, so that a run split over ranks (``shard``) writes exactly the files a single
process writes. Nothing here depends on the number of processes or on the order of work:
``random`` draws each content's styles from a generator seeded by (seed, the content's
relative path) alone.
"""

from __future__ import annotations

import enum
import hashlib
import os
import string
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from ..errors import InputError, Param
from ..media.images import FORMATS, IMAGE_SUFFIXES
from .naming import DEFAULT_NAME

FIELDS = ("content", "style", "alpha", "index")


class PairMode(str, enum.Enum):
    """``all``: every content x style; ``random``: ``per_content`` distinct styles drawn per
    content; ``zip``: sorted contents with sorted styles, the shorter list cycled."""

    ALL = "all"
    RANDOM = "random"
    ZIP = "zip"


@dataclass(frozen=True)
class Source:
    """An input file and its path relative to the folder it was found in (posix, for names and manifests)."""

    path: Path
    rel: str


@dataclass(frozen=True)
class Pair:
    """One result to make: ``index`` is its position in the job's sorted pair list."""

    index: int
    content: Source
    style: Source
    output: str  # relative to the output folder, posix
    replaces: bool = False  # an existing file is under that name (set by ``runner.plan``)


def list_tree(root: Path, reads: frozenset[str] = frozenset()) -> list[Source]:
    """A file as itself (rel = its name); a folder as every image (and file of a type in ``reads``)
    under it, recursively, sorted by relative path (symlinked folders followed, hidden files and
    folders skipped)."""
    root = Path(root).expanduser()
    if not root.exists():
        raise InputError(f"{root} does not exist; check the path")
    if root.is_file():
        return [Source(root, root.name)]
    found = []
    for folder, dirs, names in os.walk(root, followlinks=True):
        dirs[:] = [d for d in dirs if not d.startswith(".")]  # e.g. .git, or our own temp files
        for name in names:
            suffix = Path(name).suffix.lower()
            if not name.startswith(".") and (suffix in IMAGE_SUFFIXES or suffix in reads):
                path = Path(folder) / name
                found.append(Source(path, path.relative_to(root).as_posix()))
    if not found:
        raise InputError(f"{root} holds no image files (searched recursively); pass an image or a folder of images")
    return sorted(found, key=lambda s: s.rel)


def list_trees(roots: list[Path]) -> list[Source]:
    """Several files or folders as one list; two inputs with the same relative path are refused,
    since the manifest could not tell them apart."""
    found: dict[str, Source] = {}
    for root in roots:
        for src in list_tree(root):
            if src.rel in found:
                raise InputError(
                    f"{found[src.rel].path} and {src.path} are both '{src.rel}' in the job; "
                    "pass one style folder, or rename one"
                )
            found[src.rel] = src
    return sorted(found.values(), key=lambda s: s.rel)


def content_seed(seed: int, rel: str) -> int:
    """A 64-bit generator seed from (seed, relative path): stable across runs, machines and Python versions."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{rel}".encode()).digest()[:8], "little")


def choose_styles(rel: str, count: int, per_content: int, seed: int) -> list[int]:
    """``per_content`` distinct style indices in [0, count) for the content at ``rel``, ascending."""
    rng = np.random.default_rng(content_seed(seed, rel))
    return sorted(int(i) for i in rng.choice(count, size=per_content, replace=False))


def check_template(name: str) -> str:
    """Refuse a name template with unknown fields or a folder part, before any work."""
    if not name or not name.strip():
        raise InputError(Param("name"), " must not be empty; use fields such as ", Param("name", "'{content}_{style}'"))
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(name) if f is not None]
    except ValueError as e:
        raise InputError(
            Param("name", f"'{name}'"), f" is not a valid template ({e}); write fields as {{content}}"
        ) from None
    for f in fields:
        if f.split(".")[0].split("[")[0] not in FIELDS:
            raise InputError(
                Param("name", f"'{name}'"),
                f" has an unknown field {{{f}}}; use {', '.join('{' + x + '}' for x in FIELDS)}",
            )
    if "/" in name or "\\" in name or name in (".", ".."):
        raise InputError(
            Param("name", f"'{name}'"),
            " must be a file name without folders; outputs already mirror the content's sub-folders",
        )
    return name


def check_ext(ext: str, writes: frozenset[str] = frozenset()) -> str:
    """An output extension: an image format, or a type in ``writes`` (a method's results: ".svg")."""
    ext = ext.lstrip(".").lower()
    if f".{ext}" not in FORMATS and f".{ext}" not in writes:
        known = ", ".join(sorted(f.lstrip(".") for f in {*FORMATS, *writes}))
        what = "a format we write" if writes else "an image format we write"
        raise InputError(Param("ext", f"'{ext}'"), f" is not {what}; use one of {known}")
    return ext


def output_name(template: str, content: Source, style: Source, alpha: float, index: int, ext: str) -> str:
    """The result's path relative to the output folder: the content's sub-folder / template.ext."""
    try:
        stem = template.format(
            content=PurePosixPath(content.rel).stem, style=PurePosixPath(style.rel).stem, alpha=alpha, index=index
        )
    except (ValueError, KeyError, IndexError, AttributeError) as e:
        raise InputError(
            Param("name", f"'{template}'"), f" cannot be filled in ({e}); check its format specs"
        ) from None
    if "/" in stem or "\\" in stem or stem in ("", ".", ".."):
        raise InputError(
            Param("name", f"'{template}'"),
            f" gives '{stem}' for {content.rel}, which is not a file name; change the name template",
        )
    return str(PurePosixPath(content.rel).parent / f"{stem}.{ext}")


def make_pairs(
    contents: list[Source],
    styles: list[Source],
    *,
    mode: PairMode | str = PairMode.ALL,
    per_content: int = 1,
    seed: int = 0,
    name: str = DEFAULT_NAME,
    ext: str = "png",
    alpha: float = 1.0,
    writes: frozenset[str] = frozenset(),
) -> list[Pair]:
    """Every pair of the job, content-major (sorted by content, then style), with its output name.

    Raises ``InputError`` (before any work) on bad settings or when two pairs would write one file."""
    mode = check_mode(mode)
    name, ext = check_template(name), check_ext(ext, writes)
    contents, styles = sorted(contents, key=lambda s: s.rel), sorted(styles, key=lambda s: s.rel)
    if not contents or not styles:
        raise InputError("a job needs at least one content and one style image")
    chosen: list[tuple[Source, Source]]
    if mode is PairMode.ALL:
        chosen = [(c, s) for c in contents for s in styles]
    elif mode is PairMode.ZIP:
        n = max(len(contents), len(styles))
        chosen = sorted(
            ((contents[i % len(contents)], styles[i % len(styles)]) for i in range(n)),
            key=lambda p: (p[0].rel, p[1].rel),
        )
    else:
        if isinstance(per_content, bool) or not isinstance(per_content, int) or per_content < 1:
            raise InputError(Param("per_content"), f" must be a whole number >= 1, got {per_content}")
        if per_content > len(styles):
            raise InputError(
                Param("per_content", per_content),
                f" but there are only {len(styles)} style image(s); lower ",
                Param("per_content"),
                " or add styles",
            )
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise InputError(Param("seed"), f" must be a whole number, got {seed}")
        chosen = [(c, styles[i]) for c in contents for i in choose_styles(c.rel, len(styles), per_content, seed)]
    pairs = [Pair(i, c, s, output_name(name, c, s, alpha, i, ext)) for i, (c, s) in enumerate(chosen)]
    check_collisions(pairs, name)
    return pairs


def check_mode(mode: PairMode | str) -> PairMode:
    try:
        return PairMode(mode.value if isinstance(mode, PairMode) else mode)
    except ValueError:
        raise InputError(Param("pairs", repr(mode)), " is not a pairing mode; use all, random or zip") from None


def check_collisions(pairs: list[Pair], name: str = DEFAULT_NAME) -> None:
    """One ``InputError`` naming both inputs of the first two pairs that would write the same file.

    Compared case-insensitively, so a job behaves the same on case-insensitive file systems."""
    seen: dict[str, Pair] = {}
    for p in pairs:
        key = p.output.casefold()
        if key in seen:
            q = seen[key]
            raise InputError(
                f"{q.content.rel} + {q.style.rel} and {p.content.rel} + {p.style.rel} would both "
                f"write {p.output}; add {{style}} or {{index}} to ",
                Param("name", f"'{name}'"),
            )
        seen[key] = p


def shard(pairs: list[Pair], rank: int, world: int) -> list[Pair]:
    """The pairs rank ``rank`` of ``world`` does; the shards are disjoint and cover every pair.

    Whole contents are dealt out (content number % world) so that each content is decoded and
    encoded by one rank only; with fewer contents than ranks, single pairs are (index % world)."""
    if world <= 1:
        return list(pairs)
    if not 0 <= rank < world:
        raise InputError(f"rank={rank} is outside world size {world}")
    order: dict[str, int] = {}
    for p in pairs:
        order.setdefault(p.content.rel, len(order))
    if len(order) >= world:
        return [p for p in pairs if order[p.content.rel] % world == rank]
    return [p for p in pairs if p.index % world == rank]

"""Binary strokes -> one-pixel centre lines -> polylines.

Thinning is topology-preserving: a pixel is deleted only when it is *simple* (Yokoi's 8-connectivity
number is 1: deleting it neither splits nor merges ink or paper) and not the end of a line (it has
two or more ink neighbours). Deletions go border direction by border direction (N, S, E, W, so the
line ends up in the middle of the stroke), all border pixels of one direction at once: deleting
simple, non-end border pixels of one side in parallel preserves topology (Rosenfeld, "A
characterization of parallel thinning algorithms", Information and Control, 1975). It
stops when no pixel can go: the skeleton is one pixel wide, its lines 8-connected, and every pixel
with two neighbours has two that do not touch each other.

Tracing walks that graph: lines between nodes (pixels with other than two neighbours), then the
closed loops that have no node.
"""

from __future__ import annotations

import numpy as np

# The 8 neighbours (dy, dx) in Yokoi's order: E, NE, N, NW, W, SW, S, SE (y down).
NEIGHBOURS = ((0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1), (1, 0), (1, 1))
BORDERS = (2, 6, 0, 4)  # the bit of the N, S, E, W neighbour: paper there makes a border pixel


def _removable() -> np.ndarray:
    """(256,) bool by neighbour code (bit k = neighbour k is ink): simple and not a line end."""
    bits = (np.arange(256)[:, None] >> np.arange(8)) & 1  # (256, 8)
    paper = 1 - bits
    yokoi = sum(paper[:, k] - paper[:, k] * paper[:, (k + 1) % 8] * paper[:, (k + 2) % 8] for k in (0, 2, 4, 6))
    return (yokoi == 1) & (bits.sum(1) >= 2)


def _codes(img: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Neighbour codes of the pixels (ys, xs) of a padded image."""
    code = np.zeros(len(ys), dtype=np.int64)
    for k, (dy, dx) in enumerate(NEIGHBOURS):
        code |= img[ys + dy, xs + dx].astype(np.int64) << k
    return code


def thin(ink: np.ndarray) -> np.ndarray:
    """Binary image (H, W) bool -> its skeleton (H, W) bool."""
    removable = _removable()
    img = np.pad(ink.astype(bool), 1)
    ys, xs = np.nonzero(img)
    changed = True
    while changed:
        changed = False
        for border in BORDERS:
            code = _codes(img, ys, xs)
            kill = removable[code] & ((code >> border) & 1 == 0)
            if kill.any():
                img[ys[kill], xs[kill]] = False
                ys, xs, changed = ys[~kill], xs[~kill], True
    return img[1:-1, 1:-1]


def degree(skel: np.ndarray) -> np.ndarray:
    """(H, W) int: each skeleton pixel's number of skeleton neighbours (0 off the skeleton)."""
    img = np.pad(skel.astype(np.int64), 1)
    h, w = skel.shape
    count = sum(img[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w] for dy, dx in NEIGHBOURS)
    return np.where(skel, count, 0)


def _graph(skel: np.ndarray) -> tuple[np.ndarray, list[list[int]]]:
    """Skeleton pixels' coordinates (n, 2) as (y, x) and each one's neighbour list."""
    ys, xs = np.nonzero(skel)
    ids = np.full((skel.shape[0] + 2, skel.shape[1] + 2), -1, dtype=np.int64)
    ids[ys + 1, xs + 1] = np.arange(len(ys))
    nbr = np.stack([ids[ys + 1 + dy, xs + 1 + dx] for dy, dx in NEIGHBOURS], axis=1)  # (n, 8), -1 = none
    return np.stack([ys, xs], axis=1), [[int(j) for j in row if j >= 0] for row in nbr]


def trace(skel: np.ndarray) -> list[tuple[np.ndarray, bool]]:
    """Skeleton (H, W) bool -> polylines as (points (n, 2) of (x, y) pixel centres, closed).

    Every skeleton pixel lies on some polyline. Lines run node to node; neighbouring junction
    pixels (three or more neighbours each) are one junction and get no line between them."""
    yx, nbrs = _graph(skel)
    deg = [len(n) for n in nbrs]
    seen = np.zeros(len(nbrs), dtype=bool)
    used: set[tuple[int, int]] = set()
    paths: list[tuple[list[int], bool]] = []
    for a in (i for i, d in enumerate(deg) if d != 2):
        seen[a] = True
        if deg[a] == 0:
            paths.append(([a], False))
        for b in nbrs[a]:
            if (a, b) in used or (deg[a] > 2 and deg[b] > 2):
                continue
            path = _walk(a, b, nbrs, deg, seen)
            used.update({(path[-1], path[-2]), (a, b)})
            paths.append((path, False))
    for start in np.nonzero(~seen)[0]:  # what is left: loops of two-neighbour pixels
        if seen[start]:
            continue
        path = _walk(int(start), nbrs[start][0], nbrs, deg, seen, stop=int(start))
        paths.append((path[:-1], True))
    return [(yx[p][:, ::-1] + 0.5, closed) for p, closed in paths]


def _walk(a: int, b: int, nbrs: list[list[int]], deg: list[int], seen: np.ndarray, stop: int = -1) -> list[int]:
    """From ``a`` through ``b`` along two-neighbour pixels to the next node (or back to ``stop``)."""
    path, prev, cur = [a, b], a, b
    seen[a] = True
    while deg[cur] == 2 and cur != stop:
        seen[cur] = True
        nxt = nbrs[cur][0] if nbrs[cur][0] != prev else nbrs[cur][1]
        path.append(nxt)
        prev, cur = cur, nxt
    seen[cur] = True
    return path

"""Cubic Bezier fitting of polylines (Schneider, "An Algorithm for Automatically Fitting
Digitized Curves", Graphics Gems, 1990) and exact subdivision (de Casteljau).

Numpy, float64: this runs once per sketch, on the traced skeleton. A fitted segment passes within
``tolerance`` px of every polyline point it covers: the error is measured from each point to the
curve at that point's (Newton-refined) parameter, which is never less than the point's true
distance to the curve, and a segment is split at its worst point until the error is below it.
"""

from __future__ import annotations

import numpy as np

NEWTON_ITERS = 4  # reparameterisation passes before a segment is split
TANGENT_SPAN = 3  # points used for a tangent: a pixel staircase's neighbours give 45-degree noise


def bernstein(t: np.ndarray) -> np.ndarray:
    """(n,) parameters -> (n, 4) cubic Bernstein weights."""
    s = 1 - t
    return np.stack([s**3, 3 * s * s * t, 3 * s * t * t, t**3], axis=1)


def evaluate(seg: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Segment (4, 2) at parameters (n,) -> points (n, 2)."""
    return bernstein(t) @ seg


def split(seg: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
    """de Casteljau: segment (4, 2) -> its two halves at ``t``, together exactly the same curve."""
    a = seg[:-1] + t * (seg[1:] - seg[:-1])  # (3, 2)
    b = a[:-1] + t * (a[1:] - a[:-1])  # (2, 2)
    c = b[0] + t * (b[1] - b[0])
    return np.stack([seg[0], a[0], b[0], c]), np.stack([c, b[1], a[2], seg[3]])


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.hypot(*v))
    return v / n if n > 1e-12 else np.array([1.0, 0.0])


def _chord_params(pts: np.ndarray) -> np.ndarray:
    d = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(pts, axis=0).T))])
    return d / d[-1] if d[-1] > 0 else np.linspace(0, 1, len(pts))


def _generate(pts: np.ndarray, u: np.ndarray, t1: np.ndarray, t2: np.ndarray) -> np.ndarray:
    """Least-squares handle lengths along the fixed end tangents (Schneider's GenerateBezier)."""
    first, last = pts[0], pts[-1]
    b = bernstein(u)  # (n, 4)
    a1, a2 = b[:, 1:2] * t1, b[:, 2:3] * t2  # (n, 2) each
    rest = pts - (b[:, :2].sum(1, keepdims=True) * first + b[:, 2:].sum(1, keepdims=True) * last)
    c = np.array([[(a1 * a1).sum(), (a1 * a2).sum()], [(a1 * a2).sum(), (a2 * a2).sum()]])
    x = np.array([(a1 * rest).sum(), (a2 * rest).sum()])
    chord = float(np.hypot(*(last - first)))
    det = c[0, 0] * c[1, 1] - c[0, 1] * c[1, 0]
    if abs(det) > 1e-12:
        al = (x[0] * c[1, 1] - x[1] * c[0, 1]) / det
        ar = (c[0, 0] * x[1] - c[1, 0] * x[0]) / det
    else:
        al = ar = 0.0
    if al < 1e-6 * chord or ar < 1e-6 * chord or chord == 0:  # degenerate: Wu-Barsky's thirds
        al = ar = chord / 3
    return np.stack([first, first + al * t1, last + ar * t2, last])


def _newton(seg: np.ndarray, pts: np.ndarray, u: np.ndarray) -> np.ndarray:
    """One Newton-Raphson step per point towards the parameter of its nearest curve point."""
    s = 1 - u
    q = evaluate(seg, u)
    d1 = 3 * (s * s)[:, None] * (seg[1] - seg[0]) + 6 * (s * u)[:, None] * (seg[2] - seg[1])
    d1 += 3 * (u * u)[:, None] * (seg[3] - seg[2])
    d2 = 6 * s[:, None] * (seg[2] - 2 * seg[1] + seg[0]) + 6 * u[:, None] * (seg[3] - 2 * seg[2] + seg[1])
    diff = q - pts
    num = (diff * d1).sum(1)
    den = (d1 * d1).sum(1) + (diff * d2).sum(1)
    step = np.where(np.abs(den) > 1e-12, num / np.where(den == 0, 1, den), 0.0)
    return np.clip(u - step, 0.0, 1.0)


def _error(seg: np.ndarray, pts: np.ndarray, u: np.ndarray) -> tuple[float, int]:
    d = np.hypot(*(evaluate(seg, u) - pts).T)
    i = int(np.argmax(d))
    return float(d[i]), i


def _fit_one(pts: np.ndarray, t1: np.ndarray, t2: np.ndarray, tol: float) -> tuple[np.ndarray | None, int]:
    """One segment through ``pts`` within ``tol`` (and the split index when there is none)."""
    if len(pts) == 2:
        third = float(np.hypot(*(pts[1] - pts[0]))) / 3
        return np.stack([pts[0], pts[0] + third * t1, pts[1] + third * t2, pts[1]]), -1
    u = _chord_params(pts)
    # Handles longer than the polyline make loops that the error at the points cannot see.
    longest = float(np.hypot(*np.diff(pts, axis=0).T).sum())
    seg = _generate(pts, u, t1, t2)
    err, worst = _error(seg, pts, u)
    if err <= tol and _handles(seg) <= longest:
        return seg, -1
    if err <= 4 * tol:  # close: refine the parameters before splitting
        for _ in range(NEWTON_ITERS):
            u = _newton(seg, pts, u)
            seg = _generate(pts, u, t1, t2)
            err, worst = _error(seg, pts, u)
            if err <= tol and _handles(seg) <= longest:
                return seg, -1
    return None, min(max(worst, 1), len(pts) - 2)


def _handles(seg: np.ndarray) -> float:
    return float(max(np.hypot(*(seg[1] - seg[0])), np.hypot(*(seg[2] - seg[3]))))


def fit(pts: np.ndarray, tol: float = 1.0, closed: bool = False) -> np.ndarray:
    """A polyline (n, 2), n >= 1 -> control points (3K + 1, 2) of K cubic segments within ``tol`` px.

    A closed polyline (its last point joins its first) gives a curve that ends where it starts,
    with one tangent there. One point gives a dot: one segment with four equal points."""
    pts = np.asarray(pts, dtype=np.float64)
    if len(pts) == 1 or (closed and len(pts) < 3):
        return np.repeat(pts[:1], 4, axis=0)
    k = min(TANGENT_SPAN, len(pts) - 1)
    if closed:
        pts = np.concatenate([pts, pts[:1]])
        t1 = _unit(pts[k] - pts[-1 - k])  # across the joint
        t2 = -t1
    else:
        t1, t2 = _unit(pts[k] - pts[0]), _unit(pts[-1 - k] - pts[-1])
    out: list[np.ndarray] = []
    stack = [(0, len(pts) - 1, t1, t2)]  # explicit stack: long strokes split many times
    while stack:
        lo, hi, a, b = stack.pop()
        seg, at = _fit_one(pts[lo : hi + 1], a, b, tol)
        if seg is not None:
            out.append(seg)
            continue
        mid = lo + at
        span = min(TANGENT_SPAN, mid - lo, hi - mid)
        centre = _unit(pts[mid - span] - pts[mid + span])
        stack.append((mid, hi, -centre, b))  # popped second: segments come out in order
        stack.append((lo, mid, a, centre))
    return np.concatenate([out[0][:1], *(s[1:] for s in out)])


def limit_length(ctrl: np.ndarray, max_len: float) -> np.ndarray:
    """Split (de Casteljau, exact) every segment whose control polygon is longer than ``max_len``."""
    out = [ctrl[:1]]
    for j in range(0, len(ctrl) - 1, 3):
        seg = ctrl[j : j + 4]
        length = float(np.hypot(*np.diff(seg, axis=0).T).sum())
        parts = max(1, int(np.ceil(length / max_len)))
        for p in range(parts, 1, -1):  # cut off 1/p of what is left, p times
            head, seg = split(seg, 1 / p)
            out.append(head[1:])
        out.append(seg[1:])
    return np.concatenate(out)

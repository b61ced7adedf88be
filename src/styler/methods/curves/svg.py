"""SVG out: curves as stroked paths, resolution-free and editable (``svgparse`` reads them back).

One ``<path>`` per curve (``M`` then ``C`` segments, ``Z`` when closed) with its stroke
width; a curve whose width varies along it (the width rules) becomes a ``<g class="styler-curve">``
of one path per segment, each drawn at its mean width and carrying its end widths in
``data-widths``, so viewers show the profile and ``svgparse`` gets the exact curve back. Numbers are
written as the shortest decimals that read back as the same float32: writing and parsing give
the same control points and widths, bit for bit.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...media.files import atomic_path
from .curveset import Curves

NS = "http://www.w3.org/2000/svg"


def num(v: float) -> str:
    """The shortest decimal that reads back as the same float32."""
    return np.format_float_positional(np.float32(v), unique=True, trim="-")


def _d(points: np.ndarray, closed: bool) -> str:
    cmds = [f"M{num(points[0, 0])} {num(points[0, 1])}"]
    for j in range(1, len(points), 3):
        cmds.append("C" + " ".join(f"{num(x)} {num(y)}" for x, y in points[j : j + 3]))
    return "".join(cmds) + ("Z" if closed else "")


def write(curves: Curves) -> str:
    """Curves -> an SVG document (the canvas's size in px)."""
    h, w = curves.size
    ink, paper, kind = ("#000", "#fff", "dark") if curves.dark_on_light else ("#fff", "#000", "light")
    lines = [
        f'<svg xmlns="{NS}" width="{w}" height="{h}" viewBox="0 0 {w} {h}" data-ink="{kind}">',
        f'<rect width="{w}" height="{h}" fill="{paper}"/>',
        f'<g fill="none" stroke="{ink}" stroke-linecap="round" stroke-linejoin="round">',
    ]
    for c in range(len(curves)):
        p, wd = (t.detach().cpu().numpy() for t in curves.curve(c))
        if bool((wd == wd[0]).all()):
            lines.append(f'<path d="{_d(p, curves.closed[c])}" stroke-width="{num(wd[0])}"/>')
            continue
        closed = ' data-closed="1"' if curves.closed[c] else ""
        lines.append(f'<g class="styler-curve"{closed}>')
        for j in range(len(wd) - 1):
            mean, ends = num((wd[j] + wd[j + 1]) / 2), f"{num(wd[j])} {num(wd[j + 1])}"
            lines.append(f'<path d="{_d(p[3 * j : 3 * j + 4], False)}" stroke-width="{mean}" data-widths="{ends}"/>')
        lines.append("</g>")
    lines += ["</g>", "</svg>", ""]
    return "\n".join(lines)


def save(curves: Curves, path: Path) -> Path:
    """Write ``write(curves)`` to ``path`` atomically."""
    with atomic_path(Path(path), "choose a writable output") as tmp:
        tmp.write_text(write(curves), encoding="utf-8")
    return Path(path)

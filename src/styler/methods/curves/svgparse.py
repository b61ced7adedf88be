"""SVG in: stroked curves from an SVG document as ``Curves``.

Read: stroked ``path`` (M L H V C S Q T Z, absolute and relative; quadratics raised to cubics,
lines as cubics with handles at thirds), ``line``, ``polyline``, ``polygon``, ``rect``, ``circle``
and ``ellipse`` elements, with inherited ``stroke``/``stroke-width`` (attributes or ``style``) and
``transform`` lists. Elliptical arcs (A) are refused in one line. Elements without a stroke
(fills) are not line art and are skipped.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import torch

from ...errors import InputError
from .curveset import Curves

KAPPA = 0.5522847498307936  # handle length of a quarter circle as four cubics: 4 (sqrt 2 - 1) / 3
TOKEN = re.compile(r"[A-Za-z]|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")

ARGS = {"M": 2, "L": 2, "H": 1, "V": 1, "C": 6, "S": 4, "Q": 4, "T": 2, "Z": 0}


def _commands(d: str, where: str) -> list[tuple[str, list[float]]]:
    """Path data -> (command, numbers) pairs, implicit repetitions spelled out (after M, pairs are L)."""
    out: list[tuple[str, list[float]]] = []
    cmd = ""
    tokens = TOKEN.findall(d)
    i = 0
    while i < len(tokens):
        if tokens[i].isalpha():
            cmd, i = tokens[i], i + 1
            if cmd.upper() == "A":
                raise InputError(
                    f"{where} has elliptical arcs (A); convert them to curves first (Inkscape: Path > Object to Path)"
                )
            if cmd.upper() not in ARGS:
                raise InputError(f"{where}: unknown path command {cmd!r}; the SVG is malformed")
        elif not cmd or cmd in "Zz":
            raise InputError(f"{where}: path data has numbers without a command ({tokens[i]!r}); the SVG is malformed")
        n = ARGS[cmd.upper()]
        args = tokens[i : i + n]
        if len(args) != n or any(a.isalpha() for a in args):
            raise InputError(f"{where}: path command {cmd} lacks numbers; the SVG is malformed")
        out.append((cmd, [float(a) for a in args]))
        i += n
        if cmd in "Mm":
            cmd = "l" if cmd == "m" else "L"
        if n == 0:
            cmd = ""
    return out


def _line(a: np.ndarray, b: np.ndarray) -> list[np.ndarray]:
    return [a + (b - a) / 3, a + 2 * (b - a) / 3, b]


def _path(d: str, where: str) -> list[tuple[np.ndarray, bool]]:
    """A path's ``d`` -> its subpaths as (control points (3K+1, 2), closed)."""
    out: list[tuple[np.ndarray, bool]] = []
    pts: list[np.ndarray] = []
    cur = start = np.zeros(2)
    cubic = quad = None  # the last control point, reflected by S / T

    def flush(closed: bool) -> None:
        if len(pts) > 1:  # a lone moveto draws nothing
            out.append((np.stack(pts), closed))
        pts.clear()

    for cmd, a in _commands(d, where):
        op, base = cmd.upper(), (cur if cmd.islower() else np.zeros(2))
        v = np.asarray(a).reshape(-1, 2) + base if op in "MLCSQT" else np.zeros((0, 2))
        if op == "M":
            flush(False)
            cur = start = v[0]
            pts.append(cur)
            cubic = quad = None
            continue
        if not pts:  # drawing after Z: a new subpath from the start point
            pts.append(cur)
        if op == "Z":
            if np.abs(cur - start).max() > 1e-9:
                pts += _line(cur, start)
            flush(True)
            cur, cubic, quad = start, None, None
            continue
        if op in "LHV":
            end = v[0] if op == "L" else np.array([a[0] + base[0], cur[1]] if op == "H" else [cur[0], a[0] + base[1]])
            pts += _line(cur, end)
            cubic = quad = None
        elif op in "CS":
            c1 = v[0] if op == "C" else (2 * cur - cubic if cubic is not None else cur)
            c2, end = v[-2], v[-1]
            pts += [c1, c2, end]
            cubic, quad = c2, None
        else:  # Q, T: raised to a cubic, exactly
            q = v[0] if op == "Q" else (2 * cur - quad if quad is not None else cur)
            end = v[-1]
            pts += [cur + 2 / 3 * (q - cur), end + 2 / 3 * (q - end), end]
            cubic, quad = None, q
        cur = end
    flush(False)
    return out


# -- elements, styles, transforms ----------------------------------------------------------

INHERITED = ("stroke", "stroke-width")


def _style(el: ET.Element, parent: dict[str, str]) -> dict[str, str]:
    """The element's stroke and stroke-width: its own attributes or style, else its parent's."""
    out = dict(parent)
    out.update({k: el.attrib[k] for k in INHERITED if k in el.attrib})
    for item in el.attrib.get("style", "").split(";"):
        key, _, value = item.partition(":")
        if key.strip() in INHERITED:
            out[key.strip()] = value.strip()
    return out


def _length(text: str, where: str) -> float:
    m = re.fullmatch(r"\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(px)?\s*", text)
    if m is None:
        raise InputError(f"{where}: cannot read the length {text!r}; use plain numbers (px)")
    return float(m.group(1))


def _transform(text: str, where: str) -> np.ndarray:
    """An SVG transform list -> a 3x3 matrix acting on (x, y, 1) columns."""
    out = np.eye(3)
    for name, args in re.findall(r"(\w+)\s*\(([^)]*)\)", text):
        v = [float(x) for x in TOKEN.findall(args)]
        m = np.eye(3)
        if name == "matrix" and len(v) == 6:
            m[:2] = np.array(v).reshape(3, 2).T
        elif name == "translate" and len(v) in (1, 2):
            m[:2, 2] = [v[0], v[1] if len(v) == 2 else 0.0]
        elif name == "scale" and len(v) in (1, 2):
            m[0, 0], m[1, 1] = v[0], v[1] if len(v) == 2 else v[0]
        elif name == "rotate" and len(v) in (1, 3):
            a = math.radians(v[0])
            cx, cy = (v[1], v[2]) if len(v) == 3 else (0.0, 0.0)
            r = np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])
            m = np.array([[1, 0, cx], [0, 1, cy], [0, 0, 1]]) @ r @ np.array([[1, 0, -cx], [0, 1, -cy], [0, 0, 1]])
        elif name in ("skewX", "skewY") and len(v) == 1:
            m[0 if name == "skewX" else 1, 1 if name == "skewX" else 0] = math.tan(math.radians(v[0]))
        else:
            raise InputError(f"{where}: cannot read the transform {name}({args}); the SVG is malformed")
        out = out @ m
    return out


def _shape(el: ET.Element, tag: str, where: str) -> list[tuple[np.ndarray, bool]]:
    """A basic shape's outline as cubic control points (what its path equivalent draws)."""
    f = {
        k: _length(v, where)
        for k, v in el.attrib.items()
        if k in ("x", "y", "width", "height", "x1", "y1", "x2", "y2", "cx", "cy", "r", "rx", "ry")
    }
    g = lambda k: f.get(k, 0.0)
    if tag == "path":
        return _path(el.attrib.get("d", ""), where)
    if tag == "line":
        return _path(f"M{g('x1')} {g('y1')}L{g('x2')} {g('y2')}", where)
    if tag in ("polyline", "polygon"):
        nums = TOKEN.findall(el.attrib.get("points", ""))
        if len(nums) < 4 or len(nums) % 2:
            return []
        return _path("M" + " ".join(nums) + ("Z" if tag == "polygon" else ""), where)
    if tag == "rect":
        x, y, w, h = g("x"), g("y"), g("width"), g("height")
        return _path(f"M{x} {y}H{x + w}V{y + h}H{x}Z", where)
    rx, ry = (g("r"), g("r")) if tag == "circle" else (g("rx"), g("ry"))
    cx, cy, kx, ky = g("cx"), g("cy"), KAPPA * rx, KAPPA * ry
    d = (
        f"M{cx + rx} {cy}C{cx + rx} {cy + ky} {cx + kx} {cy + ry} {cx} {cy + ry}"
        f"C{cx - kx} {cy + ry} {cx - rx} {cy + ky} {cx - rx} {cy}"
        f"C{cx - rx} {cy - ky} {cx - kx} {cy - ry} {cx} {cy - ry}"
        f"C{cx + kx} {cy - ry} {cx + rx} {cy - ky} {cx + rx} {cy}Z"
    )
    return _path(d, where)


SHAPES = ("path", "line", "polyline", "polygon", "rect", "circle", "ellipse")
SKIP = ("defs", "clipPath", "mask", "symbol", "marker", "pattern", "title", "desc", "metadata", "style", "text")


def _tag(el: ET.Element) -> str:
    return el.tag.rpartition("}")[2]


def _stroked(style: dict[str, str], where: str) -> float | None:
    """The stroke width, or None when there is no stroke (SVG's default)."""
    if style.get("stroke", "none").strip() in ("none", "transparent", ""):
        return None
    return _length(style.get("stroke-width", "1"), where)


def _walk(el: ET.Element, m: np.ndarray, parent: dict[str, str], out: list, where: str) -> None:
    """Collect (points, widths, closed) of every stroked curve below ``el``, transformed by ``m``."""
    for child in el:
        tag = _tag(child)
        if tag in SKIP:
            continue
        mc = m @ _transform(child.attrib.get("transform", ""), where)
        style = _style(child, parent)
        if tag == "g" and child.attrib.get("class") == "styler-curve":
            out.append(_styler_curve(child, mc, where))
        elif tag in ("g", "a", "svg"):
            _walk(child, mc, style, out, where)
        elif tag in SHAPES and (width := _stroked(style, where)) is not None:
            factor = math.sqrt(abs(np.linalg.det(mc[:2, :2])))
            for pts, closed in _shape(child, tag, where):
                xy = pts @ mc[:2, :2].T + mc[:2, 2]
                out.append((xy, np.full((len(pts) - 1) // 3 + 1, width * factor), closed))


def _styler_curve(el: ET.Element, m: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray, bool]:
    """A curve written segment by segment (``write``'s varying widths) -> one curve."""
    pts, widths = [], []
    for seg in el:
        p = _path(seg.attrib.get("d", ""), where)[0][0]
        pts.append(p if not pts else p[1:])
        w = [_length(x, where) for x in seg.attrib.get("data-widths", "1 1").split()]
        widths += w if not widths else w[1:]
    xy = np.concatenate(pts) @ m[:2, :2].T + m[:2, 2]
    return xy, np.asarray(widths) * math.sqrt(abs(np.linalg.det(m[:2, :2]))), el.attrib.get("data-closed") == "1"


def parse(text: str, where: str = "the SVG") -> Curves:
    """An SVG document -> its stroked curves on a canvas of the viewBox's (else width x height) size."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as e:
        raise InputError(f"{where} is not readable XML ({e}); pass an SVG file") from None
    if _tag(root) != "svg":
        raise InputError(f"{where} is XML but not SVG (root <{_tag(root)}>); pass an SVG file")
    box = [float(v) for v in TOKEN.findall(root.attrib.get("viewBox", ""))]
    if len(box) == 4:
        x0, y0, w, h = box
    else:
        x0 = y0 = 0.0
        w, h = (_length(root.attrib.get(k, "0"), where) for k in ("width", "height"))
    if not (w > 0 and h > 0):
        raise InputError(f"{where} has no size; give the <svg> a viewBox or width and height")
    items: list = []
    origin = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]], dtype=np.float64)
    _walk(root, origin, _style(root, {}), items, where)
    if not items:
        raise InputError(f"{where} has no stroked paths; method curves reads line art drawn with strokes")
    curves = [(torch.from_numpy(p).float(), torch.from_numpy(np.asarray(wd)).float(), c) for p, wd, c in items]
    dark = root.attrib.get("data-ink", "dark") != "light"
    return Curves.from_list(curves, (max(1, round(h)), max(1, round(w))), dark)


def load(path: Path) -> Curves:
    """Read an SVG file (see ``parse``)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read {path} ({getattr(e, 'strerror', None) or e}); check the path") from None
    return parse(text, path.name)

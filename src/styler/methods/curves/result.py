"""``CurvesResult``: the edited curves with what made them, as SVG, raster and a JSON report."""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ...errors import InputError, OutputError
from ...media import images
from ...media.files import atomic_path
from . import svg
from .curveset import Curves
from .render import SOFT, render
from .rules import SHAPE_RULES, Rules


@dataclass(frozen=True, eq=False)
class CurvesResult:
    """What one curve-based transfer made.

    ``source`` is the vectorised (or parsed) input, ``curves`` the edited curves; ``raw`` (C, 10) the
    rule parameters chosen (the lowest style loss seen), ``strength`` (C,) alpha times the curve
    mask, ``losses`` the style loss of every step."""

    source: Curves
    curves: Curves
    rules: Rules
    raw: Tensor
    strength: Tensor
    losses: tuple[float, ...] = ()

    @classmethod
    def build(cls, rules: Rules, raw: Tensor, strength: Tensor, losses: tuple[float, ...] = ()) -> CurvesResult:
        with torch.no_grad():
            curves = rules.apply(raw, strength).detach()
        return cls(rules.curves, curves, rules, raw.detach(), strength.detach(), losses)

    def svg(self) -> str:
        """The edited curves as an SVG document (``svg.write``)."""
        return svg.write(self.curves)

    def render(self, size: tuple[int, int] | None = None, *, soft: float = SOFT) -> Tensor:
        """A raster (1, 3, H, W) in [0, 1] at ``size`` (H, W), default the canvas's."""
        with torch.no_grad():
            return render(self.curves, size, soft=soft).clone()

    def report(self) -> dict[str, Any]:
        """What each rule did to each curve: its parameter and how far it moved the curve (px)."""
        rules = self.rules
        with torch.no_grad():
            p = rules.params(self.raw, self.strength)
            moves = rules.moves(p)
            f = rules.shrink(sum(moves.values()))  # type: ignore[arg-type]
            factor = rules.width_factor(p)
        idx = rules.curves.point_curve
        moved = {
            name: _per_curve_max((m * f[idx, None]).norm(dim=1), idx, len(rules.curves)) for name, m in moves.items()
        }
        total = _per_curve_max((self.curves.points - self.source.points).norm(dim=1), idx, len(rules.curves))
        widths = [factor[rules.curves.node_curve == c] for c in range(len(rules.curves))]
        return {
            "method": "curves",
            "canvas": list(self.source.size),
            "reach_px": rules.reach,
            "bounds": asdict(rules.bounds),
            "loss": {"start": _num(self.losses[0]), "best": _num(min(self.losses)), "steps": len(self.losses)}
            if self.losses
            else None,
            "curves": [
                _curve_entry(c, self, p, moved, float(total[c]), float(f[c]), widths[c])
                for c in range(len(rules.curves))
            ],
        }

    def save(self, path: Path, *, size: tuple[int, int] | None = None, protect: tuple[Path, ...] = ()) -> Path:
        """Write by extension: ``.svg`` the curves, ``.json`` the report, an image format a render
        (at ``size``, default the canvas's); atomically."""
        path = Path(path)
        suffix = path.suffix.lower()
        for p in protect:
            if path.exists() and Path(p).exists() and os.path.samefile(path, p):
                raise OutputError(f"refusing to overwrite input {path}; choose another output name")
        if suffix == ".svg":
            return svg.save(self.curves, path)
        if suffix == ".json":
            with atomic_path(path, "choose a writable output") as tmp:
                tmp.write_text(json.dumps(self.report(), indent=1) + "\n", encoding="utf-8")
            return path
        if suffix not in images.FORMATS:
            raise InputError(
                f"cannot write {path.name}: method curves writes .svg, .json or an image "
                f"({', '.join(sorted(images.FORMATS))})"
            )
        return images.save_image(self.render(size), path, protect=protect)


def _num(v: float) -> float | None:
    return float(f"{float(v):.7g}") if math.isfinite(v) else None  # 7 significant digits: float32's


def _per_curve_max(values: Tensor, index: Tensor, count: int) -> Tensor:
    return values.new_zeros(count).scatter_reduce(0, index, values, "amax")


def _curve_entry(
    c: int, res: CurvesResult, p: dict[str, Tensor], moved: dict[str, Tensor], total: float, f: float, wf: Tensor
) -> dict[str, Any]:
    """One curve's report entry: parameters in their own units, displacements in px."""
    v = {k: float(t[c]) for k, t in p.items()}
    rules = {
        "scale": {"factor": 1 + v["scale"]},
        "rotate": {"degrees": math.degrees(v["rotate"])},
        "curvature": {"k": v["curvature"]},
        "straighten": {"amount": v["straighten"]},
        "wobble": {"amplitude_px": v["wobble"], "wavelength_px": v["wavelength"], "phase": v["phase"] % (2 * math.pi)},
    }
    for name in SHAPE_RULES:
        rules[name]["moved_px"] = float(moved[name][c])
    rules["width"] = {"factor": math.exp(v["width"])}
    rules["taper"] = {"end_over_start": math.exp(2 * v["taper"])}
    rules["swell"] = {"middle_factor": math.exp(v["swell"])}
    return {
        "id": c,
        "selected": bool(res.strength[c] > 0),
        "segments": res.source.segments[c],
        "closed": res.source.closed[c],
        "moved_px": total,
        "shrink": f,
        "width_factor": [float(wf.min()), float(wf.max())],
        "rules": {k: {n: _num(x) for n, x in d.items()} for k, d in rules.items()},
    }

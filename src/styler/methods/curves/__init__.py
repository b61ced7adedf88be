"""Curve-based style transfer for line drawings (``--method curves``).

Vectorise a sketch into cubic Bezier centre lines (``vectorise``), edit each curve by bounded,
explainable rules (``rules``), render the curves differentiably (``render``) and optimise the
rules' parameters under a Gram style loss (``optimise``); out come curves as SVG, a raster and a
report of what each rule did to each curve (``CurvesResult``).

>>> method = CurvesMethod.load(vgg=path)
>>> result = method.transfer("chair.png", [style_image], alpha=1.0)
>>> result.save(Path("chair.svg")); result.save(Path("chair.png")); result.save(Path("chair.json"))
"""

from .curveset import Curves
from .method import CurvesMethod, CurvesStyle, check_colour, read_sketch, runtime_for, select, transfer
from .optimise import CurvesConfig, CurvesStep
from .result import CurvesResult
from .rules import RuleBounds, Rules

__all__ = [
    "Curves",
    "CurvesConfig",
    "CurvesMethod",
    "CurvesResult",
    "CurvesStep",
    "CurvesStyle",
    "RuleBounds",
    "Rules",
    "check_colour",
    "read_sketch",
    "runtime_for",
    "select",
    "transfer",
]

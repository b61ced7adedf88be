"""styler: neural style transfer. AdaIN (Huang & Belongie, ICCV 2017), Gatys optimisation
(Gatys et al., CVPR 2016) and conditional-instance-norm networks (Dumoulin et al., ICLR 2017)
behind one engine.

The public names are imported lazily so that ``styler --help`` does not pay for torch.
"""

__version__ = "0.2.0"
__all__ = ["Engine", "StyleStats", "StylerError", "__version__", "adain", "jobs", "mean_std"]

_LAZY = {"Engine": "engine", "StyleStats": "methods.adain.method", "StylerError": "errors", "adain": "ops", "mean_std": "ops"}


def __getattr__(name: str):  # type: ignore[no-untyped-def]
    import importlib

    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    if name == "jobs":
        return importlib.import_module(".jobs.files", __name__)
    raise AttributeError(f"module 'styler' has no attribute {name!r}")

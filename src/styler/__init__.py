"""styler: arbitrary neural style transfer with AdaIN (Huang & Belongie, ICCV 2017).

The public names are imported lazily so that ``styler --help`` does not pay for torch.
"""

__version__ = "0.1.0"
__all__ = ["Stylizer", "StyleStats", "StylerError", "adain", "mean_std", "__version__"]

_LAZY = {"Stylizer": "engine", "StyleStats": "engine", "StylerError": "errors", "adain": "ops", "mean_std": "ops"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'styler' has no attribute {name!r}")

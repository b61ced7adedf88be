"""Default output names, and what happens when an output exists.

A default name says what made the picture: the content, the kind of result, the styles, then a
tag for every setting that changes the picture and differs from its default, in a fixed order::

    chicago_stylized_la_muse.png                    adain, alpha 1, no colour preservation
    chicago_stylized_la_muse_a0.3.png               --alpha 0.3
    chicago_stylized_la_muse_a0.3_luminance.png     ... --color luminance
    chicago_stylized_la_muse_cin.png                --method cin (--model)
    chicago_stylized_la_muse_gatys_i100_init-adain.png
    chicago_interpolated_a+b_w0.25-0.75.png         --weights 1,3

so runs with different settings never share a name. The tags (``setting_tags``):

    the method (when not adain) and the method options given (``method_tags``: i100 = 100
    iterations, dec-NAME = a custom decoder, the CIN model's name, ...), a0.3 (alpha), sweep0-0.5-1 (an alpha
    sweep), coral / luminance (colour), w... (interpolation weights, normalised, when not
    equal), f8 (feather), sm0.8 (video smoothing), c1024 / s256 (content / style size when
    not the command's default; cfull / sfull for 0, the image's own size), crop, nolabels.

An existing file is replaced, and the run says so; ``keep_existing`` (``--no-clobber``) keeps
it and writes to the first free numbered name instead (``name_2.png``, ``name_3.png``, ...).
A ``--name`` template is taken as written (it has ``{alpha}`` for that).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..controls import Controls

DEFAULT_NAME = "{content}_stylized_{style}"
DEFAULT_METHOD = "adain"
DEFAULT_SIZE = 512  # content and style size of the image commands (video: content size 0)

# Method options as name tags: the prefix before the value (the option's name otherwise).
SHORT = {
    "iters": "i",
    "init": "init-",
    "optimizer": "",
    "scales": "sc",
    "content_weight": "cw",
    "style_weight": "sw",
    "tv_weight": "tv",
    "seed": "seed",
    "decoder": "dec-",
    "vgg": "vgg-",
    "model": "",
}
# File stems that say nothing of their file: its folder names it instead (runs/portraits/model.pth).
GENERIC = {"model", "decoder", "vgg_normalised", "checkpoint", "weights"}
UNSAFE = re.compile(r"[^A-Za-z0-9.+-]+")


def number(value: float) -> str:
    """0.30000001 -> '0.3', 1000.0 -> '1000', 1e-05 -> '1e-05': short and stable."""
    return f"{value:.4g}"


def file_tag(path: Path) -> str:
    """A file as a tag: its stem, or its folder's name when the stem is generic (``GENERIC``)."""
    path = Path(path)
    return path.parent.name if path.stem in GENERIC and path.parent.name else path.stem


def _value(value: Any) -> str:
    if isinstance(value, Path):
        return file_tag(value)
    if isinstance(value, bool):
        return ""
    if isinstance(value, float):
        return number(value)
    if isinstance(value, (tuple, list)):
        return "-".join(_value(v) for v in value)
    return str(getattr(value, "value", value))


def tag(text: str) -> str:
    """A name-safe token: letters, digits, '.', '+', '-' (anything else becomes '-')."""
    return UNSAFE.sub("-", text).strip("-") or "x"


def method_tags(method: str = DEFAULT_METHOD, options: Mapping[str, Any] | None = None) -> tuple[str, ...]:
    """The method (unless the default) and each option given to it, as tags (None values skipped)."""
    tags = [] if method == DEFAULT_METHOD else [tag(method)]
    for name, value in (options or {}).items():
        if value is None or value is False:
            continue
        prefix = SHORT.get(name, name.replace("_", ""))
        token = tag(f"{prefix}{_value(value)}")
        if token not in tags:  # runs/cin/model.pth with method cin: "cin" once
            tags.append(token)
    return tuple(tags)


def setting_tags(
    controls: Controls | None = None,
    reading: Any = None,
    *,
    content_size: int = DEFAULT_SIZE,
    style_size: int = DEFAULT_SIZE,
) -> tuple[str, ...]:
    """Tags of the controls and reading settings that differ from their defaults (``reading``:
    anything with content_size, style_size and crop; the defaults are the command's)."""
    tags: list[str] = []
    if controls is not None:
        if controls.sweep is not None:
            tags.append("sweep" + "-".join(number(a) for a in controls.sweep))
        elif controls.alpha != 1.0:
            tags.append(f"a{number(controls.alpha)}")
        if controls.color is not None:
            tags.append(controls.color.value)
        if controls.weights is not None and len(set(controls.weights)) > 1:
            total = sum(controls.weights)
            tags.append("w" + "-".join(number(w / total) for w in controls.weights))
        if controls.feather:
            tags.append(f"f{number(controls.feather)}")
        if controls.smooth:
            tags.append(f"sm{number(controls.smooth)}")
        if not controls.labels:
            tags.append("nolabels")
    if reading is not None:
        if reading.content_size != content_size:
            tags.append(f"c{reading.content_size or 'full'}")
        if reading.style_size != style_size:
            tags.append(f"s{reading.style_size or 'full'}")
        if reading.crop:
            tags.append("crop")
    return tuple(tags)


def low_tags(low_style: Path | None) -> tuple[str, ...]:
    """Frequency blending's tag: 'low-b' for a low band taken from b.jpg (``--low-style``)."""
    return () if low_style is None else (tag(f"low-{file_tag(low_style)}"),)


def suffix(tags: Sequence[str]) -> str:
    return "".join(f"_{t}" for t in tags)


def result_stem(content: str, styles: Sequence[str], kind: str = "stylized", tags: Sequence[str] = ()) -> str:
    """``{content}_{kind}_{style+style...}_{tags...}``: a one-image command's default file stem."""
    return f"{content}_{kind}_{'+'.join(tag(s) for s in styles)}{suffix(tags)}"


def numbered(path: Path, n: int) -> Path:
    return path.with_name(f"{path.stem}_{n}{path.suffix}")


def free_path(path: Path, taken: Collection[str] = ()) -> Path:
    """``path`` if nothing is there (and it is not in ``taken``, compared case-insensitively),
    else the first free ``stem_2.ext``, ``stem_3.ext``, ..."""
    used = {t.casefold() for t in taken}
    candidate, n = path, 1
    while candidate.exists() or str(candidate).casefold() in used:
        n += 1
        candidate = numbered(path, n)
    return candidate

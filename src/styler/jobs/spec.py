"""What a job is: small frozen dataclasses, each validated when it is made (before any weights load).

    Job(inputs=Inputs(content, styles), controls=Controls(...), naming=Naming(output),
        reading=Reading(...), run=RunOptions(...))

A content file is a job of one content; a content folder is read recursively and its tree is
mirrored under the output folder. One runner (``runner.run``) does both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..controls import Controls
from ..errors import InputError, Param
from ..media.files import check_writable
from ..media.images import FORMATS, MAX_PIXELS, check_budget, output_format
from .loader import Encoding, check_workers
from .naming import DEFAULT_NAME, free_path, low_tags, result_stem, setting_tags, suffix
from .pairing import PairMode, check_ext, check_mode, check_template

Style = Path | str  # a style image file or folder, or (a model's own styles) a name or index


@dataclass(frozen=True)
class Reading:
    """How input images are read: shorter side in px (0 = as is), centre crop to a square."""

    content_size: int = 512
    style_size: int = 512
    crop: bool = False
    max_pixels: int = MAX_PIXELS  # refused before resizing when over (0 = no limit)

    def __post_init__(self) -> None:
        for name in ("content_size", "style_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InputError(Param(name), f" must be a whole number of px >= 0 (0 = keep the size), got {value}")
        check_budget(self.max_pixels)


@dataclass(frozen=True)
class Inputs:
    """Contents (a file or a folder, searched recursively) and styles (files, folders, or names)."""

    content: Path
    styles: tuple[Style, ...]
    named_styles: bool = False  # styles are names or indices of the model (CIN), not files
    pairs: PairMode = PairMode.ALL
    per_content: int = 1  # pairs=random: styles drawn per content
    seed: int = 0  # pairs=random: the draw's seed
    low_style: Path | None = None  # frequency blending: every style takes this image's low band (``Bands``)
    reads: frozenset[str] = frozenset()  # content file types besides images, found in folders too (``Method.reads``)

    def __post_init__(self) -> None:
        object.__setattr__(self, "content", Path(self.content).expanduser())
        if self.low_style is not None:
            if self.named_styles:
                raise InputError(
                    Param("low_style"), " is a style image's low band; a model's named styles have no bands"
                )
            low = Path(self.low_style).expanduser()
            if not low.is_file():
                raise InputError(Param("low_style", low), " is not an image file; pass one style image")
            object.__setattr__(self, "low_style", low)
        styles = (self.styles,) if isinstance(self.styles, (str, Path)) else tuple(self.styles)
        if not styles:
            raise InputError("no style given; pass at least one style")
        object.__setattr__(self, "styles", tuple(str(s) if self.named_styles else Path(s) for s in styles))
        object.__setattr__(self, "pairs", check_mode(self.pairs))
        if isinstance(self.per_content, bool) or not isinstance(self.per_content, int) or self.per_content < 1:
            raise InputError(Param("per_content"), f" must be a whole number >= 1, got {self.per_content}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise InputError(Param("seed"), f" must be a whole number, got {self.seed}")
        object.__setattr__(self, "reads", frozenset(s.lower() for s in self.reads))


def check_suffix(path: Path, writes: frozenset[str], name: str = "output") -> None:
    """Refuse, before any work, an output file of a type nobody here writes (``writes``: besides images)."""
    if not writes:
        output_format(path)  # images only: the image writer's own message
    elif path.suffix.lower() not in FORMATS and path.suffix.lower() not in writes:
        known = ", ".join(sorted({*FORMATS, *writes}))
        raise InputError(
            Param(name, path), f" has an extension '{path.suffix}' that is not written here; use one of {known}"
        )


def _is_file(path: Path) -> bool:
    return path.suffix != "" and not path.is_dir()


@dataclass(frozen=True)
class Also:
    """A further output of every result (results that write themselves: ``Method.result``): ``path``
    is a file (the job has one result) or a folder, where each result is named as in the output
    folder with the extension ``ext``. ``name`` is the parameter that set it (for messages)."""

    path: Path
    ext: str
    name: str = "also"

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path).expanduser())
        object.__setattr__(self, "ext", self.ext.lstrip(".").lower())

    @property
    def to_file(self) -> bool:
        return _is_file(self.path)

    def target(self, rel: str) -> Path:
        """Where the result named ``rel`` (relative to the output folder) goes."""
        return self.path if self.to_file else self.path / Path(rel).with_suffix(f".{self.ext}")


@dataclass(frozen=True)
class Naming:
    """Where results go: ``output`` is a folder (None = the current one) or, for one result, a file
    (an image, or a type in ``writes``). Names are ``name``.``ext`` under the content's mirrored
    sub-folder; the default name carries a tag per setting that changes the picture (``naming``);
    each ``also`` is a further output of every result. An existing output is replaced (the report
    says which), or with ``keep_existing`` kept, the result taking the first free numbered name
    (``_2``, ``_3``, ...)."""

    output: Path | None = None
    name: str | None = None  # template: {content} {style} {alpha} {index}; None = DEFAULT_NAME + the tags
    ext: str = "png"
    manifest: bool | None = None  # write manifest.jsonl; None = when the content is a folder
    tags: tuple[str, ...] = ()  # the method and its options, as name tags (``naming.method_tags``)
    keep_existing: bool = False  # never replace an existing output: number the new one instead
    writes: frozenset[str] = frozenset()  # result file types besides images (``methods.files``): ".svg", ".json"
    also: tuple[Also, ...] = ()

    def __post_init__(self) -> None:
        if self.output is not None:
            object.__setattr__(self, "output", Path(self.output).expanduser())
        if self.name is not None:
            check_template(self.name)
        object.__setattr__(self, "tags", tuple(self.tags))
        object.__setattr__(self, "writes", frozenset(s.lower() for s in self.writes))
        object.__setattr__(self, "ext", check_ext(self.ext, self.writes))
        if self.to_file:
            assert self.output is not None
            check_suffix(self.output, self.writes)  # an unknown extension fails here, before any work
        for a in self.also:
            if a.to_file:
                check_suffix(a.path, self.writes, a.name)
            else:
                check_ext(a.ext, self.writes)

    def others(self, rel: str) -> list[Path]:
        """The further outputs (``also``) of the result named ``rel`` in the output folder."""
        return [a.target(rel) for a in self.also]

    @property
    def to_file(self) -> bool:
        """``output`` names one file: it has an extension and is not an existing folder."""
        return self.output is not None and _is_file(self.output)

    @property
    def folder(self) -> Path:
        if self.output is None:
            return Path.cwd()
        return self.output.parent if self.to_file else self.output

    def template(self, tags: Sequence[str] = ()) -> str:
        """The name template: the output file's own name, ``name``, or the default name with
        ``tags`` (the settings' tags) after this naming's own."""
        if self.to_file:
            assert self.output is not None
            return self.output.stem.replace("{", "{{").replace("}", "}}")  # a literal name
        return self.name if self.name is not None else DEFAULT_NAME + suffix((*self.tags, *tags))

    def one(self, stem: str) -> Path:
        """Where a single result goes: ``output`` when it is a file, else ``stem``.``ext`` in the
        folder; with ``keep_existing`` the first free numbered name when that exists."""
        path = self.output if self.to_file and self.output is not None else self.folder / f"{stem}.{self.ext}"
        if self.folder.exists() and not self.folder.is_dir():
            raise InputError(
                Param("output", self.folder), " is a file without an image extension; pass a folder or an image name"
            )
        check_writable(path, "choose a writable output")
        return free_path(path) if self.keep_existing else path

    def result(
        self,
        content: str,
        styles: Sequence[str],
        kind: str = "stylized",
        controls: Controls | None = None,
        reading: Reading | None = None,
        sizes: tuple[int, int] = (512, 512),
    ) -> Path:
        """``one`` for a one-image command's result: the default stem is ``naming.result_stem``
        of the content and style names with this naming's tags and the settings' tags (``sizes``:
        the command's default content and style sizes)."""
        tags = (*self.tags, *setting_tags(controls, reading, content_size=sizes[0], style_size=sizes[1]))
        return self.one(result_stem(content, styles, kind, tags))

    @property
    def suffix(self) -> str:
        return self.output.suffix.lstrip(".").lower() if self.to_file and self.output is not None else self.ext


@dataclass(frozen=True)
class RunOptions:
    """How the work runs: resume, worker processes, output encoding, the style cache."""

    skip_existing: bool = False  # resume: pairs whose output exists are kept, not redone
    workers: int | None = None  # decode/encode processes; None = the device's default (threads for a few files)
    encoding: Encoding = field(default_factory=Encoding)
    style_cache: bool = True  # keep style representations on disk (methods that support it)
    cache_dir: Path | None = None  # None = the user cache folder

    def __post_init__(self) -> None:
        if self.workers is not None:
            check_workers(self.workers)


@dataclass(frozen=True)
class Job:
    """One transfer job: every (content, style) pair of ``inputs`` under ``controls``."""

    inputs: Inputs
    controls: Controls = field(default_factory=Controls)
    naming: Naming = field(default_factory=Naming)
    reading: Reading = field(default_factory=Reading)
    run: RunOptions = field(default_factory=RunOptions)

    @property
    def manifest(self) -> bool:
        return self.naming.manifest if self.naming.manifest is not None else self.inputs.content.is_dir()

    def template(self) -> str:
        """The results' name template: the default one carries the tags of the method
        (``naming.tags``) and of every control and reading setting that differs from its default."""
        return self.naming.template((*low_tags(self.inputs.low_style), *setting_tags(self.controls, self.reading)))


def make_job(content: Path | str, styles: Sequence[Style], output: Path | str | None = None, **settings: Any) -> Job:
    """A ``Job`` from flat settings: each goes to the part that has a field of that name."""
    parts: dict[type, dict[str, Any]] = {Inputs: {}, Controls: {}, Naming: {}, Reading: {}, RunOptions: {}}
    for key, value in settings.items():
        owner = next((cls for cls in parts if key in {f.name for f in fields(cls)}), None)
        if owner is None:
            raise InputError(f"unknown job setting '{key}'; see the fields of styler.jobs.spec's parts")
        parts[owner][key] = value
    return Job(
        Inputs(Path(content), tuple(styles), **parts[Inputs]),
        Controls(**parts[Controls]),
        Naming(None if output is None else Path(output), **parts[Naming]),
        Reading(**parts[Reading]),
        RunOptions(**parts[RunOptions]),
    )

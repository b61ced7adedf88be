"""Domain errors. The core raises these; only the CLI turns them into exit codes.

Every message is one line that names the problem and, where there is one, the fix. A message
that names a parameter the user sets carries it as data, a ``Param`` among its parts::

    raise InputError(Param("alpha"), f" must be a number in [0, 1], got {alpha}")

``str(error)`` says it as the library's parameter (``alpha``, ``content_size=0``); the CLI says
it as its flag (``--alpha``, ``--content-size 0``) from one table, without reading the text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_NO_VALUE: Any = object()


@dataclass(frozen=True)
class Param:
    """A parameter named in a message, optionally with the value it had (``content_size=0``)."""

    name: str
    value: Any = _NO_VALUE

    @property
    def has_value(self) -> bool:
        return self.value is not _NO_VALUE

    def __str__(self) -> str:
        return f"{self.name}={self.value}" if self.has_value else self.name


Spell = Callable[[Param], str]


class StylerError(Exception):
    """A problem the user can fix (bad input, missing weights, bad option).

    ``parts`` are text and ``Param``s, joined into the message; ``params`` lists the parameters."""

    def __init__(self, *parts: str | Param) -> None:
        super().__init__(*parts)
        self.parts = parts

    @property
    def params(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parts if isinstance(p, Param))

    def render(self, spell: Spell = str) -> str:
        """The message with each parameter said by ``spell`` (default: its Python spelling)."""
        return "".join(spell(p) if isinstance(p, Param) else str(p) for p in self.parts)

    def __str__(self) -> str:
        return self.render()


class InputError(StylerError):
    """An input file or option value is unusable."""


class WeightsError(StylerError):
    """Weights are missing, corrupt, of the wrong layout, or cannot be fetched."""


class OutputError(StylerError):
    """An output path cannot be written (or would overwrite an input)."""


class DeviceError(StylerError):
    """The requested device or precision is not available here."""


class Interrupted(Exception):
    """Ctrl-C or SIGTERM during a long computation; ``partial`` is the best result so far
    (for example the best image of a Gatys optimisation), or None."""

    def __init__(self, partial: object = None) -> None:
        super().__init__("interrupted")
        self.partial = partial

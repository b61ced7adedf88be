"""Atomic writes: a result appears complete under its name, or not at all."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import OutputError, Param

Hint = str | tuple[str | Param, ...]  # the fix an error line ends with (text, or text and parameters)


def _parts(hint: Hint) -> tuple[str | Param, ...]:
    return (hint,) if isinstance(hint, str) else hint


@contextmanager
def atomic_path(dest: Path, hint: Hint = "choose a writable location") -> Iterator[Path]:
    """Yield a temporary path beside ``dest``; it is renamed to ``dest`` only if the block
    finishes. On any error or Ctrl-C the temporary file is removed and ``dest`` is untouched."""
    dest = Path(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot write to {dest.parent} ({e.strerror or e}); ", *_parts(hint)) from None
    # A unique name that the writer creates itself, so the file gets normal (umask) permissions.
    tmp = dest.with_name(f".{dest.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}{dest.suffix}.part")
    try:
        yield tmp
        os.replace(tmp, dest)
    except OSError as e:
        raise OutputError(f"cannot write {dest} ({e.strerror or e}); ", *_parts(hint)) from None
    finally:
        tmp.unlink(missing_ok=True)


def check_writable(dest: Path, hint: Hint = "choose a writable location") -> None:
    """Fail early (before any compute) if ``dest``'s folder cannot be created or written."""
    folder = Path(dest).parent
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write to {folder} ({probe} is not a writable folder); ", *_parts(hint))

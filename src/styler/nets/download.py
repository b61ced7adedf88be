"""Downloading one weights file: resumable, checked, under a file lock; no table, no layouts.

Downloads go to a fixed hidden partial file (``.decoder.pth.part``) under a file lock
(``.decoder.pth.lock``, kept: removing a lock file that others may be waiting on breaks the
lock): concurrent processes (torchrun ranks, two shells) download once, the others wait and
then use the file; a download cut short keeps its partial file and the next run resumes it
with an HTTP Range request where the server honours ranges (else it starts over). The
partial only takes the real name after the size, hash and ``check`` pass.

A server may answer with an HTML confirmation page instead of the file (Google Drive does for
files too large to virus-scan; small ones come directly): the page's form (its action and
hidden inputs: a ``confirm`` token, a ``uuid``) or its link carrying ``confirm=`` is followed
once (``confirmation_url``), with the same Range header and the page's cookies.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import IO, Any

from ..errors import OutputError, WeightsError

ENV_DIR = "STYLER_WEIGHTS_DIR"
ENV_MIRROR = "STYLER_WEIGHTS_MIRROR"  # a base URL (or folder) serving the same file names
TIMEOUT = 30  # seconds without data before a download attempt gives up
LOCK_TIMEOUT = 1800  # seconds to wait for another process's download of the same file
CHUNK = 1 << 20
PAGE_LIMIT = 1 << 20  # bytes of an HTML answer read to look for its confirmation link

Progress = Callable[[int, int | None], None]  # (bytes done, total bytes or None)
Check = Callable[[Path], None]  # raises WeightsError if the file is not usable as weights


@dataclass(frozen=True)
class KnownWeights:
    name: str  # the table's key: "vgg", "decoder" (also the parameters that override them), "aesfa"
    filename: str
    url: str  # the release URL; ``download_url`` applies $STYLER_WEIGHTS_MIRROR
    sha256: str | None  # the release file's hash; None = unpinned (structural checks only)
    size: int | None = None  # the release file's size in bytes
    meta: dict = field(default_factory=dict)
    method: str | None = None  # a method's model file: that method checks its layout


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def record_hash(path: Path, digest: str) -> None:
    """Write ``path.sha256`` so later ``verify`` runs can detect corruption."""
    path.with_name(path.name + ".sha256").write_text(f"{digest}  {path.name}\n")


def fetch(
    known: KnownWeights,
    directory: Path,
    *,
    progress: Progress | None = None,
    url: str | None = None,
    check: Check | None = None,
    force: bool = False,
) -> Path:
    """Download ``known`` into ``directory`` from ``url`` (default ``known.url``), checked, under a lock.

    If another process holds the lock this waits, and then uses the file it fetched (unless
    ``force``). The file appears under its name only after the size and SHA-256 (if pinned)
    and ``check`` (a structural check of the caller's) pass; otherwise it is deleted, with one line."""
    from filelock import FileLock, Timeout

    url = url or known.url
    dest = Path(directory) / known.filename
    part = dest.with_name(f".{known.filename}.part")
    hint = f"set {ENV_DIR} to a writable directory"
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(dest.with_name(f".{known.filename}.lock"), timeout=LOCK_TIMEOUT)
        lock.acquire()
    except Timeout:
        raise WeightsError(
            f"another process has been downloading {known.filename} into {dest.parent} for "
            f"{LOCK_TIMEOUT // 60} minutes; wait for it or stop it"
        ) from None
    except OSError as e:
        raise OutputError(f"cannot write to {dest.parent} ({e.strerror or e}); {hint}") from None
    try:
        if dest.is_file() and not force:
            return dest  # another process fetched it while this one waited
        _download(url, part, known, progress, dest.parent)
        digest = _verify(url, part, known, check or (lambda p: None))
        try:
            os.replace(part, dest)
        except OSError as e:
            raise OutputError(f"cannot write {dest} ({e.strerror or e}); {hint}") from None
        record_hash(dest, digest)
        return dest
    finally:
        lock.release()


def _download(url: str, part: Path, known: KnownWeights, progress: Progress | None, directory: Path) -> None:
    """Stream ``url`` into ``part``, continuing a partial file from an earlier cut where the
    server answers a Range request with 206; a 200 answer rewrites it from the start."""
    have = part.stat().st_size if part.is_file() else 0
    if known.size is not None and have > known.size:
        part.unlink()
        have = 0
    if known.size is not None and have == known.size:
        return  # complete but never checked (the run stopped before the rename): check it now
    done, total = have, None  # done > have: this attempt received data
    try:
        headers = {"Range": f"bytes={have}-"} if have else {}
        try:
            resp = _past_confirmation(
                urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=TIMEOUT),
                url,
                headers,
                known,
                directory,
            )
        except urllib.error.HTTPError as e:
            if e.code != 416 or not have:  # 416: the partial is not a prefix of this file
                raise
            part.unlink()
            done, have = 0, 0
            resp = _past_confirmation(urllib.request.urlopen(url, timeout=TIMEOUT), url, {}, known, directory)
        with resp:
            ranged = re.match(rf"bytes {have}-\d+/(\d+)", resp.headers.get("Content-Range") or "")
            if have and getattr(resp, "status", None) == 206 and ranged:
                total, mode = int(ranged.group(1)), "ab"
            else:  # the server sent the whole file
                done, total, mode = 0, int(resp.headers.get("Content-Length") or 0) or None, "wb"
            if known.size is not None and total is not None and total != known.size:
                _refuse(part, f"{url} is {total} bytes, not the {known.size} of the release {known.filename}")
            try:
                out = open(part, mode)  # noqa: SIM115  (closed below; write errors are not network errors)
            except OSError as e:
                raise OutputError(
                    f"cannot write {part} ({e.strerror or e}); set {ENV_DIR} to a writable directory"
                ) from None
            with out:
                while chunk := resp.read(CHUNK):
                    _write(out, chunk, part)
                    done += len(chunk)
                    if known.size is not None and done > known.size:
                        _refuse(part, f"{url} sent more than the {known.size} bytes of the release {known.filename}")
                    if progress:
                        progress(done, total)
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as e:
        reason = getattr(e, "reason", None) or e
        if done > have:
            raise WeightsError(
                f"download of {known.filename} from {url} stopped after {done} bytes ({reason}); run it again to resume"
            ) from None
        raise WeightsError(
            f"cannot download {known.filename} from {url} ({reason}); offline? set {ENV_MIRROR} to a reachable "
            f"copy, or download it by hand and put it in {directory} (or run `styler weights import FILE`)"
        ) from None
    if total is not None and done < total:
        raise WeightsError(
            f"download of {known.filename} from {url} was cut short ({done} of {total} bytes); run it again to resume"
        )


class _Page(HTMLParser):
    """The forms (action, fields) and links of an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, str]]] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append((a.get("action", ""), {}))
        elif tag == "input" and self.forms and a.get("name") and a.get("type", "text") in ("hidden", "text"):
            self.forms[-1][1][a["name"]] = a.get("value", "")
        elif tag == "a" and a.get("href"):
            self.links.append(a["href"])


def confirmation_url(page: str, base: str) -> str | None:
    """The download URL an HTML confirmation page points to, or None: a form whose fields carry a
    ``confirm`` token or a ``uuid`` (its action with the fields as the query), else a link
    carrying ``confirm=``; relative ones resolved against ``base``."""
    parser = _Page()
    parser.feed(page)
    for action, fields in parser.forms:
        if "confirm" in fields or "uuid" in fields:
            target = urllib.parse.urljoin(base, action or base)
            joiner = "&" if urllib.parse.urlsplit(target).query else "?"
            return target + joiner + urllib.parse.urlencode(fields)
    for href in parser.links:
        if "confirm=" in href:
            return urllib.parse.urljoin(base, href)
    return None


def _is_page(resp: Any) -> bool:
    return (resp.headers.get("Content-Type") or "").split(";")[0].strip().lower() in (
        "text/html",
        "application/xhtml+xml",
    )


def _past_confirmation(resp: Any, url: str, headers: dict[str, str], known: KnownWeights, directory: Path) -> Any:
    """``resp`` itself, or where it is an HTML page (no weights file is one) the response of the
    URL its confirmation form or link names, asked with the same ``headers`` and its cookies."""
    if not _is_page(resp):
        return resp
    with resp:
        page = resp.read(PAGE_LIMIT).decode("utf-8", "replace")
        cookies = [c.split(";", 1)[0] for c in resp.headers.get_all("Set-Cookie") or []]
    target = confirmation_url(page, url)
    if target is not None:
        asked = {**headers, **({"Cookie": "; ".join(cookies)} if cookies else {})}
        follow = urllib.request.urlopen(urllib.request.Request(target, headers=asked), timeout=TIMEOUT)
        if not _is_page(follow):
            return follow
        follow.close()
    raise WeightsError(
        f"{url} answered with a web page, not {known.filename} (a quota or sharing notice?); download it in a "
        f"browser and put it in {directory} (or run `styler weights import FILE`), or set {ENV_MIRROR}"
    )


def _write(out: IO[bytes], chunk: bytes, part: Path) -> None:
    try:
        out.write(chunk)
    except OSError as e:
        raise OutputError(
            f"cannot write {part} ({e.strerror or e}); free some space or set {ENV_DIR} to another directory"
        ) from None


def _verify(url: str, part: Path, known: KnownWeights, check: Check) -> str:
    """Size, pinned hash and ``check`` of a finished partial file; on any failure it is deleted."""
    size = part.stat().st_size
    if known.size is not None and size != known.size:
        _refuse(part, f"{url} gave {size} bytes, not the {known.size} of the release {known.filename}")
    digest = sha256_of(part)
    if known.sha256 and digest != known.sha256:
        _refuse(
            part,
            f"{url} gave a file with SHA-256 {digest[:12]}..., not the release {known.filename}'s "
            f"{known.sha256[:12]}...",
        )
    try:
        check(part)  # structural check before it takes the real name
    except WeightsError:
        part.unlink(missing_ok=True)
        raise
    return digest


def _refuse(part: Path, why: str) -> None:
    part.unlink(missing_ok=True)
    raise WeightsError(f"{why}; refused and deleted (check the URL or {ENV_MIRROR})")

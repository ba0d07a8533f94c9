"""Verified downloads and content checks of data files: git blob SHA-1s, a size cap, atomic placement.

Every split the registry in :mod:`icma_bench.data` knows carries the git blob SHA-1 of its file (what ``git
hash-object FILE`` prints: ``sha1(b"blob <size>\\0" + content)``), so a download is checked by content against the
very object the pinned commit holds. A download streams into a temporary file beside its destination, aborts past a
size cap, and is moved into place only once verified; an interrupted or refused download leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import tempfile
import urllib.request
from collections.abc import Callable
from pathlib import Path

logger = logging.getLogger(__name__)

#: The largest file a download may be (the biggest split, ChEBI-20 train, is ~10 MB).
MAX_DOWNLOAD_BYTES = 64 << 20
_CHUNK = 1 << 20
_blob_cache: dict[tuple[str, int, int], str] = {}


class DownloadError(ValueError):
    """A download that was refused (too big, wrong content); the message names the URL and the reason."""


def git_blob_sha1(payload: bytes) -> str:
    """The git blob SHA-1 of ``payload`` (``git hash-object``)."""
    h = hashlib.sha1(b"blob %d\0" % len(payload), usedforsecurity=False)
    h.update(payload)
    return h.hexdigest()


def file_blob_sha1(path: str | os.PathLike) -> str:
    """The git blob SHA-1 of a file, cached in memory by (path, size, mtime): a file read twice is hashed once."""
    p = Path(path).resolve()
    st = p.stat()
    key = (str(p), st.st_size, st.st_mtime_ns)
    if key not in _blob_cache:
        h = hashlib.sha1(b"blob %d\0" % st.st_size, usedforsecurity=False)
        with p.open("rb") as fh:
            for block in iter(lambda: fh.read(_CHUNK), b""):
                h.update(block)
        _blob_cache[key] = h.hexdigest()
    return _blob_cache[key]


def download_verified(
    url: str,
    dest: Path,
    *,
    blob_sha1: str | None,
    sha256: str | None = None,
    check: Callable[[bytes], None] | None = None,
    max_bytes: int | None = None,
    timeout: float = 60,
) -> Path:
    """Stream ``url`` to ``dest``: abort past ``max_bytes``, verify the git blob SHA-1 (and sha256 when given), run
    ``check(payload)`` (e.g. a row count), then rename into place atomically. Refusals raise :class:`DownloadError`;
    nothing is left at ``dest`` nor beside it on any failure, an interrupt included. ``max_bytes``: default
    :data:`MAX_DOWNLOAD_BYTES`."""
    max_bytes = MAX_DOWNLOAD_BYTES if max_bytes is None else max_bytes
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        size = 0
        with os.fdopen(fd, "wb") as fh, urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310
            declared = resp.headers.get("Content-Length") if getattr(resp, "headers", None) else None
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise DownloadError(
                    f"{url}: refusing a {int(declared):,}-byte file (limit {max_bytes:,} bytes)"
                )
            while True:
                block = resp.read(_CHUNK)
                if not block:
                    break
                size += len(block)
                if size > max_bytes:
                    raise DownloadError(f"{url}: download exceeds the {max_bytes:,}-byte limit; aborted")
                fh.write(block)
        if declared and declared.isdigit() and size != int(declared):
            raise DownloadError(f"{url}: connection closed after {size:,} of {int(declared):,} bytes")
        payload = Path(tmp).read_bytes()
        got = git_blob_sha1(payload)
        if blob_sha1 and got != blob_sha1:
            raise DownloadError(f"{url}: content does not match: git blob SHA-1 {got}, expected {blob_sha1}")
        if sha256 and (digest := hashlib.sha256(payload).hexdigest()) != sha256:
            raise DownloadError(f"{url}: sha256 mismatch: got {digest}, expected {sha256}")
        if check is not None:
            check(payload)
        if not blob_sha1 and not sha256:
            raise DownloadError(
                f"{url}: no content hash is known for this file; refusing an unverified download"
            )
        os.replace(tmp, dest)
    except http.client.HTTPException as exc:  # e.g. IncompleteRead: the connection dropped mid-file
        Path(tmp).unlink(missing_ok=True)
        raise DownloadError(f"{url}: download interrupted ({exc!r})") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest

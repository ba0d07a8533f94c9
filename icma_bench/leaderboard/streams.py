"""Board input files read as bounded line streams: plain or gzip-compressed, never decompressed whole.

A 2.1 MB ``samples_*.jsonl.gz`` can expand to gigabytes; reading it with ``gzip.decompress`` once took ``leaderboard
check`` to 7.57 GB. Here a file is read line by line, with a cap on the decompressed total and on one line, so memory
stays at one line plus what the caller keeps, and a bomb is refused naming the file and the cap.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from pathlib import Path

from icma_bench.leaderboard.sources import BoardInputError

# A full lm-eval samples file of 3,300 ChEBI-20 documents with 10-shot prompts is tens of MB; these caps leave
# an order of magnitude of room and keep a hostile file far below 1 GiB of memory.
MAX_DECOMPRESSED_BYTES = 512 * 1024 * 1024
MAX_LINE_BYTES = 64 * 1024 * 1024


def iter_text_lines(
    path: Path,
    *,
    max_bytes: int = MAX_DECOMPRESSED_BYTES,
    max_line_bytes: int = MAX_LINE_BYTES,
) -> Iterator[tuple[int, str]]:
    """``(line number, line without its newline)`` of a UTF-8 text file, ``.gz`` decompressed as a stream.

    Raises :class:`BoardInputError` naming the file (and line) when it cannot be read, is not valid UTF-8 or gzip,
    or holds more than ``max_bytes`` (decompressed) or a line longer than ``max_line_bytes``.
    """
    path = Path(path)
    total = 0
    lineno = 0
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as fh:
            while True:
                raw = fh.readline(max_line_bytes + 1)
                if not raw:
                    return
                lineno += 1
                total += len(raw)
                if len(raw) > max_line_bytes:
                    raise BoardInputError(
                        f"{path}:{lineno}: a line longer than {max_line_bytes:,} bytes; not a board input"
                    )
                if total > max_bytes:
                    raise BoardInputError(
                        f"{path}: more than {max_bytes:,} bytes of text (decompressed); not a board input"
                    )
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError:
                    raise BoardInputError(f"{path}:{lineno}: not valid UTF-8") from None
                yield lineno, text[:-1] if text.endswith("\n") else text
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise BoardInputError(f"{path}: cannot read ({type(exc).__name__}: {exc})") from None

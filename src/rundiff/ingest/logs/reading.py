"""Bounded reads of log files: a size cap, a line-length cap, binary files refused, errors as warnings.

A 10 GB sparse file, a log with no newline, an unreadable file: each becomes one warning for that
file, and the rest of the run is still read.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

#: Read at most this much of one text log (a long run's console log is a few MiB).
MAX_LOG_BYTES = 64 * 1024 * 1024
#: Lines longer than this are not a trainer's output; they are counted and skipped.
MAX_LINE_CHARS = 8192
SNIFF_BYTES = 64 * 1024


class LogReadError(Exception):
    """A log file that cannot be read at all; the message names the file."""


def sniff(path: Path, size: int = SNIFF_BYTES) -> bytes:
    try:
        with path.open("rb") as handle:
            return handle.read(size)
    except OSError as err:
        raise LogReadError(f"{path}: cannot read ({err.strerror or err})") from None


def looks_binary(head: bytes) -> bool:
    """NUL bytes in the first block: a sparse, binary or UTF-16 file, not a log."""
    return b"\x00" in head[:SNIFF_BYTES]


def text_lines(path: Path, warnings: list[str]) -> Iterator[tuple[int, str]]:
    """(line number, text) of a text log; tqdm's ``\\r`` bar states are split into parts with one number.

    Reads in blocks, so a console log whose bar redrew 10 000 times on one physical line costs
    no more than any other. Stops at MAX_LOG_BYTES with a warning; a part longer than
    MAX_LINE_CHARS (or holding NUL bytes) is yielded as "" for the caller to count as not read.
    """
    if looks_binary(sniff(path)):
        raise LogReadError(f"{path}: binary data (NUL bytes), not a text log")
    try:
        handle = path.open("rb")
    except OSError as err:
        raise LogReadError(f"{path}: cannot read ({err.strerror or err})") from None
    limit = MAX_LINE_CHARS * 4  # bytes: a UTF-8 character takes up to 4
    with handle:
        consumed, number, pending, skipping = 0, 1, b"", False
        while True:
            block = handle.read(_BLOCK)
            consumed += len(block)
            if consumed > MAX_LOG_BYTES:
                warnings.append(f"{path}: read only the first {MAX_LOG_BYTES // (1024 * 1024)} MiB")
                block = b""
            pending += block
            parts = _SEPARATOR.split(pending)
            pending = parts.pop() if block else b""
            if not block and parts[-1:] == [b""] and len(parts) % 2 == 1:
                parts.pop()  # the file ended with a separator
            for index in range(0, len(parts), 2):
                piece = parts[index]
                if skipping:
                    skipping = False
                else:
                    yield number, _decode(piece, limit)
                if index + 1 < len(parts) and parts[index + 1] == b"\n":
                    number += 1
            if len(pending) > limit:
                yield number, ""
                pending, skipping = b"", True
            if not block:
                return


_BLOCK = 1024 * 1024
_SEPARATOR = re.compile(rb"(\r|\n)")


def _decode(piece: bytes, limit: int) -> str:
    if len(piece) > limit or b"\x00" in piece:
        return ""
    text = piece.decode("utf-8", errors="replace")
    return text if len(text) <= MAX_LINE_CHARS else ""

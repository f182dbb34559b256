"""Bounded, decoding-tolerant reads of the text files a run leaves behind."""

from __future__ import annotations

from pathlib import Path

from rundiff.errors import RundiffError
from rundiff.ingest.filesystem import read_bytes

MAX_TEXT_BYTES = 5 * 1024 * 1024


def read_text(path: Path, limit: int = MAX_TEXT_BYTES) -> str:
    """The file's text; refuses files over ``limit`` bytes, non-files (FIFOs, devices) and undecodable bytes."""
    raw = read_bytes(path, limit)
    for encoding in ("utf-8-sig", "utf-16") if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else ("utf-8-sig",):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    if path.suffix.lower() in (".bat", ".cmd", ".ps1"):
        return raw.decode("latin-1")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise RundiffError("not valid UTF-8 text", path, line=line) from None

"""The output contract every command shares: `--format`, `-o FILE` (its extension picks the format),
`--open`; a combination that cannot be written is a user error before any work is done.

    --format given, no -o     -> that format on stdout
    -o x.html, no --format    -> the format the extension names
    both                      -> they must agree (-o x.txt --format md is an error, not a surprise)
    neither                   -> text on the terminal
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from rundiff.errors import RundiffError

#: Every format name a user may type, and the format it means.
FORMAT_NAMES = {
    "text": "text",
    "txt": "text",
    "terminal": "text",
    "md": "md",
    "markdown": "md",
    "html": "html",
    "htm": "html",
    "json": "json",
    "csv": "csv",
}
SUFFIX_FORMATS = {
    ".txt": "text",
    ".text": "text",
    ".md": "md",
    ".markdown": "md",
    ".html": "html",
    ".htm": "html",
    ".json": "json",
    ".csv": "csv",
}
DEFAULT_SUFFIX = {"text": ".txt", "md": ".md", "html": ".html", "json": ".json", "csv": ".csv"}


@dataclass(frozen=True)
class Output:
    """Where a command's report goes, decided once from the options."""

    format: str  # text | md | html | json | csv
    path: Path | None = None  # None: stdout
    open_after: bool = False

    @property
    def to_terminal(self) -> bool:
        return self.path is None and self.format == "text"


def choose_output(
    output: Path | None,
    fmt: str | None,
    allowed: tuple[str, ...],
    *,
    open_after: bool = False,
    fmt_is_default: bool = False,
) -> Output:
    """The Output for these options, or a RundiffError (exit 2) naming the option that cannot be met.

    ``fmt_is_default``: the format is a config file's default (`format = "md"`), not typed: an -o
    whose extension names a format wins over it instead of disagreeing with it.
    """
    if fmt_is_default and output is not None and SUFFIX_FORMATS.get(output.suffix.lower()) is not None:
        fmt = None
    chosen = None
    if fmt:
        chosen = FORMAT_NAMES.get(fmt.strip().lower())
        if chosen is None:
            raise RundiffError(f"unknown format {fmt!r} (choose from {', '.join(allowed)})", key="--format")
    if output is not None:
        if output.is_dir():
            raise RundiffError("is a folder; give a file name such as report.html", output, key="-o")
        by_suffix = SUFFIX_FORMATS.get(output.suffix.lower())
        if chosen is None and by_suffix is None:
            raise RundiffError(
                f"cannot tell the format from the extension {output.suffix or '(none)'!r}; "
                f"use .{' or .'.join(_suffixes(allowed))}, or give --format",
                output,
                key="-o",
            )
        if chosen is not None and by_suffix is not None and by_suffix != chosen:
            raise RundiffError(
                f"--format {fmt} does not match the extension {output.suffix!r} "
                f"(which means {by_suffix}); change one of them",
                output,
                key="-o",
            )
        chosen = chosen or by_suffix
    chosen = chosen or "text"
    if chosen not in allowed:
        raise RundiffError(f"this command cannot write {chosen} (it writes {', '.join(allowed)})", key="--format")
    if open_after and output is None:
        raise RundiffError("--open needs -o FILE (the report to open)", key="--open")
    return Output(chosen, output, open_after)


def _suffixes(allowed: tuple[str, ...]) -> list[str]:
    return [DEFAULT_SUFFIX[f].lstrip(".") for f in allowed if f in DEFAULT_SUFFIX]


def encode_report(text: str) -> bytes:
    """UTF-8 bytes; a name that was not UTF-8 on disk (a lone surrogate here) becomes U+FFFD."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return re.sub("[\ud800-\udfff]", "\ufffd", text).encode("utf-8")


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write all or nothing: a failed report never leaves half a file behind."""
    tmp = path.with_name(f".{path.name}.rundiff-tmp")
    try:
        tmp.write_bytes(data if isinstance(data, bytes) else encode_report(data))
        tmp.replace(path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise RundiffError(f"cannot write the report: {err.strerror or err}", path) from None


def open_report(path: Path) -> None:
    """Open a written report with the system's viewer (the browser for HTML); $BROWSER is honoured."""
    import webbrowser

    if not webbrowser.open(path.resolve().as_uri()):
        raise RundiffError("could not start a browser to open the report (set $BROWSER)", path)


def terminal_width(default: int = 80) -> int:
    """COLUMNS when set, else the terminal's width, else ``default`` (piped output is not widened)."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isascii() and columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        return os.get_terminal_size().columns
    except OSError:
        return default

"""Finding the log files in a run folder without reading captions, images or weights as logs."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from rundiff.diagnose.logs.csvlog import has_log_columns
from rundiff.diagnose.logs.text import looks_like_log
from rundiff.ingest.filesystem import walk

#: Stop walking a run folder after this many files (dataset folders can hold many thousands).
MAX_FILES_VISITED = 50_000
SNIFF_BYTES = 64 * 1024
_SKIP_DIRS = {"__pycache__", "node_modules", ".git", ".venv", "venv"}
_TEXT_SUFFIXES = {".txt", ".out", ".err"}


def _sniff(path: Path) -> str:
    with path.open("rb") as handle:
        return handle.read(SNIFF_BYTES).decode("utf-8", errors="replace")


def classify_log(path: Path) -> str | None:
    """``"tensorboard"``, ``"text"`` or ``"csv"`` for a file that is a training log, else None."""
    name = path.name
    if name.startswith("events.out.tfevents."):
        return "tensorboard"
    suffix = path.suffix.lower()
    if suffix == ".log":
        return "text"
    if suffix in _TEXT_SUFFIXES:
        return "text" if looks_like_log(_sniff(path)) else None
    if suffix == ".csv":
        header = next(csv.reader(io.StringIO(_sniff(path))), [])
        keys = [h.strip().lower() for h in header]
        return "csv" if has_log_columns(header) or keys[:3] == ["wall time", "step", "value"] else None
    return None


def discover_logs(folder: Path) -> list[tuple[Path, str]]:
    """Log files under a run folder (or the file itself), each with its kind, in a stable order."""
    if folder.is_file():
        kind = classify_log(folder)
        return [(folder, kind)] if kind else []
    found: list[tuple[Path, str]] = []
    visited = 0
    for root, dirs, files in walk(folder):  # iterative and bounded: 1100 nested folders are no RecursionError
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith("."))
        for name in sorted(files):
            visited += 1
            if visited > MAX_FILES_VISITED:
                return found
            path = Path(root) / name
            if not path.is_file():
                continue
            kind = classify_log(path)
            if kind:
                found.append((path, kind))
    return found

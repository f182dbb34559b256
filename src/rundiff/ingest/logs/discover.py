"""Which files of a run are training logs, without reading captions, images or weights as logs."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from rundiff.ingest.logs.csvlog import has_log_columns
from rundiff.ingest.logs.reading import LogReadError, sniff
from rundiff.ingest.logs.text import looks_like_log

#: Stop walking a run folder after this many files (dataset folders can hold many thousands).
MAX_FILES_VISITED = 50_000
_SKIP_DIRS = {"__pycache__", "node_modules", ".git", ".venv", "venv"}
_TEXT_SUFFIXES = {".txt", ".out", ".err"}
#: W&B's own diagnostics, not the trainer's output.
_NOT_LOGS = {"debug.log", "debug-internal.log", "debug-core.log", "setup.log"}
_SQLITE_MAGIC = b"SQLite format 3\x00"

#: Every kind a log file can be, in the order they are read.
LOG_KINDS = ("tensorboard", "sqlite", "jsonl", "wandb-summary", "csv", "text")


def _head(path: Path) -> str:
    try:
        return sniff(path).decode("utf-8", errors="replace")
    except LogReadError:
        return ""


def classify_log(path: Path) -> str | None:
    """One of LOG_KINDS for a file that is a training log, else None.

    A ``.log`` file is always a log (so an unreadable one is reported, not skipped); ``.txt``,
    ``.out``, ``.err`` and ``.csv`` must look like one in their first 64 KiB.
    """
    name = path.name
    if name.startswith("events.out.tfevents."):
        return "tensorboard"
    if name in _NOT_LOGS:
        return None
    suffix = path.suffix.lower()
    if name == "wandb-summary.json":
        return "wandb-summary"
    if name == "training_metrics.jsonl":
        return "jsonl"
    if suffix in (".db", ".sqlite", ".sqlite3"):
        try:
            head = sniff(path)
        except LogReadError:
            return "sqlite" if name == "loss_log.db" else None
        return "sqlite" if head.startswith(_SQLITE_MAGIC) and (name == "loss_log.db" or b"metric" in head) else None
    if suffix == ".log":
        return "text"
    if suffix in _TEXT_SUFFIXES:
        return "text" if looks_like_log(_head(path)) else None
    if suffix == ".csv":
        head = _head(path)
        try:
            header = next(csv.reader(io.StringIO(head[:8192])), [])
        except csv.Error:
            return None
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
    for root, dirs, files in os.walk(folder):
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

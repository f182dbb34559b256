"""Reading what a run logged: TensorBoard event files, console/tqdm output, CSV and free text."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from rundiff.diagnose.logs.csvlog import read_csv_log
from rundiff.diagnose.logs.discover import classify_log, discover_logs
from rundiff.diagnose.logs.model import Point, RunLogs
from rundiff.diagnose.logs.tensorboard import read_event_file
from rundiff.diagnose.logs.text import read_text_log

READERS = {"tensorboard": read_event_file, "text": read_text_log, "csv": read_csv_log}

__all__ = ["Point", "RunLogs", "classify_log", "discover_logs", "read_logs", "read_run_logs"]


def read_logs(files: Iterable[tuple[Path, str] | Path]) -> RunLogs:
    """Read the given log files (kind guessed from the name/content where not given) into one RunLogs.

    TensorBoard events come first; a CSV or text log adds only series the events lack, so a run
    whose trainer writes both (rundiff's ablation variants, own loops) does not count a point twice.
    """
    classified = [item if isinstance(item, tuple) else (item, classify_log(item)) for item in files]
    logs = RunLogs()
    for path, kind in classified:
        if kind == "tensorboard":
            logs.merge(READERS[kind](Path(path)))
    from_events = set(logs.series)
    for path, kind in classified:
        if kind not in (None, "tensorboard"):
            other = READERS[kind](Path(path))
            logs.merge(other, only_new_series=bool(from_events))
    return logs


def read_run_logs(folder: str | Path, extra: Iterable[str | Path] = ()) -> RunLogs:
    """Every log a run folder holds, plus log files named elsewhere (``Run.log_files``)."""
    found = discover_logs(Path(folder)) if Path(folder).exists() else []
    seen = {p.resolve() for p, _ in found}
    for extra_path in extra:
        path = Path(extra_path)
        if path.is_file() and path.resolve() not in seen:
            kind = classify_log(path) or ("text" if path.suffix.lower() in {".txt", ".out", ".err", ""} else None)
            if kind is None:
                continue
            found.append((path, kind))
            seen.add(path.resolve())
    return read_logs(found)

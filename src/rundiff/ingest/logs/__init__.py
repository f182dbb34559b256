"""Training logs as an ingest format: TensorBoard events, console/tqdm text, CSV, JSONL, SQLite, W&B.

Every reader returns a ``RunLogs`` (series of points keyed by a small vocabulary, model.py);
``facts.log_source`` turns what the logs reveal (steps per epoch, total steps, schedule shape,
warmup, parameter groups, d*lr, whether the run finished) into facts with provenance
``inferred`` and the file:line that shows them, so compare and diagnose see the same run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from rundiff.ingest.logs.csvlog import read_csv_log
from rundiff.ingest.logs.discover import LOG_KINDS, classify_log, discover_logs
from rundiff.ingest.logs.model import Point, RunLogs
from rundiff.ingest.logs.structured import read_jsonl_log, read_sqlite_log, read_wandb_summary
from rundiff.ingest.logs.tensorboard import read_event_file
from rundiff.ingest.logs.text import read_text_log

READERS: dict[str, Callable[[Path], RunLogs]] = {
    "tensorboard": read_event_file,
    "text": read_text_log,
    "csv": read_csv_log,
    "jsonl": read_jsonl_log,
    "sqlite": read_sqlite_log,
    "wandb-summary": read_wandb_summary,
}

__all__ = ["LOG_KINDS", "Point", "RunLogs", "classify_log", "discover_logs", "read_logs", "read_run_logs"]


def read_logs(files: Iterable[tuple[Path, str] | Path]) -> RunLogs:
    """Read the given log files (kind guessed from the name/content where not given) into one RunLogs.

    TensorBoard events come first; other logs add only series the events lack, so a run whose
    trainer writes both (rundiff's ablation variants, own loops) does not count a point twice.
    """
    classified = [item if isinstance(item, tuple) else (item, classify_log(item)) for item in files]
    logs = RunLogs()
    for path, kind in classified:
        if kind == "tensorboard":
            logs.merge(READERS[kind](Path(path)))
    from_events = set(logs.series)
    for kind_now in LOG_KINDS[1:]:
        for path, kind in classified:
            if kind == kind_now:
                logs.merge(READERS[kind](Path(path)), only_new_series=bool(from_events))
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

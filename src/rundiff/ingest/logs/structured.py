"""Logs written as records: SimpleTuner's training_metrics.jsonl, ai-toolkit's loss_log.db (SQLite),
and W&B's wandb-summary.json. keys.yaml maps their keys to series."""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

from rundiff.ingest.logs import numbers
from rundiff.ingest.logs.keys import series_for
from rundiff.ingest.logs.model import Point, RunLogs
from rundiff.ingest.logs.reading import LogReadError, text_lines

#: Rows read from one SQLite log at most (a 100k-step run logging 5 keys per step is 500k).
MAX_SQLITE_ROWS = 2_000_000
MAX_JSON_BYTES = 8 * 1024 * 1024


def _add(logs: RunLogs, key: str, raw: object, step: int | None, where: str) -> bool:
    hit = series_for(key)
    if hit is None:
        return False
    value = numbers.value(raw) if isinstance(raw, int | float | str) and not isinstance(raw, bool) else None
    if value is None:
        return False
    logs.add(
        hit.series, Point(value, epoch=step, source=where) if hit.per_epoch else Point(value, step=step, source=where)
    )
    return True


def read_jsonl_log(path: Path) -> RunLogs:
    """SimpleTuner's ``training_metrics.jsonl``: ``{"metrics": {...}, "step": N, ...}`` per line.

    SimpleTuner drops non-finite values from this file, so a NaN loss is invisible here.
    The manifest beside it (``training_metrics.json``) says whether the run completed.
    """
    logs = RunLogs(files=[str(path)])
    try:
        for number, line in text_lines(path, logs.warnings):
            if not line.strip():
                continue
            logs.lines_read += 1
            try:
                record = json.loads(line)
            except (ValueError, RecursionError):
                logs.lines_skipped += 1
                continue
            if not isinstance(record, dict) or not isinstance(record.get("metrics"), dict):
                logs.lines_skipped += 1
                continue
            step = numbers.counter(record.get("step")) if isinstance(record.get("step"), int) else None
            if step is not None:
                logs.last_step = max(logs.last_step or 0, step)
            where = f"{path}:{number}"
            found = [_add(logs, str(k), v, step, where) for k, v in record["metrics"].items()]
            if not any(found):
                logs.lines_skipped += 1
    except LogReadError as err:
        logs.warnings.append(str(err))
        logs.unreadable.append(str(path))
    manifest = path.with_name("training_metrics.json")
    if manifest.is_file():
        data = _json_object(manifest, logs)
        status = data.get("status") if data else None
        if status == "completed":
            logs.finish = (True, f"{manifest} [status]")
        if data and isinstance(data.get("config"), dict):
            total = (
                numbers.counter(data["config"].get("max_train_steps"))
                if isinstance(data["config"].get("max_train_steps"), int)
                else None
            )
            if total:
                logs.facts["total_steps"] = (total, f"{manifest} [config.max_train_steps]")
    return logs


def _json_object(path: Path, logs: RunLogs) -> dict | None:
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_JSON_BYTES + 1)
    except OSError as err:
        logs.warnings.append(f"{path}: cannot read ({err.strerror or err})")
        return None
    if len(raw) > MAX_JSON_BYTES:
        logs.warnings.append(f"{path}: over {MAX_JSON_BYTES // (1024 * 1024)} MiB, not read")
        return None
    try:
        data = json.loads(raw.decode("utf-8", errors="replace"))
    except (ValueError, RecursionError):
        logs.warnings.append(f"{path}: not valid JSON, not read")
        return None
    return data if isinstance(data, dict) else None


def read_sqlite_log(path: Path) -> RunLogs:
    """ai-toolkit's ``loss_log.db``: table ``metrics(step, key, value_real, value_text)``, read-only.

    SQLite has no NaN: ai-toolkit's NaN loss is a row whose value_real and value_text are NULL;
    it is read back as nan. Steps are ai-toolkit's 0-based loop steps.
    """
    logs = RunLogs(files=[str(path)])
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
    except (sqlite3.Error, OSError, ValueError) as err:
        logs.warnings.append(f"{path}: not a readable SQLite file ({err})")
        logs.unreadable.append(str(path))
        return logs
    try:
        rows = connection.execute(
            "SELECT step, key, value_real, value_text FROM metrics ORDER BY step LIMIT ?", (MAX_SQLITE_ROWS + 1,)
        )
        count = 0
        for step_raw, key, real, text in rows:
            count += 1
            if count > MAX_SQLITE_ROWS:
                logs.warnings.append(f"{path}: read only the first {MAX_SQLITE_ROWS} rows")
                break
            logs.lines_read += 1
            step = numbers.counter(step_raw) if isinstance(step_raw, int) else None
            if step is None or not isinstance(key, str):
                logs.lines_skipped += 1
                continue
            logs.last_step = max(logs.last_step or 0, step)
            value = real if real is not None else (text if text is not None else math.nan)
            if not _add(logs, key, value, step, f"{path} [metrics step={step} key={key[:80]}]"):
                logs.lines_skipped += 1
    except sqlite3.Error as err:
        logs.warnings.append(f"{path}: not an ai-toolkit loss log ({err})")
        logs.unreadable.append(str(path))
    finally:
        connection.close()
    return logs


def read_wandb_summary(path: Path) -> RunLogs:
    """``files/wandb-summary.json`` of a W&B run: the last value of each key, at its step.

    Written only for online or synced runs. The step is ``global_step`` when the trainer logs
    it (sd-scripts), else ``_step`` (W&B's own counter, which most trainers pass through).
    """
    logs = RunLogs(files=[str(path)])
    data = _json_object(path, logs)
    if data is None:
        return logs
    step = numbers.counter(data.get("global_step")) if isinstance(data.get("global_step"), int | float) else None
    if step is None and isinstance(data.get("_step"), int):
        step = numbers.counter(data["_step"])
    for key, raw in list(data.items())[:10_000]:
        logs.lines_read += 1
        if not _add(logs, str(key), raw, step, f"{path} [{str(key)[:80]}]"):
            logs.lines_skipped += 1
    if step is not None:
        logs.last_step = step
    return logs

"""CSV training logs: one row per logged step or epoch, one column per metric (keys.yaml names them)."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from rundiff.ingest.logs import numbers
from rundiff.ingest.logs.keys import series_for
from rundiff.ingest.logs.model import Point, RunLogs
from rundiff.ingest.logs.reading import MAX_LOG_BYTES, LogReadError, looks_binary, sniff

STEP_COLUMNS = ("step", "global_step", "iteration", "iter")
EPOCH_COLUMNS = ("epoch",)
_TB_EXPORT_TAG = re.compile(r"tag-(.{1,200})$")


def _key(column: str) -> str:
    return re.sub(r"[^0-9a-z*]+", "_", column.strip().lower()).strip("_")


def column_series(column: str) -> str | None:
    """The series a CSV column feeds, None for columns rundiff does not read."""
    key = _key(column)
    if key.startswith(("lr_applied", "lr_logged")):  # rundiff ablate's own copies (lr/* is the applied LR)
        return None
    hit = series_for(column) or series_for(key)
    return hit.series if hit else None


def has_log_columns(header: list[str]) -> bool:
    return any((s := column_series(c)) is not None and ("loss" in _key(c) or s.startswith("lr")) for c in header)


def _read_text(path: Path, logs: RunLogs) -> str:
    if looks_binary(sniff(path)):
        raise LogReadError(f"{path}: binary data (NUL bytes), not a CSV log")
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_LOG_BYTES + 1)
    except OSError as err:
        raise LogReadError(f"{path}: cannot read ({err.strerror or err})") from None
    if len(data) > MAX_LOG_BYTES:
        logs.warnings.append(f"{path}: read only the first {MAX_LOG_BYTES // (1024 * 1024)} MiB")
        data = data[:MAX_LOG_BYTES]
    return data.decode("utf-8", errors="replace")


def read_csv_log(path: Path) -> RunLogs:
    """Series of a CSV log; rows whose step/epoch is not a counter, and cells that are not numbers, are skipped."""
    logs = RunLogs(files=[str(path)])
    try:
        text = _read_text(path, logs)
    except LogReadError as err:
        logs.warnings.append(str(err))
        logs.unreadable.append(str(path))
        return logs
    csv.field_size_limit(1024 * 1024)
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader, None)
    except csv.Error:
        header = None
    if not header:
        return logs
    keys = [_key(c) for c in header]
    if keys[:3] == ["wall_time", "step", "value"]:  # TensorBoard's "download CSV" of one tag
        tag = _TB_EXPORT_TAG.search(path.stem)
        series = {2: (tag.group(1).replace("_", "/", 1) if tag else path.stem)}
        keys = ["", "step", ""]
    else:
        series = {i: s for i, c in enumerate(header) if (s := column_series(c)) is not None}
    step_col = next((i for i, k in enumerate(keys) if k in STEP_COLUMNS), None)
    epoch_col = next((i for i, k in enumerate(keys) if k in EPOCH_COLUMNS), None)
    row_number = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as err:
            logs.warnings.append(f"{path}:{row_number + 1}: not CSV ({err}); rest of the file not read")
            break
        row_number += 1
        logs.lines_read += 1
        step = epoch = None
        bad = False
        for column, name in ((step_col, "step"), (epoch_col, "epoch")):
            if column is None or column >= len(row) or not row[column].strip():
                continue
            counter = numbers.counter(row[column])
            if counter is None:
                bad = True
                if len(logs.warnings) < 5:
                    logs.warnings.append(
                        f"{path}:{row_number}: {name} {row[column][:20]!r} is not a counter; row not read"
                    )
            elif name == "step":
                step = counter
            else:
                epoch = counter
        if bad:
            logs.lines_skipped += 1
            continue
        read_any = False
        for index, name in series.items():
            if index >= len(row) or not row[index].strip():
                continue
            value = numbers.value(row[index])
            if value is None:
                continue
            if name == "loss/current" and step is None and epoch is not None:
                name = "loss/epoch"  # a train loss per epoch row
            logs.add(name, Point(value, step=step, epoch=epoch, source=f"{path}:{row_number}"))
            read_any = True
        if not read_any:
            logs.lines_skipped += 1
    if logs.lines_read:
        logs.last_step = max((p.step for pts in logs.series.values() for p in pts if p.step is not None), default=None)
    return logs

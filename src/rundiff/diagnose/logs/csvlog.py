"""CSV training logs: one row per logged step or epoch, one column per metric."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from rundiff.diagnose.logs.model import Point, RunLogs
from rundiff.diagnose.logs.text import MAX_TEXT_BYTES

STEP_COLUMNS = ("step", "global_step", "iteration", "iter")
EPOCH_COLUMNS = ("epoch",)
#: Column names (lower case, separators normalised to "_") -> series.
COLUMN_SERIES = {
    "loss": "loss/current", "train_loss": "loss/current", "loss_current": "loss/current",
    "training_loss": "loss/current",
    "avr_loss": "loss/average", "avg_loss": "loss/average", "loss_average": "loss/average",
    "epoch_loss": "loss/epoch", "loss_epoch": "loss/epoch", "loss_epoch_average": "loss/epoch",
    "train_epoch_loss": "loss/epoch",
    "val_loss": "loss/validation", "validation_loss": "loss/validation", "eval_loss": "loss/validation",
    "loss_validation": "loss/validation", "loss_validation_epoch_average": "loss/validation",
    "lr": "lr", "learning_rate": "lr",
    "fid": "metric/fid", "ssim": "metric/ssim", "lpips": "metric/lpips",
}
_TB_EXPORT_TAG = re.compile(r"tag-(.+)$")


def _key(column: str) -> str:
    return re.sub(r"[^0-9a-z*]+", "_", column.strip().lower()).strip("_")


def column_series(column: str) -> str | None:
    """The series a CSV column feeds, None for columns rundiff does not read."""
    key = _key(column)
    if key.startswith(("lr_applied", "lr_logged")):  # rundiff ablate's own copies (lr/* is the applied LR)
        return None
    if key in COLUMN_SERIES:
        return COLUMN_SERIES[key]
    for prefix in ("lr_", "learning_rate_"):
        if key.startswith(prefix) and len(key) > len(prefix):
            return "lr/" + key[len(prefix):]
    return None


def has_log_columns(header: list[str]) -> bool:
    return any(column_series(c) is not None and ("loss" in _key(c) or column_series(c).startswith("lr"))
               for c in header)


def read_csv_log(path: Path) -> RunLogs:
    """Series of a CSV log; cells that are not numbers are counted as skipped."""
    logs = RunLogs(files=[str(path)])
    text = path.read_bytes()[:MAX_TEXT_BYTES].decode("utf-8", errors="replace")
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
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
    for row_number, row in enumerate(reader, start=2):
        logs.lines_read += 1
        try:
            step = int(float(row[step_col])) if step_col is not None and row[step_col].strip() else None
            epoch = int(float(row[epoch_col])) if epoch_col is not None and row[epoch_col].strip() else None
        except (ValueError, IndexError):
            logs.lines_skipped += 1
            continue
        read_any = False
        for index, name in series.items():
            if index >= len(row) or not row[index].strip():
                continue
            try:
                value = float(row[index])
            except ValueError:
                continue
            if name == "loss/current" and step is None and epoch is not None:
                name = "loss/epoch"  # a train loss per epoch row
            logs.add(name, Point(value, step=step, epoch=epoch, source=f"{path}:{row_number}"))
            read_any = True
        if not read_any:
            logs.lines_skipped += 1
    return logs

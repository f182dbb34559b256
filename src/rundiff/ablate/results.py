"""Read a sweep back from its folders: each variant's status and metrics."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rundiff.ablate.backend import METRICS_CSV, VALIDATION_CSV, VARIANT_JSON


@dataclass
class VariantRecord:
    """variant.json: what was trained, and how it ended."""

    name: str
    overrides: dict[str, Any]
    seed: int
    factor: str | None
    backend: str
    config_hash: str
    status: str = "pending"  # pending | done | failed | interrupted
    returncode: int | None = None
    wall_time_s: float | None = None
    stderr_tail: str = ""
    warnings: list[str] = field(default_factory=list)
    is_base_value: bool = False
    executor: str = ""  # the engine that ran it: local | ray | slurm
    where: str = ""  # host (and GPU) it ran on, when the engine says

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VariantRecord:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def write_record(folder: Path, record: VariantRecord) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{VARIANT_JSON}.tmp"
    tmp.write_text(json.dumps(record.to_json(), indent=2, default=str) + "\n", encoding="utf-8")
    tmp.replace(folder / VARIANT_JSON)


def read_record(folder: Path) -> VariantRecord | None:
    try:
        return VariantRecord.from_json(json.loads((folder / VARIANT_JSON).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


@dataclass
class Metrics:
    """Columns of metrics.csv and validation.csv as float lists (NaN where a cell is empty)."""

    steps: dict[str, list[float]] = field(default_factory=dict)
    validation: dict[str, list[float]] = field(default_factory=dict)

    def series(self, column: str) -> tuple[list[float], list[float]]:
        table = self.validation if column.startswith("val_") else self.steps
        return table.get("step", []), table.get(column, [])

    def lr_columns(self) -> list[str]:
        return [c for c in self.steps if c.startswith("lr/")]


def _read_csv(path: Path) -> dict[str, list[float]]:
    columns: dict[str, list[float]] = {}
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                for key, value in row.items():
                    if key is None:
                        continue
                    columns.setdefault(key, []).append(_number(value))
    except OSError:
        return {}
    return columns


def _number(text: str | None) -> float:
    try:
        return float(text) if text not in (None, "") else math.nan
    except ValueError:
        return math.nan


def read_metrics(folder: Path) -> Metrics:
    return Metrics(_read_csv(folder / METRICS_CSV), _read_csv(folder / VALIDATION_CSV))


def write_metrics(folder: Path, rows: list[dict[str, Any]], columns: list[str], name: str = METRICS_CSV) -> None:
    """A metrics table in the common format (the kohya backend converts its TensorBoard logs with it)."""
    with (folder / name).open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if row.get(c) is None else row.get(c) for c in columns])

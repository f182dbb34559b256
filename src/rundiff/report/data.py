"""The machine-readable reports: the JSON contract and CSV.

JSON contract (other tools read it; keep it stable, extend only):
    {"runs": [{"name", "path", "outcome", "trainer", "trainer_evidence", "sources", "warnings",
               "skipped": [{"path", "reason"}]}], "baseline": name,
     "parameters": [{"name", "category", "impact", "status", "replicate",
                     "values": {run: {"value", "provenance", "source", "note", "confirmed_by", "change",
                                      "inactive"}}}],
     "counts": {"differs", "partial", "unknown", "inactive", "same", "replicates_differ"},
     "conflicts": [...], "suspects": [{"name", "score", "reason"}], "findings"?: [...], "left_out"?: [...],
     "metric"?: {"name", "runs": {run: {"value", "source"}}, "effects": [...]}}
status: same | differs | partial | unknown | inactive; change: same | changed | added | removed |
unknown | inactive; inactive: why the value has no effect in that run, or null.
"""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any

from rundiff import __version__
from rundiff.comparison.table import Comparison
from rundiff.report.safe import csv_cell
from rundiff.report.values import format_value


def json_value(value: Any) -> Any:
    """Numbers, booleans, strings, lists or null; anything else becomes its report text."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else format_value(value)
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    return format_value(value)


def comparison_json(comparison: Comparison, diagnosis: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    registry = comparison.registry
    assert registry is not None
    data: dict[str, Any] = {
        "rundiff_version": __version__,
        "runs": [
            {
                "name": run.name,
                "path": run.path,
                "outcome": run.outcome,
                "trainer": run.trainer,
                "trainer_evidence": list(run.trainer_evidence),
                "sources": [{"path": s.path, "format": s.format} for s in run.sources],
                "warnings": list(run.warnings),
                "skipped": [{"path": k.path, "reason": k.reason} for k in run.skipped],
            }
            for run in comparison.runs
        ],
        "baseline": comparison.baseline,
        "parameters": [
            {
                "name": row.name,
                "category": registry.categories.get(row.category, row.category),
                "impact": row.impact,
                "status": row.status,
                "replicate": row.replicate,
                "values": {
                    run: {
                        "value": json_value(entry.cell.value),
                        "provenance": entry.cell.provenance.value,
                        "source": entry.cell.source,
                        "note": entry.cell.note,
                        "confirmed_by": list(entry.cell.confirmed_by),
                        "change": entry.change,
                        "inactive": entry.inactive,
                    }
                    for run, entry in row.entries.items()
                },
            }
            for row in comparison.rows
        ],
        "conflicts": [
            {
                "run": c.run,
                "name": c.name,
                "chosen": json_value(c.chosen),
                "values": [{"value": json_value(v), "provenance": p, "source": s} for v, p, s in c.values],
            }
            for c in comparison.conflicts
        ],
        "suspects": [{"name": s.name, "score": s.score, "reason": s.reason} for s in comparison.suspects],
        "counts": _counts(comparison),
    }
    if diagnosis is not None:
        data["findings"] = diagnosis
    if comparison.left_out:
        data["left_out"] = list(comparison.left_out)
    return data


def _counts(comparison: Comparison) -> dict[str, int]:
    """Rows per status (per-run identifiers apart): "differs" counts only known values that disagree."""
    counts = {status: 0 for status in ("differs", "partial", "unknown", "inactive", "same")}
    for row in comparison.rows:
        if not row.replicate:
            counts[row.status] = counts.get(row.status, 0) + 1
    counts["replicates_differ"] = sum(1 for r in comparison.rows if r.replicate and r.status == "differs")
    return counts


#: Up to this many runs the JSON is indented for people; past it, compact (the C encoder, 10x faster).
INDENT_UP_TO_RUNS = 6


def render_json(
    comparison: Comparison, diagnosis: list[dict[str, Any]] | None = None, *, metric: dict[str, Any] | None = None
) -> str:
    data = comparison_json(comparison, diagnosis)
    if metric is not None:
        data["metric"] = {
            "name": metric["name"],
            "runs": metric["runs"],
            "effects": [
                {k: v for k, v in e.items() if not k.endswith("_value")}
                | {"effect": e["effect_value"], "ratio": e["ratio_value"]}
                for e in metric["effects"]
            ],
        }
    if len(comparison.runs) <= INDENT_UP_TO_RUNS:
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n"


def render_csv(comparison: Comparison) -> str:
    """One row per parameter: its category, impact, status, then each run's value and provenance."""
    registry = comparison.registry
    assert registry is not None
    names = comparison.run_names()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [
            csv_cell(h)
            for h in ["parameter", "category", "impact", "status", *names, *[f"{n} provenance" for n in names]]
        ]
    )
    for row in comparison.rows:
        values = [format_value(row.entries[n].cell.value) if row.entries[n].cell.known else "" for n in names]
        provenances = [row.entries[n].cell.provenance.value for n in names]
        writer.writerow(
            [
                csv_cell(v)
                for v in [
                    row.name,
                    registry.categories.get(row.category, row.category),
                    row.impact,
                    row.status,
                    *values,
                    *provenances,
                ]
            ]
        )
    return out.getvalue()

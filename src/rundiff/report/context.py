"""Build the plain dict every comparison report is rendered from (templates do the rest)."""

from __future__ import annotations

from typing import Any

from rundiff import __version__
from rundiff.comparison.table import Comparison, Row
from rundiff.model import SET_PROVENANCES
from rundiff.normalise.values import values_equal
from rundiff.report.values import PROVENANCE_MARKS, cell_text, format_value

#: Past this many runs, tables turn to one row per run and one column per differing parameter.
WIDE_AFTER = 6
_IMPACT_ORDER = {"high": 0, "medium": 1, "low": 2}


def _cell_context(row: Row, run: str) -> dict[str, Any]:
    entry = row.entries[run]
    cell = entry.cell
    return {
        "run": run,
        "text": cell_text(cell),
        "provenance": cell.provenance.value,
        "mark": PROVENANCE_MARKS[cell.provenance],
        "source": cell.source or "",
        "note": cell.note or "",
        "confirmed_by": list(cell.confirmed_by),
        "change": entry.change,
    }


def _row_context(row: Row, runs: list[str]) -> dict[str, Any]:
    return {
        "name": row.name,
        "impact": row.impact,
        "status": row.status,
        "rationale": row.rationale,
        "known_parameter": row.known_parameter,
        "cells": [_cell_context(row, run) for run in runs],
    }


def comparison_context(comparison: Comparison, *, show_all: bool = False) -> dict[str, Any]:
    diagnosis = comparison.diagnosis
    registry = comparison.registry
    assert registry is not None
    runs = comparison.run_names()
    baseline = comparison.baseline
    categories = []
    summary = []
    for key, title in registry.categories.items():
        rows = [r for r in comparison.rows if r.category == key]
        if not rows:
            continue
        shown = rows if show_all else [r for r in rows if _worth_showing(r)]
        changed = [r for r in rows if _worth_showing(r)]
        impact = min((r.impact for r in changed), key=lambda i: _IMPACT_ORDER.get(i, 9), default=None)
        categories.append({
            "key": key,
            "title": title,
            "rows": [_row_context(r, runs) for r in shown],
            "hidden_same": len(rows) - len(shown),  # same everywhere, or nobody set them
        })
        if changed:
            summary.append({"title": title, "count": len(changed), "impact": impact,
                            "high": sum(r.impact == "high" for r in changed)})
    changes_by_run = []
    for run in runs:
        if run == baseline:
            continue
        items = []
        for row in comparison.rows:
            entry = row.entries[run]
            if entry.change in ("changed", "added", "removed"):
                same_value = row.entries[baseline].cell.known and entry.change != "changed" and \
                    values_equal(row.entries[baseline].cell.value, entry.cell.value)
                items.append({
                    "same_value": same_value,
                    "name": row.name,
                    "category": registry.categories.get(row.category, row.category),
                    "impact": row.impact,
                    "change": entry.change,
                    "before": cell_text(row.entries[baseline].cell),
                    "after": cell_text(entry.cell),
                })
        unknown = sum(1 for row in comparison.rows if row.entries[run].change == "unknown")
        changes_by_run.append({"run": run, "changes": items, "unknown": unknown})
    same = [{"name": r.name, "text": cell_text(r.entries[baseline].cell),
             "category": registry.categories.get(r.category, r.category)}
            for r in comparison.rows if r.status == "same" and r.entries[baseline].cell.provenance.value != "default"]
    differing = [r for r in comparison.rows if r.status != "same"]
    wide = {
        "columns": [{"name": r.name, "impact": r.impact} for r in differing],
        "rows": [{"run": run, "outcome": _outcome(comparison, run),
                  "cells": [_cell_context(r, run) for r in differing]} for run in runs],
    }
    return {
        "title": "Training runs compared",
        "version": __version__,
        "baseline": baseline,
        "show_all": show_all,
        "wide_layout": len(runs) > WIDE_AFTER,
        "runs": [{
            "name": r.name,
            "path": r.path,
            "outcome": r.outcome or "",
            "trainer": r.trainer or "unknown",
            "sources": [{"path": s.path, "format": s.format} for s in r.sources],
            "warnings": list(r.warnings),
            "trainer_evidence": list(r.trainer_evidence),
            "skipped": [{"path": k.path, "reason": k.reason} for k in r.skipped],
        } for r in comparison.runs],
        "summary": summary,
        "total_changes": sum(s["count"] for s in summary),
        "categories": categories,
        "wide": wide,
        "changes_by_run": changes_by_run,
        "same": same,
        "suspects": [{"name": s.name, "score": s.score, "reason": s.reason, "impact": s.impact,
                      "category": registry.categories.get(s.category, s.category)} for s in comparison.suspects],
        "conflicts": [{"run": c.run, "name": c.name,
                       "claims": [{"text": format_value(v), "provenance": p, "source": src} for v, p, src in c.values]}
                      for c in comparison.conflicts],
        "diagnosis": diagnosis or [],
        "left_out": list(comparison.left_out),
        "has_outcomes": any(r.outcome for r in comparison.runs),
    }


def _worth_showing(row: Row) -> bool:
    """Default view: rows that differ, and partial rows someone actually set.

    A partial row whose known cells are all the trainer's default (one run's trainer is unknown)
    says nothing; it is counted with the hidden rows, and --all shows it.
    """
    if row.status == "differs":
        return True
    if row.status == "partial":
        return any(e.cell.provenance in SET_PROVENANCES for e in row.entries.values())
    return False


def _outcome(comparison: Comparison, run: str) -> str:
    return next((r.outcome or "" for r in comparison.runs if r.name == run), "")

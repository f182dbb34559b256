"""Build the plain dict every comparison report is rendered from (templates do the rest).

The order of every report follows the seed report (shared/seeds/004): the answer first — a
summary block with the top suspects and their values in each run, the high-impact changes, how
much of each run is known and the diagnosis headline — then the category tables, then what
stayed the same.
"""

from __future__ import annotations

from typing import Any

from rundiff import __version__
from rundiff.comparison.table import Comparison, Row
from rundiff.model import SET_PROVENANCES
from rundiff.report.values import PROVENANCE_MARKS, cell_text, format_value

#: Past this many runs, tables turn to one row per run and one column per differing parameter.
WIDE_AFTER = 6
#: How many suspects and high-impact changes the summary names (the rest are in the tables).
SUMMARY_SUSPECTS = 5
SUMMARY_CHANGES = 8
#: Longest value text in the summary (a long path or prompt is cut; the tables show it whole).
SUMMARY_VALUE_CHARS = 40
#: Row states in display order, with the words reports use for them.
STATES = {
    "differs": "differ in known values",
    "partial": "partly known (same where known)",
    "unknown": "known in one run only",
    "inactive": "without effect in some runs",
    "same": "the same",
}
_IMPACT_ORDER = {"high": 0, "medium": 1, "low": 2}
_SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


def _short(text: str, limit: int = SUMMARY_VALUE_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
        "inactive": entry.inactive or "",
    }


def _row_context(row: Row, runs: list[str]) -> dict[str, Any]:
    return {
        "name": row.name,
        "impact": row.impact,
        "status": row.status,
        "rationale": row.rationale,
        "known_parameter": row.known_parameter,
        "replicate": row.replicate,
        "cells": [_cell_context(row, run) for run in runs],
    }


def _worth_showing(row: Row) -> bool:
    """Default view: rows that differ, rows without effect somewhere, and partial rows someone set.

    A partial row whose known cells are all the trainer's default (one run's trainer is unknown)
    says nothing; it is counted with the hidden rows, and --all shows it.
    """
    if row.status in ("differs", "inactive"):
        return True
    if row.status == "partial":
        return any(e.cell.provenance in SET_PROVENANCES for e in row.entries.values())
    return False


def _counts(rows: list[Row]) -> dict[str, int]:
    counts = {state: 0 for state in STATES}
    for row in rows:
        if not row.replicate:
            counts[row.status] = counts.get(row.status, 0) + 1
    counts["replicates"] = sum(1 for r in rows if r.replicate and r.status == "differs")
    return counts


def _values(row: Row, comparison: Comparison) -> list[dict[str, Any]]:
    return [
        {
            **_cell_context(row, run.name),
            "outcome": run.outcome or "",
            "text": _short(cell_text(row.entries[run.name].cell)),
        }
        for run in comparison.runs
    ]


#: Distinct values listed for one parameter in a sweep's summary; the rest are counted.
SUMMARY_GROUPS = 6


def _groups(values: list[dict[str, Any]]) -> dict[str, Any]:
    """Distinct values with how many runs (good / bad) hold each: the summary of a sweep's column."""
    groups: dict[str, dict[str, Any]] = {}
    for v in values:
        g = groups.setdefault(v["text"], {"text": v["text"], "runs": 0, "good": 0, "bad": 0})
        g["runs"] += 1
        if v["outcome"] in ("good", "bad"):
            g[v["outcome"]] += 1
    ordered = sorted(groups.values(), key=lambda g: -g["runs"])
    return {"shown": ordered[:SUMMARY_GROUPS], "more": max(0, len(ordered) - SUMMARY_GROUPS)}


def _knowledge(comparison: Comparison) -> list[dict[str, Any]]:
    """How much of each run is known: of the parameters any run mentions, how many this run knows,
    and how many it states itself (not a trainer default)."""
    total = sum(1 for r in comparison.rows if not r.replicate)
    out = []
    for run in comparison.runs:
        known = sum(1 for r in comparison.rows if not r.replicate and r.entries[run.name].cell.known)
        stated = sum(
            1 for r in comparison.rows if not r.replicate and r.entries[run.name].cell.provenance in SET_PROVENANCES
        )
        out.append(
            {
                "run": run.name,
                "outcome": run.outcome or "",
                "known": known,
                "stated": stated,
                "total": total,
                "percent": round(100 * known / total) if total else 0,
                "trainer": run.trainer or "unknown",
                "sources": len(run.sources),
            }
        )
    return out


def _knowledge_range(knowledge: list[dict[str, Any]]) -> dict[str, Any] | None:
    """For a sweep: the least and best known runs and the median, instead of one line per run."""
    if not knowledge:
        return None
    ranked = sorted(knowledge, key=lambda k: k["percent"])
    return {"least": ranked[0], "most": ranked[-1], "median": ranked[len(ranked) // 2]["percent"], "runs": len(ranked)}


def _diagnosis_headline(findings: list[dict[str, Any]] | None) -> dict[str, Any] | None:
    if findings is None:
        return None
    counts = {s: sum(1 for f in findings if f["severity"] == s) for s in ("error", "warning", "info")}
    ranked = sorted(findings, key=lambda f: _SEVERITY_ORDER.get(f["severity"], 9))
    return {"counts": counts, "top": ranked[:3], "total": len(findings)}


def summary_context(comparison: Comparison, registry: Any) -> dict[str, Any]:
    """The answer first: counts, suspects with their values per run, high-impact changes, knowledge."""
    by_name = {r.name: r for r in comparison.rows}
    suspects = []
    for s in comparison.suspects[:SUMMARY_SUSPECTS]:
        row = by_name.get(s.name)
        values = _values(row, comparison) if row is not None else []
        suspects.append(
            {
                "name": s.name,
                "impact": s.impact,
                "score": s.score,
                "category": registry.categories.get(s.category, s.category),
                "cells": values,
                "groups": _groups(values),
            }
        )
    suspect_names = {s.name for s in comparison.suspects[:SUMMARY_SUSPECTS]}
    high = [
        r
        for r in comparison.rows
        if r.status == "differs" and r.impact == "high" and not r.replicate and r.name not in suspect_names
    ]
    return {
        "counts": _counts(comparison.rows),
        "states": STATES,
        "suspects": suspects,
        "more_suspects": max(0, len(comparison.suspects) - SUMMARY_SUSPECTS),
        "high_impact": [
            {
                "name": r.name,
                "category": registry.categories.get(r.category, r.category),
                "cells": (values := _values(r, comparison)),
                "groups": _groups(values),
            }
            for r in high[:SUMMARY_CHANGES]
        ],
        "more_high_impact": max(0, len(high) - SUMMARY_CHANGES),
        "knowledge": (knowledge := _knowledge(comparison)),
        "knowledge_range": _knowledge_range(knowledge),
        "diagnosis": _diagnosis_headline(comparison.diagnosis),
        "has_outcomes": any(r.outcome for r in comparison.runs),
    }


def comparison_context(comparison: Comparison, *, show_all: bool = False) -> dict[str, Any]:
    registry = comparison.registry
    assert registry is not None
    runs = comparison.run_names()
    baseline = comparison.baseline
    categories = []
    for key, title in registry.categories.items():
        rows = [r for r in comparison.rows if r.category == key]
        if not rows:
            continue
        shown = rows if show_all else [r for r in rows if _worth_showing(r)]
        differing = [r for r in rows if r.status == "differs" and not r.replicate]
        impact = min((r.impact for r in differing), key=lambda i: _IMPACT_ORDER.get(i, 9), default=None)
        categories.append(
            {
                "key": key,
                "title": title,
                "rows": [_row_context(r, runs) for r in shown],
                "hidden_same": len(rows) - len(shown),  # same everywhere, or nobody set them
                "counts": _counts(rows),
                "impact": impact,
            }
        )
    changes_by_run = []
    for run in runs:
        if run == baseline:
            continue
        items = []
        for row in comparison.rows:
            entry = row.entries[run]
            if entry.change in ("changed", "added", "removed") and row.status == "differs":
                items.append(
                    {
                        "name": row.name,
                        "category": registry.categories.get(row.category, row.category),
                        "impact": row.impact,
                        "change": entry.change,
                        "replicate": row.replicate,
                        "before": cell_text(row.entries[baseline].cell),
                        "after": cell_text(entry.cell),
                    }
                )
        unknown = sum(1 for row in comparison.rows if row.entries[run].change == "unknown")
        inactive = sum(1 for row in comparison.rows if row.entries[run].change == "inactive")
        changes_by_run.append({"run": run, "changes": items, "unknown": unknown, "inactive": inactive})
    same = [
        {
            "name": r.name,
            "text": cell_text(r.entries[baseline].cell),
            "category": registry.categories.get(r.category, r.category),
        }
        for r in comparison.rows
        if r.status == "same" and r.entries[baseline].cell.provenance in SET_PROVENANCES
    ]
    wide_rows = [r for r in comparison.rows if r.status in ("differs", "inactive")]
    wide_rows.sort(key=lambda r: (r.replicate, r.status != "differs", _IMPACT_ORDER.get(r.impact, 9)))
    wide = {
        "columns": [
            {
                "name": r.name,
                "impact": r.impact,
                "status": r.status,
                "replicate": r.replicate,
                "category": registry.categories.get(r.category, r.category),
            }
            for r in wide_rows
        ],
        "rows": [
            {"run": run.name, "outcome": run.outcome or "", "cells": [_cell_context(r, run.name) for r in wide_rows]}
            for run in comparison.runs
        ],
    }
    summary = summary_context(comparison, registry)
    return {
        "title": "Training runs compared",
        "version": __version__,
        "baseline": baseline,
        "show_all": show_all,
        "wide_layout": len(runs) > WIDE_AFTER,
        "runs": [
            {
                "name": r.name,
                "path": r.path,
                "outcome": r.outcome or "",
                "trainer": r.trainer or "unknown",
                "sources": [{"path": s.path, "format": s.format} for s in r.sources],
                "warnings": list(r.warnings),
                "trainer_evidence": list(getattr(r, "trainer_evidence", [])),
                "skipped": [{"path": k.path, "reason": k.reason} for k in getattr(r, "skipped", [])],
            }
            for r in comparison.runs
        ],
        "overview": summary,
        "counts": summary["counts"],
        "total_changes": summary["counts"]["differs"],
        "categories": categories,
        "wide": wide,
        "changes_by_run": changes_by_run,
        "same": same,
        "suspects": [
            {
                "name": s.name,
                "score": s.score,
                "reason": s.reason,
                "impact": s.impact,
                "category": registry.categories.get(s.category, s.category),
            }
            for s in comparison.suspects
        ],
        "conflicts": [
            {
                "run": c.run,
                "name": c.name,
                "claims": [{"text": format_value(v), "provenance": p, "source": src} for v, p, src in c.values],
            }
            for c in comparison.conflicts
        ],
        "diagnosis": comparison.diagnosis or [],
        "left_out": list(comparison.left_out),
        "has_outcomes": summary["has_outcomes"],
        # curves, sample images and a metric's effects: filled by report.extras when asked for
        "extras": {"metric": None, "curves": [], "curves_note": "", "samples": []},
    }

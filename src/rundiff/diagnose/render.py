"""Diagnosis -> text, JSON, Markdown or HTML. The templates are the reports; this builds their context."""

from __future__ import annotations

import base64
import json
from typing import Any

from rundiff.diagnose.findings import Diagnosis, Severity
from rundiff.diagnose.rules import RULES_BY_ID

FORMATS = ("text", "json", "md", "html")
_TEMPLATES = {"text": "diagnose.txt.j2", "md": "diagnose.md.j2", "html": "diagnose.html.j2"}


def report_context(diagnosis: Diagnosis, plots: dict[str, dict[str, bytes]] | None = None) -> dict[str, Any]:
    """The plain dict every diagnose template is rendered from."""
    counts = {str(s): sum(f.severity is s for f in diagnosis.findings) for s in Severity}
    runs = []
    for run in diagnosis.runs:
        images = (plots or {}).get(run.run, {})
        runs.append(
            {
                "name": run.run,
                "path": run.path,
                "summary": dict(run.summary),
                "notes": list(run.notes),
                "findings": [f.to_json() for f in run.findings],
                "not_checked": [n.to_json() for n in run.not_checked],
                "warnings": list(run.warnings),
                "plots": {kind: base64.b64encode(png).decode("ascii") for kind, png in images.items()},
                "skipped": _skipped(run),
            }
        )
    used = sorted({f.rule for f in diagnosis.findings})
    return {
        "runs": runs,
        "counts": counts,
        "has_errors": diagnosis.has_errors,
        "unreadable": [u.to_json() for u in diagnosis.unreadable],
        "rules": {rule_id: {"summary": RULES_BY_ID[rule_id].summary} for rule_id in used},
    }


def _skipped(run: Any) -> list[dict[str, str]]:
    """The run's files that were not read, and why (Run.skipped): every output lists them."""
    source = getattr(getattr(run, "context", None), "run", None)
    return [{"path": k.path, "reason": k.reason} for k in getattr(source, "skipped", [])]


def render(diagnosis: Diagnosis, fmt: str, plots: dict[str, dict[str, bytes]] | None = None) -> str:
    """The report in one of FORMATS."""
    if fmt == "json":
        data = diagnosis.to_json()
        for entry, run in zip(data.get("runs", []), diagnosis.runs, strict=False):
            entry.setdefault("skipped", _skipped(run))
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    from rundiff.report.templates import render as render_template

    return render_template(_TEMPLATES[fmt], report_context(diagnosis, plots))

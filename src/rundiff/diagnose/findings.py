"""What a diagnosis hands to reports: findings (lint-like) and per-run facts behind them."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rundiff.diagnose.context import RunContext


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


SEVERITY_ORDER = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


def _json_number(value: Any) -> Any:
    """JSON has no inf/nan: write them as strings so the output stays valid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


@dataclass(frozen=True)
class Finding:
    """One problem found in one run, with the numbers that prove it and what to do about it."""

    rule: str
    severity: Severity
    run: str
    message: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    fix: str = ""
    #: The values the finding rests on: name, value, provenance, source (file:line), note.
    based_on: tuple[Mapping[str, Any], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": str(self.severity),
            "run": self.run,
            "message": self.message,
            "evidence": {k: _json_number(v) for k, v in self.evidence.items()},
            "fix": self.fix,
            "based_on": [{k: _json_value(v) for k, v in row.items()} for row in self.based_on],
        }


def _json_value(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, str | int | bool | type(None)):
        return value
    if isinstance(value, float):
        return _json_number(value)
    return str(value)


@dataclass(frozen=True)
class NotCheckedRule:
    """A rule that could not judge a run, and the fact it needs."""

    rule: str
    needs: str

    def to_json(self) -> dict[str, str]:
        return {"rule": self.rule, "needs": self.needs}


@dataclass(frozen=True)
class RunDiagnosis:
    """The findings of one run, and the simulated numbers reports show next to them."""

    run: str
    path: str
    findings: tuple[Finding, ...]
    summary: Mapping[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    not_checked: tuple[NotCheckedRule, ...] = ()
    #: File-level warnings of the run: files that failed to parse, were skipped, or could not be read.
    warnings: tuple[str, ...] = ()
    #: Plan, schedule and logs behind the findings (for plots); not part of the JSON.
    context: RunContext | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class UnreadableRun:
    """A run given on the command line that could not be read at all (the others still are)."""

    path: str
    error: str

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "error": self.error}


@dataclass(frozen=True)
class Diagnosis:
    runs: tuple[RunDiagnosis, ...]
    unreadable: tuple[UnreadableRun, ...] = ()

    @property
    def findings(self) -> list[Finding]:
        return [f for r in self.runs for f in r.findings]

    @property
    def has_errors(self) -> bool:
        """An error-severity finding, or a run that could not be read."""
        return bool(self.unreadable) or any(f.severity is Severity.ERROR for f in self.findings)

    def to_json(self) -> dict[str, Any]:
        """``{"findings": [...]}`` (the contract), each run's numbers, not_checked and warnings under ``runs``,
        and the runs that could not be read under ``unreadable``."""
        return {
            "findings": [f.to_json() for f in self.findings],
            "runs": [
                {
                    "run": r.run,
                    "path": r.path,
                    "summary": {k: _json_number(v) for k, v in r.summary.items()},
                    "notes": list(r.notes),
                    "not_checked": [n.to_json() for n in r.not_checked],
                    "warnings": list(r.warnings),
                }
                for r in self.runs
            ],
            "unreadable": [u.to_json() for u in self.unreadable],
        }

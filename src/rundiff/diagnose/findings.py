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

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "severity": str(self.severity), "run": self.run, "message": self.message,
                "evidence": {k: _json_number(v) for k, v in self.evidence.items()}, "fix": self.fix}


@dataclass(frozen=True)
class RunDiagnosis:
    """The findings of one run, and the simulated numbers reports show next to them."""

    run: str
    path: str
    findings: tuple[Finding, ...]
    summary: Mapping[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    #: Plan, schedule and logs behind the findings (for plots); not part of the JSON.
    context: RunContext | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Diagnosis:
    runs: tuple[RunDiagnosis, ...]

    @property
    def findings(self) -> list[Finding]:
        return [f for r in self.runs for f in r.findings]

    @property
    def has_errors(self) -> bool:
        return any(f.severity is Severity.ERROR for f in self.findings)

    def to_json(self) -> dict[str, Any]:
        """``{"findings": [...]}`` (the contract), plus each run's simulated numbers under ``runs``."""
        return {
            "findings": [f.to_json() for f in self.findings],
            "runs": [{"run": r.run, "path": r.path, "summary": {k: _json_number(v) for k, v in r.summary.items()},
                      "notes": list(r.notes)} for r in self.runs],
        }

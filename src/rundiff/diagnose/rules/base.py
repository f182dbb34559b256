"""What a rule is: an id, a default severity, a one-line summary, a fix, thresholds, and a check.

The check function's docstring is the rule's documentation (what it flags, why, the thresholds
and where they come from); ``rules_markdown`` turns it into docs/rules.md.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rundiff.diagnose.context import RunContext
from rundiff.diagnose.findings import Finding, Severity


@dataclass(frozen=True)
class Hit:
    """What a check reports; the rule turns it into a Finding."""

    message: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    severity: Severity | None = None  # None: the rule's default
    fix: str | None = None  # None: the rule's fix


Check = Callable[[RunContext], Iterable[Hit]]


@dataclass(frozen=True)
class Rule:
    id: str
    group: str
    severity: Severity
    summary: str
    fix: str
    check: Check
    thresholds: Mapping[str, Any] = field(default_factory=dict)

    @property
    def doc(self) -> str:
        return inspect.getdoc(self.check) or ""

    def findings(self, context: RunContext) -> list[Finding]:
        return [Finding(rule=self.id, severity=hit.severity or self.severity, run=context.name,
                        message=hit.message, evidence=dict(hit.evidence), fix=hit.fix or self.fix)
                for hit in self.check(context)]


def rule(id: str, *, severity: Severity, summary: str, fix: str,
         thresholds: Mapping[str, Any] | None = None) -> Callable[[Check], Rule]:
    """Declare a rule next to its check; the group is the module the check lives in."""

    def wrap(check: Check) -> Rule:
        group = check.__module__.rsplit(".", 1)[-1]
        return Rule(id=id, group=group, severity=severity, summary=summary, fix=fix, check=check,
                    thresholds=dict(thresholds or {}))

    return wrap


def fmt(value: float) -> str:
    """A number the way a person writes it in a config (1e-06, 0.0001, 500)."""
    return f"{value:.3g}"


def pct(value: float) -> str:
    return f"{100 * value:.1f} %"

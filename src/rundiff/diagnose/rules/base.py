"""What a rule is: an id, a default severity, a one-line summary, a fix, thresholds, and a check.

The check function's docstring is the rule's documentation (what it flags, why, the thresholds
and where they come from); ``rules_markdown`` turns it into docs/rules.md. A check sees the run
through a ``RuleView``: it reads thresholds there (defaults, overridden by the project's config
file), and every value it reads is recorded, so each finding can name the values it rests on with
their provenance and file:line. A check that cannot judge raises ``NotChecked`` with what it needs.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rundiff.diagnose.context import RunContext
from rundiff.diagnose.findings import Finding, NotCheckedRule, Severity
from rundiff.model import Provenance


class NotChecked(Exception):  # noqa: N818 - it is a result, not an error
    """Raised by a check that lacks a fact; ``needs`` says which, and how a user can give it."""

    def __init__(self, needs: str) -> None:
        super().__init__(needs)
        self.needs = needs


@dataclass(frozen=True)
class Hit:
    """What a check reports; the rule turns it into a Finding."""

    message: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    severity: Severity | None = None  # None: the rule's default
    fix: str | None = None  # None: the rule's fix


class RuleView:
    """The run as one rule sees it: values (recorded as read), plan, schedule, logs, thresholds."""

    def __init__(self, context: RunContext, thresholds: Mapping[str, Any]) -> None:
        self._context = context
        self.t = thresholds
        self.reads: dict[str, None] = {}
        self.log_sources: dict[str, None] = {}

    def __getattr__(self, name: str) -> Any:  # run, name, logs, notes: as the context has them
        return getattr(self._context, name)

    def value(self, name: str) -> Any:
        value = self._context.value(name)
        if value is not None:
            self.reads[name] = None
        return value

    @property
    def plan(self):
        self.reads["@plan"] = None
        return self._context.plan

    @property
    def schedule(self):
        self.reads["@plan"] = None
        self.reads["@schedule"] = None
        return self._context.schedule

    @property
    def training_kind(self) -> str | None:
        for name in ("training_type", "network_dim"):
            self.value(name)
        return self._context.training_kind

    @property
    def main_lr(self) -> tuple[str, float] | None:
        main = self._context.main_lr
        if main is not None:
            self.reads[main[0]] = None
        return main

    def cite(self, source: str) -> None:
        """Record a log line (``file:line`` or ``file [tag]``) a finding rests on."""
        if source:
            self.log_sources[source] = None

    def based_on(self) -> list[dict[str, Any]]:
        """The values read, with provenance and source; plan numbers with how they were computed."""
        context = self._context
        names = [n for n in self.reads if not n.startswith("@")]
        if "@plan" in self.reads:
            names += [n for n in context.plan_inputs if n not in names]
        if "@schedule" in self.reads:
            names += [n for n in context.schedule_inputs if n not in names]
        rows = []
        for name in names:
            cell = context.run.get(name)
            value = context.value(name)
            if value is None:
                continue
            rows.append(
                {
                    "name": name,
                    "value": value,
                    "provenance": str(cell.provenance) if cell.known else "inferred",
                    "source": cell.source or context.param_notes.get(f"@source:{name}") or None,
                    "note": cell.note or context.param_notes.get(name),
                }
            )
        if "@plan" in self.reads:
            plan = context.plan
            for name in ("steps_per_epoch", "total_steps", "warmup_steps"):
                value = getattr(plan, name)
                if value is not None and name not in names:
                    rows.append(
                        {
                            "name": name,
                            "value": value,
                            "provenance": "derived",
                            "source": None,
                            "note": plan.note(name) or None,
                        }
                    )
        rows += [
            {"name": "log", "value": None, "provenance": "inferred", "source": s, "note": None}
            for s in self.log_sources
        ]
        return rows

    def defaults_used(self) -> list[str]:
        """Values read that are only a trainer default (and the 1600-step total when it is assumed)."""
        context = self._context
        names = [n for n in self.reads if not n.startswith("@")]
        if "@plan" in self.reads:
            names += list(context.plan_inputs)
            if context.plan.total_is_default:
                names.append("max_train_steps")
        return sorted(
            {
                n
                for n in names
                if context.run.get(n).provenance is Provenance.DEFAULT
                or (n == "max_train_steps" and context.plan.total_is_default)
            }
        )


Check = Callable[[RuleView], Iterable[Hit]]


@dataclass(frozen=True)
class RuleResult:
    findings: list[Finding]
    not_checked: NotCheckedRule | None = None


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

    def merged_thresholds(self, overrides: Mapping[str, Any] | None) -> dict[str, Any]:
        """The rule's thresholds with the config file's overrides (dicts merged one level deep)."""
        merged = dict(self.thresholds)
        for key, value in (overrides or {}).items():
            if isinstance(merged.get(key), Mapping) and isinstance(value, Mapping):
                merged[key] = {**merged[key], **value}
            else:
                merged[key] = value
        return merged

    def run(self, context: RunContext, overrides: Mapping[str, Any] | None = None) -> RuleResult:
        """Findings, or why the rule could not check this run.

        A rule never fires on a value that is only a trainer default while one of the run's files
        failed to parse: that file may well have set it. Such a result becomes ``not_checked``.
        """
        view = RuleView(context, self.merged_thresholds(overrides))
        try:
            hits = list(self.check(view))
        except NotChecked as reason:
            needs = reason.needs
            if context.run.failed_settings:  # its values are unknown, not defaulted: say which file is why
                failed = ", ".join(dict.fromkeys(Path(f).name for f in context.run.failed_settings[:3]))
                needs = f"{needs} ({failed} failed to parse and may set it: fix that file)"
            return RuleResult([], NotCheckedRule(self.id, needs))
        if hits and context.run.failed_settings:
            defaults = view.defaults_used()
            if defaults:
                failed = ", ".join(context.run.failed_settings[:3])
                return RuleResult(
                    [],
                    NotCheckedRule(
                        self.id,
                        f"{', '.join(defaults)} only the trainer's default, and {failed} failed to parse "
                        "(it may set them): fix that file",
                    ),
                )
        based_on = view.based_on()
        return RuleResult(
            [
                Finding(
                    rule=self.id,
                    severity=hit.severity or self.severity,
                    run=context.name,
                    message=hit.message,
                    evidence=dict(hit.evidence),
                    fix=hit.fix or self.fix,
                    based_on=tuple(based_on),
                )
                for hit in hits
            ]
        )

    def findings(self, context: RunContext, overrides: Mapping[str, Any] | None = None) -> list[Finding]:
        return self.run(context, overrides).findings


def rule(
    id: str, *, severity: Severity, summary: str, fix: str, thresholds: Mapping[str, Any] | None = None
) -> Callable[[Check], Rule]:
    """Declare a rule next to its check; the group is the module the check lives in."""

    def wrap(check: Check) -> Rule:
        group = check.__module__.rsplit(".", 1)[-1]
        return Rule(
            id=id,
            group=group,
            severity=severity,
            summary=summary,
            fix=fix,
            check=check,
            thresholds=dict(thresholds or {}),
        )

    return wrap


def fmt(value: float) -> str:
    """A number the way a person writes it in a config (1e-06, 0.0001, 500)."""
    return f"{value:.3g}"


def pct(value: float) -> str:
    return f"{100 * value:.1f} %"

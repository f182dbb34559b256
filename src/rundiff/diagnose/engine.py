"""Running the registered rules over runs: the one entry point for diagnosis."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rundiff.diagnose.context import RunContext, build_context
from rundiff.diagnose.ema import ema_new_fraction
from rundiff.diagnose.findings import SEVERITY_ORDER, Diagnosis, Finding, NotCheckedRule, RunDiagnosis, UnreadableRun
from rundiff.diagnose.rules import RULES, RULES_BY_ID
from rundiff.errors import RundiffError
from rundiff.ingest.logs import RunLogs, read_run_logs
from rundiff.model import Run


def check_rule_ids(ids: Iterable[str], option: str = "--ignore") -> frozenset[str]:
    """The given rule ids, or a RundiffError naming the first unknown one."""
    ids = frozenset(ids)
    unknown = sorted(ids - RULES_BY_ID.keys())
    if unknown:
        raise RundiffError(f"unknown rule {unknown[0]!r} (known: {', '.join(RULES_BY_ID)})", key=option)
    return ids


@dataclass(frozen=True)
class RuleSelection:
    """Which rules run (``--select`` / ``--ignore``) and their threshold overrides (config file)."""

    select: frozenset[str] = frozenset()  # empty: every rule
    ignore: frozenset[str] = frozenset()
    thresholds: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        select: Iterable[str] = (),
        ignore: Iterable[str] = (),
        thresholds: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> RuleSelection:
        thresholds = dict(thresholds or {})
        check_rule_ids(thresholds, "rules")
        for rule_id, values in thresholds.items():
            if not isinstance(values, Mapping):
                raise RundiffError(f"thresholds of {rule_id} must be a table of name = value", key=f"rules.{rule_id}")
            unknown = sorted(set(values) - set(RULES_BY_ID[rule_id].thresholds))
            if unknown:
                known = ", ".join(RULES_BY_ID[rule_id].thresholds) or "none"
                raise RundiffError(
                    f"{rule_id} has no threshold {unknown[0]!r} (its thresholds: {known})", key=f"rules.{rule_id}"
                )
        return cls(check_rule_ids(select, "--select"), check_rule_ids(ignore, "--ignore"), thresholds)

    def active(self, rule_id: str) -> bool:
        return (not self.select or rule_id in self.select) and rule_id not in self.ignore


def _run_logs(run: Run, logs: RunLogs | None) -> RunLogs:
    if logs is not None:
        return logs
    if run.logs is not None:
        return run.logs
    return read_run_logs(run.path, run.log_files) if run.path else RunLogs()


def _apply(context: RunContext, selection: RuleSelection) -> tuple[list[Finding], list[NotCheckedRule]]:
    findings: list[Finding] = []
    not_checked: list[NotCheckedRule] = []
    for r in RULES:
        if not selection.active(r.id):
            continue
        result = r.run(context, selection.thresholds.get(r.id))
        findings += result.findings
        if result.not_checked is not None:
            not_checked.append(result.not_checked)
    order = {r.id: i for i, r in enumerate(RULES)}
    return sorted(findings, key=lambda f: (SEVERITY_ORDER[f.severity], order[f.rule])), not_checked


def _selection(ignore: Iterable[str] | RuleSelection) -> RuleSelection:
    return ignore if isinstance(ignore, RuleSelection) else RuleSelection.of(ignore=ignore)


def diagnose_run(run: Run, logs: RunLogs | None = None, *, ignore: Iterable[str] | RuleSelection = ()) -> list[Finding]:
    """Findings for one run; its logs are those read at ingest (``run.logs``) unless given."""
    context = build_context(run, _run_logs(run, logs))
    return _apply(context, _selection(ignore))[0]


def summarize(context: RunContext) -> dict[str, Any]:
    """The simulated numbers a report shows next to the findings of a run."""
    plan = context.plan
    summary: dict[str, Any] = {
        "steps_per_epoch": plan.steps_per_epoch,
        "num_epochs": plan.num_epochs,
        "total_steps": plan.total_steps,
        "warmup_steps": plan.warmup_steps,
        "warmup_fraction": plan.warmup_fraction,
        "scheduler_interval": plan.interval,
    }
    schedule = context.schedule
    if schedule is not None:
        summary.update(
            lr_scheduler=schedule.scheduler,
            base_lr=schedule.base_lr,
            peak_lr=schedule.peak_lr(),
            zero_lr_updates=schedule.leading_zero_updates(),
        )
    decay = context.value("ema_decay")
    if isinstance(decay, float) and 0 < decay < 1 and plan.total_steps:
        summary["ema_new_weight_fraction_at_end"] = ema_new_fraction(decay, plan.total_steps)
    dim, alpha = context.value("network_dim"), context.value("network_alpha")
    if isinstance(dim, int | float) and isinstance(alpha, int | float) and dim:
        summary["lora_scale"] = float(alpha) / float(dim)
    for name in ("run_finished", "last_logged_step", "effective_lr"):
        if context.value(name) is not None:
            summary[name] = context.value(name)
    summary.update(
        log_files=len(context.logs.files),
        log_lines_read=context.logs.lines_read,
        log_lines_skipped=context.logs.lines_skipped,
    )
    return {k: v for k, v in summary.items() if v is not None}


def diagnose_context(
    context: RunContext, ignore: Iterable[str] | RuleSelection = frozenset(), extra_warnings: Iterable[str] = ()
) -> RunDiagnosis:
    notes = tuple(context.notes) + tuple(
        f"{name}: {context.plan.note(name)}"
        for name in ("steps_per_epoch", "total_steps", "warmup_steps")
        if context.plan.note(name)
    )
    findings, not_checked = _apply(context, _selection(ignore))
    warnings = tuple(dict.fromkeys([*context.run.warnings, *context.logs.warnings, *extra_warnings]))
    return RunDiagnosis(
        run=context.name,
        path=context.run.path,
        findings=tuple(findings),
        summary=summarize(context),
        notes=notes,
        not_checked=tuple(not_checked),
        warnings=warnings,
        context=context,
    )


def diagnose_runs(
    runs: Iterable[Run],
    *,
    ignore: Iterable[str] | RuleSelection = (),
    logs: dict[str, RunLogs] | None = None,
    unreadable: Iterable[UnreadableRun] = (),
    weights: bool = False,
) -> Diagnosis:
    """Diagnose several runs; ``logs`` may give already-read logs by run name.

    ``unreadable`` are runs that could not be loaded: reported beside the others, never instead.
    ``weights`` reads every saved LoRA of each run tensor by tensor (slow on big series).
    """
    selection = _selection(ignore)
    results = []
    for run in runs:
        saved, warnings = None, []
        if weights:
            from rundiff.diagnose.weights import read_weights

            found, warnings = read_weights(run)
            saved = tuple(found)
        context = build_context(run, _run_logs(run, (logs or {}).get(run.name)), saved)
        results.append(diagnose_context(context, selection, warnings))
    return Diagnosis(runs=tuple(results), unreadable=tuple(unreadable))

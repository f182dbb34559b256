"""Running the registered rules over runs: the one entry point for diagnosis."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rundiff.diagnose.context import RunContext, build_context
from rundiff.diagnose.ema import ema_new_fraction
from rundiff.diagnose.findings import SEVERITY_ORDER, Diagnosis, Finding, RunDiagnosis
from rundiff.diagnose.logs import RunLogs, read_run_logs
from rundiff.diagnose.rules import RULES, RULES_BY_ID
from rundiff.errors import RundiffError
from rundiff.model import Run


def check_rule_ids(ids: Iterable[str]) -> frozenset[str]:
    """The given rule ids, or a RundiffError naming the first unknown one."""
    ids = frozenset(ids)
    unknown = sorted(ids - RULES_BY_ID.keys())
    if unknown:
        raise RundiffError(f"unknown rule {unknown[0]!r} (known: {', '.join(RULES_BY_ID)})", key="--ignore")
    return ids


def _run_logs(run: Run, logs: RunLogs | None) -> RunLogs:
    return logs if logs is not None else read_run_logs(run.path, run.log_files)


def _findings(context: RunContext, ignore: frozenset[str]) -> list[Finding]:
    findings = [f for r in RULES if r.id not in ignore for f in r.findings(context)]
    order = {r.id: i for i, r in enumerate(RULES)}
    return sorted(findings, key=lambda f: (SEVERITY_ORDER[f.severity], order[f.rule]))


def diagnose_run(run: Run, logs: RunLogs | None = None, *, ignore: Iterable[str] = ()) -> list[Finding]:
    """Findings for one run; its logs are read from ``run.path`` / ``run.log_files`` unless given."""
    context = build_context(run, _run_logs(run, logs))
    return _findings(context, check_rule_ids(ignore))


def summarize(context: RunContext) -> dict[str, Any]:
    """The simulated numbers a report shows next to the findings of a run."""
    plan = context.plan
    summary: dict[str, Any] = {
        "steps_per_epoch": plan.steps_per_epoch, "num_epochs": plan.num_epochs, "total_steps": plan.total_steps,
        "warmup_steps": plan.warmup_steps, "warmup_fraction": plan.warmup_fraction,
        "scheduler_interval": plan.interval,
    }
    schedule = context.schedule
    if schedule is not None:
        summary.update(lr_scheduler=schedule.scheduler, base_lr=schedule.base_lr, peak_lr=schedule.peak_lr(),
                       zero_lr_updates=schedule.leading_zero_updates())
    decay = context.value("ema_decay")
    if isinstance(decay, float) and 0 < decay < 1 and plan.total_steps:
        summary["ema_new_weight_fraction_at_end"] = ema_new_fraction(decay, plan.total_steps)
    dim, alpha = context.value("network_dim"), context.value("network_alpha")
    if dim and alpha is not None:
        summary["lora_scale"] = float(alpha) / float(dim)
    summary.update(log_files=len(context.logs.files), log_lines_read=context.logs.lines_read,
                   log_lines_skipped=context.logs.lines_skipped)
    return {k: v for k, v in summary.items() if v is not None}


def diagnose_context(context: RunContext, ignore: frozenset[str] = frozenset()) -> RunDiagnosis:
    notes = tuple(context.notes) + tuple(f"{name}: {context.plan.note(name)}" for name in
                                         ("steps_per_epoch", "total_steps", "warmup_steps") if context.plan.note(name))
    return RunDiagnosis(run=context.name, path=context.run.path, findings=tuple(_findings(context, ignore)),
                        summary=summarize(context), notes=notes + tuple(context.logs.warnings), context=context)


def diagnose_runs(runs: Iterable[Run], *, ignore: Iterable[str] = (),
                  logs: dict[str, RunLogs] | None = None) -> Diagnosis:
    """Diagnose several runs; ``logs`` may give already-read logs by run name."""
    ignored = check_rule_ids(ignore)
    contexts = [build_context(run, _run_logs(run, (logs or {}).get(run.name))) for run in runs]
    return Diagnosis(runs=tuple(diagnose_context(c, ignored) for c in contexts))


"""The one registry of diagnose rules; docs/rules.md is generated from it (``rules_markdown``)."""

from __future__ import annotations

from rundiff.diagnose.rules import dataset, ema, learning_rate, logs, schedule, weights
from rundiff.diagnose.rules.base import Hit, Rule, rule

#: Every rule, in the order findings are reported. Ids are a public contract: never rename one.
RULES: tuple[Rule, ...] = (
    schedule.lr_zero_at_start,
    schedule.warmup_too_long,
    schedule.warmup_on_constant_scheduler,
    learning_rate.lr_too_low,
    learning_rate.lr_too_high,
    ema.ema_too_slow,
    dataset.rank_too_high_for_dataset,
    dataset.repeats_too_high,
    logs.params_not_moving,
    logs.loss_flat,
    logs.val_loss_constant,
    logs.loss_not_finite,
    logs.lr_observed_mismatch,
    logs.run_not_finished,
    weights.lora_never_trained,
    weights.weight_norm_stalled,
)
RULES_BY_ID: dict[str, Rule] = {r.id: r for r in RULES}

__all__ = ["RULES", "RULES_BY_ID", "Hit", "Rule", "rule", "rule_json", "rule_text", "rules_markdown"]


def _threshold_text(value: object) -> str:
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_threshold_text(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return "-".join(_threshold_text(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def rules_markdown() -> str:
    """The rule table and each rule's documentation, as docs/rules.md holds it."""
    lines = [
        "# rundiff diagnose rules",
        "",
        "Generated from the rule registry (`rundiff.diagnose.rules.RULES`) by `rules_markdown()`;",
        "a test fails when this file and the registry drift apart. Each finding reports the rule id,",
        "severity, a message, the evidence in numbers and the fix.",
        "",
        "| Rule | Severity | Summary |",
        "| --- | --- | --- |",
    ]
    lines += [f"| `{r.id}` | {r.severity} | {r.summary} |" for r in RULES]
    for r in RULES:
        lines += [
            "",
            f"## `{r.id}`",
            "",
            f"*{r.summary}* Default severity: **{r.severity}** (group `{r.group}`).",
            "",
            r.doc,
            "",
            f"**Fix:** {r.fix}",
        ]
        if r.thresholds:
            lines += ["", "**Thresholds:**", ""]
            lines += [f"- `{k}`: {_threshold_text(v)}" for k, v in r.thresholds.items()]
    return "\n".join(lines) + "\n"


def rule_json(r: Rule, overrides: dict | None = None, config: str | None = None) -> dict:
    """A rule as data: id, group, severity, summary, doc, fix, thresholds (defaults and in effect)."""
    return {
        "id": r.id,
        "group": r.group,
        "severity": str(r.severity),
        "summary": r.summary,
        "doc": r.doc,
        "fix": r.fix,
        "thresholds": dict(r.thresholds),
        "thresholds_in_effect": r.merged_thresholds(overrides),
        "config": config if overrides else None,
    }


def rule_text(r: Rule, overrides: dict | None = None, config: str | None = None) -> str:
    """What `rundiff rule ID` prints."""
    lines = [f"{r.id} ({r.severity}, group {r.group})", "", r.summary, "", r.doc, "", f"Fix: {r.fix}"]
    if r.thresholds:
        lines += ["", "Thresholds:"]
        effective = r.merged_thresholds(overrides)
        for key, default in r.thresholds.items():
            now = effective[key]
            changed = f"  (set in {config}; default {_threshold_text(default)})" if now != default else ""
            lines.append(f"  {key}: {_threshold_text(now)}{changed}")
    else:
        lines += ["", "Thresholds: none"]
    return "\n".join(lines)

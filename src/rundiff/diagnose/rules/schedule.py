"""Rules on the simulated LR schedule: LR stuck at 0, warmups that eat the training."""

from __future__ import annotations

import math
from collections.abc import Iterator

from rundiff.diagnose.findings import Severity
from rundiff.diagnose.observed import leading_zero_lr
from rundiff.diagnose.rules.base import Hit, NotChecked, RuleView, fmt, pct, rule

WARMUP_WARN_FRACTION = 0.20
WARMUP_ERROR_FRACTION = 0.50


@rule(
    "lr-zero-at-start",
    severity=Severity.ERROR,
    summary="The LR stays exactly 0 for a whole epoch or more at the start of training.",
    fix="Step the scheduler once per optimizer step (not per epoch), or start the warmup above 0 "
    "(e.g. sd-scripts/diffusers schedulers, which reach lr/W after the first step).",
    thresholds={"min_zero_epochs": 1},
)
def lr_zero_at_start(ctx: RuleView) -> Iterator[Hit]:
    """Flags an LR of exactly 0 through the whole first epoch (or longer).

    Updates at LR 0 change nothing, and adaptive optimizers (Prodigy, D-Adaptation) skip their
    statistics at LR 0. Sources: a scheduler stepped once per *epoch* whose warmup lambda is
    ``step / warmup`` (0 for every update of epoch 1, field report 003), a learning rate of 0, or
    a log that shows LR 0 for every parameter group through an epoch. A normal warmup stepped per
    update uses LR 0 for the single first update only (transformers' LambdaLR applies the lambda at
    k = 0 before the first ``scheduler.step()``): that is not this finding.
    Threshold: zero LR for at least 1 epoch, from the simulation or from the logs.
    """
    evidence: dict[str, float] = {}
    reasons = []
    schedule = ctx.schedule
    if schedule is not None:
        zero_epochs = schedule.leading_zero_epochs()
        zero_updates = schedule.leading_zero_updates()
        spe = ctx.plan.steps_per_epoch
        whole_epoch = zero_epochs is not None and zero_epochs >= ctx.t["min_zero_epochs"]
        if whole_epoch or (spe is None and not schedule.per_epoch and zero_updates > 1):
            if spe is not None:
                evidence["zero_lr_updates_simulated"] = zero_updates
                evidence["steps_per_epoch"] = spe
            if zero_epochs is not None:
                evidence["zero_lr_epochs_simulated"] = round(zero_epochs, 2)
            if schedule.base_lr == 0:
                reasons.append("the learning rate is 0")
            elif ctx.plan.warmup_epochs is None:  # per-update warmup of an LR too small to survive the scaling
                reasons.append(f"the learning rate {fmt(schedule.base_lr)} times the warmup factor rounds to 0")
            else:
                reasons.append(
                    f"the scheduler steps once per epoch, so its warmup of "
                    f"{ctx.plan.warmup_epochs:g} epochs gives lambda(0) = 0 to every update of epoch 1"
                )
    observed = leading_zero_lr(ctx)
    if observed is not None:
        evidence.update(observed.evidence)
        reasons.append(observed.text)
        ctx.cite(observed.source)
    if not reasons:
        if schedule is None and not ctx.logs.lr_groups():
            raise NotChecked("learning rate unknown: give it (learning_rate / unet_lr) or keep a log of the LR")
        return
    epochs = max(evidence.get("zero_lr_epochs_simulated", 0), evidence.get("zero_lr_epochs_logged", 0))
    through = f"through epoch {math.floor(epochs)}" if epochs >= 1 else "for a whole epoch or more"
    if not epochs and "zero_lr_steps_logged" in evidence:
        through = f"for all {evidence['zero_lr_steps_logged']:g} logged steps"
    evidence["zero_lr_epochs"] = round(epochs, 2)
    yield Hit(f"LR is 0 {through}: " + "; ".join(reasons) + ".", evidence)


@rule(
    "warmup-too-long",
    severity=Severity.WARNING,
    summary="The LR warmup covers more than 20 % of the optimizer steps.",
    fix="Warm up for about one epoch or 5-10 % of the steps (e.g. lr_warmup_steps: 0.05), or not at all.",
    thresholds={"warning_fraction": WARMUP_WARN_FRACTION, "error_fraction": WARMUP_ERROR_FRACTION},
)
def warmup_too_long(ctx: RuleView) -> Iterator[Hit]:
    """Flags a warmup longer than 20 % of all optimizer steps; error above 50 % or longer than training.

    During warmup the LR is below its target, so a long warmup trains most of the run at a
    fraction of the LR that was chosen. Field report 000: 500 warmup steps at 128 steps per epoch
    kept the LR under target until epoch 4 (the fix was 100 steps, about one epoch). A float
    ``lr_warmup_steps`` of 1 or more read from a sd-scripts TOML is a *ratio* (ablation notes §2.2),
    which makes the warmup longer than the training. Thresholds: warning above 20 %, error above
    50 % (or when the LR never reaches its target); sd-scripts' own examples use 0-10 %.
    """
    plan = ctx.plan
    scheduler = ctx.value("lr_scheduler")
    if scheduler is None:
        raise NotChecked("lr_scheduler unknown: give it, or keep a log of the LR")
    if str(scheduler).lower() == "constant" or plan.warmup_steps == 0:
        return
    if plan.warmup_steps is None:
        raise NotChecked(
            "warmup length in steps unknown (a ratio of an unknown total): give the image count "
            "and batch size, max_train_steps, or keep the training log"
        )
    if not plan.total_steps:
        raise NotChecked(
            "total steps unknown: give the image count and batch size, max_train_steps, or keep the training log"
        )
    fraction = plan.warmup_steps / plan.total_steps
    if fraction <= ctx.t["warning_fraction"]:
        return
    evidence: dict[str, float] = {
        "warmup_steps": plan.warmup_steps,
        "total_steps": plan.total_steps,
        "warmup_fraction": round(fraction, 4),
    }
    text = f"warmup of {plan.warmup_steps} steps is {pct(fraction)} of {plan.total_steps} optimizer steps"
    spe = plan.steps_per_epoch
    if spe:
        evidence["steps_per_epoch"] = spe
        evidence["epochs_in_warmup"] = round(plan.warmup_steps / spe, 2)
        if plan.warmup_steps < plan.total_steps:
            target_epoch = plan.warmup_steps // spe + 1
            evidence["target_lr_reached_in_epoch"] = target_epoch
            text += (
                f"; at {spe} steps per epoch the LR reaches its target only in epoch {target_epoch} "
                f"({plan.warmup_steps / spe:.1f} epochs of warmup)"
            )
    severity = Severity.WARNING
    if fraction > ctx.t["error_fraction"] or plan.warmup_steps >= plan.total_steps:
        severity = Severity.ERROR
        if ctx.schedule is not None and plan.warmup_steps >= plan.total_steps:
            peak = ctx.schedule.peak_lr()
            evidence["peak_lr_fraction"] = round(peak / ctx.schedule.base_lr, 4) if ctx.schedule.base_lr else 0.0
            text += f"; the LR never passes {pct(evidence['peak_lr_fraction'])} of its target"
    if plan.total_is_default:
        severity = Severity.WARNING
        text += " (total steps assumed: sd-scripts' default 1600)"
    note = plan.note("warmup_steps")
    if "float >= 1" in note:
        text += f" ({note})"
    yield Hit(text + ".", evidence, severity=severity)


@rule(
    "warmup-on-constant-scheduler",
    severity=Severity.WARNING,
    summary="A warmup is set on the plain 'constant' scheduler, which has none.",
    fix="Use lr_scheduler: constant_with_warmup to warm up, or set lr_warmup_steps: 0.",
)
def warmup_on_constant_scheduler(ctx: RuleView) -> Iterator[Hit]:
    """Flags a nonzero warmup combined with ``lr_scheduler: constant``.

    transformers' and diffusers' ``constant`` schedule ignores the warmup (the LR is the full LR
    from step 0), and sd-scripts refuses to start with this combination
    (``wrap_check_needless_num_warmup_steps``). Either the warmup the user expected never ran, or the
    config is not what was run. Threshold: any nonzero warmup.
    """
    scheduler = ctx.value("lr_scheduler")
    if scheduler is None:
        raise NotChecked("lr_scheduler unknown: give it, or keep a log of the LR")
    if str(scheduler).lower() != "constant":
        return
    steps, epochs = ctx.plan.warmup_steps, ctx.plan.warmup_epochs
    if not steps and not epochs:
        return
    evidence = {"warmup_steps": steps} if steps else {"warmup_epochs": epochs}
    yield Hit(
        f"lr_scheduler is 'constant' but a warmup of {fmt(steps or epochs)} "
        f"{'steps' if steps else 'epochs'} is set: the constant schedule ignores it "
        "(sd-scripts refuses to start).",
        evidence,
    )

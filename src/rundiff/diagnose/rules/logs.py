"""Rules on what the training logs show: frozen parameters, flat or broken losses, a different LR."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterator

from rundiff.diagnose.findings import Severity
from rundiff.diagnose.observed import LR_MATCH_REL_TOL, compare_logged_lr
from rundiff.diagnose.rules.base import Hit, NotChecked, RuleView, fmt, pct, rule
from rundiff.ingest.logs import Point

LOSS_FLAT_MAX_CHANGE = 0.03
LOSS_FLAT_MIN_EPOCH_POINTS = 4
LOSS_FLAT_MIN_STEP_POINTS = 40
VAL_CONSTANT_MIN_POINTS = 3
LR_MISMATCH_MIN_FRACTION = 0.10


def _where(point: Point) -> str:
    if point.step is not None:
        return f"step {point.step}"
    if point.epoch is not None:
        return f"epoch {point.epoch}"
    return point.source or "a log line"


def _time(point: Point) -> dict[str, int]:
    return {"step": point.step} if point.step is not None else ({"epoch": point.epoch} if point.epoch else {})


@rule(
    "params-not-moving",
    severity=Severity.ERROR,
    summary="The logged parameter change is exactly 0: nothing is being trained.",
    fix="Check that the LR is above 0 from the first step, that the trained parameters have requires_grad "
    "and are in the optimizer, and that the optimizer step runs.",
)
def params_not_moving(ctx: RuleView) -> Iterator[Hit]:
    """Flags logs whose parameter-change probe (``Δparam``) is 0 at every logged point.

    Weights that never change mean a zero LR, parameters left out of the optimizer, or a step that
    never runs; every later number of the run is then meaningless (field report 003:
    ``[STEP] Δparam L2: median=0.000e+00 max=0.000e+00`` for all 30 epochs). Threshold: every
    finite logged value of the probe is 0.
    """
    names = ctx.logs.names("param_delta")
    points = [p for n in names for p in ctx.logs.get(n) if p.finite]
    if not points:
        raise NotChecked("no parameter-change probe (Δparam) in the logs")
    if any(p.value != 0.0 for p in points):
        return
    ctx.cite(points[0].source)
    ctx.cite(points[-1].source)
    epochs = sorted({p.epoch for p in points if p.epoch is not None})
    evidence: dict[str, float] = {"points": len(points), "max_param_change": 0.0}
    span = ""
    if epochs:
        evidence["first_epoch"], evidence["last_epoch"] = epochs[0], epochs[-1]
        evidence["epochs"] = len(epochs)
        span = f" over {len(epochs)} epoch(s) ({epochs[0]}-{epochs[-1]})"
    yield Hit(f"parameter change is 0 at all {len(points)} logged points{span} [{points[0].source}].", evidence)


def _smoothed_train_loss(ctx: RuleView) -> tuple[str, list[float]] | None:
    per_epoch = [p for p in ctx.logs.get("loss/epoch") if p.finite]
    if len(per_epoch) >= ctx.t["min_epoch_points"]:
        ctx.cite(per_epoch[0].source)
        return "loss/epoch", [p.value for p in per_epoch]
    for name in ("loss/average", "loss/current"):
        points = [p for p in sorted(ctx.logs.get(name), key=lambda p: p.step or 0) if p.finite]
        if len(points) >= ctx.t["min_step_points"]:
            ctx.cite(points[0].source)
            return name, [p.value for p in points]
    return None


@rule(
    "loss-flat",
    severity=Severity.WARNING,
    summary="The training loss moves by less than a few percent from start to end.",
    fix="Check the LR (too low, or 0 for long stretches), the warmup, and that the trained weights are used; "
    "compare samples against the base model.",
    thresholds={
        "max_relative_change": LOSS_FLAT_MAX_CHANGE,
        "min_epoch_points": LOSS_FLAT_MIN_EPOCH_POINTS,
        "min_step_points": LOSS_FLAT_MIN_STEP_POINTS,
    },
)
def loss_flat(ctx: RuleView) -> Iterator[Hit]:
    """Flags a train loss whose first-quarter mean and last-quarter mean differ by less than 3 %.

    A loss that does not move means nothing is learned (field report 003: train 0.217 -> 0.218 over
    30 epochs). Diffusion losses are noisy and a healthy LoRA's loss falls only slowly, so the rule
    compares quarter means (not single points), needs at least 4 per-epoch points or 40 per-step
    points, and is a warning, to be read with the LR findings.
    """
    found = _smoothed_train_loss(ctx)
    if found is None:
        raise NotChecked(
            f"fewer than {ctx.t['min_epoch_points']} per-epoch or {ctx.t['min_step_points']} "
            "per-step train losses in the logs"
        )
    name, values = found
    window = max(1, len(values) // 4)
    start, end = statistics.fmean(values[:window]), statistics.fmean(values[-window:])
    if start == 0:
        return
    change = (end - start) / abs(start)
    if abs(change) >= ctx.t["max_relative_change"]:
        return
    yield Hit(
        f"train loss ({name}) moves {pct(change)} over {len(values)} points: mean {start:.4g} in the first "
        f"quarter, {end:.4g} in the last.",
        {
            "points": len(values),
            "loss_start": round(start, 6),
            "loss_end": round(end, 6),
            "relative_change": round(change, 4),
        },
    )


@rule(
    "val-loss-constant",
    severity=Severity.ERROR,
    summary="Every validation loss is the same number: the evaluated model never changes.",
    fix="Check that validation runs on the current weights (not a stale copy or the EMA of a frozen model) and "
    "that training updates them at all.",
    thresholds={"min_points": VAL_CONSTANT_MIN_POINTS},
)
def val_loss_constant(ctx: RuleView) -> Iterator[Hit]:
    """Flags identical validation losses at 3 or more points.

    A model that changes gives a different validation loss each time; the same value to the last
    printed digit means the evaluated weights are frozen or stale (field report 003: ``val 1.921642``
    at every one of 30 epochs). Threshold: at least 3 finite values, all equal within 1e-9 relative.
    """
    points = [p for p in ctx.logs.get("loss/validation") if p.finite]
    if len(points) < ctx.t["min_points"]:
        raise NotChecked(f"fewer than {ctx.t['min_points']} validation losses in the logs")
    values = [p.value for p in points]
    if max(values) - min(values) > 1e-9 * max(1.0, abs(values[0])):
        return
    ctx.cite(points[0].source)
    ctx.cite(points[-1].source)
    yield Hit(
        f"validation loss is {values[0]:.7g} at all {len(points)} logged points "
        f"({_where(points[0])} to {_where(points[-1])}).",
        {"val_loss": values[0], "points": len(points)},
    )


@rule(
    "loss-not-finite",
    severity=Severity.ERROR,
    summary="A logged loss is nan or inf.",
    fix="Lower the LR, use bf16 or fp32 instead of fp16 (or the fp16 VAE fix), clip gradients, and look for "
    "broken images or latents.",
)
def loss_not_finite(ctx: RuleView) -> Iterator[Hit]:
    """Flags any nan or inf in a train or validation loss series.

    A non-finite loss means the numbers overflowed (fp16 overflow, an LR too high, a broken sample)
    or the evaluation divided by zero; weights saved after it are usually broken (field report
    003: ``val loss: inf``). Threshold: one non-finite value.
    """
    names = ctx.logs.names("loss")
    if not names:
        raise NotChecked("no loss in the logs")
    bad = [(name, p) for name in names for p in ctx.logs.get(name) if not p.finite]
    if not bad:
        return
    name, first = bad[0]
    ctx.cite(first.source)
    label = "validation loss" if name.startswith("loss/validation") else f"train loss ({name})"
    evidence: dict[str, float] = {"non_finite_points": len(bad), **_time(first)}
    yield Hit(
        f"{label} is {first.value} at {_where(first)} ({len(bad)} non-finite value(s)) [{first.source}].", evidence
    )


@rule(
    "lr-observed-mismatch",
    severity=Severity.WARNING,
    summary="The LR in the logs differs from the LR the parameters give.",
    fix="Find out which settings really ran: per-epoch vs per-step scheduler stepping, multi-GPU scheduler "
    "stepping, a float warmup read as a ratio, a resumed run, or a config that is not the one used.",
    thresholds={"relative_tolerance": LR_MATCH_REL_TOL, "min_mismatch_fraction": LR_MISMATCH_MIN_FRACTION},
)
def lr_observed_mismatch(ctx: RuleView) -> Iterator[Hit]:
    """Flags logged LRs that differ by more than 5 % from the simulated schedule at 10 % of the points or more.

    When the logs disagree with the configuration, the diagnosis of the configuration is about a
    run that did not happen. Each logged LR is matched against the simulated LR at its step (one
    step either way, for 0/1-based counters) or anywhere in its epoch; groups whose base LR the
    parameters do not name are compared by shape, with their base LR fitted to the logs. Not checked
    when the total step count is only sd-scripts' default.
    """
    if not ctx.logs.lr_groups():
        raise NotChecked("no LR in the logs")
    if ctx.plan.total_is_default:
        raise NotChecked("total steps unknown (only sd-scripts' default): give max_train_steps or the image count")
    if ctx.schedule is None:
        raise NotChecked("the LR schedule is not simulated (learning rate or scheduler unknown or not supported)")
    comparison = compare_logged_lr(ctx, float(ctx.t["relative_tolerance"]))
    if comparison is None or not comparison.compared or not comparison.mismatches:
        return
    if len(comparison.mismatches) / comparison.compared < ctx.t["min_mismatch_fraction"]:
        return
    point, simulated, group = max(
        comparison.mismatches, key=lambda m: abs(m[0].value - m[1]) / max(abs(m[0].value), abs(m[1]), 1e-30)
    )
    ctx.cite(point.source)
    evidence: dict[str, float] = {
        "compared_points": comparison.compared,
        "mismatched_points": len(comparison.mismatches),
        "logged_lr": point.value,
        "simulated_lr": float(f"{simulated:.4g}"),
        **_time(point),
    }
    if simulated:
        evidence["ratio"] = round(point.value / simulated, 4)
    text = (
        f"logged LR differs from the simulated schedule at {len(comparison.mismatches)} of "
        f"{comparison.compared} points (worst: {_where(point)}, {group} logged {fmt(point.value)}, "
        f"simulated {fmt(simulated)})"
    )
    if comparison.implied_warmup_steps is not None and not math.isclose(
        comparison.implied_warmup_steps, ctx.plan.warmup_steps or 0, rel_tol=float(ctx.t["relative_tolerance"])
    ):
        evidence["implied_warmup_steps"] = round(comparison.implied_warmup_steps, 1)
        text += (
            f"; the logged warmup ramp fits about {comparison.implied_warmup_steps:.0f} warmup steps, "
            f"not {ctx.plan.warmup_steps}"
        )
    yield Hit(text + ".", evidence)


@rule(
    "run-not-finished",
    severity=Severity.WARNING,
    summary="The logs show the run failed or stopped before its last step.",
    fix="Look at the end of the console log (out of memory, NaN, a killed process); resume from the last saved "
    "state or rerun, and compare only finished runs.",
)
def run_not_finished(ctx: RuleView) -> Iterator[Hit]:
    """Flags a run whose logs end in a traceback or failure line, or whose last logged step is below its total.

    A run that stopped early was trained for fewer steps than its settings say: its weights, samples
    and every comparison with a finished run describe a different run (ai-toolkit aborts after three
    OOMs in a row; OneTrainer raises on a NaN loss; kohya prints ``model saved.`` only at the end).
    Threshold: the log's own finish/failure line, else last logged step < total steps.
    """
    finished = ctx.value("run_finished")
    if finished is None:
        raise NotChecked("the logs do not show how the run ended (keep the console log)")
    if finished is True:
        return
    last, total = ctx.value("last_logged_step"), ctx.value("total_steps")
    evidence: dict[str, float] = {}
    text = "the logs show the run did not finish"
    if isinstance(last, int):
        evidence["last_logged_step"] = last
        text += f": last logged step {last}"
        if isinstance(total, int):
            evidence["total_steps"] = total
            text += f" of {total}"
    cell = ctx.run.get("run_finished")
    if cell.source:
        text += f" [{cell.source}]"
    yield Hit(text + ".", evidence)

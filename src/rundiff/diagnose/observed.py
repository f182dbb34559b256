"""What the logged LR says, set against the simulated schedule; shared by the schedule and log rules."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

from rundiff.diagnose.context import RunContext
from rundiff.ingest.logs import Point

#: A logged LR matches the simulation when within this relative distance (logs round to 3 digits).
LR_MATCH_REL_TOL = 0.05


@dataclass(frozen=True)
class Observation:
    text: str
    evidence: dict[str, float] = field(default_factory=dict)
    source: str = ""


def _lr_points(ctx: RunContext) -> dict[str, list[Point]]:
    return {name: [p for p in ctx.logs.get(name) if p.finite] for name in ctx.logs.lr_groups()}


def _epoch_of(point: Point, spe: int | None) -> int | None:
    if point.epoch is not None:
        return point.epoch
    if point.step is not None and spe:
        return max(1, math.ceil(point.step / spe))
    return None


def leading_zero_lr(ctx: RunContext) -> Observation | None:
    """The logs show LR 0 for every group through at least one whole epoch."""
    spe = ctx.plan.steps_per_epoch
    groups = {name: [p for p in pts if _epoch_of(p, spe) is not None] for name, pts in _lr_points(ctx).items()}
    groups = {name: pts for name, pts in groups.items() if pts}
    points = [p for pts in groups.values() for p in pts]
    if not points:
        return _all_zero_without_epochs(ctx)
    by_epoch: dict[int, list[float]] = {}
    for p in points:
        epoch = _epoch_of(p, spe)
        if epoch is not None:
            by_epoch.setdefault(epoch, []).append(p.value)
    zero_epochs = 0
    for epoch in sorted(by_epoch):
        if epoch != zero_epochs + 1 or any(v != 0.0 for v in by_epoch[epoch]):
            break
        zero_epochs = epoch
    if zero_epochs >= 1:
        # With per-step points, the zeros must reach the end of the epoch, not just its first steps.
        last_zero_step = max(
            (p.step for p in points if p.step is not None and _epoch_of(p, spe) == zero_epochs), default=None
        )
        if last_zero_step is not None and spe and last_zero_step < zero_epochs * spe - 1:
            zero_epochs -= 1
    if zero_epochs < 1:
        return None
    evidence: dict[str, float] = {"zero_lr_epochs_logged": zero_epochs, "lr_groups_logged": len(groups)}
    text = f"the logs show LR 0 for all {len(groups)} parameter group(s) through epoch {zero_epochs}"
    later = sorted((e, v) for e, vs in by_epoch.items() if e > zero_epochs for v in vs if v > 0)
    if later:
        evidence["first_nonzero_lr_epoch_logged"] = later[0][0]
        evidence["first_nonzero_lr_logged"] = min(v for e, v in later if e == later[0][0])
        text += f" (first nonzero LR {later[0][1]:.3g} in epoch {later[0][0]})"
    first = next(p for p in points if _epoch_of(p, spe) == 1)
    if first.source:
        text += f" [{first.source}]"
    return Observation(text, evidence, first.source)


#: Without epochs, LR 0 at every logged point counts only over this many logged steps or more.
MIN_ZERO_STEPS = 10


def _all_zero_without_epochs(ctx: RunContext) -> Observation | None:
    """Steps per epoch unknown: every logged LR of every group is 0, over the whole logged run."""
    groups = {name: pts for name, pts in _lr_points(ctx).items() if pts}
    points = [p for pts in groups.values() for p in pts if p.step is not None]
    if len(points) < 2 or any(p.value != 0.0 for pts in groups.values() for p in pts):
        return None
    first, last = min(p.step for p in points), max(p.step for p in points)
    if last - first + 1 < MIN_ZERO_STEPS:
        return None
    source = min(points, key=lambda p: p.step or 0).source
    text = (
        f"the logs show LR 0 for all {len(groups)} parameter group(s) at every logged point "
        f"(steps {first}-{last}, steps per epoch unknown) [{source}]"
    )
    return Observation(text, {"zero_lr_steps_logged": last - first + 1, "lr_groups_logged": len(groups)}, source)


def _group_base(ctx: RunContext, name: str) -> float | None:
    """The configured LR behind a logged group, None when the log's group is not a known one."""
    group = name.split("/", 1)[1].lower() if "/" in name else ""
    main = ctx.main_lr
    candidates: tuple[str, ...]
    if group == "":
        return main[1] if main else None
    if group.startswith("unet"):
        candidates = ("unet_lr", "learning_rate")
    elif group.startswith(("textencoder", "text_encoder", "te")):
        candidates = ("text_encoder_lr", "learning_rate")
    else:
        return None
    for candidate in candidates:
        value = ctx.value(candidate)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


@dataclass(frozen=True)
class LrComparison:
    compared: int
    mismatches: list[tuple[Point, float, str]]  # (point, closest simulated LR, group)
    implied_warmup_steps: float | None


def _candidates(ctx: RunContext, point: Point, base: float) -> list[float]:
    """Simulated LRs the logged point may stand for, the likeliest first.

    A step point is read as kohya logs it (the LR after ``step`` updates). Kohya's TensorBoard `lr/*`
    tags are exactly that; for other logs the step before and after are accepted too (0- or 1-based
    counters, LR printed before or after the scheduler step).
    An epoch point may be printed at the start or at the end of its epoch.
    """
    schedule = ctx.schedule
    assert schedule is not None
    scale = base / schedule.base_lr if schedule.base_lr else 0.0
    total = schedule.total_updates
    if point.step is not None:
        if point.exact_step:  # kohya's lr/* tags: the LR after `step` scheduler steps, exactly
            return [schedule.lr(point.step) * scale] if 0 <= point.step <= max(total, 1) else []
        steps = [s for s in (point.step, point.step - 1, point.step + 1) if 0 <= s <= max(total, 1)]
        return [schedule.lr(s) * scale for s in steps]
    if point.epoch is not None:
        values = []
        spe = ctx.plan.steps_per_epoch
        if spe or schedule.per_epoch:
            values.append(
                schedule.lr((point.epoch - 1) * (spe or 1))
                if spe
                else schedule.base_lr * schedule.multiplier_at_call(point.epoch - 1)
            )
        for epoch in (point.epoch, point.epoch + 1):
            span = schedule.epoch_lr_range(epoch)
            if span is not None:
                values.extend(span)
        return [v * scale for v in values]
    return []


def _matches(logged: float, candidates: list[float], peak: float, tolerance: float = LR_MATCH_REL_TOL) -> bool:
    if len(candidates) >= 2 and min(candidates) <= logged <= max(candidates):
        return True
    floor = 1e-3 * peak
    return any(abs(logged - c) <= max(tolerance * max(abs(logged), abs(c)), floor) for c in candidates)


def compare_logged_lr(ctx: RunContext, tolerance: float = LR_MATCH_REL_TOL) -> LrComparison | None:
    """Set every logged LR point (with a step or an epoch) against the simulated schedule."""
    schedule = ctx.schedule
    if schedule is None or not schedule.total_updates:
        return None
    compared = 0
    mismatches: list[tuple[Point, float, str]] = []
    implied: list[float] = []
    for name, points in _lr_points(ctx).items():
        usable = [p for p in points if p.step is not None or p.epoch is not None]
        if not usable:
            continue
        base = _group_base(ctx, name)
        if base is None:
            base = _infer_base(ctx, usable)
            if base is None:
                continue
        for point in usable:
            candidates = _candidates(ctx, point, base)
            if not candidates:
                continue
            compared += 1
            if not _matches(point.value, candidates, base, tolerance):
                closest = min(candidates, key=lambda c: abs(c - point.value))
                mismatches.append((point, closest, name))
                warmup = ctx.plan.warmup_steps or 0
                if point.step is not None and 0 < point.step < warmup and point.value > 0 and not schedule.per_epoch:
                    implied.append(point.step * base / point.value)
    implied_warmup = statistics.median(implied) if implied else None
    return LrComparison(compared, mismatches, implied_warmup)


def _infer_base(ctx: RunContext, points: list[Point]) -> float | None:
    """Base LR of a group the parameters do not name, from logged/simulated ratios (median)."""
    schedule = ctx.schedule
    assert schedule is not None
    ratios = []
    for point in points:
        candidates = _candidates(ctx, point, schedule.base_lr)
        if candidates and candidates[0] > 0 and point.value > 0:
            ratios.append(point.value / candidates[0] * schedule.base_lr)
    return statistics.median(ratios) if ratios else None

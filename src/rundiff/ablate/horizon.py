"""The short run's LR schedule: how a base run's schedule maps onto the few steps an ablation trains.

A short run that kept the base run's warmup in steps would compare nothing: with 150 warmup steps,
`--steps 20` trains every variant under 13 % of its LR. Two horizons, both stated in the plan:

- ``compressed`` (default): the base run's whole schedule squeezed into the short run. The warmup keeps
  its fraction of the total, and cycles and decay run over the short run's steps, as they ran over the
  base run's.
- ``prefix``: the first N steps of the base run's real schedule, computed over its full length (the
  scheduler is built for the base run's total and stopped after N updates).

A variant whose short run never leaves warmup, or whose LR never passes `MIN_PEAK_FRACTION` of its
target, is refused with the reason: its curves would measure the warmup, not the knob.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from rundiff.diagnose.schedule import SIMULATED_SCHEDULERS, lr_multiplier
from rundiff.errors import RundiffError
from rundiff.normalise.steps import plan_steps

HORIZONS = ("compressed", "prefix")
DEFAULT_HORIZON = "compressed"
#: Below this fraction of its target LR at its highest, a short run measures its warmup, not the knob.
MIN_PEAK_FRACTION = 0.25


@dataclass(frozen=True)
class ShortSchedule:
    """One variant's LR schedule in its short run, and where it comes from."""

    horizon: str  # compressed | prefix
    scheduler: str
    steps: int  # optimizer updates the short run trains
    warmup_steps: int  # warmup of the short run's scheduler
    schedule_steps: int  # the length the scheduler is built for (steps, or the base total under prefix)
    base_total_steps: int | None
    base_warmup_steps: int | None
    peak_fraction: float | None  # highest multiplier any of the short run's updates uses; None: not simulated

    @property
    def leaves_warmup(self) -> bool:
        return self.warmup_steps < self.steps

    def describe(self) -> str:
        """One line for the plan, the dry run and the report."""
        base = (
            f"base schedule {self.base_total_steps} steps, warmup {self.base_warmup_steps}"
            if self.base_total_steps
            else f"base warmup {self.base_warmup_steps}"
        )
        if self.horizon == "prefix":
            what = f"the first {self.steps} steps of the {self.schedule_steps}-step {self.scheduler} schedule"
        else:
            what = f"the {self.scheduler} schedule squeezed into {self.steps} steps"
        peak = "" if self.peak_fraction is None else f", peak LR {self.peak_fraction:.0%} of target"
        return f"{self.horizon}: {what} ({base}): warmup {self.warmup_steps} steps{peak}"

    def to_json(self) -> dict[str, Any]:
        return {
            "horizon": self.horizon,
            "lr_scheduler": self.scheduler,
            "steps": self.steps,
            "warmup_steps": self.warmup_steps,
            "schedule_steps": self.schedule_steps,
            "base_total_steps": self.base_total_steps,
            "base_warmup_steps": self.base_warmup_steps,
            "peak_lr_fraction": self.peak_fraction,
        }


def short_schedule(params: dict[str, Any], steps: int, horizon: str, *, label: str = "") -> ShortSchedule:
    """The short run's schedule for a variant with effective settings ``params`` (canonical names).

    Raises RundiffError when the schedule cannot be mapped or the short run would not leave its warmup.
    """
    if horizon not in HORIZONS:
        raise RundiffError(f"--horizon must be {' or '.join(HORIZONS)}, not {horizon!r}", key="horizon")
    who = f"{label}: " if label else ""
    scheduler = str(params.get("lr_scheduler") or "constant").lower()
    custom = params.get("lr_scheduler_type")
    plan = plan_steps({k: v for k, v in params.items() if k not in ("lr_scheduler_interval",)})
    base_total, base_warmup = plan.total_steps, plan.warmup_steps
    if horizon == "compressed":
        schedule_steps = steps
        warmup = _compressed_warmup(params, steps, base_total, base_warmup, who)
    else:
        if base_total is None:
            why = plan.note("total_steps") or "neither max_train_steps nor epochs with a known dataset size"
            raise RundiffError(
                f"{who}--horizon prefix needs the base run's total steps, and they are unknown "
                f"({why}); use --horizon compressed",
                key="horizon",
            )
        schedule_steps = max(base_total, steps)
        warmup = base_warmup or 0
    peak = _peak(scheduler, custom, steps, warmup, schedule_steps, params)
    found = ShortSchedule(
        horizon, str(custom or scheduler), steps, warmup, schedule_steps, base_total, base_warmup, peak
    )
    if warmup and not found.leaves_warmup:
        raise RundiffError(
            f"{who}the short run never leaves warmup ({found.describe()}): every update would train "
            f"below its target LR; {_advice(horizon)}",
            key="lr_warmup_steps",
        )
    if peak is not None and peak < MIN_PEAK_FRACTION:
        raise RundiffError(
            f"{who}the LR never passes {peak:.0%} of its target in {steps} steps "
            f"({found.describe()}); {_advice(horizon)}",
            key="lr_warmup_steps",
        )
    return found


def _compressed_warmup(
    params: dict[str, Any], steps: int, base_total: int | None, base_warmup: int | None, who: str
) -> int:
    """The base warmup's fraction of the base total, applied to the short run (rounded to whole steps)."""
    if not base_warmup:
        if base_warmup is None and params.get("lr_warmup_steps") not in (None, 0):
            raise RundiffError(
                f"{who}the base run's warmup steps are unknown (its total steps are unknown); "
                "give --horizon prefix with known steps, or set lr_warmup_steps",
                key="lr_warmup_steps",
            )
        return 0
    if not base_total:
        raise RundiffError(
            f"{who}the base run warms up for {base_warmup} steps of an unknown total, so its "
            "warmup fraction is unknown; --horizon compressed cannot keep it",
            key="lr_warmup_steps",
        )
    # Half steps round up, and a base that warms up keeps at least one warmup step (its first update at LR 0).
    return min(steps, max(1, math.floor(base_warmup * steps / base_total + 0.5)))


def _peak(scheduler: str, custom: Any, steps: int, warmup: int, total: int, params: dict[str, Any]) -> float | None:
    """The highest multiplier the short run's updates use (update k runs at the multiplier after k calls)."""
    if custom or scheduler not in SIMULATED_SCHEDULERS:
        return None
    cycles = params.get("lr_scheduler_num_cycles")
    power = params.get("lr_scheduler_power")
    try:
        cycles = int(cycles) if cycles else 1
        power = float(power) if power is not None else 1.0
    except (TypeError, ValueError):
        return None
    if scheduler == "constant":
        return 1.0
    # The peak sits at the end of warmup (or the last update, if warmup outlasts the run).
    candidates = {min(warmup, steps - 1), steps - 1, 0}
    peak = max(
        lr_multiplier(scheduler, k, warmup=warmup, total=total, num_cycles=cycles, power=power) for k in candidates
    )
    return peak if math.isfinite(peak) else None


def _advice(horizon: str) -> str:
    if horizon == "prefix":
        return "train more --steps, or use --horizon compressed (the base schedule squeezed into the short run)"
    return "train more --steps, or vary lr_warmup_steps down"

"""The learning rate a run really used at every optimizer step.

The formulas are those of transformers' ``get_scheduler`` (which kohya sd-scripts calls) and
diffusers' copy of it: ``LambdaLR`` multipliers of the base LR, evaluated at k = the number of
``scheduler.step()`` calls so far. The loop runs ``optimizer.step()`` before ``scheduler.step()``,
so update k (0-based) uses the multiplier at k: under any warmup the very first update runs at
LR exactly 0, and the LR a trainer logs after update k is the multiplier at k + 1.
When the scheduler is stepped once per epoch, k is the epoch index instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rundiff.normalise.steps import StepPlan

#: Schedulers whose multiplier is simulated exactly.
SIMULATED_SCHEDULERS = ("constant", "constant_with_warmup", "linear", "cosine", "cosine_with_restarts", "polynomial")
#: transformers' ``get_polynomial_decay_schedule_with_warmup`` default end LR (kohya passes none).
POLYNOMIAL_LR_END = 1e-7
#: Updates scanned for a leading run of LR 0 (a normal warmup has one; more than this is reported as this).
MAX_ZERO_SCAN = 1_000_000


def lr_multiplier(
    scheduler: str,
    k: float,
    *,
    warmup: float,
    total: float,
    num_cycles: int = 1,
    power: float = 1.0,
    base_lr: float = 1.0,
) -> float:
    """The LambdaLR multiplier after k scheduler steps (warmup and total in the same unit as k)."""
    if scheduler == "constant":
        return 1.0  # transformers ignores the warmup here; sd-scripts refuses to start with one
    if k < warmup:
        return k / max(1.0, warmup)
    if scheduler == "constant_with_warmup":
        return 1.0
    progress = (k - warmup) / max(1.0, total - warmup)
    if scheduler == "linear":
        return max(0.0, (total - k) / max(1.0, total - warmup))
    if scheduler == "cosine":
        # transformers' default num_cycles 0.5: one half-cosine; kohya does not pass num_cycles here.
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * 2.0 * 0.5 * progress)))
    if scheduler == "cosine_with_restarts":
        if progress >= 1.0:
            return 0.0
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * ((float(num_cycles) * progress) % 1.0))))
    if scheduler == "polynomial":
        lr_end = POLYNOMIAL_LR_END
        if k > total:
            return lr_end / base_lr
        remaining = 1.0 - (k - warmup) / max(1.0, total - warmup)
        return ((base_lr - lr_end) * remaining**power + lr_end) / base_lr
    raise ValueError(f"scheduler {scheduler!r} is not simulated")


@dataclass(frozen=True)
class LRSchedule:
    """A simulated schedule: ``lr(k)`` is the LR optimizer update k (0-based) ran with."""

    scheduler: str
    base_lr: float
    plan: StepPlan
    num_cycles: int = 1
    power: float = 1.0

    @property
    def per_epoch(self) -> bool:
        return self.plan.interval == "epoch"

    @property
    def total_updates(self) -> int:
        return self.plan.total_steps or 0

    def _scheduler_units(self) -> tuple[float, float]:
        """Warmup and total in the unit the scheduler counts (updates, or epochs)."""
        if self.per_epoch:
            return float(self.plan.warmup_epochs or 0.0), float(self.plan.num_epochs or 0)
        return float(self.plan.warmup_steps or 0), float(self.plan.total_steps or 0)

    def multiplier_at_call(self, calls: float) -> float:
        """The multiplier after ``calls`` scheduler steps."""
        warmup, total = self._scheduler_units()
        return lr_multiplier(
            self.scheduler,
            calls,
            warmup=warmup,
            total=total,
            num_cycles=self.num_cycles,
            power=self.power,
            base_lr=self.base_lr,
        )

    def scheduler_calls_before(self, update: int) -> int:
        """How many times the scheduler has stepped when update ``update`` (0-based) runs."""
        if self.per_epoch:
            return update // self.plan.steps_per_epoch if self.plan.steps_per_epoch else 0
        return update

    def lr(self, update: int) -> float:
        """LR used by optimizer update ``update`` (0-based)."""
        return self.base_lr * self.multiplier_at_call(self.scheduler_calls_before(update))

    def lr_logged_after(self, global_step: int) -> float:
        """The LR a trainer reports after ``global_step`` updates (kohya's TensorBoard convention)."""
        return self.lr(global_step)

    def lrs(self, updates: range | None = None) -> list[float]:
        return [self.lr(k) for k in (updates if updates is not None else range(self.total_updates))]

    def epoch_lr_range(self, epoch: int) -> tuple[float, float] | None:
        """Lowest and highest LR used during ``epoch`` (1-based), None when steps/epoch is unknown."""
        spe = self.plan.steps_per_epoch
        if not spe:
            if self.per_epoch:
                value = self.base_lr * self.multiplier_at_call(epoch - 1)
                return value, value
            return None
        first = (epoch - 1) * spe
        last = min(epoch * spe, max(self.total_updates, first + 1)) - 1
        if self.per_epoch:
            value = self.lr(first)
            return value, value
        values = [self.lr(first), self.lr(last)]
        if self.plan.warmup_steps is not None and first <= self.plan.warmup_steps <= last:
            values.append(self.lr(self.plan.warmup_steps))
        if self.scheduler == "cosine_with_restarts" and last - first < 50_000:
            values.extend(self.lrs(range(first, last + 1)))
        return min(values), max(values)

    def leading_zero_updates(self) -> int:
        """How many updates at the start run with LR exactly 0 (1 for a normal warmup)."""
        if self.base_lr == 0:
            return self.total_updates
        if self.per_epoch:
            warmup, _ = self._scheduler_units()
            zero_calls = 1 if warmup > 0 and self.scheduler != "constant" else 0
            spe = self.plan.steps_per_epoch
            if spe is None:
                return zero_calls  # counted in epochs then; see leading_zero_epochs
            return min(zero_calls * spe, self.total_updates or zero_calls * spe)
        count, limit = 0, min(self.total_updates, MAX_ZERO_SCAN)
        while count < limit and self.lr(count) == 0.0:
            count += 1
        return count

    def leading_zero_epochs(self) -> float | None:
        """Leading zero-LR updates expressed in epochs."""
        if self.per_epoch and self.plan.steps_per_epoch is None:
            return float(self.leading_zero_updates())
        spe = self.plan.steps_per_epoch
        return self.leading_zero_updates() / spe if spe else None

    def peak_lr(self) -> float:
        """Highest LR any update used (below base LR when the warmup outlasts the training)."""
        warmup, total = self._scheduler_units()
        if self.scheduler == "constant" or warmup < total or total == 0:
            return self.base_lr
        last_call = total - 1
        return self.base_lr * self.multiplier_at_call(max(0.0, last_call))

    def first_update_at_full_lr(self) -> int | None:
        """First update (0-based) whose LR reaches the base LR, None if none does."""
        if self.scheduler == "constant":
            return 0
        if self.per_epoch:
            warmup, total = self._scheduler_units()
            calls = math.ceil(warmup)
            if calls >= total and total:
                return None
            return calls * (self.plan.steps_per_epoch or 1)
        warmup = self.plan.warmup_steps or 0
        return warmup if warmup < self.total_updates or not self.total_updates else None


def _number(value: object, default: float) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return value
    return default


def not_simulated_because(params: dict, base_lr: float) -> str | None:
    """Why transformers would refuse or break this schedule (so rundiff does not simulate it), or None."""
    scheduler = str(params.get("lr_scheduler") or "constant").lower()
    if scheduler != "polynomial":
        return None
    if not base_lr > POLYNOMIAL_LR_END:
        return (
            f"polynomial schedule not simulated: transformers refuses a base LR of {base_lr:g}, which is not "
            f"above its end LR {POLYNOMIAL_LR_END:g}"
        )
    if _number(params.get("lr_scheduler_power"), 1.0) < 0:
        return (
            "polynomial schedule not simulated: a negative lr_scheduler_power divides by zero at the last "
            "step (0 ** power), so the trainer stops there"
        )
    return None


def simulate_schedule(params: dict, plan: StepPlan, base_lr: float) -> LRSchedule | None:
    """The schedule of a run, or None when its scheduler is not one rundiff simulates (or cannot run)."""
    scheduler = str(params.get("lr_scheduler") or "constant").lower()
    if scheduler not in SIMULATED_SCHEDULERS or plan.total_steps is None and not plan.num_epochs:
        return None
    if not math.isfinite(base_lr) or not_simulated_because(params, base_lr) is not None:
        return None
    cycles = _number(params.get("lr_scheduler_num_cycles"), 1)
    return LRSchedule(
        scheduler=scheduler,
        base_lr=float(base_lr),
        plan=plan,
        num_cycles=int(cycles) if cycles else 1,
        power=float(_number(params.get("lr_scheduler_power"), 1.0)),
    )

"""How many optimizer steps a run makes, and how many of them are warmup: the one place that counts.

Step counts decide everything a schedule does (a warmup of 500 steps is a quarter epoch on one
dataset and four epochs on another), so every part of rundiff asks this module instead of
re-deriving them. The rules follow kohya sd-scripts (``train_util`` / ``train_network.py``), the
trainer most runs come from; other trainers agree on the arithmetic and differ only in defaults.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rundiff.normalise.values import ValueProblem, show, to_number

#: sd-scripts' ``--max_train_steps`` default, used when neither steps nor epochs are given.
KOHYA_DEFAULT_MAX_TRAIN_STEPS = 1600
#: Counts beyond these are not planned (no LoRA or fine-tune runs a billion updates); the simulation,
#: the plots and every loop over steps or epochs stay bounded because of them.
MAX_PLANNED_STEPS = 10**9
MAX_PLANNED_EPOCHS = 100_000
#: What plan_steps reads (canonical names).
PLAN_INPUTS = (
    "steps_per_epoch",
    "num_batches_per_epoch",
    "num_train_images",
    "image_count",
    "num_repeats",
    "train_batch_size",
    "gradient_accumulation_steps",
    "max_train_epochs",
    "max_train_steps",
    "lr_warmup_steps",
    "lr_warmup_epochs",
    "lr_scheduler_interval",
)


@dataclass(frozen=True)
class StepPlan:
    """Step counts of one run; ``notes`` says for each field how it was obtained.

    ``warmup_steps`` is in optimizer steps even when the scheduler is stepped once per epoch
    (``interval == "epoch"``); ``warmup_epochs`` is then the warmup in scheduler calls.
    """

    steps_per_epoch: int | None = None
    num_epochs: int | None = None
    total_steps: int | None = None
    warmup_steps: int | None = None
    warmup_fraction: float | None = None
    warmup_epochs: float | None = None
    interval: str = "step"
    total_is_default: bool = False
    notes: Mapping[str, str] = field(default_factory=dict)

    def note(self, name: str) -> str:
        return self.notes.get(name, "")


def _count(value: float | int, limit: int = MAX_PLANNED_STEPS) -> int | None:
    """A computed step or epoch count, or None when it is beyond what is planned (or not finite)."""
    if not math.isfinite(value) or value > limit:
        return None
    return int(value)


def _positive_int(params: Mapping[str, Any], name: str, notes: dict[str, str]) -> int | None:
    """A count the plan can use: a whole number of at least 1. Anything else is left out, with a note,
    so one unusable value costs that value only (the values reader refuses most of them earlier)."""
    value = params.get(name)
    if value is None or isinstance(value, bool):
        return None
    if not isinstance(value, int | float) or not math.isfinite(value) or value < 1 or value > MAX_PLANNED_STEPS:
        notes[name] = f"{show(value)} ignored: not a count between 1 and {MAX_PLANNED_STEPS:,}"
        return None
    return math.ceil(value) if name == "max_train_epochs" else int(value)


def _warmup_value(raw: Any, notes: dict[str, str]) -> tuple[float | int | None, str]:
    """The warmup as given: an int (steps), a float (ratio or TOML float), or a 'N%' string."""
    if raw is None or isinstance(raw, bool):
        return None, ""
    how = ""
    if isinstance(raw, str):
        try:
            raw, how = to_number(raw), (f"{raw.strip()} of the total steps" if raw.strip().endswith("%") else "")
        except ValueProblem as err:
            notes["lr_warmup_steps"] = f"ignored: {err}"
            return None, ""
    if not isinstance(raw, int | float) or not math.isfinite(raw) or raw < 0:
        notes["lr_warmup_steps"] = f"{show(raw)} ignored: not a non-negative number"
        return None, ""
    return raw, how


def _steps_per_epoch(params: Mapping[str, Any], notes: dict[str, str]) -> int | None:
    explicit = _positive_int(params, "steps_per_epoch", notes)
    if explicit is not None:
        notes["steps_per_epoch"] = "given"
        return explicit
    accumulation = _positive_int(params, "gradient_accumulation_steps", notes) or 1
    batches = _positive_int(params, "num_batches_per_epoch", notes)
    if batches is not None:
        notes["steps_per_epoch"] = (
            f"ceil(num_batches_per_epoch {batches} / gradient accumulation {accumulation}); exact, buckets included"
        )
        return math.ceil(batches / accumulation)
    samples = _positive_int(params, "num_train_images", notes)
    how = "num_train_images"
    if samples is None:
        images = _positive_int(params, "image_count", notes)
        repeats = _positive_int(params, "num_repeats", notes)
        if images is None:
            return None
        samples = images * (repeats or 1)
        how = f"image_count {images} x num_repeats {repeats or 1}"
    batch = _positive_int(params, "train_batch_size", notes) or 1
    batches = -(-samples // batch)  # integer ceil: exact for any size
    steps = -(-batches // accumulation)
    if steps > MAX_PLANNED_STEPS:
        notes["steps_per_epoch"] = f"{how} = {samples} samples: more than {MAX_PLANNED_STEPS:,} steps, not planned"
        return None
    notes["steps_per_epoch"] = (
        f"ceil(ceil({how} = {samples} / batch {batch}) = {batches} batches / gradient accumulation "
        f"{accumulation}); a lower bound: kohya adds one step per aspect bucket with a partial batch"
    )
    return steps


def plan_steps(params: Mapping[str, Any]) -> StepPlan:
    """Count steps per epoch, epochs, total and warmup steps from canonical parameter values.

    ``params`` maps canonical names (sd-scripts argument names) to values; None or absent means
    unknown. Rules, from sd-scripts: steps/epoch = ceil(ceil(images x repeats / batch) / gradient
    accumulation); ``max_train_epochs`` overrides ``max_train_steps`` (default 1600); an int warmup
    is a step count, a float below 1 a ratio of the total; ``lr_warmup_epochs`` x steps/epoch.
    """
    notes: dict[str, str] = {}
    interval = str(params.get("lr_scheduler_interval") or "step").lower()
    if interval not in ("step", "epoch"):
        notes["lr_scheduler_interval"] = f"{show(interval)} ignored: not 'step' or 'epoch'; read as 'step'"
        interval = "step"
    spe = _steps_per_epoch(params, notes)

    epochs = _positive_int(params, "max_train_epochs", notes)
    max_steps = _positive_int(params, "max_train_steps", notes)
    total_is_default = False
    total: int | None
    if epochs is not None and epochs > MAX_PLANNED_EPOCHS:
        notes["num_epochs"] = f"max_train_epochs {epochs} is more than {MAX_PLANNED_EPOCHS:,} epochs: not planned"
        epochs, total = None, None
    elif "max_train_epochs" in notes or (epochs is None and "max_train_steps" in notes):
        total = None  # the value that decides the length was refused: unknown, not the default
    elif epochs is not None:
        total = _count(epochs * spe) if spe is not None else None
        notes["num_epochs"] = "max_train_epochs"
        if total is not None:
            notes["total_steps"] = f"max_train_epochs {epochs} x {spe} steps/epoch (overrides max_train_steps)"
        elif spe is not None:
            notes["total_steps"] = f"max_train_epochs {epochs} x {spe} steps/epoch: more than {MAX_PLANNED_STEPS:,}"
    else:
        if max_steps is None:
            max_steps, total_is_default = KOHYA_DEFAULT_MAX_TRAIN_STEPS, True
            notes["total_steps"] = "sd-scripts default max_train_steps (neither steps nor epochs given)"
        else:
            notes["total_steps"] = "max_train_steps"
        total = max_steps
        epochs = -(-total // spe) if spe is not None else None
        if epochs is not None and epochs > MAX_PLANNED_EPOCHS:
            notes["num_epochs"] = f"ceil({total} total steps / {spe} steps/epoch) is more than {MAX_PLANNED_EPOCHS:,}"
            epochs = None
        elif epochs is not None:
            notes["num_epochs"] = f"ceil({total} total steps / {spe} steps/epoch)"

    warmup_steps, warmup_epochs = _warmup(params, interval, spe, total, notes)
    fraction = None
    if warmup_steps is not None and total:
        fraction = warmup_steps / total
        notes["warmup_fraction"] = f"{warmup_steps} warmup steps / {total} total steps"
    return StepPlan(
        steps_per_epoch=spe,
        num_epochs=epochs,
        total_steps=total,
        warmup_steps=warmup_steps,
        warmup_fraction=fraction,
        warmup_epochs=warmup_epochs,
        interval=interval,
        total_is_default=total_is_default,
        notes=notes,
    )


def _warmup(
    params: Mapping[str, Any], interval: str, spe: int | None, total: int | None, notes: dict[str, str]
) -> tuple[int | None, float | None]:
    """Warmup in optimizer steps and, when known, in epochs."""
    by_epochs = params.get("lr_warmup_epochs")
    if (
        isinstance(by_epochs, int | float)
        and not isinstance(by_epochs, bool)
        and not (math.isfinite(by_epochs) and 0 <= by_epochs <= MAX_PLANNED_EPOCHS)
    ):
        notes["warmup_epochs"] = f"lr_warmup_epochs {show(by_epochs)} ignored: not between 0 and {MAX_PLANNED_EPOCHS:,}"
        by_epochs = None
    elif by_epochs is not None and not isinstance(by_epochs, int | float):
        notes["warmup_epochs"] = f"lr_warmup_epochs {show(by_epochs)} ignored: not a number"
        by_epochs = None
    if "warmup_epochs" in notes:  # the warmup was given, but cannot be used: unknown, not "no warmup"
        return None, None
    if by_epochs is not None and not isinstance(by_epochs, bool):
        by_epochs = float(by_epochs)
        if spe is None:
            notes["warmup_epochs"] = "lr_warmup_epochs (steps/epoch unknown)"
            return None, by_epochs
        notes["warmup_steps"] = f"lr_warmup_epochs {by_epochs:g} x {spe} steps/epoch"
        return _count(by_epochs * spe), by_epochs

    value, how = _warmup_value(params.get("lr_warmup_steps"), notes)
    if value is None:
        notes.setdefault("warmup_steps", "no warmup given")
        if "lr_warmup_steps" in notes:
            return None, None
        return 0, 0.0
    if interval == "epoch":
        # The scheduler counts its own step() calls; stepped once per epoch, the warmup is in epochs.
        calls = value * (total / spe) if isinstance(value, float) and total and spe else float(value)
        notes["warmup_steps"] = (
            f"lr_warmup_steps {value:g} counted in scheduler calls, and the scheduler "
            f"steps once per epoch: {calls:g} epochs"
        )
        return (_count(calls * spe) if spe is not None else None), calls
    if isinstance(value, int):
        notes["warmup_steps"] = "lr_warmup_steps (a step count)"
        steps = _count(value)
        if steps is None:
            notes["warmup_steps"] = f"lr_warmup_steps {show(value)}: more than {MAX_PLANNED_STEPS:,}, not planned"
            return None, None
    else:
        if total is None:
            notes["warmup_steps"] = f"lr_warmup_steps {value:g} is a ratio, total steps unknown"
            return None, None
        counted = _count(value * total)
        if counted is None:
            notes["warmup_steps"] = f"lr_warmup_steps {value:g} x {total}: more than {MAX_PLANNED_STEPS:,}, not planned"
            return None, None
        steps = counted
        if how:
            notes["warmup_steps"] = f"{how}: int({value:g} x {total})"
        elif value < 1:
            notes["warmup_steps"] = f"lr_warmup_steps {value:g} is a ratio of the total: int({value:g} x {total})"
        else:
            notes["warmup_steps"] = (
                f"lr_warmup_steps {value!r} is a float >= 1: sd-scripts treats every float from a TOML "
                f"config as a ratio, int({value:g} x {total}) = {steps} steps (write an integer for steps)"
            )
    epochs = steps / spe if spe else None
    return steps, epochs

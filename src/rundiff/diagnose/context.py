"""Everything the rules look at for one run, computed once: parameters, step plan, schedule, logs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rundiff.diagnose.schedule import SIMULATED_SCHEDULERS, LRSchedule, not_simulated_because, simulate_schedule
from rundiff.ingest.logs import RunLogs
from rundiff.model import Provenance, Run
from rundiff.normalise.steps import PLAN_INPUTS, StepPlan, plan_steps

#: training_type spellings that mean "a network (LoRA-like) is trained" or "the model itself is".
NETWORK_TYPES = frozenset({"lora", "locon", "loha", "lokr", "lycoris", "dora", "ia3", "glora", "network"})
FULL_TYPES = frozenset({"full", "finetune", "fine_tune", "full_finetune", "full_fine_tune", "dreambooth", "native"})


@dataclass(frozen=True)
class RunContext:
    run: Run
    params: Mapping[str, Any]
    plan: StepPlan
    schedule: LRSchedule | None
    logs: RunLogs
    notes: tuple[str, ...] = ()
    #: Parameters the step plan / the schedule simulation were computed from (for findings' based_on).
    plan_inputs: tuple[str, ...] = ()
    schedule_inputs: tuple[str, ...] = ()
    #: How a parameter that is not a cell of the run got its value (e.g. total steps from the log).
    param_notes: Mapping[str, str] = field(default_factory=dict)
    #: Weight statistics per saved file (``--weights``); None when the weights were not read.
    weights: tuple[Any, ...] | None = None

    @property
    def name(self) -> str:
        return self.run.name

    def value(self, name: str) -> Any:
        return self.params.get(name)

    @property
    def training_kind(self) -> str | None:
        """``"network"`` (LoRA and its relatives), ``"full"``, or None when unknown."""
        kind = str(self.value("training_type") or "").lower().replace("-", "_")
        if kind in NETWORK_TYPES:
            return "network"
        if kind in FULL_TYPES:
            return "full"
        return "network" if self.value("network_dim") is not None else None

    @property
    def main_lr(self) -> tuple[str, float] | None:
        """The LR of the part that is trained most (the U-Net's for a LoRA), with its parameter name."""
        names = ("unet_lr", "learning_rate") if self.training_kind == "network" else ("learning_rate", "unet_lr")
        for name in names:
            value = self.value(name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                return name, float(value)
        return None


#: Rows the normaliser derives with plan_steps itself; recomputed here instead.
_PLAN_OUTPUTS = frozenset({"steps_per_epoch", "num_epochs", "total_steps", "warmup_steps", "warmup_fraction"})
_SCHEDULE_INPUTS = ("lr_scheduler", "lr_scheduler_num_cycles", "lr_scheduler_power")


def _params(run: Run) -> tuple[dict[str, Any], list[str], dict[str, str]]:
    """Parameter values for the simulation: the run's cells, with what the logs printed standing in
    for a total step count the configs do not give."""
    params = {
        name: run.value(name)
        for name, cell in run.cells.items()
        if not (name in _PLAN_OUTPUTS and cell.provenance is Provenance.DERIVED)
    }
    notes: list[str] = []
    param_notes: dict[str, str] = {}
    total = run.get("total_steps")
    unset = all(
        run.get(n).provenance in (Provenance.UNKNOWN, Provenance.DEFAULT)
        for n in ("max_train_steps", "max_train_epochs")
    )
    if total.known and total.provenance is Provenance.INFERRED and unset:
        params["max_train_steps"] = total.value
        params.pop("max_train_epochs", None)
        where = f" ({total.source})" if total.source else ""
        notes.append(f"total steps = {total.value} from the logs{where}")
        param_notes["max_train_steps"] = f"total steps from the logs{where}"
        param_notes["@source:max_train_steps"] = total.source or ""
    elif (
        unset
        and run.get("max_train_steps").provenance is Provenance.UNKNOWN
        and run.logs is not None
        and run.logs.last_step
        and _no_step_inputs(run)
    ):
        params["max_train_steps"] = run.logs.last_step
        notes.append(
            f"total steps = {run.logs.last_step}: the last logged step (the run's total is not recorded; "
            "it is at least this)"
        )
        param_notes["max_train_steps"] = "the last logged step: the run's total is at least this"
        param_notes["@source:max_train_steps"] = run.get("last_logged_step").source or (run.log_files or [""])[0]
    return params, notes, param_notes


def _no_step_inputs(run: Run) -> bool:
    """Nothing else would count the steps (no image count, no steps per epoch)."""
    return not any(
        run.get(n).known for n in ("steps_per_epoch", "num_batches_per_epoch", "num_train_images", "image_count")
    )


def _log_source_note(run: Run, name: str) -> str:
    cell = run.get(name)
    return f" ({cell.source})" if cell.source else ""


def build_context(run: Run, logs: RunLogs, weights: tuple[Any, ...] | None = None) -> RunContext:
    params, notes, param_notes = _params(run)
    plan = plan_steps(params)
    if plan.total_is_default:
        notes.append("neither max_train_steps nor max_train_epochs is known: assuming sd-scripts' default 1600 steps")
    partial = RunContext(run=run, params=params, plan=plan, schedule=None, logs=logs)
    schedule = None
    main = partial.main_lr
    scheduler = str(params.get("lr_scheduler") or "constant").lower()
    if main is None:
        notes.append("no learning rate known: the LR schedule is not simulated")
    elif scheduler not in SIMULATED_SCHEDULERS:
        notes.append(f"scheduler {scheduler!r} is not simulated")
    else:
        schedule = simulate_schedule(params, plan, main[1])
        reason = not_simulated_because(params, main[1])
        if reason:
            notes.append(reason)
    logged_total = run.get("total_steps")
    if logged_total.provenance is Provenance.INFERRED and plan.total_steps and logged_total.value != plan.total_steps:
        notes.append(
            f"the logs say {logged_total.value} total steps{_log_source_note(run, 'total_steps')}, "
            f"the parameters give {plan.total_steps}"
        )
    plan_inputs = tuple(n for n in PLAN_INPUTS if params.get(n) is not None)
    schedule_inputs = tuple(n for n in _SCHEDULE_INPUTS if params.get(n) is not None) if schedule else ()
    if schedule is not None and main is not None:
        schedule_inputs = (main[0], *schedule_inputs)
    return RunContext(
        run=run,
        params=params,
        plan=plan,
        schedule=schedule,
        logs=logs,
        notes=tuple(notes),
        plan_inputs=plan_inputs,
        schedule_inputs=schedule_inputs,
        param_notes=param_notes,
        weights=weights,
    )

"""Everything the rules look at for one run, computed once: parameters, step plan, schedule, logs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rundiff.diagnose.logs import RunLogs
from rundiff.diagnose.schedule import SIMULATED_SCHEDULERS, LRSchedule, not_simulated_because, simulate_schedule
from rundiff.model import Provenance, Run
from rundiff.normalise.steps import StepPlan, plan_steps

#: training_type spellings that mean "a network (LoRA-like) is trained" or "the model itself is".
NETWORK_TYPES = frozenset({"lora", "locon", "loha", "lokr", "lycoris", "dora", "ia3", "glora", "network"})
FULL_TYPES = frozenset({"full", "finetune", "fine_tune", "full_finetune", "full_fine_tune", "dreambooth",
                        "native"})

#: Facts kohya prints to the console that can stand in for a parameter the configs do not give.
_LOG_FACT_PARAMS = ("num_train_images", "num_batches_per_epoch", "train_batch_size", "gradient_accumulation_steps",
                    "max_train_epochs")


@dataclass(frozen=True)
class RunContext:
    run: Run
    params: Mapping[str, Any]
    plan: StepPlan
    schedule: LRSchedule | None
    logs: RunLogs
    notes: tuple[str, ...] = ()

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


#: Rows the normaliser derives with plan_steps itself; recomputed here (with the log's facts) instead.
_PLAN_OUTPUTS = frozenset({"steps_per_epoch", "num_epochs", "total_steps", "warmup_steps", "warmup_fraction"})


def _params_with_log_facts(run: Run, logs: RunLogs) -> tuple[dict[str, Any], list[str]]:
    params = {name: run.value(name) for name, cell in run.cells.items()
              if not (name in _PLAN_OUTPUTS and cell.provenance is Provenance.DERIVED)}
    notes = []
    for name in _LOG_FACT_PARAMS:
        if params.get(name) is None and name in logs.facts:
            params[name], where = logs.facts[name]
            notes.append(f"{name} = {params[name]} from the console log ({where})")
    if params.get("max_train_steps") is None and params.get("max_train_epochs") is None and "total_steps" in logs.facts:
        params["max_train_steps"], where = logs.facts["total_steps"]
        notes.append(f"total steps = {params['max_train_steps']} from the console log ({where})")
    return params, notes


def build_context(run: Run, logs: RunLogs) -> RunContext:
    params, notes = _params_with_log_facts(run, logs)
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
    if "total_steps" in logs.facts and plan.total_steps and logs.facts["total_steps"][0] != plan.total_steps:
        notes.append(f"the console log says {logs.facts['total_steps'][0]} total steps, the parameters give "
                     f"{plan.total_steps}")
    return RunContext(run=run, params=params, plan=plan, schedule=schedule, logs=logs, notes=tuple(notes))

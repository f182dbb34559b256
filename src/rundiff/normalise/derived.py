"""Rows rundiff computes from a run's other cells: the numbers people work out by hand.

Every derived cell says what it was computed from, so a reader can check the arithmetic.
"""

from __future__ import annotations

from typing import Any

from rundiff.errors import RundiffError
from rundiff.model import Cell, Provenance
from rundiff.normalise.registry import Registry
from rundiff.normalise.steps import PLAN_INPUTS, plan_steps


def _known(cells: dict[str, Cell], name: str) -> Any:
    cell = cells.get(name)
    return cell.value if cell is not None and cell.known else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def add_derived(cells: dict[str, Cell], registry: Registry) -> None:
    def put(name: str, value: Any, note: str) -> None:
        if name not in cells or not cells[name].known or cells[name].provenance is Provenance.DEFAULT:
            cells[name] = Cell(value, Provenance.DERIVED, None, note)

    batch = _number(_known(cells, "train_batch_size"))
    accumulation = _number(_known(cells, "gradient_accumulation_steps")) or None
    if batch is not None:
        accumulation = accumulation or 1.0
        processes = _number(_known(cells, "accelerate.num_processes")) or 1.0
        value = int(batch * accumulation * processes)
        note = f"train_batch_size {batch:g} x gradient_accumulation_steps {accumulation:g}"
        if processes != 1:
            note += f" x num_processes {processes:g}"
        put("effective_batch_size", value, note)

    dim, alpha = _number(_known(cells, "network_dim")), _number(_known(cells, "network_alpha"))
    if dim and alpha is not None:
        put("lora_scale", round(alpha / dim, 6), f"network_alpha {alpha:g} / network_dim {dim:g}")
    conv_dim, conv_alpha = _number(_known(cells, "conv_dim")), _number(_known(cells, "conv_alpha"))
    if conv_dim and conv_alpha is not None:
        put("conv_scale", round(conv_alpha / conv_dim, 6), f"conv_alpha {conv_alpha:g} / conv_dim {conv_dim:g}")

    images, repeats = _number(_known(cells, "image_count")), _number(_known(cells, "num_repeats"))
    if images is not None and repeats is not None:
        put("num_train_images", int(images * repeats), f"image_count {images:g} x num_repeats {repeats:g}")

    params = {name: _known(cells, name) for name in PLAN_INPUTS}
    if (
        params["steps_per_epoch"] is None
        and params["num_batches_per_epoch"] is None
        and params["num_train_images"] is None
        and params["image_count"] is None
        and params["max_train_steps"] is None
    ):
        return
    if params["num_train_images"] is None and cells.get("num_train_images") is not None:
        params["num_train_images"] = _known(cells, "num_train_images")
    try:
        plan = plan_steps(params)
    except RundiffError:
        return
    if (
        plan.total_is_default
        and cells.get("max_train_steps", Cell(None, Provenance.UNKNOWN)).provenance is not Provenance.DEFAULT
    ):
        return  # the 1600-step default only holds when the trainer is known to be sd-scripts
    for name, value in (
        ("steps_per_epoch", plan.steps_per_epoch),
        ("num_epochs", plan.num_epochs),
        ("total_steps", plan.total_steps),
        ("warmup_steps", plan.warmup_steps),
    ):
        if value is not None:
            put(name, value, plan.note(name) or name)
    if plan.warmup_fraction is not None:
        put("warmup_fraction", round(plan.warmup_fraction, 6), plan.note("warmup_fraction"))

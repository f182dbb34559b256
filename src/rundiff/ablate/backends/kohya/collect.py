"""Read a kohya variant back: TensorBoard events -> metrics.csv / validation.csv, the LoRA file -> ‖ΔW‖.

metrics.csv columns (the one metrics format, the same meaning for every backend): step, epoch (when the
console said how many steps an epoch has), loss (`loss/current`), loss_avg (`loss/average`),
lr/<group> = **the LR step N ran with** (as the builtin backend writes it), lr_logged/<group> = what
sd-scripts logged at step N for every `lr/*` tag except its duplicate `lr/group<i>` tags,
wall_time_s (seconds since the event file was opened), dw, dw_rel.

**The logged LR is one step ahead.** sd-scripts steps the scheduler before it increments global_step
and logs `get_last_lr()`, so the value logged at step N is the LR after N scheduler steps: the LR
step N+1 runs with (measured on the real trainer: with 5 warmup steps, step 1 logs 2e-05 although
step 1 ran at 0). Reading converts it: `lr/<group>` at step N is the value logged at step N-1, and at
step 1 the initial LR (the group's base LR times the schedule's multiplier before any scheduler step:
0 under a warmup, else 1). Prodigy/D-Adaptation's `lr/d*lr/<group>` stays as logged (lr_logged/d*lr/...).

dw is the size of the trained update, sum over modules of ‖alpha/dim · up @ down‖_F, computed from
the saved LoRA (written on the last row). dw_rel needs the base model's weights, which this backend
never loads: it stays empty.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from rundiff.ablate.backend import METRICS_CSV, VALIDATION_CSV
from rundiff.ablate.results import write_metrics
from rundiff.errors import RundiffError

LOGS = "logs"
OUTPUT = "output"
#: A LoRA file over this size is not read for ΔW (the header is still fine for compare).
MAX_LORA_BYTES = 2 * 1024**3
_GROUP_TAG = re.compile(r"^lr/(?:d\*lr/)?group\d+$")
_VALIDATION_STEP = {"loss/validation/step_average": "val_loss", "loss/validation/step_divergence": "val_divergence"}
_VALIDATION_EPOCH = {
    "loss/validation/epoch_average": "val_epoch_loss",
    "loss/validation/epoch_divergence": "val_epoch_divergence",
}
_STEPS_PER_EPOCH = re.compile(r"num batches per epoch[^:]*:\s*(\d+)")
_ACCUMULATION = re.compile(r"gradient accumulation steps[^=]*=\s*(\d+)")


def newest_event_file(folder: Path) -> Path | None:
    """The newest `events.out.tfevents.*` under folder/logs (layout logs/<timestamp>/network_train/...)."""
    files = [p for p in (folder / LOGS).rglob("events.out.tfevents.*") if p.is_file()]
    return max(files, key=lambda p: (p.stat().st_mtime, p.name)) if files else None


def read_scalars(path: Path) -> tuple[dict[str, list[tuple[int, float, float]]], float | None]:
    """tag -> [(step, value, wall_time)], and the wall time the file was opened at."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(path), size_guidance={"scalars": 0})
    try:
        accumulator.Reload()
        tags = accumulator.Tags().get("scalars", [])
    except Exception as exc:  # the reader's own errors vary across tensorboard versions
        raise RundiffError(f"not a readable TensorBoard event file ({exc.__class__.__name__})", path) from None
    try:
        opened = float(accumulator.FirstEventTimestamp())
    except ValueError:
        opened = None
    return {
        tag: [(int(e.step), float(e.value), float(e.wall_time)) for e in accumulator.Scalars(tag)] for tag in tags
    }, opened


def _by_step(points: list[tuple[int, float, float]]) -> dict[int, tuple[float, float]]:
    """One value per step: the last one logged (gradient accumulation logs a step several times)."""
    return {step: (value, wall) for step, value, wall in points}


def lr_tags(scalars: dict[str, list[tuple[int, float, float]]]) -> list[str]:
    """`lr/*` tags without the duplicate `lr/group<i>` ones sd-scripts logs next to the named groups."""
    named = [t for t in scalars if t.startswith("lr/") and not _GROUP_TAG.match(t)]
    keep = list(named)
    for tag in scalars:
        if not _GROUP_TAG.match(tag):
            continue
        values = [v for _, v, _ in scalars[tag]]
        duplicate = any(
            [v for _, v, _ in scalars[other]] == values
            for other in named
            if other.startswith("lr/d*lr/") == tag.startswith("lr/d*lr/")
        )
        if not duplicate:
            keep.append(tag)
    return sorted(keep)


def read_command(folder: Path) -> dict[str, Any]:
    """The trainer arguments of the variant (from command.json), as sd-scripts' command line spells them."""
    try:
        argv = json.loads((folder / "command.json").read_text(encoding="utf-8"))["argv"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    args: dict[str, Any] = {}
    script_at = next((i for i, a in enumerate(argv) if str(a).endswith(".py")), None)
    if script_at is None:
        return {}
    name = None
    for word in argv[script_at + 1 :]:
        if word.startswith("--"):
            key, eq, value = word[2:].partition("=")
            args[key] = value if eq else True
            name = None if eq else key
        elif name is not None:
            args[name] = word if args[name] is True else [*_as_list(args[name]), word]
    return args


def _as_list(value: Any) -> list[str]:
    return value if isinstance(value, list) else [value]


def _config_values(folder: Path, args: dict[str, Any]) -> dict[str, Any]:
    """Arguments with the --config_file copy filling what the command line leaves out."""
    import tomllib

    merged: dict[str, Any] = {}
    config = args.get("config_file")
    if isinstance(config, str):
        try:
            data = tomllib.loads((folder / config).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError):
            data = {}
        for key, value in data.items():
            merged.update(value) if isinstance(value, dict) else merged.__setitem__(key, value)
    merged.update(args)
    return merged


def initial_lr(group: str, args: dict[str, Any], first_logged: float, steps: int) -> float | None:
    """The LR step 1 ran with: the group's base LR times the schedule's multiplier before any step."""
    from rundiff.ablate.backends.kohya.backend import int_or_float
    from rundiff.diagnose.schedule import SIMULATED_SCHEDULERS, lr_multiplier
    from rundiff.normalise.values import ValueProblem, to_int

    scheduler = str(args.get("lr_scheduler") or "constant").lower()
    warmup = int_or_float(args.get("lr_warmup_steps", 0)) or 0
    warmup_steps = int(warmup * steps) if isinstance(warmup, float) else int(warmup)
    if scheduler not in SIMULATED_SCHEDULERS or args.get("lr_scheduler_type"):
        return None
    if warmup_steps > 0 and scheduler != "constant":
        return 0.0
    base = _group_base_lr(group, args)
    if base is not None:
        return base
    raw_cycles = args.get("lr_scheduler_num_cycles")
    try:  # the one value reader: argv text as argparse's int() reads it, a config value as typed
        cycles = to_int(raw_cycles, argv=isinstance(raw_cycles, str)) if raw_cycles is not None else 1
    except ValueProblem:
        cycles = 1
    after_one = lr_multiplier(scheduler, 1, warmup=warmup_steps, total=steps, num_cycles=cycles)
    return first_logged / after_one if after_one > 0 else None


def _group_base_lr(group: str, args: dict[str, Any]) -> float | None:
    def number(value: Any) -> float | None:
        if isinstance(value, list):
            value = value[0] if value else None
        try:
            return float(value) if value is not None else None
        except (TypeError, ValueError):
            return None

    learning_rate = number(args.get("learning_rate"))
    if group == "unet":
        return number(args.get("unet_lr")) or learning_rate
    if group == "textencoder":
        return number(args.get("text_encoder_lr")) or learning_rate
    return None


def lora_delta_norm(path: Path) -> float:
    """Sum over modules of ‖alpha/dim · up @ down‖_F (conv kernels flattened), in float64.

    ‖U D‖_F² = trace((UᵀU)(D Dᵀ)): two rank×rank products instead of the full out×in matrix.
    """
    import numpy as np

    tensors = read_tensors(path)
    total = 0.0
    for name, down in tensors.items():
        if not name.endswith(".lora_down.weight"):
            continue
        module = name[: -len(".lora_down.weight")]
        up = tensors.get(module + ".lora_up.weight")
        if up is None:
            continue
        d = down.astype(np.float64).reshape(down.shape[0], -1)
        u = up.astype(np.float64).reshape(up.shape[0], -1)
        alpha = tensors.get(module + ".alpha")
        scale = float(alpha.astype(np.float64).reshape(-1)[0]) / d.shape[0] if alpha is not None else 1.0
        squared = float(np.trace((u.T @ u) @ (d @ d.T)))
        total += abs(scale) * math.sqrt(max(squared, 0.0))
    return total


_DTYPES = {"F16": "<f2", "F32": "<f4", "F64": "<f8", "BF16": "<u2"}


def read_tensors(path: Path) -> dict[str, Any]:
    """The LoRA's tensors as numpy arrays (bf16 widened to float32), read straight from the safetensors layout.

    Our own reader rather than safetensors.numpy because numpy has no bfloat16; sizes are capped.
    """
    import numpy as np

    size = path.stat().st_size
    if size > MAX_LORA_BYTES:
        raise RundiffError(f"LoRA larger than {MAX_LORA_BYTES} bytes: ΔW not computed", path)
    with path.open("rb") as fh:
        length = int.from_bytes(fh.read(8), "little")
        if not 2 <= length <= min(100 * 1024**2, size - 8):
            raise RundiffError("not a safetensors file (bad header length)", path)
        try:
            header = json.loads(fh.read(length))
        except ValueError:
            raise RundiffError("not a safetensors file (header is not JSON)", path) from None
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + length)
    tensors: dict[str, Any] = {}
    for name, spec in header.items():
        if name == "__metadata__" or not isinstance(spec, dict) or spec.get("dtype") not in _DTYPES:
            continue
        start, stop = spec["data_offsets"]
        if not 0 <= start <= stop <= data.shape[0]:
            raise RundiffError(f"tensor {name} lies outside the file", path)
        array = np.frombuffer(data[start:stop], dtype=_DTYPES[spec["dtype"]])
        if spec["dtype"] == "BF16":
            array = (array.astype(np.uint32) << 16).view(np.float32)
        tensors[name] = array.reshape(spec["shape"])
    return tensors


def final_lora(folder: Path, stem: str | None) -> Path | None:
    out = folder / OUTPUT
    if stem and (out / f"{stem}.safetensors").is_file():
        return out / f"{stem}.safetensors"
    files = sorted(out.glob("*.safetensors"), key=lambda p: p.stat().st_mtime) if out.is_dir() else []
    return files[-1] if files else None


def last_message(folder: Path) -> str:
    """The last non-empty line the trainer printed (stderr first: that is where sd-scripts logs)."""
    for name in ("stderr.log", "stdout.log"):
        try:
            lines = re.split(r"[\r\n]+", (folder / name).read_text(encoding="utf-8", errors="replace"))
        except OSError:
            continue
        lines = [line.strip() for line in lines if line.strip()]
        if lines:
            return lines[-1][:300]
    return "(no output)"


def console_facts(folder: Path) -> dict[str, int]:
    facts: dict[str, int] = {}
    try:
        text = (folder / "stdout.log").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return facts
    for name, pattern in (("steps_per_epoch", _STEPS_PER_EPOCH), ("accumulation", _ACCUMULATION)):
        match = pattern.search(text)
        if match:
            facts[name] = int(match.group(1))
    return facts


def collect_variant(folder: Path) -> list[str]:
    """Write metrics.csv (and validation.csv) of a finished kohya variant; returns warnings."""
    warnings: list[str] = []
    args = _config_values(folder, read_command(folder))
    events = newest_event_file(folder)
    stem = args.get("output_name") if isinstance(args.get("output_name"), str) else None
    lora = final_lora(folder, stem)
    if events is None and lora is None:  # sd-scripts returns with status 0 when it finds no images
        raise RundiffError(
            "the trainer exited normally but wrote no TensorBoard events and no LoRA; its last "
            f"message: {last_message(folder)}",
            folder,
        )
    if events is None:
        scalars, opened = {}, None
        warnings.append("no TensorBoard events under logs/: losses and LRs come from the console (avr_loss only)")
    else:
        scalars, opened = read_scalars(events)
    facts = console_facts(folder)
    steps_total = _int(args.get("max_train_steps"))
    rows = _step_rows(scalars, opened, args, steps_total, facts, warnings)
    if not rows:
        rows = _console_rows(folder)
    tags = list(lr_tags(scalars))
    applied = [t for t in tags if not t.startswith("lr/d*lr")]
    logged = [f"lr_logged/{t[3:]}" for t in tags]
    if lora is None:
        warnings.append("no LoRA .safetensors in output/: dw not computed")
    elif rows:
        try:
            rows[-1]["dw"] = lora_delta_norm(lora)
        except (RundiffError, OSError, ValueError) as err:
            warnings.append(f"dw not computed: {err}")
    columns = ["step", "epoch", "loss", "loss_avg", *applied, *logged, "wall_time_s", "dw", "dw_rel"]
    write_metrics(folder, rows, columns, METRICS_CSV)
    validation = _validation_rows(scalars, facts)
    if validation:
        write_metrics(
            folder,
            validation,
            ["step", "epoch", "val_loss", "val_divergence", "val_epoch_loss", "val_epoch_divergence"],
            VALIDATION_CSV,
        )
    if rows and steps_total and rows[-1]["step"] != steps_total:
        warnings.append(f"the trainer logged {rows[-1]['step']} steps of {steps_total}")
    return warnings


def _int(value: Any) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def _step_rows(
    scalars: dict[str, list[tuple[int, float, float]]],
    opened: float | None,
    args: dict[str, Any],
    steps_total: int | None,
    facts: dict[str, int],
    warnings: list[str],
) -> list[dict[str, Any]]:
    series = {
        tag: _by_step(points)
        for tag, points in scalars.items()  # per-step tags only: the epoch
        if not tag.startswith(("loss/epoch", "loss/validation"))
    }  # ones are logged at the epoch number
    steps = sorted({s for points in series.values() for s in points if s > 0})
    if any(len(points) != len(_by_step(points)) for points in scalars.values()):
        warnings.append("a step was logged several times (gradient accumulation): its last value is kept")
    per_epoch = facts.get("steps_per_epoch")
    accumulation = facts.get("accumulation", 1) or 1
    steps_per_epoch = math.ceil(per_epoch / accumulation) if per_epoch else None
    rows = []
    for step in steps:
        row: dict[str, Any] = {"step": step}
        if steps_per_epoch:
            row["epoch"] = (step - 1) // steps_per_epoch + 1
        for tag, column in (("loss/current", "loss"), ("loss/average", "loss_avg")):
            if step in series.get(tag, {}):
                row[column] = series[tag][step][0]
        walls = [points[step][1] for points in series.values() if step in points]
        if walls and opened is not None:
            row["wall_time_s"] = round(max(walls) - opened, 3)
        rows.append(row)
    total = steps_total or (steps[-1] if steps else 0)
    for tag in lr_tags(scalars):
        logged = series[tag]
        for row in rows:
            if row["step"] in logged:
                row[f"lr_logged/{tag[3:]}"] = logged[row["step"]][0]
        if tag.startswith("lr/d*lr"):
            continue
        group = tag[3:]
        first = logged.get(1, (None,))[0] if logged else None
        start = initial_lr(group, args, first, total) if first is not None else None
        if start is None and rows:
            warnings.append(
                f"{tag}: the LR of step 1 is not known (scheduler not simulated); lr/{group} starts at step 2"
            )
        for row in rows:
            previous = logged.get(row["step"] - 1)
            row[f"lr/{group}"] = start if row["step"] == 1 else (previous[0] if previous else None)
    return rows


def _console_rows(folder: Path) -> list[dict[str, Any]]:
    from rundiff.ingest.logs.text import read_text_log

    path = folder / "stderr.log"
    if not path.is_file():
        return []
    logs = read_text_log(path)
    rows: dict[int, dict[str, Any]] = {}
    for point in logs.get("loss/average"):
        if point.step is not None and point.step > 0:
            rows[point.step] = {"step": point.step, "loss_avg": point.value}
    return [rows[s] for s in sorted(rows)]


def _validation_rows(scalars: dict[str, list[tuple[int, float, float]]], facts: dict[str, int]) -> list[dict]:
    rows: dict[tuple[str, int], dict[str, Any]] = {}
    for tag, column in _VALIDATION_STEP.items():
        for step, value, _ in scalars.get(tag, []):
            rows.setdefault(("step", step), {"step": step})[column] = value
    per_epoch = facts.get("steps_per_epoch")
    for tag, column in _VALIDATION_EPOCH.items():
        for epoch, value, _ in scalars.get(tag, []):
            row = rows.setdefault(("epoch", epoch), {"epoch": epoch})
            if per_epoch:
                row["step"] = epoch * per_epoch
            row[column] = value
    return sorted(rows.values(), key=lambda r: (r.get("step") or 0, r.get("epoch") or 0))

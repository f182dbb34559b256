"""Read a finished (or half-finished) sweep back from its folder, for the verdict and the report.

Every variant the plan names is kept, whatever became of it: a failed or interrupted variant is shown
in the report with its stderr tail and left out of the statistics, which use only ``status == "done"``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rundiff.ablate.backend import VARIANT_JSON
from rundiff.ablate.plan import PLAN_FILE
from rundiff.ablate.results import Metrics, read_metrics, read_record
from rundiff.errors import RundiffError

#: The final score of a curve is its mean over this last fraction of the steps: one step of a diffusion
#: loss is a draw over random timesteps and noise, far too noisy to compare on its own.
TAIL_FRACTION = 0.2

#: Backends whose numbers come from a small stand-in model rather than the user's own.
PROXY_BACKENDS = frozenset({"builtin"})
PROXY_LABEL = "proxy-model dynamics, not image quality"


@dataclass(frozen=True)
class VariantOutcome:
    """One variant as the report sees it: what was varied, how it ended, its metrics and final scores."""

    name: str
    overrides: dict[str, Any]
    seed: int
    factor: str | None
    status: str  # pending | running | done | failed | interrupted | unreadable
    backend: str
    metrics: Metrics
    is_base_value: bool = False
    wall_time_s: float | None = None
    stderr_tail: str = ""
    warnings: tuple[str, ...] = ()
    final_loss: float | None = None
    final_val_loss: float | None = None
    dw: float | None = None
    dw_rel: float | None = None
    last_step: int | None = None
    steps_per_second: float | None = None

    @property
    def finished(self) -> bool:
        return self.status == "done"

    def score(self, metric: str) -> float | None:
        """Final score of ``metric`` (loss, val_loss or dw); None when unfinished or not measured."""
        if not self.finished:
            return None
        return {"loss": self.final_loss, "val_loss": self.final_val_loss, "dw": self.dw}[metric]


@dataclass(frozen=True)
class Sweep:
    """plan.json and every variant folder of one ``rundiff ablate`` output folder."""

    path: Path
    base_name: str
    base_path: str
    factors: tuple[str, ...]
    steps: int
    seeds: tuple[int, ...]
    grid: bool
    notes: tuple[str, ...]
    variants: tuple[VariantOutcome, ...]
    horizon: str = "unknown"  # compressed | prefix; "unknown" for sweeps written before it was recorded
    schedules: tuple[str, ...] = ()  # one line per distinct short-run LR schedule (plan.schedule_lines)
    executor: dict[str, Any] | None = None  # the engine plan.json records (local, ray, slurm)
    base_env: dict[str, str] | None = None  # assignments in the base run's files: shown, never applied

    @property
    def backend(self) -> str:
        names = sorted({v.backend for v in self.variants if v.backend})
        return "+".join(names) if names else "unknown"

    @property
    def proxy(self) -> bool:
        return any(v.backend in PROXY_BACKENDS for v in self.variants)

    def of_factor(self, factor: str) -> list[VariantOutcome]:
        return [v for v in self.variants if v.factor == factor]


def tail_mean(steps: list[float], values: list[float], fraction: float = TAIL_FRACTION) -> float | None:
    """Mean over the rows in the last ``fraction`` of the steps (the last row at least).

    None when fewer than half of those rows hold a finite value: the run diverged (NaN or inf loss)
    or never measured it, and a mean of what came before would hide that.
    """
    rows = [(s, v) for s, v in zip(steps, values, strict=False) if math.isfinite(s)]
    if not rows:
        return None
    first, last = min(s for s, _ in rows), max(s for s, _ in rows)
    start = last - fraction * (last - first + 1)
    window = [v for s, v in rows if s > start]
    finite = [v for v in window if math.isfinite(v)]
    if not finite or len(finite) * 2 < len(window):
        return None
    return sum(finite) / len(finite)


def last_finite(steps: list[float], values: list[float]) -> float | None:
    """The value at the last row, when it is finite."""
    rows = [(s, v) for s, v in zip(steps, values, strict=False) if math.isfinite(s)]
    if not rows:
        return None
    value = max(rows, key=lambda row: row[0])[1]
    return value if math.isfinite(value) else None


def load_sweep(out_dir: Path) -> Sweep:
    """The sweep in ``out_dir``: its plan.json and the folder of every variant the plan names."""
    out_dir = Path(out_dir)
    plan_path = out_dir / PLAN_FILE
    try:
        plan = json.loads(plan_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RundiffError(f"no {PLAN_FILE} here: not a rundiff ablate folder", plan_path) from None
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise RundiffError(f"unreadable {PLAN_FILE}: {err}", plan_path) from None
    if not isinstance(plan, dict) or not isinstance(plan.get("variants"), list):
        raise RundiffError(f"{PLAN_FILE} has no list of variants", plan_path, key="variants")
    base = plan.get("base") if isinstance(plan.get("base"), dict) else {}
    variants = tuple(_load_variant(out_dir, entry, plan_path) for entry in plan["variants"])
    return Sweep(
        path=out_dir,
        base_name=str(base.get("name", "")),
        base_path=str(base.get("path", "")),
        factors=tuple(str(f) for f in _list(plan.get("factors"))),
        steps=_int(plan.get("steps")) or 0,
        seeds=tuple(s for s in (_int(x) for x in _list(plan.get("seeds"))) if s is not None),
        grid=bool(plan.get("grid", False)),
        notes=tuple(str(n) for n in _list(plan.get("notes"))),
        variants=variants,
        horizon=str(plan.get("horizon") or "unknown"),
        schedules=_schedule_lines(plan),
        executor=plan.get("executor") if isinstance(plan.get("executor"), dict) else None,
        base_env={str(k): str(v) for k, v in plan["base_env_not_applied"].items()}
        if isinstance(plan.get("base_env_not_applied"), dict)
        else None,
    )


def _schedule_lines(plan: dict[str, Any]) -> tuple[str, ...]:
    from rundiff.ablate.plan import describe_schedule

    lines: dict[str, list[str]] = {}
    for entry in _list(plan.get("variants")):
        if isinstance(entry, dict) and isinstance(entry.get("schedule"), dict):
            lines.setdefault(describe_schedule(entry["schedule"]), []).append(str(entry.get("name")))
    if len(lines) == 1:
        return (next(iter(lines)),)
    return tuple(f"{text} [{', '.join(names)}]" for text, names in lines.items())


def _load_variant(out_dir: Path, entry: Any, plan_path: Path) -> VariantOutcome:
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        raise RundiffError("a variant in the plan has no name", plan_path, key="variants")
    name = entry["name"]
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise RundiffError(f"variant name {name!r} is not a folder inside the sweep", plan_path, key="variants")
    folder = out_dir / name
    overrides = entry.get("overrides") if isinstance(entry.get("overrides"), dict) else {}
    seed = _int(entry.get("seed")) or 0
    factor = entry.get("factor") if isinstance(entry.get("factor"), str) else None
    is_base = bool(entry.get("is_base_value", False))
    record = read_record(folder)
    if record is None:
        status = "unreadable" if (folder / VARIANT_JSON).exists() else "pending"
        return VariantOutcome(name, overrides, seed, factor, status, "", Metrics(), is_base)
    metrics = read_metrics(folder) if record.status == "done" else Metrics()
    loss_steps, loss = metrics.series("loss")
    val_steps, val = metrics.series("val_loss")
    dw_steps, dw = metrics.series("dw")
    _, dw_rel = metrics.series("dw_rel")
    last_step = max((s for s in loss_steps if math.isfinite(s)), default=None)
    train_wall = last_finite(*metrics.series("wall_time_s"))
    wall = _float(record.wall_time_s)
    wall_for_speed = train_wall if train_wall else wall
    speed = last_step / wall_for_speed if last_step and wall_for_speed else None
    return VariantOutcome(
        name=name,
        overrides=overrides,
        seed=seed,
        factor=factor,
        status=str(record.status),
        backend=str(record.backend or ""),
        metrics=metrics,
        is_base_value=is_base,
        wall_time_s=wall,
        stderr_tail=str(record.stderr_tail or ""),
        warnings=tuple(str(w) for w in _list(record.warnings)),
        final_loss=tail_mean(loss_steps, loss),
        final_val_loss=tail_mean(val_steps, val),
        dw=last_finite(dw_steps, dw),
        dw_rel=last_finite(dw_steps, dw_rel),
        last_step=int(last_step) if last_step is not None else None,
        steps_per_second=speed,
    )


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)

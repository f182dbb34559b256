"""Plan an ablation: which variants to train, each differing from the base run by one setting.

Every override is checked against the registry before anything runs: an unknown name is an error
that lists the closest names, a value of the wrong type is an error, a derived row cannot be set, a
parameter another setting of the base run overrides (the registry's `overridden_by`) cannot be varied,
values that are all the base run's own are refused, and so is a value that could not be passed to the
trainer as exactly one argument. Each variant also gets its short-run LR schedule (`horizon`).
"""

from __future__ import annotations

import difflib
import hashlib
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rundiff.ablate.horizon import DEFAULT_HORIZON, short_schedule
from rundiff.ablate.safety import check_value, plain, shown
from rundiff.errors import RundiffError
from rundiff.model import Run
from rundiff.normalise.registry import Registry, load_registry
from rundiff.normalise.values import ValueProblem, coerce, values_equal

PLAN_FILE = "plan.json"


@dataclass(frozen=True)
class Variant:
    """One short training: the base run with ``overrides`` applied, trained with ``seed``."""

    name: str  # folder name, named by what changed: "network_dim=64", "network_dim=64,seed=1"
    overrides: dict[str, Any]
    seed: int
    factor: str | None  # the varied parameter(s), "+"-joined for a grid; None for the base itself
    is_base_value: bool = False  # its overrides equal the base run's own values
    schedule: dict[str, Any] | None = None  # the short run's LR schedule (`horizon.ShortSchedule.to_json`)

    def config_hash(self, base_values: dict[str, Any], settings: dict[str, Any]) -> str:
        """Key of the effective config: a finished variant with the same key is not trained again."""
        effective = {**base_values, **self.overrides, "seed": self.seed, **settings}
        blob = json.dumps(effective, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


@dataclass
class Plan:
    base_path: str
    base_name: str
    factors: list[str]
    variants: list[Variant]
    steps: int
    seeds: list[int]
    base_values: dict[str, Any] = field(default_factory=dict)
    grid: bool = False
    notes: list[str] = field(default_factory=list)
    horizon: str = DEFAULT_HORIZON
    executor: dict[str, Any] = field(default_factory=dict)  # the engine that runs it (set by the driver)
    backend: str = ""
    base_env: dict[str, str] = field(default_factory=dict)  # assignments in the base's files: shown, not applied

    def to_json(self) -> dict[str, Any]:
        return {
            "base": {"name": self.base_name, "path": self.base_path},
            "factors": self.factors,
            "steps": self.steps,
            "seeds": self.seeds,
            "grid": self.grid,
            "horizon": self.horizon,
            "backend": self.backend,
            "executor": self.executor,
            "base_env_not_applied": self.base_env,
            "variants": [
                {
                    "name": v.name,
                    "overrides": v.overrides,
                    "seed": v.seed,
                    "factor": v.factor,
                    "is_base_value": v.is_base_value,
                    "schedule": v.schedule,
                }
                for v in self.variants
            ],
            "notes": self.notes,
        }

    def schedule_lines(self) -> list[str]:
        """One line per distinct short-run schedule, naming the variants that use it."""
        lines: dict[str, list[str]] = {}
        for variant in self.variants:
            if variant.schedule:
                lines.setdefault(describe_schedule(variant.schedule), []).append(variant.name)
        if len(lines) == 1:
            return [f"LR horizon {next(iter(lines))}"]
        return [f"LR horizon {text} [{', '.join(names)}]" for text, names in lines.items()]


def check_name(name: str, registry: Registry) -> str:
    """The canonical parameter for ``name`` (an alias of any source kind is accepted)."""
    param = registry.get(name)
    if param is None:
        for kind in ("cli", "gui", "trainer_config", "metadata"):
            hit = registry.lookup(kind, name)
            if hit is not None:
                param = hit[0]
                break
    if param is None:
        close = difflib.get_close_matches(name, list(registry.parameters), n=5, cutoff=0.55)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise RundiffError(f"unknown parameter {name!r}{hint}", key=name)
    if param.derived:
        raise RundiffError(f"{param.name} is computed from other settings; vary one of those instead", key=name)
    if param.type == "kv_list":
        raise RundiffError(f"{param.name} is a list of options; vary one option (e.g. conv_dim) instead", key=name)
    return param.name


def parse_value(name: str, raw: Any, registry: Registry) -> Any:
    param = registry.get(name)
    assert param is not None
    try:
        value = coerce(param, raw, argv=isinstance(raw, str))  # --values text is read as a command line is
    except ValueProblem as err:
        raise RundiffError(f"{name}: {err} (a {param.type} is expected)", key=name) from None
    if param.choices and isinstance(value, str) and value not in param.choices:
        raise RundiffError(f"{name}: {value!r} is not one of {', '.join(param.choices)}", key=name)
    return value


def describe_schedule(schedule: dict[str, Any]) -> str:
    """The plan.json form of a short-run schedule as one line (see `horizon.ShortSchedule.describe`)."""
    from rundiff.ablate.horizon import ShortSchedule

    try:
        return ShortSchedule(
            schedule["horizon"],
            schedule["lr_scheduler"],
            schedule["steps"],
            schedule["warmup_steps"],
            schedule["schedule_steps"],
            schedule.get("base_total_steps"),
            schedule.get("base_warmup_steps"),
            schedule.get("peak_lr_fraction"),
        ).describe()
    except (KeyError, TypeError, ValueError):
        return "unknown"


def check_shadowed(name: str, base: Run, base_values: dict[str, Any], registry: Registry) -> None:
    """Refuse varying ``name`` when the base run's other settings make it change nothing: a rule of the
    registry's ``overridden_by`` holds (learning_rate under unet_lr and text_encoder_lr), or its
    ``active_when`` condition fails (lr_scheduler_num_cycles under a cosine scheduler)."""
    from rundiff.comparison.activity import inactive_because, is_set

    param = registry.get(name)
    for rule in param.overridden_by if param is not None else ():
        if all(is_set(base_values.get(other)) for other in rule.params):
            setting = " and ".join(f"{other}={_label(base_values[other])}" for other in rule.params)
            effective = rule.effective or " / ".join(rule.params)
            raise RundiffError(
                f"{name} is overridden in the base run by {setting}: {rule.why}; every variant "
                f"would train the same; vary {effective} instead",
                key=name,
            )
    reason = inactive_because(param, base)
    if reason is not None:
        raise RundiffError(f"{name} has {reason} in the base run; every variant would train the same", key=name)


def plan_ablation(
    base: Run,
    vary: list[str],
    *,
    values: list[str] | None = None,
    like: list[Run] | None = None,
    grid: bool = False,
    steps: int = 300,
    seeds: list[int] | None = None,
    registry: Registry | None = None,
    horizon: str = DEFAULT_HORIZON,
) -> Plan:
    """Variants for each varied parameter (one factor at a time, or their product with ``grid``)."""
    registry = registry or load_registry()
    if not vary:
        raise RundiffError("nothing to vary: give --vary NAME")
    if steps < 1:
        raise RundiffError(f"--steps must be at least 1, not {steps}")
    seeds = seeds or [0]
    names = [check_name(v, registry) for v in vary]
    if values is not None and len(names) > 1:
        raise RundiffError("--values applies to one --vary; with several, use --like runs or the ladders")
    base_values = {name: cell.value for name, cell in base.cells.items() if cell.known}
    notes: list[str] = []
    levels: dict[str, list[Any]] = {}
    for name in names:
        check_shadowed(name, base, base_values, registry)
        if values is not None:
            found = [parse_value(name, v, registry) for v in values]
            for value in found:
                check_value(name, value, "--values")
            source = "--values"
            if name in base_values and all(values_equal(base_values[name], v) for v in found):
                raise RundiffError(
                    f"every --values value of {name} is the base run's own "
                    f"({shown(_label(base_values[name]))}); nothing would differ",
                    key=name,
                )
        elif like:
            found = []
            for run in like:
                if run.get(name).known:
                    check_value(name, run.value(name), f"--like {run.path}")
                    found.append(run.value(name))
            source = "--like runs"
            missing = [run.name for run in like if not run.get(name).known]
            if missing:
                notes.append(f"{name} is unknown in {', '.join(missing)}; those runs add no value")
        else:
            found = [parse_value(name, v, registry) for v in registry.get(name).ladder]
            source = "the registry's ladder"
            if not found:
                raise RundiffError(f"{name} has no default ladder; give --values", key=name)
        if name in base_values and not any(values_equal(base_values[name], v) for v in found):
            found.insert(0, base_values[name])
            notes.append(f"{name}: the base run's own value {shown(_label(base_values[name]))} is included")
        levels[name] = _distinct(found)
        if len(levels[name]) < 2:
            raise RundiffError(
                f"{name}: {source} give only one value ({shown(str(levels[name]))}); nothing to compare", key=name
            )
    variants = []
    combos: list[tuple[str | None, dict[str, Any]]] = []
    if grid and len(names) > 1:
        for product in itertools.product(*(levels[n] for n in names)):
            combos.append(("+".join(names), dict(zip(names, product, strict=True))))
    else:
        for name in names:
            combos.extend((name, {name: value}) for value in levels[name])
    for factor, overrides in combos:
        is_base = all(name in base_values and values_equal(base_values[name], v) for name, v in overrides.items())
        label = ",".join(f"{k}={_label(v)}" for k, v in overrides.items())
        schedule = short_schedule({**base_values, **overrides}, steps, horizon, label=f"variant {label}").to_json()
        for seed in seeds:
            name = label + (f",seed={seed}" if len(seeds) > 1 else "")
            variants.append(Variant(name, overrides, seed, factor, is_base, schedule))
    _check_unique([v.name for v in variants])
    return Plan(base.path, base.name, names, variants, steps, seeds, base_values, grid, notes, horizon)


def _distinct(values: list[Any]) -> list[Any]:
    out: list[Any] = []
    for value in values:
        if not any(values_equal(value, seen) for seen in out):
            out.append(value)
    return out


def _label(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, list):
        return "x".join(_label(v) for v in value)
    if isinstance(value, float):
        return format(value, "g")
    if isinstance(value, bool):
        return "true" if value else "false"
    return plain(str(value)).replace("/", "_").replace("\\", "_")


def _check_unique(names: list[str]) -> None:
    seen = set()
    for name in names:
        if name in seen:
            raise RundiffError(f"two variants would share the folder {name!r}")
        seen.add(name)


def write_plan(plan: Plan, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / PLAN_FILE
    path.write_text(json.dumps(plan.to_json(), indent=2, default=str) + "\n", encoding="utf-8")
    return path

"""The builtin backend: each variant trains the compact PyTorch proxy trainer in its own process.

The variant folder gets a flat sd-scripts-style `config.toml` (canonical names: the base run's
settings plus the override and the short-run settings), so `rundiff compare` and `diagnose` read it
like any kohya run. Results are proxy-model dynamics, not image quality.
"""

from __future__ import annotations

import json
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

from rundiff.ablate.backend import Progress, ShortRun
from rundiff.ablate.backends.tomlwrite import dump_flat
from rundiff.ablate.executors import Job
from rundiff.ablate.plan import Plan, Variant
from rundiff.ablate.safety import plain
from rundiff.errors import RundiffError
from rundiff.model import Provenance, Run

CONFIG_TOML = "config.toml"
#: Settings every variant writes the same way, so compare shows only what was varied.
FIXED = {"output_dir": ".", "output_name": "lora", "logging_dir": "logs"}


def _knob_names() -> set[str]:
    from rundiff.ablate.backends.builtin.config import TrainConfig

    return {f.name for f in fields(TrainConfig) if "convert" in f.metadata}


class BuiltinBackend:
    name = "builtin"

    def check(self, base: Run, plan: Plan) -> list[str]:
        from rundiff.ablate.backends.builtin import available
        from rundiff.ablate.backends.builtin.config import NO_EFFECT_ON_MATH

        missing = available()
        if missing:
            raise RundiffError(missing)
        knobs = _knob_names()
        warnings = []
        for factor in plan.factors:
            if factor in NO_EFFECT_ON_MATH:
                warnings.append(
                    f"{factor} changes memory, speed or files, not the training math: "
                    "the proxy trainer's curves will not differ"
                )
            elif factor not in knobs and factor != "seed":
                raise RundiffError(f"the builtin trainer does not model {factor}; use --backend kohya", key=factor)
        for variant in plan.variants:  # refuse bad combinations before any process starts
            self.train_config(base, variant, ShortRun(plan.steps))
        return warnings

    def params(self, base: Run, variant: Variant, short: ShortRun) -> dict[str, Any]:
        """The variant's effective settings (canonical names) as the config file will hold them."""
        knobs = _knob_names()
        values: dict[str, Any] = {}
        for name, cell in base.cells.items():
            if name in knobs and cell.known and cell.value is not None and cell.provenance is not Provenance.DERIVED:
                values[name] = cell.value
        data_dir = _dataset_dir(base)
        if data_dir is not None:
            values["train_data_dir"] = str(data_dir)
        elif "train_data_dir" in values and not Path(str(values["train_data_dir"])).is_dir():
            values.pop("train_data_dir")  # not on this machine: the built-in synthetic dataset is used
        values.pop("max_train_epochs", None)
        values.update(variant.overrides)
        values.update(FIXED)
        values["max_train_steps"] = short.steps
        values["seed"] = variant.seed
        schedule = variant.schedule or {}
        if schedule:  # the short-run horizon (rundiff.ablate.horizon): warmup in steps of the short run
            values["lr_warmup_steps"] = int(schedule["warmup_steps"])
            if schedule.get("horizon") == "prefix":
                values["lr_schedule_steps"] = int(schedule["schedule_steps"])
        if isinstance(values.get("resolution"), list):
            values["resolution"] = ",".join(str(v) for v in values["resolution"])
        return values

    def train_config(self, base: Run, variant: Variant, short: ShortRun):
        from rundiff.ablate.backends.builtin.config import TrainConfig

        params = {k: v for k, v in self.params(base, variant, short).items() if k not in FIXED or k == "output_name"}
        return TrainConfig.from_params(params, source=f"{base.name} + {variant.name}")

    def prepare(self, base: Run, variant: Variant, folder: Path, short: ShortRun) -> Job:
        folder.mkdir(parents=True, exist_ok=True)
        header = (
            f"rundiff ablate (builtin backend): {plain(base.name)} with {plain(variant.name)}\n"
            "proxy-model dynamics, not image quality"
        )
        (folder / CONFIG_TOML).write_text(dump_flat(self.params(base, variant, short), header), encoding="utf-8")
        argv = (sys.executable, "-m", "rundiff.ablate.backends.builtin.run", CONFIG_TOML, "--device", short.device)
        return Job(variant.name, argv, folder, {"PYTHONUNBUFFERED": "1", "PYTHONPATH": _package_root()}, short.device)

    def parse_progress(self, line: str) -> Progress | None:
        if not line.startswith("{"):
            return None
        try:
            data = json.loads(line)
            return Progress(int(data["step"]), int(data["total"]), data.get("loss"))
        except (ValueError, KeyError, TypeError):
            return None

    def collect(self, folder: Path) -> list[str]:
        try:
            result = json.loads((folder / "train_result.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return ["train_result.json missing"]
        return list(result.get("warnings") or [])


def _package_root() -> str:
    """The folder holding the `rundiff` package this process runs, so the trainer imports the same one."""
    import rundiff

    return str(Path(rundiff.__file__).resolve().parent.parent)


def _dataset_dir(base: Run) -> Path | None:
    """The base run's own kohya dataset folder (the parent of its <repeats>_<name> folders)."""
    for source in base.sources:
        if source.format == "dataset-folder" and Path(source.path).is_dir():
            return Path(source.path).resolve()
    return None

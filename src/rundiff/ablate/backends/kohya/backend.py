"""The kohya backend: each variant re-runs the user's own sd-scripts with the base run's own launch.

What a variant folder gets (see `rundiff.ablate.backend` for the common layout):

    train.sh        the exact command, one `--flag=value` per line, runnable by hand (`bash train.sh`)
    command.json    {"argv": [...], "cwd": ".", "env": {...}}: what the executor runs (no shell)
    <config>.toml   copies of the base's --config_file / --dataset_config, paths made absolute,
                    dataset overrides written in
    output/<stem>.safetensors, logs/<timestamp>/network_train/events.out.tfevents.*   (the trainer's)
    metrics.csv, validation.csv   written by `collect` from the TensorBoard events (`kohya_collect`)

The trainer runs as `accelerate launch [the base's accelerate options] <kohya_dir>/<script> ...` when
the base launched it with accelerate and an `accelerate` of the kohya python is found (next to that
python, or on PATH with a shebang pointing at it), else as `<python> <kohya_dir>/<script> ...`
(accelerate's `--num_cpu_threads_per_process` then becomes OMP_NUM_THREADS). The python is
`--kohya-python`, else `$KOHYA_VENV/bin/python`, else `<kohya_dir>/venv/bin/python` (or `.venv`),
else the python running rundiff.

Real-trainer facts this relies on (measured with sd-scripts 48d368fa on a CPU, see
tests/fixtures/real_kohya/README.md): a `constant` scheduler with warmup raises ValueError after the
whole model load (~27 s), so `check` refuses it up front; `--mixed_precision fp16` fails at the first
step on a CPU, so it is rewritten to `no` there (with a warning); start-up takes ~25-30 s before
the first step on the tiny model.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any

from rundiff.ablate.backend import Progress, ShortRun
from rundiff.ablate.backends.kohya.launch import (
    BaseLaunch,
    VariantLaunch,
    build_variant,
    placement,
    read_base_launch,
)
from rundiff.ablate.executors import Job
from rundiff.ablate.plan import Plan, Variant
from rundiff.ablate.safety import check_argv, plain
from rundiff.errors import RundiffError
from rundiff.model import Run
from rundiff.normalise.values import ValueProblem, to_number

TRAIN_SH = "train.sh"
COMMAND_JSON = "command.json"
ENV_KOHYA_DIR = "KOHYA_SD_SCRIPTS"
ENV_KOHYA_VENV = "KOHYA_VENV"
#: Scripts whose command line `kohya_args` describes exactly; others are checked against train_network.py's.
KNOWN_SCRIPTS = ("train_network.py", "sdxl_train_network.py")
#: Schedulers that refuse a warmup (sd-scripts' get_scheduler_fix raises ValueError for them).
NO_WARMUP = ("constant", "adafactor")

# tqdm's bar on stderr: "steps:  10%|█         | 4/40 [00:02<00:20,  1.80it/s, avr_loss=0.0912]"
_PROGRESS = re.compile(r"(?:^|[\s\r])steps:\s+\d+%\|[^|]*\|\s*(\d+)/(\d+)\b(.*)$")
_AVR_LOSS = re.compile(r"avr_loss=([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan|inf)")


class KohyaBackend:
    """Variants trained by the user's sd-scripts, as subprocesses (never through a shell)."""

    name = "kohya"

    def __init__(
        self, kohya_dir: Path | str | None = None, python: str | None = None, *, accelerate: str | bool | None = None
    ) -> None:
        """``accelerate``: None finds it, False never uses it, a path uses that program."""
        raw = kohya_dir if kohya_dir is not None else os.environ.get(ENV_KOHYA_DIR)
        if not raw:
            raise RundiffError(
                "the kohya backend needs your sd-scripts work tree: set --kohya-dir or "
                f"{ENV_KOHYA_DIR} (neither is set)"
            )
        self.kohya_dir = Path(raw).expanduser().absolute()
        if not self.kohya_dir.is_dir():
            raise RundiffError(
                "--kohya-dir: no such folder (set --kohya-dir or KOHYA_SD_SCRIPTS to your sd-scripts work tree)",
                self.kohya_dir,
            )
        self.python = find_python(self.kohya_dir, python)
        self.accelerate = find_accelerate(self.python, accelerate)

    # ------------------------------------------------------------------------------------- protocol

    def base_env(self, base: Run) -> dict[str, str]:
        """Variable assignments in the base run's launch script: shown in the plan, never applied."""
        try:
            return dict(read_base_launch(base).env)
        except RundiffError:
            return {}

    def installed(self, base_run: Run) -> bool:
        """True when the training script the base run launches exists in the kohya folder."""
        try:
            launch = read_base_launch(base_run)
        except RundiffError:
            return False
        return (self.kohya_dir / launch.script).is_file()

    def check(self, base: Run, plan: Plan) -> list[str]:
        launch = read_base_launch(base)
        warnings = list(launch.warnings)
        script = self.kohya_dir / launch.script
        if not script.is_file():
            raise RundiffError(
                f"{launch.script} is not in {self.kohya_dir} (the base run launches it); point "
                "--kohya-dir at your sd-scripts work tree",
                script,
            )
        if launch.script not in KNOWN_SCRIPTS:
            warnings.append(f"{launch.script}: overrides are checked against train_network.py's arguments")
        for factor in plan.factors:
            for name in factor.split("+"):
                if placement(name, launch.script) is None:
                    raise RundiffError(
                        f"{name} is not an argument of sd-scripts' {launch.script} (nor a dataset "
                        "config or --network_args key): the kohya backend can only vary what the "
                        "trainer reads; try --backend builtin",
                        key=name,
                    )
        if plan.horizon == "prefix":
            raise RundiffError(
                "--horizon prefix needs a trainer that stops before its schedule ends, and sd-scripts "
                "builds its scheduler over --max_train_steps: use --horizon compressed (the base "
                "schedule squeezed into the short run) or --backend builtin",
                key="horizon",
            )
        short = ShortRun(plan.steps)
        for variant in plan.variants:
            built = build_variant(launch, variant, short)
            refuse_scheduler(built, variant, plan.steps)
            groups, _ = self.command(launch, built, short)
            check_argv([w for g in groups for w in g], f"variant {plain(variant.name)}")
            warnings.extend(built.warnings)
        check_paths(build_variant(launch, plan.variants[0], short), launch)
        if launch.launcher == "accelerate" and self.accelerate is None:
            warnings.append(
                f"no accelerate found for {self.python}: the variants run with plain python "
                "(the base used accelerate launch)"
            )
        return _unique(warnings)

    def prepare(self, base: Run, variant: Variant, folder: Path, short: ShortRun) -> Job:
        launch = read_base_launch(base)
        built = build_variant(launch, variant, short)
        groups, env = self.command(launch, built, short)
        argv = [word for group in groups for word in group]
        check_argv(argv, f"variant {plain(variant.name)}")
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in built.files.items():
            (folder / name).write_text(text, encoding="utf-8")
        header = [
            f"rundiff ablate (kohya backend): {plain(base.name)} with {plain(variant.name)}",
            f"rebuilt from {plain(str(launch.source))}; runs from this folder (output/, logs/ and configs "
            "are relative)",
        ]
        if launch.env:
            header.append("not applied (set by the base run's script): " + ", ".join(plain(k) for k in launch.env))
        (folder / TRAIN_SH).write_text(train_sh(groups, env, header), encoding="utf-8")
        (folder / TRAIN_SH).chmod(0o755)
        command = {"argv": argv, "cwd": ".", "env": env}
        (folder / COMMAND_JSON).write_text(json.dumps(command, indent=2) + "\n", encoding="utf-8")
        return Job(variant.name, tuple(argv), folder, env)

    def parse_progress(self, line: str) -> Progress | None:
        match = _PROGRESS.search(line)
        if match is None or "validation steps" in line:
            return None
        loss = _AVR_LOSS.search(match.group(3))
        return Progress(int(match.group(1)), int(match.group(2)), float(loss.group(1)) if loss else None)

    def collect(self, folder: Path) -> list[str]:
        from rundiff.ablate.backends.kohya.collect import collect_variant

        return collect_variant(folder)

    # ------------------------------------------------------------------------------------- helpers

    def command(
        self, launch: BaseLaunch, built: VariantLaunch, short: ShortRun
    ) -> tuple[list[list[str]], dict[str, str]]:
        """The argv in groups (program, each option with its values) and the environment additions.

        Programs and the script are absolute; the per-variant paths (output, logs, configs) are relative.
        """
        script = str(self.kohya_dir / built.script)
        env = {"PYTHONUNBUFFERED": "1"}  # never the base script's assignments (rundiff.ablate.safety)
        if short.device == "cpu":
            env["CUDA_VISIBLE_DEVICES"] = ""  # a CPU sweep stays on the CPU even where a GPU exists
        elif short.device.startswith("cuda:") and "," not in short.device:
            env["CUDA_VISIBLE_DEVICES"] = short.device.split(":", 1)[1]
        trainer = built.trainer_groups()
        if launch.launcher == "accelerate" and self.accelerate is not None:
            options = [[f"--{k}" if v is True else f"--{k}={v}"] for k, v in built.launcher_args]
            return [[self.accelerate, "launch"], *options, [script], *trainer], env
        threads = dict(built.launcher_args).get("num_cpu_threads_per_process")
        if isinstance(threads, str) and threads.isascii() and threads.isdigit():
            env.setdefault("OMP_NUM_THREADS", threads)
        return [[self.python, script], *trainer], env


def find_python(kohya_dir: Path, python: str | None) -> str:
    if python:
        found = shutil.which(python) or (python if Path(python).is_file() else None)
        if not found:
            raise RundiffError("--kohya-python: no such program", python)
        return os.path.abspath(found)
    candidates = []
    venv = os.environ.get(ENV_KOHYA_VENV)
    if venv:
        candidates += [Path(venv) / "bin" / "python", Path(venv) / "Scripts" / "python.exe"]
    for name in ("venv", ".venv"):
        candidates += [kohya_dir / name / "bin" / "python", kohya_dir / name / "Scripts" / "python.exe"]
    for candidate in candidates:
        if candidate.is_file():
            return os.path.abspath(candidate)  # not resolved: a venv's python is a symlink
    return sys.executable


def find_accelerate(python: str, accelerate: str | bool | None) -> str | None:
    if accelerate is False:
        return None
    if isinstance(accelerate, str):
        return accelerate
    sibling = Path(python).parent / ("accelerate.exe" if os.name == "nt" else "accelerate")
    if sibling.is_file():
        return str(sibling)
    on_path = shutil.which("accelerate")
    if on_path and _shebang_dir(Path(on_path)) == Path(python).parent:
        return on_path
    return None


def _shebang_dir(program: Path) -> Path | None:
    """The folder of the interpreter a console script starts (its `#!` line)."""
    try:
        with program.open("rb") as fh:
            first = fh.readline(512).decode("utf-8", "replace")
    except OSError:
        return None
    if not first.startswith("#!"):
        return None
    words = first[2:].split()
    return Path(words[0]).parent if words else None


def int_or_float(value: Any) -> int | float | None:
    """sd-scripts' reading of --lr_warmup_steps, from the one value reader: on the command line (text)
    "10%" and values below 1 are ratios, whole numbers step counts, "2.0" refused; from the config a
    float stays a ratio. None when there is none or it cannot be read."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return to_number(value, argv=isinstance(value, str))
    except ValueProblem:
        return None


def refuse_scheduler(built: VariantLaunch, variant: Variant, steps: int) -> None:
    """A warmup on a scheduler that takes none: the real trainer raises ValueError after loading everything."""
    scheduler = str(built.effective("lr_scheduler", "constant") or "constant").lower()
    custom = built.effective("lr_scheduler_type")
    warmup = int_or_float(built.effective("lr_warmup_steps", 0))
    steps_of_warmup = int(warmup * steps) if isinstance(warmup, float) else (warmup or 0)
    if steps_of_warmup and (scheduler.startswith(NO_WARMUP) or custom):
        what = f"lr_scheduler_type {custom}" if custom else f"lr_scheduler {scheduler}"
        raise RundiffError(
            f"variant {variant.name}: {what} with lr_warmup_steps {warmup} cannot run: sd-scripts "
            f'raises "ValueError: SchedulerType.CONSTANT does not require `num_warmup_steps`" '
            "after loading the model; vary lr_warmup_steps on a base whose scheduler warms up "
            "(cosine, linear, constant_with_warmup), or vary lr_scheduler with it (--grid)",
            key="lr_warmup_steps",
        )


def check_paths(built: VariantLaunch, launch: BaseLaunch) -> None:
    """Refuse a launch whose images or model are not on this machine (the trainer would fail after loading)."""
    dataset = built.effective("dataset_config")
    if not dataset:
        data_dir = built.effective("train_data_dir")
        if isinstance(data_dir, str) and data_dir and not Path(data_dir).is_dir():
            raise RundiffError("--train_data_dir of the base run is not a folder on this machine", data_dir)
    model = built.effective("pretrained_model_name_or_path")
    if isinstance(model, str) and model and os.path.isabs(model) and not Path(model).exists():
        raise RundiffError("--pretrained_model_name_or_path of the base run is not on this machine", model)
    if not model:
        raise RundiffError("the base run names no --pretrained_model_name_or_path", launch.source)


def train_sh(groups: list[list[str]], env: dict[str, str], header: list[str]) -> str:
    """A bash script running exactly the argv ``groups`` joins, from its own folder, one option per line."""
    lines = ["#!/usr/bin/env bash", *[f"# {h}" for h in header], "set -euo pipefail", 'cd "$(dirname "$0")"']
    lines += [f"export {k}={shlex.quote(v)}" for k, v in env.items()]
    command = " \\\n  ".join(" ".join(shlex.quote(w) for w in group) for group in groups)
    return "\n".join([*lines, command]) + "\n"


def _unique(items: list[str]) -> list[str]:
    seen: set[str] = set()
    return [i for i in items if not (i in seen or seen.add(i))]

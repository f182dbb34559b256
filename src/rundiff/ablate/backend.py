"""What a training backend provides, and the variant folder every backend fills.

A variant folder is itself a run `rundiff compare` and `rundiff diagnose` can read:

    <out>/<variant name>/
        variant.json      name, overrides, seed, backend, config hash, status, wall time, stderr tail
        train.sh / config.toml / command.json   the exact launch (kohya) or config (builtin)
        metrics.csv       step, loss[, epoch, loss_avg, lr/<group>..., grad_norm, dw, dw_rel, wall_time_s]
        validation.csv    step, val_loss            (when the backend measures it)
        logs/             TensorBoard events
        output/*.safetensors                         the trained LoRA with its ss_* metadata
        stdout.log, stderr.log
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from rundiff.ablate.executors import Job
from rundiff.ablate.plan import Plan, Variant
from rundiff.model import Run

METRICS_CSV = "metrics.csv"
VALIDATION_CSV = "validation.csv"
VARIANT_JSON = "variant.json"


@dataclass(frozen=True)
class ShortRun:
    """The settings every variant of one sweep shares."""

    steps: int
    device: str = "cpu"
    samples: bool = True  # keep the base run's sample prompts when it has them


@dataclass(frozen=True)
class Progress:
    step: int
    total: int
    loss: float | None = None


class Backend(Protocol):
    name: str

    def check(self, base: Run, plan: Plan) -> list[str]:
        """Refuse (RundiffError) what cannot run before anything starts; return warnings."""
        ...

    def prepare(self, base: Run, variant: Variant, folder: Path, short: ShortRun) -> Job:
        """Write the variant's exact command or config into ``folder``; the job that trains it."""
        ...

    def parse_progress(self, line: str) -> Progress | None:
        """Progress from one line of the job's output, if it is a progress line."""
        ...

    def collect(self, folder: Path) -> list[str]:
        """After a successful job: write metrics.csv (and validation.csv) from the trainer's own
        outputs; return warnings."""
        ...

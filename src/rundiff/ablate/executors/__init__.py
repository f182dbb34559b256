"""Run variant jobs: the one interface the sweep driver calls, and the engines behind it.

The driver only ever calls `Executor` (submit, wait, collect, cancel, close); an engine owns where a
job's process runs and must leave the job's outputs in its variant folder by the time `collect`
returns. Engines: `local` (processes on this machine, one per GPU or CPU slot), `ray` (one Ray task per
variant, results shipped back, no shared filesystem) and `slurm` (submitit jobs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

STDOUT_LOG = "stdout.log"
STDERR_LOG = "stderr.log"
TAIL_BYTES = 4000


@dataclass(frozen=True)
class Job:
    """One variant's process: argv (never a shell string), working folder and environment additions."""

    name: str
    argv: tuple[str, ...]
    cwd: Path
    env: dict[str, str] = field(default_factory=dict)
    device: str | None = None


@dataclass
class JobResult:
    name: str
    returncode: int
    wall_time_s: float
    stderr_tail: str = ""
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.interrupted


class Handle(Protocol):
    name: str


class Executor(Protocol):
    """What the ablation driver needs from any engine that runs jobs."""

    def submit(self, job: Job) -> Handle: ...

    def wait(self, handles: Sequence[Handle], timeout: float | None = None) -> list[Handle]:
        """The handles among ``handles`` that have finished (blocks up to ``timeout``)."""
        ...

    def collect(self, handle: Handle) -> JobResult: ...

    def cancel(self, handle: Handle) -> None: ...



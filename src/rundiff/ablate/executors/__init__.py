"""Run variant jobs: the one interface the sweep driver calls, and the engines behind it.

The driver only ever calls `Executor` (submit, wait, collect, cancel, close); an engine owns where a
job's process runs and must leave the job's outputs in its variant folder by the time `collect`
returns. Resume, crash records and Ctrl-C live in the driver, so they hold on every engine.

Engines (`make_executor`):

- ``local``: processes on this machine, one per GPU (`CUDA_VISIBLE_DEVICES`) or per CPU slot;
- ``ray``: one Ray task per variant asking for one GPU; the task gets the variant folder's inputs as
  bytes, runs the trainer in a scratch folder on its worker and sends the folder's results back, so no
  shared filesystem is needed (`pip install 'rundiff[ray]'`);
- ``slurm``: one submitit job per variant, same shipping (`pip install 'rundiff[slurm]'`).

Every engine builds the trainer's environment with `rundiff.ablate.safety.trainer_env` (an allow-list).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

STDOUT_LOG = "stdout.log"
STDERR_LOG = "stderr.log"
TAIL_BYTES = 4000
ENGINES = ("local", "ray", "slurm")

LineCallback = Callable[[str, str], None]  # (job name, one line of its output)


@dataclass(frozen=True)
class Job:
    """One variant's process: argv (never a shell string), working folder and rundiff's environment additions."""

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
    where: str = ""  # host (and GPU) the job ran on, when the engine knows

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.interrupted


class Handle(Protocol):
    name: str


class Executor(Protocol):
    """What the ablation driver needs from any engine that runs jobs."""

    name: str

    @property
    def slots(self) -> int:
        """How many jobs this engine runs at once when the user does not say (--jobs)."""
        ...

    def describe(self) -> dict[str, Any]:
        """The engine and its settings, for plan.json and the report."""
        ...

    def submit(self, job: Job, on_line: LineCallback | None = None) -> Handle: ...

    def wait(self, handles: Sequence[Handle], timeout: float | None = None) -> list[Handle]:
        """The handles among ``handles`` that have finished (blocks up to ``timeout``)."""
        ...

    def collect(self, handle: Handle) -> JobResult:
        """The job's result; its outputs are in its variant folder when this returns."""
        ...

    def cancel(self, handle: Handle) -> None: ...

    def close(self) -> None: ...


def stderr_tail(folder: Path) -> str:
    """The last `TAIL_BYTES` of a job's stderr.log (empty when there is none)."""
    try:
        return (folder / STDERR_LOG).read_bytes()[-TAIL_BYTES:].decode("utf-8", "replace")
    except OSError:
        return ""


def replay_lines(folder: Path, name: str, on_line: LineCallback | None) -> None:
    """Feed a finished job's stdout lines to ``on_line`` (engines that cannot stream them)."""
    if on_line is None:
        return
    try:
        text = (folder / STDOUT_LOG).read_bytes().decode("utf-8", "replace")
    except OSError:
        return
    for line in text.replace("\r", "\n").splitlines():
        if line.strip():
            on_line(name, line)


def make_executor(
    engine: str,
    *,
    devices: Sequence[str] = (),
    jobs: int | None = None,
    pass_env: Sequence[str] = (),
    ray_address: str | None = None,
    gpus_per_job: float | None = None,
    slurm_folder: Path | None = None,
    slurm_cluster: str | None = None,
    slurm_partition: str | None = None,
    slurm_timeout_min: int = 240,
) -> Executor:
    """The engine named ``engine`` (local, ray or slurm) with the CLI's settings."""
    from rundiff.errors import RundiffError

    if engine == "local":
        from rundiff.ablate.executors.local import LocalExecutor

        return LocalExecutor(devices, jobs=jobs, pass_env=pass_env)
    if engine == "ray":
        from rundiff.ablate.executors.ray import RayExecutor

        return RayExecutor(ray_address, gpus_per_job=1.0 if gpus_per_job is None else gpus_per_job, pass_env=pass_env)
    if engine == "slurm":
        from rundiff.ablate.executors.slurm import SlurmExecutor

        return SlurmExecutor(
            slurm_folder or Path("submitit"),
            cluster=slurm_cluster,
            partition=slurm_partition,
            gpus_per_job=1 if gpus_per_job is None else int(gpus_per_job),
            timeout_min=slurm_timeout_min,
            pass_env=pass_env,
        )
    raise RundiffError(f"--executor must be one of {', '.join(ENGINES)}, not {engine!r}", key="executor")

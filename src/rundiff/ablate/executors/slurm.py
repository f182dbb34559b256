"""The Slurm engine through submitit (`--executor slurm`): one job per variant asking for one GPU.

The job runs `remote.run_shipped` (the variant folder's inputs go in as bytes and its results come back
as bytes), so only submitit's own folder must be shared with the compute nodes. ``cluster="local"``
runs the jobs as local processes with submitit's local executor (how the tests run it).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rundiff.ablate.executors import Job, JobResult, LineCallback
from rundiff.ablate.executors.remote import land, run_shipped, ship
from rundiff.errors import RundiffError


@dataclass
class _SlurmHandle:
    name: str
    job: Job
    sjob: Any
    started: float
    on_line: LineCallback | None = None


class SlurmExecutor:
    name = "slurm"

    def __init__(
        self,
        folder: Path,
        *,
        cluster: str | None = None,
        partition: str | None = None,
        gpus_per_job: int = 1,
        timeout_min: int = 240,
        pass_env: Sequence[str] = (),
    ) -> None:
        try:
            import submitit
        except ImportError:
            raise RundiffError("--executor slurm needs submitit: pip install 'rundiff[slurm]'") from None
        self._submitit = submitit
        self.folder = Path(folder)
        self.cluster = cluster
        self.partition = partition
        self.gpus_per_job = gpus_per_job
        self.pass_env = list(pass_env)
        try:
            self._executor = submitit.AutoExecutor(folder=self.folder, cluster=cluster)
        except RuntimeError as err:
            raise RundiffError(f"--executor slurm: {err}") from None
        params: dict[str, Any] = {"timeout_min": timeout_min, "tasks_per_node": 1, "nodes": 1}
        if self._executor.cluster != "local" or gpus_per_job:
            params["gpus_per_node"] = gpus_per_job
        if self._executor.cluster == "local" and gpus_per_job:
            params["visible_gpus"] = list(range(gpus_per_job))
        if partition:
            params["slurm_partition"] = partition
        self._executor.update_parameters(**params)

    @property
    def slots(self) -> int:
        return 1 if self._executor.cluster == "local" else 64  # Slurm queues the rest itself

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "cluster": self._executor.cluster,
            "partition": self.partition,
            "gpus_per_job": self.gpus_per_job,
            "folder": str(self.folder),
        }

    def submit(self, job: Job, on_line: LineCallback | None = None) -> _SlurmHandle:
        inputs = ship(job)
        sjob = self._executor.submit(run_shipped, job.name, list(job.argv), dict(job.env), inputs, self.pass_env)
        return _SlurmHandle(job.name, job, sjob, time.perf_counter(), on_line)

    def wait(self, handles: Sequence[_SlurmHandle], timeout: float | None = None) -> list[_SlurmHandle]:
        deadline = None if timeout is None else time.perf_counter() + timeout
        while True:
            done = [h for h in handles if h.sjob.done()]
            if done or not handles or (deadline is not None and time.perf_counter() >= deadline):
                return done
            time.sleep(0.2)

    def collect(self, handle: _SlurmHandle) -> JobResult:
        wall = time.perf_counter() - handle.started
        try:
            result = handle.sjob.result()
        except Exception as err:  # noqa: BLE001 - submitit raises its own error types for a failed job
            text = str(err)
            interrupted = "KeyboardInterrupt" in text or handle.sjob.state in ("CANCELLED", "INTERRUPTED")
            return JobResult(handle.name, -2 if interrupted else 1, wall, text[-4000:], interrupted=interrupted)
        return land(result, handle.job, handle.on_line, f"slurm job {handle.sjob.job_id}")

    def cancel(self, handle: _SlurmHandle) -> None:
        with contextlib.suppress(Exception):  # already finished
            handle.sjob.cancel(check=False)

    def close(self) -> None:
        return None

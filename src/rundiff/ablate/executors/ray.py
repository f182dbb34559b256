"""The Ray engine: each variant is a Ray task asking for one GPU (`--executor ray [--ray-address ADDR]`).

The task receives the variant folder's inputs as bytes, runs the trainer on its worker in a scratch
folder (`remote.run_shipped`) and returns the folder's results, which land in the variant folder here:
no shared filesystem. Ray sets the task's `CUDA_VISIBLE_DEVICES` to the GPU it granted. Without an
address, a single-node Ray is started on this machine (and shut down at the end).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rundiff.ablate.executors import Job, JobResult, LineCallback
from rundiff.ablate.executors.remote import land, run_shipped, ship
from rundiff.errors import RundiffError


@dataclass
class _RayHandle:
    name: str
    job: Job
    ref: Any
    started: float
    on_line: LineCallback | None = None


class RayExecutor:
    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        *,
        gpus_per_job: float = 1.0,
        cpus_per_job: float = 1.0,
        pass_env: Sequence[str] = (),
        init_kwargs: dict[str, Any] | None = None,
    ) -> None:
        try:
            import ray
        except ImportError:
            raise RundiffError("--executor ray needs Ray: pip install 'rundiff[ray]'") from None
        self._ray = ray
        self.address = address
        self.gpus_per_job = gpus_per_job
        self.cpus_per_job = cpus_per_job
        self.pass_env = list(pass_env)
        self._started_here = False
        if not ray.is_initialized():
            try:
                ray.init(address=address, include_dashboard=False, log_to_driver=False, **(init_kwargs or {}))
            except (ConnectionError, ValueError, RuntimeError) as err:
                raise RundiffError(f"--ray-address {address}: cannot join the Ray cluster: {err}") from None
            self._started_here = True
        self._task = ray.remote(num_gpus=gpus_per_job, num_cpus=cpus_per_job, max_retries=0)(run_shipped)

    @property
    def slots(self) -> int:
        resources = self._ray.cluster_resources()
        if self.gpus_per_job:
            return max(1, int(resources.get("GPU", 0) // self.gpus_per_job))
        return max(1, int(resources.get("CPU", 1) // max(self.cpus_per_job, 1)))

    def describe(self) -> dict[str, Any]:
        resources = self._ray.cluster_resources()
        return {
            "name": self.name,
            "address": self.address or "local (started by rundiff)",
            "gpus_per_task": self.gpus_per_job,
            "cpus_per_task": self.cpus_per_job,
            "cluster_gpus": resources.get("GPU", 0),
            "cluster_cpus": resources.get("CPU", 0),
        }

    def submit(self, job: Job, on_line: LineCallback | None = None) -> _RayHandle:
        inputs = ship(job)
        ref = self._task.remote(job.name, list(job.argv), dict(job.env), inputs, self.pass_env)
        return _RayHandle(job.name, job, ref, time.perf_counter(), on_line)

    def wait(self, handles: Sequence[_RayHandle], timeout: float | None = None) -> list[_RayHandle]:
        if not handles:
            return []
        by_ref = {h.ref: h for h in handles}
        ready, _ = self._ray.wait(list(by_ref), num_returns=len(by_ref), timeout=timeout)
        return [by_ref[r] for r in ready]

    def collect(self, handle: _RayHandle) -> JobResult:
        wall = time.perf_counter() - handle.started
        try:
            result = self._ray.get(handle.ref)
        except self._ray.exceptions.TaskCancelledError:
            return JobResult(handle.name, -2, wall, "cancelled", interrupted=True)
        except self._ray.exceptions.RayError as err:
            text = str(err)
            interrupted = "KeyboardInterrupt" in text
            return JobResult(handle.name, -2 if interrupted else 1, wall, text[-4000:], interrupted=interrupted)
        return land(result, handle.job, handle.on_line, "ray")

    def cancel(self, handle: _RayHandle) -> None:
        with contextlib.suppress(Exception):  # a task that already finished cannot be cancelled
            self._ray.cancel(handle.ref, force=False)

    def close(self) -> None:
        if self._started_here:
            self._ray.shutdown()
            self._started_here = False

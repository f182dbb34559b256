"""The local engine: one process per variant on this machine (no shell), one per GPU or CPU slot.

With GPUs given (`--device cuda:0,cuda:1`) each running job gets a GPU of its own through
`CUDA_VISIBLE_DEVICES` (the trainer then sees it as its only device); without, `jobs` processes share
the CPU and see no GPU.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rundiff.ablate.executors import STDERR_LOG, STDOUT_LOG, Job, JobResult, LineCallback, stderr_tail
from rundiff.ablate.safety import trainer_env


@dataclass
class _LocalHandle:
    name: str
    job: Job
    process: subprocess.Popen
    started: float
    stdout: object
    stderr: object
    gpu: str | None = None
    on_line: LineCallback | None = None
    offsets: dict[str, int] = field(default_factory=dict)


class LocalExecutor:
    """Processes on this machine; new stdout/stderr lines of each job go to its ``on_line`` callback."""

    name = "local"

    def __init__(
        self, devices: Sequence[str] | None = None, *, jobs: int | None = None, pass_env: Sequence[str] = ()
    ) -> None:
        self.gpus = [d.split(":", 1)[1] if ":" in d else "0" for d in devices or [] if d.startswith("cuda")]
        self.jobs = jobs
        self.pass_env = tuple(pass_env)
        self._busy: set[str] = set()

    @property
    def slots(self) -> int:
        if self.gpus:
            return len(self.gpus) if self.jobs is None else min(self.jobs, len(self.gpus))
        return max(1, self.jobs or 1)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "slots": self.slots, "gpus": list(self.gpus)}

    def submit(self, job: Job, on_line: LineCallback | None = None) -> _LocalHandle:
        job.cwd.mkdir(parents=True, exist_ok=True)
        added = dict(job.env)
        gpu = None
        if self.gpus:
            gpu = next((g for g in self.gpus if g not in self._busy), self.gpus[0])
            self._busy.add(gpu)
            added["CUDA_VISIBLE_DEVICES"] = gpu
        elif (job.device or "cpu").startswith("cpu"):
            added.setdefault("CUDA_VISIBLE_DEVICES", "")  # a CPU slot sees no GPU
        stdout = (job.cwd / STDOUT_LOG).open("wb")
        stderr = (job.cwd / STDERR_LOG).open("wb")
        process = subprocess.Popen(
            list(job.argv),
            cwd=job.cwd,
            env=trainer_env(added, passed=self.pass_env),
            stdout=stdout,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        return _LocalHandle(job.name, job, process, time.perf_counter(), stdout, stderr, gpu, on_line)

    def wait(self, handles: Sequence[_LocalHandle], timeout: float | None = None) -> list[_LocalHandle]:
        deadline = None if timeout is None else time.perf_counter() + timeout
        while True:
            done = [h for h in handles if h.process.poll() is not None]
            for h in handles:
                self._feed(h)
            if done or (deadline is not None and time.perf_counter() >= deadline):
                return done
            time.sleep(0.1)

    def _feed(self, handle: _LocalHandle) -> None:
        """Pass each new complete output line (tqdm redraws end in a carriage return) to the callback."""
        if handle.on_line is None:
            return
        for stream in (STDOUT_LOG, STDERR_LOG):
            seen = handle.offsets.get(stream, 0)
            try:
                with (handle.job.cwd / stream).open("rb") as fh:
                    fh.seek(seen)
                    data = fh.read()
            except OSError:
                continue
            last = max(data.rfind(b"\n"), data.rfind(b"\r"))
            if last < 0:
                continue
            handle.offsets[stream] = seen + last + 1
            for line in re.split(rb"[\r\n]+", data[: last + 1]):
                if line.strip():
                    handle.on_line(handle.name, line.decode("utf-8", "replace"))

    def collect(self, handle: _LocalHandle) -> JobResult:
        code = handle.process.wait()
        self._feed(handle)
        for stream in (handle.stdout, handle.stderr):
            stream.close()  # type: ignore[attr-defined]
        self._busy.discard(handle.gpu or "")
        where = f"this machine, GPU {handle.gpu}" if handle.gpu is not None else "this machine"
        return JobResult(
            handle.name,
            code,
            time.perf_counter() - handle.started,
            stderr_tail(handle.job.cwd),
            interrupted=code < 0,
            where=where,
        )

    def cancel(self, handle: _LocalHandle) -> None:
        if handle.process.poll() is None:
            try:
                os.killpg(handle.process.pid, 15)
            except (ProcessLookupError, PermissionError):
                handle.process.terminate()

    def close(self) -> None:
        return None

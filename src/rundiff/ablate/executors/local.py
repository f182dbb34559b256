"""The local engine: one process per variant on this machine (no shell), one per GPU or CPU slot."""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from rundiff.ablate.executors import STDERR_LOG, STDOUT_LOG, TAIL_BYTES, Job, JobResult


@dataclass
class _LocalHandle:
    name: str
    job: Job
    process: subprocess.Popen
    started: float
    stdout: object
    stderr: object
    on_line: Callable[[str, str], None] | None = None
    offsets: dict[str, int] = field(default_factory=dict)


class LocalExecutor:
    """Processes on this machine; `poll_lines` feeds each job's new stderr/stdout lines to a callback."""

    def __init__(self, devices: Sequence[str] | None = None) -> None:
        self.devices = list(devices or [])
        self._next_device = 0

    def device_for_next(self) -> str | None:
        if not self.devices:
            return None
        device = self.devices[self._next_device % len(self.devices)]
        self._next_device += 1
        return device

    def submit(self, job: Job, on_line: Callable[[str, str], None] | None = None) -> _LocalHandle:
        job.cwd.mkdir(parents=True, exist_ok=True)
        stdout = (job.cwd / STDOUT_LOG).open("wb")
        stderr = (job.cwd / STDERR_LOG).open("wb")
        env = {**os.environ, **job.env}
        if job.device and job.device.startswith("cuda:") and len(self.devices) > 1:
            env["CUDA_VISIBLE_DEVICES"] = job.device.split(":", 1)[1]
        process = subprocess.Popen(list(job.argv), cwd=job.cwd, env=env, stdout=stdout, stderr=stderr,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
        return _LocalHandle(job.name, job, process, time.perf_counter(), stdout, stderr, on_line)

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
        tail = ""
        try:
            raw = (handle.job.cwd / STDERR_LOG).read_bytes()[-TAIL_BYTES:]
            tail = raw.decode("utf-8", "replace")
        except OSError:
            pass
        return JobResult(handle.name, code, time.perf_counter() - handle.started, tail, interrupted=code < 0)

    def cancel(self, handle: _LocalHandle) -> None:
        if handle.process.poll() is None:
            try:
                os.killpg(handle.process.pid, 15)
            except (ProcessLookupError, PermissionError):
                handle.process.terminate()

"""Run one job on another machine without a shared filesystem: ship its folder there, its results back.

`pack` turns the variant folder's inputs (config, command, dataset-config copies) into bytes; `run_shipped`
runs on the worker (a Ray task, a Slurm job): it unpacks them into a scratch folder, runs the trainer
there with the allow-listed environment, and returns its exit code and the packed folder; `unpack`
writes the results into the variant folder on the driver. `ship` and `land` are the driver's two ends,
shared by the engines that run `run_shipped`. Archives are size-capped and extracted with
tarfile's "data" filter (no links, devices or paths outside the folder).
"""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

from rundiff.ablate.executors import (
    STDERR_LOG,
    STDOUT_LOG,
    Job,
    JobResult,
    LineCallback,
    replay_lines,
    stderr_tail,
)

#: Largest archive either way (a builtin variant's results are a few MB; a kohya LoRA tens of MB).
MAX_ARCHIVE_BYTES = 1 << 30
_LOGS = (STDOUT_LOG, STDERR_LOG)


def pack(folder: Path, *, skip: tuple[str, ...] = ()) -> bytes:
    """The regular files under ``folder`` as a gzip tar (symlinks and special files are left out)."""
    buffer = io.BytesIO()
    total = 0
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(Path(folder).rglob("*")):
            rel = path.relative_to(folder)
            if path.is_symlink() or not path.is_file() or rel.parts[0] in skip:
                continue
            total += path.stat().st_size
            if total > MAX_ARCHIVE_BYTES:
                raise OSError(f"{folder}: more than {MAX_ARCHIVE_BYTES >> 20} MiB to ship")
            tar.add(path, arcname=str(rel), recursive=False)
    return buffer.getvalue()


def unpack(data: bytes, folder: Path) -> None:
    if len(data) > MAX_ARCHIVE_BYTES:
        raise OSError(f"the archive for {folder} is larger than {MAX_ARCHIVE_BYTES >> 20} MiB")
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        tar.extractall(folder, filter="data")


def ship(job: Job) -> bytes:
    """Driver side: the variant folder's inputs for the worker (its output/ and logs/ stay here)."""
    job.cwd.mkdir(parents=True, exist_ok=True)
    return pack(job.cwd, skip=("output", "logs"))


def land(result: dict[str, Any], job: Job, on_line: LineCallback | None, engine: str) -> JobResult:
    """Driver side: a finished worker's results into the variant folder, and its JobResult."""
    unpack(result["outputs"], job.cwd)
    replay_lines(job.cwd, job.name, on_line)
    return JobResult(
        job.name,
        int(result["returncode"]),
        float(result["wall_time_s"]),
        stderr_tail(job.cwd),
        interrupted=int(result["returncode"]) < 0,
        where=f"{engine}: {result.get('where', '')}",
    )


def run_shipped(
    name: str, argv: list[str], added_env: dict[str, str], inputs: bytes, pass_env: list[str] | None = None
) -> dict[str, Any]:
    """Worker side: run ``argv`` in a scratch copy of the shipped folder; return its code and results.

    ``argv[0]`` that is not a file here (the driver's python) becomes this worker's python. A cancel
    (KeyboardInterrupt, SIGTERM) stops the trainer's whole process group before it propagates.
    """
    from rundiff.ablate.safety import trainer_env

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"rundiff-{os.getpid()}-") as scratch:
        work = Path(scratch)
        unpack(inputs, work)
        argv = list(argv)
        if argv and not Path(argv[0]).is_file():
            argv[0] = sys.executable
        env = trainer_env({**added_env}, passed=pass_env or ())
        gpus = os.environ.get("CUDA_VISIBLE_DEVICES")
        if gpus is not None and "CUDA_VISIBLE_DEVICES" not in added_env:
            env["CUDA_VISIBLE_DEVICES"] = gpus  # the engine's assignment (Ray, Slurm) wins
        with (work / STDOUT_LOG).open("wb") as out, (work / STDERR_LOG).open("wb") as err:
            process = subprocess.Popen(
                argv, cwd=work, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL, start_new_session=True
            )
            previous = signal.signal(signal.SIGTERM, _raise_interrupt) if _main_thread() else None
            try:
                code = process.wait()
            except BaseException:
                _stop(process)
                raise
            finally:
                if previous is not None:
                    signal.signal(signal.SIGTERM, previous)
        return {
            "name": name,
            "returncode": code,
            "wall_time_s": time.perf_counter() - started,
            "where": f"{socket.gethostname()}" + (f", GPU {gpus}" if gpus else ""),
            "gpus": gpus,
            "outputs": pack(work),
        }


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _raise_interrupt(signum, frame) -> None:  # noqa: ARG001 - signal handler signature
    raise KeyboardInterrupt


def _stop(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
    except (ProcessLookupError, PermissionError, subprocess.TimeoutExpired):
        process.kill()
        process.wait()

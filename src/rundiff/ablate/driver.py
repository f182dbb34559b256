"""Run a planned sweep: prepare each variant's folder, train them through an executor, keep going.

A re-run skips variants already finished with the same effective config; a crashed variant is
recorded with the tail of its stderr and the sweep goes on; Ctrl-C stops the running variants and
keeps everything finished.
"""

from __future__ import annotations

import shlex
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rundiff.ablate.backend import Backend, Progress, ShortRun
from rundiff.ablate.executors import Job
from rundiff.ablate.executors.local import LocalExecutor
from rundiff.ablate.plan import Plan, Variant, write_plan
from rundiff.ablate.results import VariantRecord, read_record, write_record
from rundiff.errors import RundiffError
from rundiff.model import Run

ProgressCallback = Callable[[str, Progress | None, str], None]  # (variant, progress, event)


@dataclass
class SweepResult:
    out_dir: Path
    records: list[VariantRecord]
    warnings: list[str] = field(default_factory=list)
    interrupted: bool = False

    @property
    def failed(self) -> list[VariantRecord]:
        return [r for r in self.records if r.status == "failed"]


def settings_key(backend: Backend, short: ShortRun) -> dict[str, object]:
    return {"backend": backend.name, "steps": short.steps, "device": short.device, "samples": short.samples}


def dry_run_commands(base: Run, plan: Plan, backend: Backend, out_dir: Path, short: ShortRun) -> list[str]:
    """The exact command of every variant, prepared in a scratch folder (nothing is written to out_dir)."""
    lines = []
    with tempfile.TemporaryDirectory(prefix="rundiff-dry-") as scratch:
        for variant in plan.variants:
            job = backend.prepare(base, variant, Path(scratch) / variant.name, short)
            command = " ".join(shlex.quote(a) for a in job.argv).replace(scratch, str(out_dir))
            lines.append(f"# {variant.name}  (in {out_dir / variant.name})\n{command}")
    return lines


def run_ablation(base: Run, plan: Plan, backend: Backend, out_dir: Path, *, short: ShortRun, jobs: int = 1,
                 executor: LocalExecutor | None = None, on_progress: ProgressCallback | None = None) -> SweepResult:
    warnings = backend.check(base, plan)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_plan(plan, out_dir)
    executor = executor or LocalExecutor()
    settings = settings_key(backend, short)
    records: dict[str, VariantRecord] = {}
    queue: list[tuple[Variant, Job]] = []
    for variant in plan.variants:
        folder = out_dir / variant.name
        key = variant.config_hash(plan.base_values, settings)
        previous = read_record(folder)
        if previous is not None and previous.status == "done" and previous.config_hash == key:
            records[variant.name] = previous
            _notify(on_progress, variant.name, None, "skipped")
            continue
        job = backend.prepare(base, variant, folder, short)
        if job.device is None:
            job = Job(job.name, job.argv, job.cwd, job.env, executor.device_for_next())
        record = VariantRecord(variant.name, variant.overrides, variant.seed, variant.factor, backend.name, key,
                               is_base_value=variant.is_base_value)
        write_record(folder, record)
        records[variant.name] = record
        queue.append((variant, job))
    interrupted = False
    running: dict[str, object] = {}
    try:
        while queue or running:
            while queue and len(running) < max(1, jobs):
                variant, job = queue.pop(0)
                records[variant.name].status = "running"
                write_record(job.cwd, records[variant.name])
                running[variant.name] = executor.submit(job, on_line=_line_handler(backend, on_progress))
                _notify(on_progress, variant.name, None, "started")
            for handle in executor.wait(list(running.values()), timeout=0.5):
                _finish(executor, handle, records[handle.name], backend, out_dir / handle.name, on_progress)
                running.pop(handle.name)
    except KeyboardInterrupt:
        interrupted = True
        for name, handle in running.items():
            executor.cancel(handle)
            result = executor.collect(handle)
            record = records[name]
            record.status, record.returncode, record.wall_time_s = "interrupted", result.returncode, result.wall_time_s
            record.stderr_tail = result.stderr_tail
            write_record(out_dir / name, record)
        for variant, job in queue:
            records[variant.name].status = "pending"
            write_record(job.cwd, records[variant.name])
    return SweepResult(out_dir, [records[v.name] for v in plan.variants], warnings, interrupted)


def _finish(executor: LocalExecutor, handle, record: VariantRecord, backend: Backend, folder: Path,
            on_progress: ProgressCallback | None) -> None:
    result = executor.collect(handle)
    record.returncode, record.wall_time_s, record.stderr_tail = result.returncode, result.wall_time_s, ""
    if result.ok:
        try:
            record.warnings = backend.collect(folder)
            record.status = "done"
        except RundiffError as err:
            record.status, record.stderr_tail = "failed", f"reading the results failed: {err}"
    else:
        record.status, record.stderr_tail = "failed", result.stderr_tail
    write_record(folder, record)
    _notify(on_progress, record.name, None, record.status)


def _line_handler(backend: Backend, on_progress: ProgressCallback | None):
    def handle(name: str, line: str) -> None:
        progress = backend.parse_progress(line)
        if progress is not None:
            _notify(on_progress, name, progress, "progress")
    return handle


def _notify(callback: ProgressCallback | None, name: str, progress: Progress | None, event: str) -> None:
    if callback is not None:
        callback(name, progress, event)

"""Run a planned sweep: prepare each variant's folder, train them through an executor, keep going.

The driver talks to every engine (local, Ray, Slurm) through `rundiff.ablate.executors.Executor` only.

A re-run skips variants already finished with the same effective config; a crashed variant is
recorded with the tail of its stderr and the sweep goes on; Ctrl-C stops the running variants and
keeps everything finished. The base run's own value trains first (`Canary`): when it dies before its
first step the setup is broken, and the other variants are not started.
"""

from __future__ import annotations

import json
import shlex
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rundiff.ablate.backend import Backend, Progress, ShortRun
from rundiff.ablate.executors import Executor, Job
from rundiff.ablate.executors.local import LocalExecutor
from rundiff.ablate.plan import Plan, Variant, write_plan
from rundiff.ablate.results import VariantRecord, read_record, write_record
from rundiff.ablate.safety import ENV_ALLOW, plain, shown
from rundiff.errors import RundiffError
from rundiff.model import Run

ProgressCallback = Callable[[str, Progress | None, str], None]  # (variant, progress, event)

#: Seconds the other variants wait for the base value's first training step (see `Canary`).
CANARY_WAIT_S = 120.0


@dataclass
class Canary:
    """The variant with the base run's own value trains first, alone, until it shows a training step.

    It is the variant most likely to work: when it dies before its first step, what is broken is the
    setup (paths, trainer install, environment), not the varied value, and every other variant would
    die the same way (on a cluster: K failed jobs, each after its model load). So the others wait
    for its first step, for at most `CANARY_WAIT_S` (a slow model load must not serialise the sweep),
    and are not started when it fails before training. A sweep without a base-value variant, or
    with one variant, has no canary.
    """

    name: str
    started: float | None = None
    stepped: bool = False
    finished: bool = False

    def holds(self) -> bool:
        """Whether only one variant may run now."""
        if self.finished:
            return False
        if self.started is None:  # it is first in the queue: it starts alone
            return True
        return not (self.stepped or time.monotonic() - self.started > CANARY_WAIT_S)


def pick_canary(queue: list[tuple[Variant, Job]]) -> Canary | None:
    """Move the first base-value variant to the front of ``queue`` and return its canary."""
    if len(queue) < 2:
        return None
    for index, (variant, _job) in enumerate(queue):
        if variant.is_base_value:
            queue.insert(0, queue.pop(index))
            return Canary(variant.name)
    return None


@dataclass
class SweepResult:
    out_dir: Path
    records: list[VariantRecord]
    warnings: list[str] = field(default_factory=list)
    interrupted: bool = False

    @property
    def failed(self) -> list[VariantRecord]:
        return [r for r in self.records if r.status == "failed"]


def settings_key(backend: Backend, short: ShortRun, plan: Plan | None = None) -> dict[str, object]:
    key: dict[str, object] = {
        "backend": backend.name,
        "steps": short.steps,
        "device": short.device,
        "samples": short.samples,
    }
    if plan is not None and plan.horizon != "compressed":  # compressed was the only horizon before: same key
        key["horizon"] = plan.horizon
    return key


def base_env(backend: Backend, base: Run) -> dict[str, str]:
    """Assignments the base run's files make (shown, never applied: `rundiff.ablate.safety`)."""
    found = getattr(backend, "base_env", None)
    return found(base) if callable(found) else {}


def dry_run_commands(
    base: Run, plan: Plan, backend: Backend, out_dir: Path, short: ShortRun, executor: dict[str, object] | None = None
) -> list[str]:
    """Exactly what every variant would run: its environment additions, argv and folder, prepared in a
    scratch folder (nothing is written to out_dir)."""
    lines = []
    lines.append(f"# executor: {json.dumps(executor or {'name': 'local'}, default=str)}")
    lines.extend(f"# {line}" for line in plan.schedule_lines())
    lines.append(
        f"# environment: yours, only the allow-listed names ({', '.join(sorted(ENV_ALLOW)[:5])}, ...); "
        "the `env` before each command is what rundiff adds"
    )
    env = base_env(backend, base)
    if env:
        lines.append(
            "# NOT applied (assignments in the base run's files): "
            + ", ".join(f"{plain(k)}={shown(v)}" for k, v in env.items())
        )
    with tempfile.TemporaryDirectory(prefix="rundiff-dry-") as scratch:
        for variant in plan.variants:
            job = backend.prepare(base, variant, Path(scratch) / variant.name, short)
            added = " ".join(f"{k}={shlex.quote(v.replace(scratch, str(out_dir)))}" for k, v in job.env.items())
            command = " ".join(shlex.quote(a) for a in job.argv).replace(scratch, str(out_dir))
            lines.append(f"# {plain(variant.name)}  (in {out_dir / variant.name})")
            lines.extend(_written_files(Path(scratch) / variant.name, scratch, out_dir))
            lines.append((f"env {added} " if added else "") + command)
    return lines


#: Files a dry run does not print: the command itself, shown below them.
_SAME_AS_COMMAND = ("train.sh", "command.json")


def _written_files(folder: Path, scratch: str, out_dir: Path) -> list[str]:
    """The text files the backend wrote for a variant (its config, dataset copies), as comment lines."""
    lines = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name not in _SAME_AS_COMMAND):
        try:
            text = path.read_text(encoding="utf-8")[:20000]
        except (OSError, UnicodeDecodeError):
            continue
        lines.append(f"#   {path.relative_to(folder)}:")
        lines.extend(
            f"#     {plain(line.replace(scratch, str(out_dir)))}"
            for line in text.splitlines()
            if line.strip() and not line.startswith("#")
        )
    return lines


def run_ablation(
    base: Run,
    plan: Plan,
    backend: Backend,
    out_dir: Path,
    *,
    short: ShortRun,
    jobs: int | None = None,
    executor: Executor | None = None,
    on_progress: ProgressCallback | None = None,
) -> SweepResult:
    """Train every variant of ``plan`` through ``executor`` (local processes by default) into ``out_dir``.

    The library entry point (the CLI and `rundiff.api` call it): resume, crash records and Ctrl-C are
    handled here, the same for every engine.
    """
    warnings = backend.check(base, plan)
    out_dir.mkdir(parents=True, exist_ok=True)
    executor = executor or LocalExecutor(jobs=jobs)
    plan.backend = backend.name
    plan.executor = executor.describe()
    plan.base_env = base_env(backend, base)
    write_plan(plan, out_dir)
    settings = settings_key(backend, short, plan)
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
        record = VariantRecord(
            variant.name,
            variant.overrides,
            variant.seed,
            variant.factor,
            backend.name,
            key,
            is_base_value=variant.is_base_value,
            executor=executor.name,
        )
        write_record(folder, record)
        records[variant.name] = record
        queue.append((variant, job))
    slots = max(1, jobs) if jobs else executor.slots
    canary = pick_canary(queue)
    interrupted = False
    running: dict[str, object] = {}
    try:
        while queue or running:
            while queue and len(running) < (1 if canary and canary.holds() else slots):
                variant, job = queue.pop(0)
                records[variant.name].status = "running"
                write_record(job.cwd, records[variant.name])
                if canary and variant.name == canary.name:
                    canary.started = time.monotonic()
                running[variant.name] = executor.submit(job, on_line=_line_handler(backend, on_progress, canary))
                _notify(on_progress, variant.name, None, "started")
            for handle in executor.wait(list(running.values()), timeout=0.5):
                running.pop(handle.name)  # first: a Ctrl-C while it is being recorded must not undo it
                record = records[handle.name]
                _finish(executor, handle, record, backend, out_dir / handle.name, on_progress)
                if canary and handle.name == canary.name:
                    canary.finished = True
                    if record.status == "failed" and not canary.stepped and queue:
                        warnings.append(_not_started(queue, records, record))
                        queue.clear()
    except KeyboardInterrupt:
        interrupted = True
        for handle in running.values():
            executor.cancel(handle)
        for name, handle in running.items():
            result = executor.collect(handle)
            record = records[name]
            record.status, record.returncode, record.wall_time_s = "interrupted", result.returncode, result.wall_time_s
            record.stderr_tail = result.stderr_tail
            write_record(out_dir / name, record)
        for variant, job in queue:
            records[variant.name].status = "pending"
            write_record(job.cwd, records[variant.name])
    finally:
        executor.close()
    return SweepResult(out_dir, [records[v.name] for v in plan.variants], warnings, interrupted)


def _finish(
    executor: Executor,
    handle,
    record: VariantRecord,
    backend: Backend,
    folder: Path,
    on_progress: ProgressCallback | None,
) -> None:
    result = executor.collect(handle)
    record.returncode, record.wall_time_s, record.stderr_tail = result.returncode, result.wall_time_s, ""
    record.where = result.where
    if result.ok:
        try:
            record.warnings = backend.collect(folder)
            record.status = "done"
        except RundiffError as err:
            record.status, record.stderr_tail = "failed", f"reading the results failed: {err}"
    else:
        record.status, record.stderr_tail = ("interrupted" if result.interrupted else "failed"), result.stderr_tail
    write_record(folder, record)
    _notify(on_progress, record.name, None, record.status)


def _not_started(queue: list[tuple[Variant, Job]], records: dict[str, VariantRecord], canary: VariantRecord) -> str:
    """Leave the queued variants pending (a re-run starts them) and say why they did not start."""
    why = (
        f"not started: {len(queue)} variant(s), because {plain(canary.name)} (the base run's own value) failed "
        "before its first training step, so the setup is broken, not the varied value; fix it and run the same "
        "command again"
    )
    for variant, job in queue:
        record = records[variant.name]
        record.status, record.warnings = "pending", [*record.warnings, why]
        write_record(job.cwd, record)
    return why


def _line_handler(backend: Backend, on_progress: ProgressCallback | None, canary: Canary | None = None):
    def handle(name: str, line: str) -> None:
        progress = backend.parse_progress(line)
        if progress is not None:
            if canary is not None and name == canary.name and progress.step >= 1:
                canary.stepped = True
            _notify(on_progress, name, progress, "progress")

    return handle


def _notify(callback: ProgressCallback | None, name: str, progress: Progress | None, event: str) -> None:
    if callback is not None:
        callback(name, progress, event)

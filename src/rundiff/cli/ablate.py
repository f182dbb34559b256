"""`rundiff ablate --base RUN --vary NAME [--values ...]`"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from rundiff.cli import app
from rundiff.cli.common import user_errors


def _list(values: list[str] | None) -> list[str]:
    """Repeated options and comma-separated lists are the same thing."""
    return [part.strip() for v in values or [] for part in v.split(",") if part.strip()]


@app.command("ablate")
def ablate_command(
    base: Annotated[Path, typer.Option("--base", help="The run to start from (a folder or a launch script).")],
    vary: Annotated[list[str], typer.Option("--vary", help="Parameter to vary (repeatable: one factor at a time).")],
    values: Annotated[str | None, typer.Option("--values", help="Values to try, e.g. 16,32,64 (one --vary).")] = None,
    like: Annotated[
        list[Path] | None, typer.Option("--like", help="Take the values from these runs (repeatable).")
    ] = None,
    grid: Annotated[bool, typer.Option("--grid", help="Train the product of several --vary instead.")] = False,
    steps: Annotated[int, typer.Option("--steps", help="Optimizer steps per variant.")] = 300,
    seeds: Annotated[
        str, typer.Option("--seeds", help="Seeds, e.g. 0,1,2 (seed spread tells effect from noise).")
    ] = "0",
    backend: Annotated[
        str | None, typer.Option("--backend", help="kohya or builtin (default: kohya when installed).")
    ] = None,
    kohya_dir: Annotated[
        Path | None, typer.Option("--kohya-dir", help="Your sd-scripts work tree (or $KOHYA_SD_SCRIPTS).")
    ] = None,
    kohya_python: Annotated[str | None, typer.Option("--kohya-python", help="Python of your kohya venv.")] = None,
    device: Annotated[str, typer.Option("--device", help="cpu, cuda, or cuda:0,cuda:1 for one GPU per job.")] = "cpu",
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs", help="Variants trained at once (default: one per GPU, or 1 on the CPU; Ray: the cluster's GPUs)."
        ),
    ] = None,
    horizon: Annotated[
        str,
        typer.Option(
            "--horizon",
            help="compressed: the base schedule squeezed into --steps (warmup fraction, cycles, decay kept); prefix: its first --steps steps.",
        ),
    ] = "compressed",
    executor: Annotated[
        str, typer.Option("--executor", help="local, ray (rundiff[ray]) or slurm (rundiff[slurm], via submitit).")
    ] = "local",
    ray_address: Annotated[
        str | None, typer.Option("--ray-address", help="Ray cluster to join (default: start one on this machine).")
    ] = None,
    slurm_partition: Annotated[
        str | None, typer.Option("--slurm-partition", help="Slurm partition for --executor slurm.")
    ] = None,
    pass_env: Annotated[
        list[str] | None,
        typer.Option("--pass-env", help="Also hand this variable of your environment to the trainer (repeatable)."),
    ] = None,
    output: Annotated[Path, typer.Option("-o", "--output", help="Sweep folder (one subfolder per variant).")] = Path(
        "ablations"
    ),
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan and the exact commands; train nothing.")
    ] = False,
    open_after: Annotated[
        bool, typer.Option("--open", help="Open the sweep's report.html when it is written.")
    ] = False,
) -> None:
    """Re-run short trainings that vary one setting, and say whether its effect beats the seed noise."""
    from rundiff.ablate.backend import ShortRun
    from rundiff.ablate.driver import base_env, dry_run_commands, run_ablation
    from rundiff.ablate.executors import make_executor
    from rundiff.ablate.plan import plan_ablation
    from rundiff.ablate.safety import plain, shown
    from rundiff.api import load_run

    with user_errors():
        _check_sweep_folder(output)
        base_run = load_run(base)
        like_runs = [load_run(p) for p in like or []]
        seed_list = [_int(s, "--seeds") for s in _list([seeds])]
        plan = plan_ablation(
            base_run,
            _list(vary),
            values=_list([values]) if values else None,
            like=like_runs or None,
            grid=grid,
            steps=steps,
            seeds=seed_list,
            horizon=horizon,
        )
        chosen = choose_backend(backend, base_run, kohya_dir, kohya_python)
        devices = _list([device]) if "," in device else []
        gpu_list = [d for d in devices if d.startswith("cuda")]
        short = ShortRun(steps=steps, device="cuda" if gpu_list else (devices[0] if devices else device))
        print(
            f"ablate {plain(base_run.name)}: {len(plan.variants)} variants x {steps} steps, backend {chosen.name}, "
            f"executor {executor}",
            file=sys.stderr,
        )
        for line in plan.schedule_lines():
            print(f"  {line}", file=sys.stderr)
        for note in plan.notes:
            print(f"  note: {note}", file=sys.stderr)
        for name, value in base_env(chosen, base_run).items():
            print(
                f"  not applied: the base run sets {plain(name)}={shown(value)} (the trainer's environment is "
                "an allow-list; --pass-env NAME hands over a variable of yours)",
                file=sys.stderr,
            )
        if dry_run:
            for warning in chosen.check(base_run, plan):
                print(f"  warning: {warning}", file=sys.stderr)
            for line in dry_run_commands(base_run, plan, chosen, output, short, executor={"name": executor}):
                print(line)
            return
        engine = make_executor(
            executor,
            devices=gpu_list,
            jobs=jobs,
            pass_env=pass_env or (),
            ray_address=ray_address,
            gpus_per_job=0.0 if short.device.startswith("cpu") else None,
            slurm_folder=output / ".submitit",
            slurm_partition=slurm_partition,
        )
        with _progress_display() as on_progress:
            result = run_ablation(
                base_run, plan, chosen, output, short=short, jobs=jobs, executor=engine, on_progress=on_progress
            )
        for warning in result.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        for record in result.failed:
            tail = record.stderr_tail.strip().splitlines()[-1:] or ["(no output)"]
            print(f"failed: {plain(record.name)}: {plain(tail[0])}", file=sys.stderr)
        _write_reports(output)  # also after Ctrl-C: what finished is reported
        if open_after:
            from rundiff.report.output import open_report

            open_report(output / "report.html")
        if result.interrupted:
            print("interrupted: finished variants are kept; run the same command again to continue", file=sys.stderr)
            raise typer.Exit(130)


def _check_sweep_folder(output: Path) -> None:
    """-o is the sweep folder (report.md, report.html, report.json land in it): a report file name
    there is a mistake to stop at once, not a folder called report.html after an hour of training."""
    from rundiff.errors import RundiffError
    from rundiff.report.output import SUFFIX_FORMATS

    if output.suffix.lower() in SUFFIX_FORMATS:
        raise RundiffError(
            f"-o is the sweep folder; the reports are written into it as report.md, report.html "
            f"and report.json (not {output.name})",
            output,
            key="-o",
        )
    if output.exists() and not output.is_dir():
        raise RundiffError("-o must be a folder (the sweep folder)", output, key="-o")


def _int(text: str, option: str) -> int:
    from rundiff.errors import RundiffError

    try:
        return int(text)
    except ValueError:
        raise RundiffError(f"{option}: {text!r} is not an integer") from None


def choose_backend(name: str | None, base_run, kohya_dir: Path | None, kohya_python: str | None):
    """--backend, else kohya when the base run's trainer is installed, else the builtin trainer."""
    from rundiff.ablate.backends.builtin.backend import BuiltinBackend
    from rundiff.errors import RundiffError

    if name not in (None, "kohya", "builtin"):
        raise RundiffError(f"--backend must be kohya or builtin, not {name!r}")
    if name == "builtin":
        return BuiltinBackend()
    try:
        from rundiff.ablate.backends.kohya.backend import KohyaBackend
    except ImportError:
        if name == "kohya":
            raise RundiffError("the kohya backend is not available in this build") from None
        return BuiltinBackend()
    if name == "kohya":
        return KohyaBackend(kohya_dir, python=kohya_python)
    if kohya_dir is None and not os.environ.get("KOHYA_SD_SCRIPTS"):
        return BuiltinBackend()
    kohya = KohyaBackend(kohya_dir, python=kohya_python)
    return kohya if kohya.installed(base_run) else BuiltinBackend()


def _write_reports(out_dir: Path) -> None:
    from rundiff.ablate.report import write_report
    from rundiff.ablate.sweep import load_sweep
    from rundiff.ablate.verdict import judge_sweep

    sweep = load_sweep(out_dir)
    paths = write_report(sweep)
    for verdict in judge_sweep(sweep):
        print(verdict.sentence)
    print(f"wrote {', '.join(str(p) for p in paths if p.suffix in ('.md', '.html', '.json'))}", file=sys.stderr)


class _progress_display:
    """One rich progress bar per variant, with its loss and ETA."""

    def __enter__(self):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"),
            TimeRemainingColumn(),
            transient=False,
        )
        self.tasks: dict[str, int] = {}
        self.progress.__enter__()
        return self.update

    def update(self, name: str, progress, event: str) -> None:
        from rich.markup import escape

        if name not in self.tasks:
            self.tasks[name] = self.progress.add_task(escape(name), total=None, loss="-")
        task = self.tasks[name]
        if progress is not None:
            loss = "-" if progress.loss is None else f"{progress.loss:.4g}"
            self.progress.update(task, completed=progress.step, total=progress.total, loss=loss)
        elif event in ("done", "skipped", "failed", "interrupted"):
            self.progress.update(task, description=f"{escape(name)} ({event})")

    def __exit__(self, *exc):
        return self.progress.__exit__(*exc)

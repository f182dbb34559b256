"""The library API: one function per command; the command line is a thin layer over these.

    >>> from rundiff import api
    >>> comparison = api.compare(["runs/A", "runs/B"], good=["A"], bad=["B"])
    >>> print(api.render(comparison, "md"))          # the same report `rundiff compare -o x.md` writes
    >>> diagnosis = api.diagnose(["runs/B"])
    >>> info = api.inspect_lora("runs/B/model.safetensors")
    >>> plan = api.plan_ablation("runs/A", ["network_dim"], values=["16", "32"])
    >>> sweep = api.run_ablation("runs/A", plan, "ablations/")

Every function raises RundiffError (with the file and key) on bad input; nothing else is expected.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rundiff.comparison.table import Comparison, compare_runs
from rundiff.errors import RundiffError
from rundiff.ingest.run_folder import ingest_run
from rundiff.model import Run
from rundiff.normalise.merge import normalise_run

if TYPE_CHECKING:
    from rundiff.diagnose.findings import Diagnosis


def load_run(path: str | Path) -> Run:
    """Ingest and normalise one run (a folder, or a single script/config/weights file).

    Raises RundiffError when the run yields neither parameters nor logs. A folder that kept only
    its logs is a run: what the logs reveal are its (inferred) parameters.
    """
    files = ingest_run(path)
    run = normalise_run(files)
    has_series = run.logs is not None and not run.logs.empty
    if not has_series and not any(c.known and c.provenance.value != "default" for c in run.cells.values()):
        detail = f" ({'; '.join(run.warnings[:3])})" if run.warnings else ""
        raise RundiffError(f"no training parameters found in this run{detail}", path)
    return run


def _load_or_error(path: str | Path) -> Run | RundiffError:
    try:
        return load_run(path)
    except RundiffError as err:
        return err


#: From this many runs on, runs are read in parallel worker processes (one per core).
PARALLEL_FROM = 24


def load_runs(
    paths: Sequence[str | Path], *, workers: int | None = None, left_out: list[str] | None = None
) -> list[Run]:
    """Load many runs, in parallel when there are enough to pay for the processes.

    With ``left_out`` a list, a run that cannot be read is described there and the others are still
    loaded (one bad run is a warning for that run); without it, the first bad run raises.
    """
    workers = workers if workers is not None else (os.cpu_count() or 1)
    if len(paths) < PARALLEL_FROM or workers < 2:
        loaded = [_load_or_error(p) for p in paths]
    else:
        from concurrent.futures import ProcessPoolExecutor

        chunk = max(1, len(paths) // (workers * 8))
        with ProcessPoolExecutor(max_workers=workers) as pool:
            loaded = list(pool.map(_load_or_error, paths, chunksize=chunk))
    errors = [item for item in loaded if isinstance(item, RundiffError)]
    runs = [item for item in loaded if isinstance(item, Run)]
    if errors and (left_out is None or not runs):
        raise errors[0]
    if left_out is not None:
        left_out.extend(str(err) for err in errors)
    return runs


def compare(
    paths: Sequence[str | Path],
    *,
    baseline: str | None = None,
    good: Iterable[str] | None = None,
    bad: Iterable[str] | None = None,
    diagnose: bool = True,
) -> Comparison:
    """Load every run and compare them against the baseline (the first run unless named).

    A run that cannot be read is left out with a line in ``comparison.left_out`` when other runs
    remain. With ``diagnose`` each run's diagnosis findings ride along (``comparison.diagnosis``).
    """
    for path in paths:  # a missing path is a typo on the command line, not a bad run: stop here
        if not os.path.lexists(path):
            raise RundiffError("no such file or folder", path)
    left_out: list[str] = []
    runs = load_runs(list(paths), left_out=left_out)
    comparison = compare_runs(
        runs, baseline=_baseline_still_there(baseline, runs, left_out), good=list(good or []), bad=list(bad or [])
    )
    comparison.left_out = left_out
    if diagnose:
        comparison.diagnosis = _diagnosis(comparison.runs)
    return comparison


def _baseline_still_there(baseline: str | None, runs: list[Run], left_out: list[str]) -> str | None:
    if baseline is not None and left_out and baseline not in {r.name for r in runs}:
        raise RundiffError(f"--baseline {baseline!r} could not be read ({left_out[0]})")
    return baseline


def _diagnosis(runs: list[Run]) -> list[dict[str, Any]] | None:
    """Each run's findings (rundiff.diagnose), when that stage is available."""
    try:
        from rundiff.diagnose.engine import diagnose_run
    except ImportError:
        return None
    return [f.to_json() for run in runs for f in diagnose_run(run)]


def diagnose(
    paths: Sequence[str | Path],
    *,
    ignore: Iterable[str] = (),
    select: Iterable[str] = (),
    thresholds: Mapping[str, Mapping[str, Any]] | None = None,
    weights: bool = False,
) -> Diagnosis:
    """Diagnose each run's training dynamics (LR schedule, EMA, dataset, logs).

    Each run is loaded on its own: one that cannot be read is listed in ``Diagnosis.unreadable``
    and the others are still diagnosed. Raises RundiffError only when no run can be read.
    ``thresholds`` maps rule ids to threshold overrides (the config file's ``diagnose.rules``);
    ``weights`` also reads each saved LoRA's weights (per-epoch norms, never-trained factors).
    """
    from rundiff.diagnose.engine import RuleSelection, diagnose_runs
    from rundiff.diagnose.findings import UnreadableRun

    selection = RuleSelection.of(select=select, ignore=ignore, thresholds=thresholds)
    loaded, unreadable, errors = [], [], []
    for path in paths:
        try:
            loaded.append(load_run(path))
        except RundiffError as err:
            message = err.message if err.path == str(path) and err.line is None and err.key is None else str(err)
            unreadable.append(UnreadableRun(str(path), message))
            errors.append(err)
    if not loaded:
        if len(errors) == 1:
            raise errors[0]
        first = unreadable[0]
        raise RundiffError(f"no run could be read ({len(unreadable)} given); first: {first.path}: {first.error}")
    return diagnose_runs(loaded, ignore=selection, unreadable=unreadable, weights=weights)


def inspect_lora(path: str | Path):
    """What a LoRA .safetensors proves from its header: rank, alpha, format, base architecture."""
    from rundiff.infer import inspect_file

    return inspect_file(Path(path))


def plan_ablation(
    base: str | Path | Run,
    vary: Sequence[str],
    *,
    values: Sequence[str] | None = None,
    like: Sequence[str | Path] | None = None,
    grid: bool = False,
    steps: int = 300,
    seeds: Sequence[int] = (0,),
):
    """The variants an ablation would train (nothing runs)."""
    from rundiff.ablate.plan import plan_ablation as _plan

    base_run = base if isinstance(base, Run) else load_run(base)
    like_runs = [load_run(p) for p in like or []]
    return _plan(
        base_run,
        list(vary),
        values=list(values) if values else None,
        like=like_runs or None,
        grid=grid,
        steps=steps,
        seeds=list(seeds),
    )


def run_ablation(
    base: str | Path | Run,
    plan,
    out_dir: str | Path,
    *,
    backend=None,
    device: str = "cpu",
    jobs: int = 1,
    on_progress=None,
):
    """Train the plan's variants into ``out_dir`` (the builtin trainer unless ``backend`` says) and return
    the sweep as read back from that folder (its report: ``render(sweep, fmt)``)."""
    from rundiff.ablate.backend import ShortRun
    from rundiff.ablate.backends.builtin.backend import BuiltinBackend
    from rundiff.ablate.driver import run_ablation as _run
    from rundiff.ablate.executors.local import LocalExecutor
    from rundiff.ablate.sweep import load_sweep

    base_run = base if isinstance(base, Run) else load_run(base)
    _run(
        base_run,
        plan,
        backend or BuiltinBackend(),
        Path(out_dir),
        short=ShortRun(steps=plan.steps, device=device),
        jobs=jobs,
        executor=LocalExecutor([]),
        on_progress=on_progress,
    )
    return load_sweep(Path(out_dir))


def render(result: Any, fmt: str, **options: Any) -> str:
    """Any command's result as a report in ``fmt`` (text, md, html, json, csv where it applies)."""
    from rundiff.report import render as _render

    return _render(result, fmt, **options)

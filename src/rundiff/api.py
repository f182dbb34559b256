"""The library API the command line is a thin layer over."""

from __future__ import annotations

import os
from pathlib import Path

from rundiff.comparison.table import Comparison, compare_runs
from rundiff.errors import RundiffError
from rundiff.ingest.run_folder import ingest_run
from rundiff.model import Run
from rundiff.normalise.merge import normalise_run


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


#: From this many runs on, runs are read in parallel worker processes (one per core).
PARALLEL_FROM = 24


def load_runs(paths: list[str | Path], *, workers: int | None = None) -> list[Run]:
    """Load many runs, in parallel when there are enough to pay for the processes."""
    workers = workers if workers is not None else (os.cpu_count() or 1)
    if len(paths) < PARALLEL_FROM or workers < 2:
        return [load_run(p) for p in paths]
    from concurrent.futures import ProcessPoolExecutor

    chunk = max(1, len(paths) // (workers * 8))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(load_run, paths, chunksize=chunk))


def compare(paths: list[str | Path], *, baseline: str | None = None, good: list[str] | None = None,
            bad: list[str] | None = None) -> Comparison:
    """Load every run and compare them against the baseline (the first run unless named)."""
    return compare_runs(load_runs(paths), baseline=baseline, good=good, bad=bad)

"""The library API the command line is a thin layer over."""

from __future__ import annotations

from pathlib import Path

from rundiff.compare.table import Comparison, compare_runs
from rundiff.errors import RundiffError
from rundiff.ingest.run_folder import ingest_run
from rundiff.model import Run
from rundiff.normalise.merge import normalise_run


def load_run(path: str | Path) -> Run:
    """Ingest and normalise one run (a folder, or a single script/config/weights file).

    Raises RundiffError when the run yields no parameters at all.
    """
    files = ingest_run(path)
    run = normalise_run(files)
    if not any(c.known and c.provenance.value != "default" for c in run.cells.values()):
        detail = f" ({'; '.join(run.warnings[:3])})" if run.warnings else ""
        raise RundiffError(f"no training parameters found in this run{detail}", path)
    return run


def compare(paths: list[str | Path], *, baseline: str | None = None, good: list[str] | None = None,
            bad: list[str] | None = None) -> Comparison:
    """Load every run and compare them against the baseline (the first run unless named)."""
    runs = [load_run(p) for p in paths]
    return compare_runs(runs, baseline=baseline, good=good, bad=bad)

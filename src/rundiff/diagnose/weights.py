"""Per-save weight statistics of a run (``diagnose --weights``), read through infer's weights API.

The files are a run's save series in save order (ingest/checkpoints.py), or its one final LoRA
when it kept no series; each is read tensor by tensor (rundiff.infer.weights: memory bounded by
the largest factor matrix), so a 50-epoch series of SDXL LoRAs costs time, not memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rundiff.errors import RundiffError
from rundiff.model import Run

#: Files read per run at most (the last ones of the series when there are more).
MAX_FILES = 200


@dataclass(frozen=True)
class SavedWeights:
    """One saved file: where it sits in the run (epoch, step) and what its weights show."""

    path: str
    epoch: int | None
    step: int | None
    total_norm: float | None
    never_trained: bool
    untrained_modules: int
    modules: int
    nonfinite_tensors: int


def _files(run: Run) -> list[tuple[str, int | None, int | None]]:
    series = max(run.checkpoints, key=len, default=[])
    if series:
        return [(c.path, c.epoch, c.step) for c in series][-MAX_FILES:]
    finals = [s.path for s in run.sources if s.format.startswith("safetensors")]
    return [(path, None, None) for path in dict.fromkeys(finals)][:1]


def read_weights(run: Run) -> tuple[list[SavedWeights], list[str]]:
    """Weight statistics of the run's saves, and a warning per file that could not be read."""
    from rundiff.infer.weights import weight_stats

    saved, warnings = [], []
    for path, epoch, step in _files(run):
        try:
            report: Any = weight_stats(path)
        except RundiffError as err:
            warnings.append(f"{err} (weights not read)")
            continue
        saved.append(
            SavedWeights(
                path,
                epoch,
                step,
                report.total_norm,
                report.never_trained,
                len(report.untrained_modules),
                len(report.modules),
                len(report.nonfinite_tensors),
            )
        )
    return saved, warnings

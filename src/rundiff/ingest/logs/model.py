"""What a run's logs say, as plain series of numbers keyed by a small fixed vocabulary.

Series names (kohya's TensorBoard tags where one exists):
``loss/current`` (per-step train loss), ``loss/average`` (kohya's moving average, tqdm avr_loss),
``loss/epoch`` (one train loss per epoch), ``loss/validation`` (validation loss),
``lr/<group>`` (logged LR of one parameter group; ``lr`` when the log names no group),
``lr/d*lr/<group>`` (D-Adaptation / Prodigy d x lr), ``param_delta/median`` and
``param_delta/max`` (size of the parameter change), ``metric/<name>`` (FID, SSIM, ...).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Point:
    """One logged value; ``step`` is the global step the logger printed, ``epoch`` is 1-based."""

    value: float
    step: int | None = None
    epoch: int | None = None
    source: str = ""
    #: The step is exactly kohya's: an `lr/*` value logged at global step N is the LR after N
    #: scheduler steps (the one step N+1 runs with), not a counter that may be off by one.
    exact_step: bool = False

    @property
    def finite(self) -> bool:
        return math.isfinite(self.value)


@dataclass
class RunLogs:
    """Every series read from a run's log files, plus what could not be read."""

    series: dict[str, list[Point]] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    lines_read: int = 0
    lines_skipped: int = 0
    #: Facts a trainer printed about itself (kohya's "total optimization steps" etc.): name -> (value, source)
    facts: dict[str, tuple[Any, str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    #: Files that could not be read at all (permissions, binary data): their series are missing.
    unreadable: list[str] = field(default_factory=list)
    #: Whether the run ended normally (``model saved.``) or failed (a traceback), with where it says so.
    finish: tuple[bool, str] | None = None
    #: The highest global step a progress bar or step counter showed.
    last_step: int | None = None
    #: The trainer the logs are recognisably from (its console block, its tag set), with the evidence.
    trainer: tuple[str, str] | None = None

    def add(self, name: str, point: Point) -> None:
        self.series.setdefault(name, []).append(point)

    def get(self, name: str) -> list[Point]:
        return self.series.get(name, [])

    def names(self, prefix: str) -> list[str]:
        return sorted(n for n in self.series if n == prefix or n.startswith(prefix + "/"))

    def lr_groups(self) -> list[str]:
        """Series of logged LRs, without the d*lr series of adaptive optimizers."""
        return [n for n in self.names("lr") if not n.startswith("lr/d*lr")]

    def merge(self, other: RunLogs, *, only_new_series: bool = False) -> None:
        """Add ``other``; with ``only_new_series`` its series already present here are left out."""
        for name, points in other.series.items():
            if only_new_series and name in self.series:
                continue
            self.series.setdefault(name, []).extend(points)
        self.files.extend(other.files)
        self.lines_read += other.lines_read
        self.lines_skipped += other.lines_skipped
        for name, fact in other.facts.items():
            self.facts.setdefault(name, fact)
        self.warnings.extend(other.warnings)
        self.unreadable.extend(other.unreadable)
        if other.finish is not None and (self.finish is None or other.finish[0]):
            self.finish = other.finish
        if other.last_step is not None:
            self.last_step = max(self.last_step or 0, other.last_step)
        if self.trainer is None:
            self.trainer = other.trainer

    @property
    def empty(self) -> bool:
        return not self.series

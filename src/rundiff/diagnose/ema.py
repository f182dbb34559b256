"""How much of an EMA copy of the weights comes from this run's training.

An EMA with constant decay d, updated once per optimizer step, holds ``d**n`` of its starting
weights (the pretrained model) after n updates and ``1 - d**n`` of weights trained in the run.
Samples drawn from the EMA therefore lag the trained weights by about ``1 / (1 - d)`` steps.
"""

from __future__ import annotations

import math


def ema_new_fraction(decay: float, steps: int, *, update_after_step: int = 0) -> float:
    """Share of the EMA that comes from weights trained in this run after ``steps`` updates."""
    if not 0.0 <= decay <= 1.0:
        raise ValueError(f"EMA decay must lie in [0, 1], got {decay}")
    updates = max(0, steps - update_after_step)
    return 1.0 - decay**updates


def steps_to_fraction(decay: float, fraction: float = 0.5) -> int | None:
    """Updates an EMA with this decay needs before ``fraction`` of it is new weights."""
    if decay >= 1.0:
        return None
    if decay <= 0.0:
        return 1
    return math.ceil(math.log(1.0 - fraction) / math.log(decay))

"""EMA of the LoRA weights via diffusers' EMAModel; not an sd-scripts feature, offered for other trainers' runs."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import torch


class LoRAEMA:
    """diffusers' ramped-decay EMA (``min(decay, (1+s)/(10+s))``), stepped once per optimizer update."""

    def __init__(self, parameters: Iterable[torch.nn.Parameter], decay: float) -> None:
        from diffusers.training_utils import EMAModel

        self.parameters = list(parameters)
        self.model = EMAModel(self.parameters, decay=decay)
        self.kept_of_start = 1.0  # the product of decays: the weight the EMA still gives to the starting point

    def step(self) -> None:
        self.model.step(self.parameters)
        self.kept_of_start *= self.model.cur_decay_value

    @contextmanager
    def swapped_in(self) -> Iterator[None]:
        """A context in which the live parameters hold the EMA weights (restored afterwards)."""
        self.model.store(self.parameters)
        self.model.copy_to(self.parameters)
        try:
            yield
        finally:
            self.model.restore(self.parameters)

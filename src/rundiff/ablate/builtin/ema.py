"""EMA of the LoRA weights via diffusers' EMAModel; not an sd-scripts feature, offered for other trainers' runs."""

from __future__ import annotations

from collections.abc import Iterable

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

    def swapped_in(self):
        """A context in which the live parameters hold the EMA weights (restored afterwards)."""
        ema = self

        class _Swap:
            def __enter__(self_inner):
                ema.model.store(ema.parameters)
                ema.model.copy_to(ema.parameters)

            def __exit__(self_inner, *exc):
                ema.model.restore(ema.parameters)
                return False

        return _Swap()

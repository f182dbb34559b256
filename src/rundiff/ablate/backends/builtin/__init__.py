"""The builtin backend: a compact PyTorch LoRA trainer on a tiny random proxy model.

Importing this package does not import torch; ``train`` and ``available`` load the training stack on call.
"""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import ProxySettings, TrainConfig

if TYPE_CHECKING:
    from .trainer import TrainResult

__all__ = ["ProxySettings", "TrainConfig", "available", "train"]

REQUIRED = ("torch", "diffusers", "transformers")


def available() -> str | None:
    """None when the training stack is installed, else a sentence naming what is missing."""
    missing = [name for name in REQUIRED if find_spec(name) is None]
    if missing:
        return f"the builtin trainer needs {', '.join(missing)}: pip install 'rundiff[ablate]'"
    return None


def train(config: TrainConfig, out_dir: Path, *, device: str = "cpu", progress: Any = None) -> TrainResult:
    """See ``trainer.train``; imported here lazily so the CLI starts without torch."""
    from .trainer import train as _train

    return _train(config, out_dir, device=device, progress=progress)

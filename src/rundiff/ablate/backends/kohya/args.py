"""The command line of kohya-ss sd-scripts' LoRA trainers: name -> (kind, type, default[, choices]).

Derived from the parameter registry, which describes each sd-scripts argument once (its ``kind``
and ``sd_scripts:`` facts, read from the real argparse parsers of train_network.py and
sdxl_train_network.py at commit 48d368fa). kind: 'flag' (store_true, takes no value), 'list'
(nargs='*', swallows every following word that does not start with --) or 'value'. type: the
argparse type's name ('int_or_float': an int is a step count, a float below 1 a ratio; 'Path'),
None for flags. Every dest equals its option string; argparse's allow_abbrev applies.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from rundiff.normalise.registry import load_registry


@cache
def _table(script: str) -> dict[str, tuple[Any, ...]]:
    return {name: arg.table_row() for name, arg in sorted(load_registry().sd_scripts_arguments(script).items())}


def arguments(script: str) -> dict[str, tuple[Any, ...]]:
    """The argument table of a training script (by basename); train_network.py's for unknown LoRA scripts."""
    return dict(_table(script))


def flags(script: str) -> frozenset[str]:
    return frozenset(n for n, spec in _table(script).items() if spec[0] == "flag")


def lists(script: str) -> frozenset[str]:
    return frozenset(n for n, spec in _table(script).items() if spec[0] == "list")

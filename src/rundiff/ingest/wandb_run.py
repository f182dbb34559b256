"""W&B run folders (``wandb/offline-run-<time>-<id>/``, ``wandb/run-...``): the files rundiff reads.

- ``files/config.yaml``: the run's config as W&B stores it, every top-level key wrapped as
  ``{value: ...}`` (``_wandb`` is W&B's own): unwrapped here into a trainer config.
- ``files/wandb-summary.json`` and ``files/output.log``: logs (ingest/logs).
Not read: the binary ``run-<id>.wandb`` transaction log (protobuf records; in offline mode it is the
only place history, config and summary are kept until ``wandb sync``), ``wandb-metadata.json``
(the script's CLI args), and W&B's own ``debug*.log``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from rundiff.ingest import trainer_config
from rundiff.model import Fact, SourceFile, SourceKind


def is_wandb_config(path: Path) -> bool:
    """``.../wandb/<offline-run-|run->.../files/config.yaml``."""
    return (
        path.name == "config.yaml"
        and path.parent.name == "files"
        and path.parent.parent.name.startswith(("offline-run-", "run-"))
    )


def ingest_wandb_config(path: Path, data: Any, node: yaml.Node | None) -> SourceFile:
    """Facts of a W&B config.yaml, each key's ``value`` unwrapped, with its line."""
    shown = str(path)
    facts: list[Fact] = []
    children = trainer_config._mapping_children(node) if node is not None else {}
    for key, wrapped in (data or {}).items():
        if str(key).startswith("_") or not isinstance(wrapped, dict) or "value" not in wrapped:
            continue
        child = children.get(str(key))
        value_node = trainer_config._mapping_children(child).get("value") if child is not None else None
        for leaf, value, line in trainer_config.flatten(wrapped["value"], value_node, str(key)):
            facts.append(Fact(leaf, value, SourceKind.TRAINER_CONFIG, shown, line))
    plain = {
        k: v["value"]
        for k, v in (data or {}).items()
        if isinstance(v, dict) and "value" in v and not str(k).startswith("_")
    }
    return SourceFile(
        shown,
        "wandb-config",
        trainer=trainer_config.detect_trainer(plain),
        facts=facts,
        chain=f"{shown}#config",
        precedence=20,
    )

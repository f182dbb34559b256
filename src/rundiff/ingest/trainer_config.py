"""YAML and JSON configs of other trainers, read the way that trainer reads them.

A document is first recognised by a trainer profile (normalise/profiles/*.yaml, by its files and
keys; the evidence is kept on the source). A recognised document is read by its profile: eras
migrated, keys mapped to canonical names with the trainer's enums, defaults and rules. A Weights &
Biases `config.yaml` is unwrapped first and read with the profile of the trainer that sent it.
Documents no profile recognises fall back to the generic reader: nested keys are flattened to
dotted paths (`config.process.0.network.linear`), the registry's trainer_config aliases map them,
and keys nobody maps are still shown under their dotted name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from rundiff.errors import RundiffError
from rundiff.ingest import bounded
from rundiff.model import Fact, SourceFile, SourceKind

MAX_KEYS = 20_000


def load_yaml(path: Path, text: str) -> tuple[Any, yaml.Node | None]:
    """Safe load plus the node tree (for line numbers); bounded, and never constructs Python objects."""
    return bounded.load_yaml(text, path)


def flatten(
    data: Any, node: yaml.Node | None = None, prefix: str = "", out: list[tuple[str, Any, int | None]] | None = None
) -> list[tuple[str, Any, int | None]]:
    """(dotted key, scalar or list-of-scalars value, 1-based line) for every leaf."""
    out = [] if out is None else out
    if len(out) > MAX_KEYS:
        raise ValueError(f"more than {MAX_KEYS} keys")
    line = node.start_mark.line + 1 if node is not None else None
    if isinstance(data, dict):
        children = _mapping_children(node)
        for key, value in data.items():
            child_key = f"{prefix}.{key}" if prefix else str(key)
            flatten(value, children.get(str(key)), child_key, out)
    elif isinstance(data, list) and any(isinstance(x, (dict, list)) for x in data):
        items = node.value if isinstance(node, yaml.SequenceNode) else [None] * len(data)
        for index, value in enumerate(data):
            flatten(value, items[index] if index < len(items) else None, f"{prefix}.{index}", out)
    else:
        out.append((prefix, data, line))
    return out


def _mapping_children(node: yaml.Node | None) -> dict[str, yaml.Node]:
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {str(k.value): v for k, v in node.value if isinstance(k, yaml.ScalarNode)}


def detect_trainer(data: dict[str, Any]) -> str | None:
    if "job" in data and isinstance(data.get("config"), dict) and "process" in data["config"]:
        return "ai-toolkit"
    if "training_method" in data and ("__version" in data or "model_type" in data):
        return "OneTrainer"
    return None


def ingest_document(
    path: Path, data: Any, lines: dict[str, int], fmt: str, *, chain: str | None = None
) -> SourceFile | None:
    """The source a trainer profile reads from `data`; None when no profile recognises it."""
    from rundiff.ingest.profiled import read_with_profile

    return read_with_profile(path, data, lines, fmt, chain=chain)


def yaml_lines(data: Any, node: yaml.Node | None) -> dict[str, int]:
    """dotted path -> 1-based line, for every leaf of a YAML document."""
    try:
        return {key: line for key, _value, line in flatten(data, node) if line is not None}
    except ValueError:
        return {}


def ingest_trainer_config(path: Path, data: Any, node: yaml.Node | None, fmt: str) -> SourceFile:
    shown = str(path)
    if not isinstance(data, dict):
        raise RundiffError("expected a mapping of settings at the top level", path)
    try:
        leaves = flatten(data, node)
    except ValueError as err:
        raise RundiffError(str(err), path) from None
    facts = [
        Fact(key, value, SourceKind.TRAINER_CONFIG, shown, line)
        for key, value, line in leaves
        if value is not None or key
    ]
    return SourceFile(shown, fmt, trainer=detect_trainer(data), facts=facts, chain=f"{shown}#config", precedence=20)

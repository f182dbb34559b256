"""sd-scripts TOML files: the training-arguments `--config_file` and the `--dataset_config`.

`--config_file`: sections are ignored and lifted into one flat namespace (a key read later wins).
`--dataset_config`: `[general]` < `[[datasets]]` < `[[datasets.subsets]]`; the most specific level
that sets a key wins, and that value beats the command line.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from rundiff.errors import RundiffError
from rundiff.ingest.bounded import load_toml
from rundiff.ingest.filesystem import expand_user
from rundiff.ingest.textfile import read_text
from rundiff.model import Fact, SourceFile, SourceKind

#: Sections of the kohya_ss GUI's own `config.toml` (UI defaults, not a training config).
_GUI_DEFAULTS_SECTIONS = {"settings", "server", "folders", "accelerate_launch", "wd14_caption"}
PRECEDENCE_CONFIG = 10
PRECEDENCE_DATASET = 30


def parse_toml(path: Path, text: str | None = None) -> tuple[dict[str, Any], str]:
    text = read_text(path) if text is None else text
    return load_toml(text, path), text


def toml_kind(data: dict[str, Any]) -> str:
    """'dataset', 'config' or 'gui-defaults' (the kohya_ss GUI's UI settings file)."""
    if isinstance(data.get("datasets"), list):
        return "dataset"
    if len(_GUI_DEFAULTS_SECTIONS & set(data)) >= 2:
        return "gui-defaults"
    return "config"


def key_lines(text: str) -> dict[tuple[str, str], int]:
    """(section, key) -> line of the last assignment; the section is '' at the top level."""
    lines: dict[tuple[str, str], int] = {}
    section = ""
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        header = re.match(r"^\[\[?\s*([^\]]+?)\s*\]\]?", stripped)
        if header:
            section = header.group(1)
            continue
        assign = re.match(r'^("?)([A-Za-z0-9_\-.]+)\1\s*=', stripped)
        if assign:
            lines[(section, assign.group(2))] = number
    return lines


def _line_of(lines: dict[tuple[str, str], int], key: str, section: str | None = None) -> int | None:
    if section is not None and (section, key) in lines:
        return lines[(section, key)]
    found = [line for (sec, k), line in lines.items() if k == key]
    return max(found) if found else None


def ingest_config_toml(
    path: Path, data: dict[str, Any], text: str, *, chain: str | None = None, display_path: str | None = None
) -> SourceFile:
    """The flat namespace sd-scripts builds from a `--config_file`."""
    shown = display_path or str(path)
    lines = key_lines(text)
    flat: dict[str, tuple[Any, int | None]] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            for inner, inner_value in value.items():
                flat[inner] = (inner_value, _line_of(lines, inner, key))
        else:
            flat[key] = (value, _line_of(lines, key, ""))
    facts = [Fact(key, value, SourceKind.CONFIG_TOML, shown, line) for key, (value, line) in flat.items()]
    source = SourceFile(
        shown,
        "kohya-config-toml",
        trainer="sd-scripts",
        facts=facts,
        chain=chain or f"{shown}#config",
        precedence=PRECEDENCE_CONFIG,
    )
    dataset_config = flat.get("dataset_config")
    if dataset_config and isinstance(dataset_config[0], str):
        source.references.append(_resolve(path, dataset_config[0]))
    return source


def ingest_dataset_config(
    path: Path, data: dict[str, Any], text: str, *, chain: str | None = None, display_path: str | None = None
) -> SourceFile:
    """One fact per key, resolved over the train subsets (subset > dataset > general)."""
    shown = display_path or str(path)
    lines = key_lines(text) if path.suffix.lower() != ".json" else {}
    general = data.get("general") or {}
    if not isinstance(general, dict):
        raise RundiffError("[general] must be a table", path, key="general")
    resolved: dict[str, list[Any]] = {}
    where: dict[str, int | None] = {}
    reg_repeats: list[int] = []
    image_dirs: list[str] = []
    image_repeats: list[int | None] = []
    for d_index, dataset in enumerate(data.get("datasets") or []):
        if not isinstance(dataset, dict):
            raise RundiffError("each [[datasets]] entry must be a table", path, key=f"datasets[{d_index}]")
        subsets = dataset.get("subsets") or [{}]
        for s_index, subset in enumerate(subsets):
            if not isinstance(subset, dict):
                raise RundiffError(
                    "each [[datasets.subsets]] entry must be a table",
                    path,
                    key=f"datasets[{d_index}].subsets[{s_index}]",
                )
            merged = {
                **{k: v for k, v in general.items()},
                **{k: v for k, v in dataset.items() if k != "subsets"},
                **subset,
            }
            if merged.get("is_reg"):
                reg_repeats.append(merged.get("num_repeats", 1))
                continue
            if "image_dir" in merged:
                image_dirs.append(str(merged["image_dir"]))
                repeats = merged.get("num_repeats")
                image_repeats.append(repeats if isinstance(repeats, int) else None)
            for key, value in merged.items():
                if key in ("image_dir", "is_reg", "metadata_file", "conditioning_data_dir"):
                    continue
                resolved.setdefault(key, []).append(value)
                if key not in where:
                    section = "datasets.subsets" if key in subset else "datasets" if key in dataset else "general"
                    where[key] = _line_of(lines, key, section)
    facts: list[Fact] = []
    for key, values in resolved.items():
        distinct = _distinct(values)
        facts.append(
            Fact(key, distinct[0] if len(distinct) == 1 else distinct, SourceKind.DATASET_TOML, shown, where.get(key))
        )
    if image_dirs:
        facts.append(
            Fact(
                "dataset_subsets",
                [Path(d).name for d in image_dirs],
                SourceKind.DATASET_TOML,
                shown,
                _line_of(lines, "image_dir"),
            )
        )
    source = SourceFile(
        shown,
        "kohya-dataset-toml",
        trainer="sd-scripts",
        facts=facts,
        chain=chain or f"{shown}#dataset",
        precedence=PRECEDENCE_DATASET,
    )
    source.datasets.extend((_resolve(path, d), r) for d, r in zip(image_dirs, image_repeats, strict=True))
    return source


def _distinct(values: list[Any]) -> list[Any]:
    seen: list[Any] = []
    for value in values:
        if value not in seen:
            seen.append(value)
    return seen


def _resolve(base_file: Path, reference: str) -> Path:
    ref = expand_user(reference)
    return ref if ref.is_absolute() else (base_file.parent / ref)


def ingest_toml(
    path: Path, *, text: str | None = None, chain: str | None = None, display_path: str | None = None
) -> list[SourceFile]:
    data, text = parse_toml(path, text)
    kind = toml_kind(data)
    if kind == "dataset":
        return [ingest_dataset_config(path, data, text, chain=chain, display_path=display_path)]
    if kind == "gui-defaults":
        return []
    return [ingest_config_toml(path, data, text, chain=chain, display_path=display_path)]


def ingest_dataset_json(path: Path, data: dict[str, Any], *, chain: str | None = None) -> SourceFile:
    """A `--dataset_config` written as JSON (sd-scripts accepts both)."""
    return ingest_dataset_config(path, data, json.dumps(data), chain=chain)

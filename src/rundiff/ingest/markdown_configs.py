"""Configs pasted into Markdown notes: fenced ```yaml / ```json / ```toml blocks of a trainer's config.

People keep their ai-toolkit YAML, SimpleTuner JSON or sd-scripts TOML in a README next to the
launch command. A block is read when a trainer profile recognises it (or, for TOML, when it holds
sd-scripts argument names); each block is its own source, with line numbers of the .md file. A block
that does not parse costs that block only, with a warning naming its line.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import yaml

from rundiff.ingest.markdown import fenced_blocks
from rundiff.ingest.profiled import read_with_profile
from rundiff.ingest.textfile import read_text
from rundiff.model import SourceFile
from rundiff.normalise.profile import recognise

_LANGS = {"yaml": "yaml", "yml": "yaml", "json": "json", "jsonc": "json", "toml": "toml"}


def ingest_markdown_configs(path: Path) -> tuple[list[SourceFile], list[str]]:
    """(sources of the config blocks a profile recognises, warnings for blocks that do not parse)."""
    sources: list[SourceFile] = []
    warnings: list[str] = []
    for first_line, info, text in fenced_blocks(read_text(path)):
        words = info.split()
        lang = _LANGS.get(words[0].lower().strip("{}.")) if words else None
        if lang is None:
            continue
        try:
            data, lines = _parse(lang, text, first_line)
        except (ValueError, yaml.YAMLError, tomllib.TOMLDecodeError, RecursionError):
            warnings.append(f"{path}:{first_line}: a {lang} block that does not parse (not read)")
            continue
        if not isinstance(data, (dict, list)) or not data:
            continue
        chain = f"{path}#block{first_line}"
        source = read_with_profile(path, data, lines, f"markdown-{lang}", chain=chain)
        if source is None and lang == "toml" and isinstance(data, dict):
            source = _sd_scripts_toml(path, data, text, first_line, chain)
        if source is not None:
            source.format = f"markdown-{lang}-config" if source.format != "dataset-config" else source.format
            sources.append(source)
    return sources, warnings


def _parse(lang: str, text: str, first_line: int) -> tuple[object, dict[str, int]]:
    offset = first_line - 1
    if lang == "yaml":
        from rundiff.ingest.trainer_config import yaml_lines

        data = yaml.safe_load(text)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        return data, {k: v + offset for k, v in yaml_lines(data, node).items()}
    if lang == "json":
        data = json.loads(text)
        lines: dict[str, int] = {}
        for number, line in enumerate(text.splitlines(), start=first_line):
            stripped = line.lstrip()
            if stripped.startswith('"'):
                lines.setdefault(stripped[1:].split('"', 1)[0], number)
        return data, lines
    from rundiff.ingest import toml_config

    data = tomllib.loads(text)
    return data, {(f"{s}.{k}" if s else k): v + offset for (s, k), v in toml_config.key_lines(text).items()}


def _sd_scripts_toml(path: Path, data: dict, text: str, first_line: int, chain: str) -> SourceFile | None:
    profile, evidence = recognise(data, f"{path.stem}.toml", only=["musubi-tuner", "sd-scripts"])
    if profile is None:
        return None
    from rundiff.ingest import toml_config
    from rundiff.model import Fact

    shown = str(path)
    kind = toml_config.toml_kind(data)
    if kind == "dataset":
        source = toml_config.ingest_dataset_config(path, data, text, chain=chain, display_path=shown)
    elif kind == "config":
        source = toml_config.ingest_config_toml(path, data, text, chain=chain, display_path=shown)
        source.references.clear()  # a path in a pasted snippet names the author's disk, not this folder
    else:
        return None
    source.facts = [
        Fact(f.key, f.value, f.kind, f.path, f.line + first_line - 1 if f.line else None, f.provenance, f.note)
        for f in source.facts
    ]
    source.datasets.clear()
    source.trainer = profile.trainer
    source.evidence = [f"a ```toml block: {e}" for e in evidence]
    return source

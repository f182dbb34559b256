"""Environment files a trainer reads as its config (SimpleTuner's `config.env`).

Read as the trainer reads them, never sourced: `KEY=value` / `export KEY=value` lines, quotes
removed, `KEY+=value` appended, `${VAR}` and `$VAR` of variables set earlier in the file replaced.
A profile with an `env:` table maps the variables it knows to its options (others are ignored,
as the trainer ignores them); its `extra_args` variable is a command line whose options win.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

from rundiff.ingest.profiled import PRECEDENCE_CONFIG, _source
from rundiff.ingest.textfile import read_text
from rundiff.model import SourceFile
from rundiff.normalise.profile import load_profiles

_ASSIGN = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*(\+?=)(.*)$")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def parse_env(text: str) -> tuple[dict[str, str], dict[str, int]]:
    """(variable -> value, variable -> line of its last assignment)."""
    values: dict[str, str] = {}
    lines: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _ASSIGN.match(stripped)
        if not match:
            continue
        name, op, value = match.group(1), match.group(2), match.group(3).strip()
        if value[:1] in "\"'" and value.endswith(value[:1]) and len(value) >= 2:
            quote, value = value[0], value[1:-1]
        else:
            quote = ""
            value = value.split(" #", 1)[0].strip()
        if quote != "'":
            value = _VAR.sub(lambda m: values.get(m.group(1) or m.group(2), m.group(0)), value)
        values[name] = f"{values[name]} {value}".strip() if op == "+=" and name in values else value
        lines[name] = number
    return values, lines


def env_profile(variables: dict[str, str]) -> tuple[str, list[str]] | None:
    """The profile whose env table names at least two of these variables, and the evidence."""
    for name, profile in load_profiles().items():
        table = profile.env.get("map") or {}
        hits = sorted(v for v in variables if v in table or v == profile.env.get("extra_args"))
        if len(hits) >= 2:
            return name, [
                f"environment variables {', '.join(hits[:4])}{' ...' if len(hits) > 4 else ''} "
                f"({profile.title} config.env)"
            ]
    return None


def ingest_env(path: Path) -> list[SourceFile]:
    """The training settings of an env file, or [] when no trainer profile knows its variables."""
    variables, var_lines = parse_env(read_text(path))
    found = env_profile(variables)
    if found is None:
        return []
    profile = load_profiles()[found[0]]
    shadow = [n for n in profile.env.get("shadowed_by") or () if (path.parent / n).is_file()]
    if shadow:  # SimpleTuner trains from the first of config.json / config.toml / config.env it finds
        from rundiff.ingest.run_folder import NotASource

        raise NotASource(f"{profile.title} reads {shadow[0]} first; this file only sets environment variables")
    options, lines = env_options(profile.env, variables, var_lines)
    source = _source(profile, found[1], path, options, lines, str(path), chain=None, precedence=PRECEDENCE_CONFIG)
    return [source]


def env_options(
    env: dict[str, Any], variables: dict[str, str], var_lines: dict[str, int]
) -> tuple[dict[str, Any], dict[str, int]]:
    """Options as the trainer builds them: mapped variables ("true" a flag, "false" dropped), then
    the extra-args command line, whose options win."""
    options: dict[str, Any] = {}
    lines: dict[str, int] = {}
    for variable, option in (env.get("map") or {}).items():
        if variable not in variables:
            continue
        value = variables[variable].strip()
        if value.lower() == "false":
            continue
        options[option] = True if value.lower() == "true" else value
        lines[option] = var_lines[variable]
    extra = env.get("extra_args")
    if extra and variables.get(extra):
        try:
            words = shlex.split(variables[extra])
        except ValueError:
            words = variables[extra].split()
        i = 0
        while i < len(words):
            word = words[i]
            i += 1
            if not word.startswith("--"):
                continue
            name, eq, value = word[2:].partition("=")
            if eq:
                options[name] = value
            elif i < len(words) and not words[i].startswith("--"):
                options[name] = words[i]
                i += 1
            else:
                options[name] = True
            lines[name] = var_lines[extra]
    return options, lines

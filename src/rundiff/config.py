"""Project defaults: `[tool.rundiff]` in pyproject.toml, or a `rundiff.toml`, found as ruff finds its own.

The closest file up from the working folder wins: `rundiff.toml` / `.rundiff.toml` (keys at the top
level) or a `pyproject.toml` that has a `[tool.rundiff]` table (a pyproject.toml without one is
passed over). `RUNDIFF_CONFIG=path` names the file outright; `RUNDIFF_NO_CONFIG=1` ignores them all.

    [tool.rundiff]            # options every command shares
    format = "md"
    [tool.rundiff.compare]    # one table per command, keys spelled as its long options
    all = true
    metric = "loss"
    [tool.rundiff.diagnose]
    ignore = ["ema-too-slow"]

Command tables become the commands' option defaults (the command line still wins). Other tables
(for example `[tool.rundiff.diagnose.rules]`) belong to the stage that reads them with `section()`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rundiff.errors import RundiffError

CONFIG_NAMES = ("rundiff.toml", ".rundiff.toml", "pyproject.toml")
#: Larger config files are refused before parsing (a project's settings are a few hundred bytes).
MAX_CONFIG_BYTES = 256 * 1024
#: Keys of the top table that every command shares (each applies where the command has the option).
SHARED_KEYS = frozenset({"format", "open"})
COMMANDS = ("compare", "diagnose", "infer-rank", "ablate")


@dataclass(frozen=True)
class Config:
    """The settings read from one file (or none): plain nested dicts, as TOML gives them."""

    path: Path | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def section(self, *keys: str) -> dict[str, Any]:
        """The table at ``keys`` (``section("diagnose", "rules")``), or {} when absent."""
        node: Any = self.data
        for key in keys:
            node = node.get(key) if isinstance(node, dict) else None
            if node is None:
                return {}
        if not isinstance(node, dict):
            raise RundiffError(f"expected a table, got {type(node).__name__}", self.path, key=".".join(keys))
        return node

    def command_options(self, command: str) -> dict[str, Any]:
        """Option defaults for one command: shared top-level keys, then the command's own table.

        Nested tables inside the command's table are left out (they are a stage's own settings).
        """
        options = {k: v for k, v in self.data.items() if k in SHARED_KEYS}
        table = self.section(command)
        options.update({k: v for k, v in table.items() if not isinstance(v, dict)})
        return options


def find_config_file(start: Path | None = None) -> Path | None:
    """The closest rundiff.toml / .rundiff.toml / pyproject.toml with [tool.rundiff], walking up."""
    if os.environ.get("RUNDIFF_NO_CONFIG"):
        return None
    named = os.environ.get("RUNDIFF_CONFIG")
    if named:
        return Path(named)
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        for name in CONFIG_NAMES:
            candidate = folder / name
            if not candidate.is_file():
                continue
            if name != "pyproject.toml" or _has_rundiff_table(candidate):
                return candidate
    return None


def _has_rundiff_table(path: Path) -> bool:
    try:
        data = _read_toml(path)
    except RundiffError:
        return False  # someone else's broken pyproject.toml is not ours to judge
    return isinstance(data.get("tool"), dict) and "rundiff" in data["tool"]


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as err:
        raise RundiffError(f"cannot read the config file: {err.strerror or err}", path) from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise RundiffError(f"config file larger than {MAX_CONFIG_BYTES // 1024} KiB", path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise RundiffError("config file is not UTF-8 text", path) from None
    from rundiff.ingest.bounded import load_toml  # the one bounded TOML reader (nesting, wide integers)

    return load_toml(text, path)


def load_config(path: Path | None = None, *, start: Path | None = None) -> Config:
    """Read ``path``, or the closest config file above ``start`` (the working folder); Config() if none."""
    path = path if path is not None else find_config_file(start)
    if path is None:
        return Config()
    data = _read_toml(path)
    if path.name == "pyproject.toml":
        data = (data.get("tool") or {}).get("rundiff") or {}
    if not isinstance(data, dict):
        raise RundiffError("[tool.rundiff] must be a table", path)
    for key, value in data.items():
        if key in SHARED_KEYS or (key in COMMANDS and isinstance(value, dict)) or isinstance(value, dict):
            continue
        raise RundiffError(
            f"unknown setting {key!r} (top-level keys: {', '.join(sorted(SHARED_KEYS))}; "
            f"tables: {', '.join(COMMANDS)})",
            path,
            key=key,
        )
    return Config(path, data)

"""The diagnose part of the project config: which rules run and their thresholds.

Read from ``rundiff.toml`` (``[diagnose]``) or ``pyproject.toml`` (``[tool.rundiff.diagnose]``),
the first found from the current folder upwards (or the file given with ``--config``)::

    [tool.rundiff.diagnose]
    ignore = ["repeats-too-high"]

    [tool.rundiff.diagnose.rules.warmup-too-long]
    warning_fraction = 0.3
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rundiff.errors import RundiffError

MAX_CONFIG_BYTES = 1024 * 1024


def find_config(start: Path) -> Path | None:
    """``rundiff.toml``, or a ``pyproject.toml`` with a ``[tool.rundiff]`` table, from start upwards."""
    for folder in [start, *start.parents]:
        candidate = folder / "rundiff.toml"
        if candidate.is_file():
            return candidate
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file():
            try:
                text = pyproject.read_text(encoding="utf-8", errors="replace")[:MAX_CONFIG_BYTES]
            except OSError:
                continue
            if "[tool.rundiff" in text:
                return pyproject
    return None


def _read(path: Path) -> dict[str, Any]:
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise RundiffError(f"config file over {MAX_CONFIG_BYTES} bytes", path)
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise RundiffError(f"cannot read config: {getattr(err, 'strerror', None) or err}", path) from None
    try:
        return tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError) as err:
        raise RundiffError(f"invalid TOML: {err}", path) from None


def diagnose_config(path: Path | None = None, start: Path | None = None) -> tuple[dict[str, Any], str | None]:
    """(the ``diagnose`` table, the file it came from); empty when there is no config file."""
    path = path or find_config((start or Path.cwd()).resolve())
    if path is None:
        return {}, None
    data = _read(path)
    table = data.get("tool", {}).get("rundiff", {}) if path.name == "pyproject.toml" else data
    section = table.get("diagnose", {}) if isinstance(table, Mapping) else {}
    if not isinstance(section, Mapping):
        raise RundiffError("diagnose must be a table", path, key="diagnose")
    for key in ("select", "ignore"):
        value = section.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise RundiffError(f"{key} must be a list of rule ids", path, key=f"diagnose.{key}")
    rules = section.get("rules", {})
    if not isinstance(rules, Mapping):
        raise RundiffError("rules must be a table of rule ids", path, key="diagnose.rules")
    return dict(section), str(path)

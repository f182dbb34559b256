"""Write flat sd-scripts `--config_file` TOML (the standard library reads TOML but does not write it)."""

from __future__ import annotations

import json
import math
from typing import Any


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"TOML has no {value}")
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)  # a TOML basic string is JSON-compatible


def dump_flat(values: dict[str, Any], header: str = "") -> str:
    lines = [f"# {line}" for line in header.splitlines()] if header else []
    for key in sorted(values):
        value = values[key]
        if value is None:
            continue
        lines.append(f"{key} = {toml_value(value)}")
    return "\n".join(lines) + "\n"

"""Decode ``__metadata__`` values: sd-scripts ``str()``-s everything, and some values are JSON.

``"None"`` -> None, ``"True"``/``"False"`` -> bool, ``"16.0"`` -> 16.0, ``"(512, 512)"`` -> [512, 512],
``{...}``/``[...]`` -> parsed JSON (NaN allowed, as kohya writes it), anything else stays a string.
Non-finite floats are kept as floats here; :func:`json_safe` turns them into strings for JSON output.
"""

from __future__ import annotations

import json
import math
import re

TYPE_CHECKING = False  # typing is not imported at run time: infer-rank's start-up budget
if TYPE_CHECKING:
    from typing import Any

_INT = re.compile(r"[+-]?\d+\Z")
_FLOAT = re.compile(r"[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?|nan|NaN|inf|Infinity)\Z")
_TUPLE = re.compile(r"\((.*)\)\Z", re.S)
#: Decoding huge JSON values (tag frequencies of big datasets) is fine; absurd ones are left raw.
MAX_JSON_CHARS = 20_000_000


#: An integer with more digits than this is not a setting (and would overflow a float): kept as text.
MAX_INT_DIGITS = 18


def _number(text: str) -> int | float | None:
    s = text.strip()
    if _INT.match(s):
        return int(s) if len(s.lstrip("+-")) <= MAX_INT_DIGITS else None
    if len(s) <= 64 and _FLOAT.match(s):
        return float(s)
    return None


def decode_value(text: str) -> Any:
    """Turn one metadata string into the Python value it was written from, where that is clear."""
    s = text.strip()
    if s == "None":
        return None
    if s in ("True", "False"):
        return s == "True"
    num = _number(s)
    if num is not None:
        return num
    if s[:1] in ("{", "[") and len(s) <= MAX_JSON_CHARS:
        try:
            return json.loads(s)
        except (ValueError, RecursionError):
            return text
    m = _TUPLE.match(s)
    if m and len(s) < 10_000:
        inner = [p for p in m.group(1).split(",") if p.strip()]
        parts = [_number(p) for p in inner]
        if parts and all(p is not None for p in parts):
            return parts
    return text


def decode_metadata(metadata: dict[str, str] | None) -> dict[str, Any]:
    return {k: decode_value(v) for k, v in (metadata or {}).items()}


def json_safe(value: Any) -> Any:
    """Make a decoded value valid strict JSON (NaN/Infinity become strings, tuples lists)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def network_args(decoded: dict[str, Any]) -> dict[str, Any]:
    """``ss_network_args`` as a dict (values decoded: ``"8"`` -> 8), or {} when absent or malformed."""
    args = decoded.get("ss_network_args")
    if not isinstance(args, dict):
        return {}
    return {str(k): decode_value(v) if isinstance(v, str) else v for k, v in args.items()}

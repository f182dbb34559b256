"""Coerce raw values from any file into the registry's types, so equal settings compare equal.

`1e-4` and `"0.0001"` become the same float, `"True"` becomes True, `"512,512"`, `"(512, 512)"` and
`512` become `[512, 512]`, optimizer names are matched case-insensitively to sd-scripts' spelling.
"""

from __future__ import annotations

import math
import re
from typing import Any

from rundiff.normalise.registry import Parameter

_NONE_STRINGS = frozenset({"None", "none", "null", "NULL", "Null", ""})
_TRUE = frozenset({"true", "1", "yes", "on", "y"})
_FALSE = frozenset({"false", "0", "no", "off", "n"})


class ValueProblem(ValueError):
    """A value that does not fit its parameter's type (the caller adds file and key)."""


def is_none(raw: Any) -> bool:
    return raw is None or (isinstance(raw, str) and raw.strip() in _NONE_STRINGS)


def coerce(param: Parameter, raw: Any) -> Any:
    """The value of ``raw`` in ``param``'s type; None stays None (the caller applies none_means)."""
    if is_none(raw):
        return None
    kind = param.type
    if kind == "int":
        return to_int(raw)
    if kind == "float":
        return to_float(raw)
    if kind == "number":
        return to_number(raw)
    if kind == "bool":
        return to_bool(raw)
    if kind == "resolution":
        return to_resolution(raw)
    if kind in ("float_list", "int_list", "str_list"):
        items = to_list(raw)
        convert = {"float_list": to_float, "int_list": to_int, "str_list": str}[kind]
        return [convert(x) for x in items]
    if kind in ("str", "path"):
        text = _scalar_text(raw)
        return match_choice(param, text) if param.choices else text
    return raw


def _scalar_text(raw: Any) -> str:
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, (list, tuple)):
        if len(raw) == 1:
            return _scalar_text(raw[0])
        return ",".join(_scalar_text(x) for x in raw)
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    return str(raw).strip()


def match_choice(param: Parameter, text: str) -> str:
    """sd-scripts' spelling of a choice: case-insensitive, also from dotted class paths.

    ``bitsandbytes.optim.adamw.AdamW8bit`` and ``torch.optim.adamw.AdamW(weight_decay=0.01)`` name
    the class last; the arguments in parentheses are dropped here (metadata ingest keeps them).
    """
    lowered = {c.lower(): c for c in param.choices}
    candidate = text.split("(", 1)[0].strip()
    for form in (candidate, candidate.rsplit(".", 1)[-1]):
        hit = lowered.get(form.lower())
        if hit is not None:
            return hit
        hit = lowered.get(form.lower().replace("-", "_").replace(" ", "_"))
        if hit is not None:
            return hit
    return candidate


def to_float(raw: Any) -> float:
    if isinstance(raw, bool):
        raise ValueProblem(f"expected a number, got {raw!r}")
    if isinstance(raw, (list, tuple)):
        distinct = {to_float(x) for x in raw}
        if len(distinct) == 1:
            return distinct.pop()
        raise ValueProblem(f"expected one number, got {list(raw)!r}")
    if isinstance(raw, (int, float)):
        return float(raw)
    text = str(raw).strip().strip("[]()").strip().strip("'\"")
    if text.endswith("%"):
        return float(text[:-1]) / 100.0
    try:
        return float(text)
    except ValueError:
        raise ValueProblem(f"expected a number, got {raw!r}") from None


def to_int(raw: Any) -> int:
    if isinstance(raw, bool):
        raise ValueProblem(f"expected an integer, got {raw!r}")
    value = to_float(raw)
    if not math.isfinite(value) or not value.is_integer():
        raise ValueProblem(f"expected an integer, got {raw!r}")
    return int(value)


def to_number(raw: Any) -> int | float:
    """An int when written as one (``500`` steps), a float otherwise (``0.1`` = a ratio)."""
    if isinstance(raw, bool):
        raise ValueProblem(f"expected a number, got {raw!r}")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and re.fullmatch(r"\s*[+-]?\d+\s*", raw):
        return int(raw)
    return to_float(raw)


def to_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, (int, float)) and raw in (0, 1):
        return bool(raw)
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueProblem(f"expected true or false, got {raw!r}")


def to_resolution(raw: Any) -> list[int]:
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        side = to_int(raw)
        return [side, side]
    items = to_list(raw, separators=r"[,x×\s]+")
    sides = [to_int(x) for x in items]
    if len(sides) == 1:
        return [sides[0], sides[0]]
    if len(sides) == 2:
        return sides
    raise ValueProblem(f"expected a resolution like 512,512, got {raw!r}")


def to_list(raw: Any, separators: str = r"[,\s]+") -> list[Any]:
    if isinstance(raw, (list, tuple)):
        return list(raw)
    text = str(raw).strip().strip("[]()")
    return [part.strip().strip("'\"") for part in re.split(separators, text) if part.strip()]


def values_equal(a: Any, b: Any, *, path_like: bool = False) -> bool:
    """Equality after normalisation; floats within a relative 1e-9, paths by file name."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or (isinstance(a, bool) and isinstance(b, bool) and a == b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-15)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(values_equal(x, y) for x, y in zip(a, b, strict=True))
    if path_like and isinstance(a, str) and isinstance(b, str) and a != b:
        return _path_stem(a) == _path_stem(b) and ("/" not in a or "/" not in b or a == b)
    return a == b


def _path_stem(text: str) -> str:
    return re.split(r"[\\/]", text.rstrip("/\\"))[-1]

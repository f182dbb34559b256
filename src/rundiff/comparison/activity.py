"""Whether a parameter takes effect in a run, from the registry's `active_when` conditions.

A multires noise discount without multires iterations, conv_alpha without conv_dim, a cycle count
under a scheduler that has no cycles: the value is written (or defaulted) but changes nothing, so
it must not count as a difference. Inactive only when the deciding values are known; an unknown
deciding value leaves the parameter active (we cannot tell, so we do not hide it).
"""

from __future__ import annotations

from typing import Any

from rundiff.model import Run
from rundiff.normalise.registry import Parameter
from rundiff.normalise.values import values_equal


def is_set(value: Any) -> bool:
    """Known and switched on: not None, 0, false, an empty string or the text "none"."""
    if value is None or value is False:
        return False
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value != 0
    if isinstance(value, str):
        return value.strip().lower() not in ("", "none", "null", "false", "0")
    if isinstance(value, (list, tuple, dict)):
        return bool(value)
    return True


def _holds(condition: Any, value: Any) -> bool:
    if condition == "set":
        return is_set(value)
    options = condition if isinstance(condition, list) else [condition]
    for option in options:
        if option is None and value is None:
            return True
        if option is not None and value is not None:
            if isinstance(option, str) and isinstance(value, str):
                if option.lower() == value.lower():
                    return True
            elif values_equal(option, value):
                return True
    return False


def inactive_because(param: Parameter | None, run: Run) -> str | None:
    """Why ``param`` has no effect in ``run`` ("multires_noise_iterations is None"), or None."""
    if param is None or not param.active_when:
        return None
    for other, condition in param.active_when.items():
        cell = run.get(other)
        if not cell.known:
            continue
        if not _holds(condition, cell.value):
            from rundiff.report.values import format_value

            needs = "set" if condition == "set" else " or ".join(format_value(c) for c in condition)
            return f"no effect: {other} is {format_value(cell.value)} (needs {needs})"
    return None

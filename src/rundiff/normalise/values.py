"""The one value reader: raw values from any file, command line or option, in the registry's types.

Every stage reads values through here (ingest via normalise, diagnose through the cells, ablate's
planner and built-in trainer), so a value means the same thing everywhere and equal settings
compare equal: `1e-4` and `"0.0001"` are one float, `"True"` is True, `"512,512"`, `"(512, 512)"`
and `512` are `[512, 512]`, optimizer names take sd-scripts' spelling.

Numbers are checked here, where they enter: finite, not subnormal, within the parameter's range,
the right kind, and huge integers are refused *before* they are converted (a 4,400-digit integer
never reaches ``int()``). A value that fails raises ``ValueProblem``; the caller turns that into a
warning on that one value and leaves the cell unknown.

How text is read depends on where it was written, as in sd-scripts:
- ``argv=True``: a command-line word, read as argparse reads it (``type=int`` refuses ``"2.0"``;
  sd-scripts' ``int_or_float`` makes ``"0.1"`` and ``"10%"`` ratios, ``"500"`` a step count and
  refuses ``"2.0"``, because a value of 1 or more must be an integer).
- otherwise: the text of a typed value (TOML/JSON/YAML, or ``str()`` of one in ``ss_*`` metadata):
  ``"2.0"`` is the float 2.0, which for a warmup is a ratio (sd-scripts does not convert TOML values).
"""

from __future__ import annotations

import datetime
import math
import re
import sys
from typing import Any

from rundiff.normalise.registry import Parameter

_NONE_STRINGS = frozenset({"none", "null", ""})
_TRUE = frozenset({"true", "1", "yes", "on", "y"})
_FALSE = frozenset({"false", "0", "no", "off", "n"})
#: Integers beyond this magnitude are refused: no training knob needs more than 64 bits (seeds do).
INT_LIMIT = 2**64
#: Longest text read as a number; longer text is refused before any conversion is tried.
MAX_NUMBER_CHARS = 64
_SMALLEST_NORMAL = sys.float_info.min


class ValueProblem(ValueError):
    """A value that does not fit its parameter's type (the caller adds file and key)."""


def show(raw: Any, limit: int = 40) -> str:
    """A value for a message: short, and safe for huge integers (whose ``repr`` itself would fail)."""
    if isinstance(raw, int) and not isinstance(raw, bool) and raw.bit_length() > 128:
        return f"an integer of about {int(raw.bit_length() * 0.30103) + 1} digits"
    if isinstance(raw, (list, tuple)) and len(raw) > 8:
        return f"a list of {len(raw)} items"
    try:
        text = repr(raw)
    except ValueError:
        return f"a {type(raw).__name__} value"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def is_none(raw: Any) -> bool:
    return raw is None or (isinstance(raw, str) and raw.strip().lower() in _NONE_STRINGS)


def coerce(param: Parameter, raw: Any, *, argv: bool = False) -> Any:
    """The value of ``raw`` in ``param``'s type; None stays None (the caller applies none_means).

    ``argv``: ``raw`` is a command-line word, read as argparse reads it (see the module docstring).
    Raises ValueProblem when the value cannot be used (wrong kind, not finite, out of range).
    """
    if is_none(raw):
        return None
    kind = param.type
    if kind in ("int", "float", "number") and isinstance(raw, (list, tuple)) and len(raw) > 1:
        # one value per subset or per text encoder: equal values collapse to one, different ones stay a list
        values = [coerce(param, item, argv=argv) for item in raw]
        return values[0] if all(values_equal(v, values[0]) for v in values) else values
    if kind == "int":
        value: Any = to_int(raw, argv=argv)
    elif kind == "float":
        value = to_float(raw)
    elif kind == "number":
        value = to_number(raw, argv=argv)
    elif kind == "bool":
        return to_bool(raw)
    elif kind == "resolution":
        return to_resolution(raw)
    elif kind in ("float_list", "int_list", "str_list"):
        items = to_list(raw)
        if kind == "str_list":
            return [_scalar_text(x) for x in items]
        convert = to_float if kind == "float_list" else (lambda x: to_int(x, argv=argv))
        return [check_range(param, convert(x)) for x in items]
    elif kind in ("str", "path"):
        text = _scalar_text(raw)
        return match_choice(param, text) if param.choices else text
    else:
        return raw
    return check_range(param, value)


def check_range(param: Parameter, value: Any) -> Any:
    """``value`` when it lies in the parameter's registry ``range`` (either end may be open)."""
    if param.range is None or not isinstance(value, (int, float)) or isinstance(value, bool):
        return value
    low, high = param.range
    if low is not None and value < low:
        raise ValueProblem(f"{show(value)} is below the smallest sensible value {low:g}")
    if high is not None and value > high:
        raise ValueProblem(f"{show(value)} is above the largest sensible value {high:g}")
    return value


def _scalar_text(raw: Any) -> str:
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, (list, tuple)):
        if len(raw) == 1:
            return _scalar_text(raw[0])
        return ",".join(_scalar_text(x) for x in raw)
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    if isinstance(raw, int) and raw.bit_length() > 128:
        raise ValueProblem(f"expected text, got {show(raw)}")
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


# ------------------------------------------------------------------------------------------ numbers


def _number_text(raw: Any, what: str) -> str:
    """Text that may be read as a number: bounded in length, list brackets and quotes removed."""
    if isinstance(raw, (datetime.date, datetime.time)):  # TOML/YAML dates and times (07:32:00)
        raise ValueProblem(f"expected {what}, got the date/time {raw.isoformat()}")
    if not isinstance(raw, str):
        raise ValueProblem(f"expected {what}, got {show(raw)}")
    text = raw.strip()
    if len(text) > MAX_NUMBER_CHARS:
        digits = len(text.lstrip("+-"))
        shape = f"an integer of {digits} digits" if text.lstrip("+-").isdigit() else f"text of {len(text)} characters"
        raise ValueProblem(f"expected {what}, got {shape}")
    return text.strip("[]()").strip().strip("'\"").strip()


def _finite(value: float, raw: Any) -> float:
    if not math.isfinite(value):
        raise ValueProblem(f"expected a finite number, got {show(raw)}")
    if value != 0.0 and abs(value) < _SMALLEST_NORMAL:
        raise ValueProblem(f"{show(raw)} is too close to 0 to be a setting (below the smallest normal double)")
    return value


def _bounded_int(value: int, raw: Any) -> int:
    if abs(value) > INT_LIMIT:
        raise ValueProblem(f"expected an integer of at most 20 digits, got {show(raw)}")
    return value


def _single(raw: list | tuple, convert: Any) -> Any:
    """A list of equal values collapses to one (the GUI writes text_encoder_lr as [te, te])."""
    distinct = []
    for item in raw:
        value = convert(item)
        if not any(value == d for d in distinct):
            distinct.append(value)
    if len(distinct) == 1:
        return distinct[0]
    raise ValueProblem(f"expected one number, got {show(list(raw))}")


def to_float(raw: Any) -> float:
    """A finite, normal float; text as Python's float() reads it (sd-scripts' argparse ``type=float``)."""
    if isinstance(raw, bool):
        raise ValueProblem(f"expected a number, got {raw!r}")
    if isinstance(raw, (list, tuple)):
        return _single(raw, to_float)
    if isinstance(raw, int):
        _bounded_int(raw, raw)
        return _finite(float(raw), raw)
    if isinstance(raw, float):
        return _finite(raw, raw)
    text = _number_text(raw, "a number")
    try:
        value = float(text)
    except ValueError:
        hint = " (a percentage is only read for warmup and decay steps)" if text.endswith("%") else ""
        raise ValueProblem(f"expected a number, got {show(raw)}{hint}") from None
    return _finite(value, raw)


def to_int(raw: Any, *, argv: bool = False) -> int:
    """A bounded int. Command-line text as ``int()`` reads it (argparse ``type=int``: ``"2.0"`` fails);
    a typed float, or its text, when it is whole (TOML ``network_dim = 16.0``)."""
    if isinstance(raw, bool):
        raise ValueProblem(f"expected an integer, got {raw!r}")
    if isinstance(raw, (list, tuple)):
        return _single(raw, lambda x: to_int(x, argv=argv))
    if isinstance(raw, int):
        return _bounded_int(raw, raw)
    if isinstance(raw, float):
        return _whole(_finite(raw, raw), raw)
    text = _number_text(raw, "an integer")
    try:
        return _bounded_int(int(text), raw)
    except ValueError:
        pass
    if argv:
        raise ValueProblem(f"expected an integer, got {show(raw)} (a command line's int() refuses it)")
    try:
        number = float(text)
    except ValueError:
        raise ValueProblem(f"expected an integer, got {show(raw)}") from None
    return _whole(_finite(number, raw), raw)


def _whole(value: float, raw: Any) -> int:
    if not value.is_integer():
        raise ValueProblem(f"expected an integer, got {show(raw)}")
    if abs(value) > INT_LIMIT:
        raise ValueProblem(f"expected an integer of at most 20 digits, got {show(raw)}")
    return int(value)


def to_number(raw: Any, *, argv: bool = False) -> int | float:
    """sd-scripts' ``int_or_float`` (``--lr_warmup_steps``): an int is a step count, a float a ratio.

    Command-line text exactly as ``train_util.add_optimizer_arguments.int_or_float``: ``"10%"`` is 0.1;
    a value below 1 is a float (``"0"`` is 0.0, a ratio of 0); a value of 1 or more must be written as
    an integer (``"2.0"`` and ``"1e3"`` are refused there). A typed value keeps its type: a TOML float
    stays a ratio even when it is 1 or more, as sd-scripts does not convert config values.
    """
    if isinstance(raw, bool):
        raise ValueProblem(f"expected a number, got {raw!r}")
    if isinstance(raw, (list, tuple)):
        return _single(raw, lambda x: to_number(x, argv=argv))
    if isinstance(raw, int):
        return _bounded_int(raw, raw)
    if isinstance(raw, float):
        return _finite(raw, raw)
    text = _number_text(raw, "a number")
    if text.endswith("%"):
        try:
            return _finite(float(text[:-1]) / 100.0, raw)
        except ValueError:
            raise ValueProblem(f"expected a number or a percentage, got {show(raw)}") from None
    try:
        number = _finite(float(text), raw)
    except ValueError:
        raise ValueProblem(f"expected a step count or a ratio, got {show(raw)}") from None
    if argv:
        if number < 1:
            return number
        try:
            return _bounded_int(int(text), raw)
        except ValueError:
            raise ValueProblem(
                f"{show(raw)}: sd-scripts refuses a value of 1 or more that is not written "
                "as an integer (write 500 for steps, 0.1 or 10% for a ratio)"
            ) from None
    if re.fullmatch(r"[+-]?\d+", text):
        return _bounded_int(int(text), raw)
    return number


def to_bool(raw: Any) -> bool:
    """Words (true/false/yes/no/on/off/1/0) from text; a typed number by its truth, as sd-scripts tests
    flags from a ``--config_file`` (``if args.cache_latents:``), so ``cache_latents = 2`` is on."""
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, (int, float)):
        if isinstance(raw, float) and math.isnan(raw):
            raise ValueProblem("expected true or false, got nan")
        return bool(raw)
    if isinstance(raw, str) and len(raw) <= MAX_NUMBER_CHARS:
        text = raw.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise ValueProblem(f"expected true or false, got {show(raw)}")


#: Largest image side accepted (pixels); larger is a typo, not a resolution.
MAX_RESOLUTION_SIDE = 1 << 16


def to_resolution(raw: Any) -> list[int]:
    """``[width, height]`` from ``512``, ``"512"``, ``"768,512"``, ``"768x512"``, ``"(768, 512)"``, ``[768, 512]``."""
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        side = to_int(raw)
        sides = [side, side]
    else:
        if isinstance(raw, str) and len(raw) > MAX_NUMBER_CHARS:
            raise ValueProblem(f"expected a resolution like 512,512, got text of {len(raw)} characters")
        items = to_list(raw, separators=r"[,x×\s]+")
        sides = [to_int(x) for x in items]
        if len(sides) == 1:
            sides = sides * 2
    if len(sides) != 2:
        raise ValueProblem(f"expected a resolution like 512,512, got {show(raw)}")
    if not all(1 <= s <= MAX_RESOLUTION_SIDE for s in sides):
        raise ValueProblem(f"expected image sides between 1 and {MAX_RESOLUTION_SIDE}, got {show(raw)}")
    return sides


def to_list(raw: Any, separators: str = r"[,\s]+") -> list[Any]:
    if isinstance(raw, (list, tuple)):
        return list(raw)
    if isinstance(raw, (int, float)) or raw is None:
        return [raw]
    text = str(raw).strip().strip("[]()")
    return [part.strip().strip("'\"") for part in re.split(separators, text) if part.strip()]


def kv_pairs(value: Any, *, strict: bool = False) -> list[tuple[str, Any]]:
    """``["conv_dim=8", "conv_alpha=4"]``, ``"k=v k=v"`` or a dict -> [(key, value as written)].

    The one reader of sd-scripts' ``network_args`` / ``optimizer_args`` / ``lr_scheduler_args``; values
    stay text here (sd-scripts passes network_args to the module as text and ``ast.literal_eval``s
    optimizer and scheduler args itself, which the built-in trainer does after this). ``strict``: a
    piece without ``=`` is a ValueProblem (sd-scripts' ``key, value = arg.split("=")`` fails on it).
    """
    if value is None or value is True:
        return []
    if isinstance(value, dict):
        return [(str(k), v) for k, v in value.items()]
    items = value if isinstance(value, (list, tuple)) else str(value).split()
    pairs = []
    for item in items:
        text = str(item).strip().strip("\"'")
        for piece in text.split() if " " in text else [text]:
            key, eq, raw = piece.partition("=")
            if eq and key:
                pairs.append((key.strip(), raw.strip()))
            elif strict:
                raise ValueProblem(f"expected k=v, got {show(piece)}")
    return pairs


# ------------------------------------------------------------------------------------------ equality


def values_equal(a: Any, b: Any, *, path_like: bool = False) -> bool:
    """Equality after normalisation; floats within a relative 1e-9, paths by file name."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or (isinstance(a, bool) and isinstance(b, bool) and a == b)
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        try:
            return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-15)
        except OverflowError:  # an int beyond any float (an unmapped key keeps its raw value)
            return False
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(values_equal(x, y) for x, y in zip(a, b, strict=True))
    if path_like and isinstance(a, str) and isinstance(b, str) and a != b:
        return _path_stem(a) == _path_stem(b) and ("/" not in a or "/" not in b or a == b)
    return a == b


def _path_stem(text: str) -> str:
    return re.split(r"[\\/]", text.rstrip("/\\"))[-1]

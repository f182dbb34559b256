"""Numbers as they enter from a log line: validated here, so nothing downstream sees a 5000-digit epoch.

A log is text anyone can write. A counter (step, epoch, image count) is a non-negative integer of
at most ``MAX_COUNTER_DIGITS`` digits and below ``MAX_COUNTER``; a logged value is a float of
bounded length (``nan`` and ``inf`` are kept: a non-finite loss is a finding, not an error).
Anything else is ``None``, and the reader counts the line as not read.
"""

from __future__ import annotations

import math

#: No real run has more steps, epochs or images than this.
MAX_COUNTER = 10**9
MAX_COUNTER_DIGITS = 10
#: A logged value longer than this is not a number a trainer printed.
MAX_VALUE_CHARS = 40


def counter(text: str | int | float | None) -> int | None:
    """A step/epoch/count, or None when it is not a plain integer in [0, MAX_COUNTER]."""
    if text is None or isinstance(text, bool):
        return None
    if isinstance(text, int):
        return text if 0 <= text <= MAX_COUNTER else None
    if isinstance(text, float):
        if not math.isfinite(text) or text != int(text) or not 0 <= text <= MAX_COUNTER:
            return None
        return int(text)
    digits = text.strip()
    if digits.startswith("+"):
        digits = digits[1:]
    if not digits or len(digits) > MAX_COUNTER_DIGITS:
        return None
    if not digits.isdigit() or not digits.isascii():
        if digits.count(".") == 1 and len(digits) <= MAX_COUNTER_DIGITS + 3:  # "12.0" from a CSV
            try:
                return counter(float(digits))
            except ValueError:
                return None
        return None
    number = int(digits)
    return number if number <= MAX_COUNTER else None


def value(text: str | float | int | None) -> float | None:
    """A logged value (loss, LR, metric); nan/inf kept; None when not a number."""
    if text is None or isinstance(text, bool):
        return None
    if isinstance(text, int | float):
        try:
            return float(text)
        except OverflowError:
            return None
    raw = text.strip().lower()
    if not raw or len(raw) > MAX_VALUE_CHARS:
        return None
    raw = raw.replace("infinity", "inf")
    try:
        return float(raw)
    except ValueError:
        return None

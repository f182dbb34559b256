"""Text from files made safe for a terminal: the one rule every command's plain output follows.

Kept free of imports beyond `re` so that `infer-rank` (start-up budget) and `ablate` use the same rule
as the reports (`rundiff.report.safe` builds its Markdown and CSV escaping on it): whole ANSI escape
sequences go, so no parameters leak as text; C0/C1 controls, DEL and the bidi and zero-width
characters that reorder or hide text go; a byte that was not UTF-8 (a surrogate from a file name)
shows as U+FFFD.
"""

from __future__ import annotations

import re
from typing import Any

#: ANSI escape sequences (CSI, OSC, and two-byte ESC forms), removed whole so no parameters leak.
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
#: C0 and C1 control characters, DEL, and bidi/zero-width controls that reorder or hide text.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
#: Lone surrogates (from non-UTF-8 file names decoded with surrogateescape) cannot be encoded.
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def plain_text(value: Any, *, keep_newlines: bool = False) -> str:
    """A terminal-safe string: no escape sequences, no control characters, encodable as UTF-8.

    One line unless ``keep_newlines`` (then tabs become four spaces and CRLF a newline).
    """
    text = value if isinstance(value, str) else str(value)
    text = _SURROGATE.sub("\ufffd", text)
    text = _ANSI.sub("", text)
    if keep_newlines:
        text = text.replace("\r\n", "\n").replace("\t", "    ")
        return "\n".join(_CONTROL.sub("", line) for line in text.split("\n"))
    return _CONTROL.sub("", text.replace("\t", " ").replace("\r\n", " ").replace("\n", " "))

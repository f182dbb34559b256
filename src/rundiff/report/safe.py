"""Text from files made harmless for each output: terminal, Markdown, CSV (HTML is Jinja's autoescape).

Everything a report shows that came from a run (values, folder and file names, messages quoting
them) passes through one of these on its way out; the templates and the terminal renderer apply
them, so a context builder never has to remember.
"""

from __future__ import annotations

import math
import re
from typing import Any

from markupsafe import Markup

from rundiff.plaintext import plain_text

__all__ = ["csv_cell", "drawable", "markdown_text", "markdown_verbatim", "plain_text", "plot_text"]

_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
#: An ampersand that would start an entity (`&lt;`, `&#60;`); a plain "&" renders as itself.
_ENTITY_LIKE = re.compile(r"&(?=#?[A-Za-z0-9]+;)")
#: Markdown punctuation that can start markup anywhere; each is backslash-escaped (CommonMark allows it).
_MD_PUNCT = re.compile(r"([\\`*\[\]|~])")
#: An underscore is emphasis only at a word's edge (GFM ignores intraword ones: network_dim stays readable).
_MD_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


def markdown_text(value: Any) -> Markup:
    """Text that renders as itself in Markdown (GitHub, CommonMark), also inside a table cell.

    `<`, `>` and `&` become entities so no raw HTML passes through; other markup characters are
    backslash-escaped; newlines become spaces (a newline would end a table row or a heading).
    """
    if isinstance(value, Markup):
        return value
    text = plain_text(value)
    text = _ENTITY_LIKE.sub("&amp;", text).replace("<", "&lt;").replace(">", "&gt;")
    text = _MD_PUNCT.sub(r"\\\1", text)
    text = _MD_UNDERSCORE.sub(r"\\_", text)
    if text[:1] in ("-", "=", "+", "#") and not _NUMBER.fullmatch(text):
        text = "\\" + text  # would start a list, a setext heading or a heading at a line start
    elif ordered := re.match(r"\d+(?=[.)]\s)", text):
        text = text[: ordered.end()] + "\\" + text[ordered.end() :]  # "1. x" would start a numbered list
    return Markup(text)


def markdown_verbatim(value: Any) -> Markup:
    """Text for inside a fenced code block: only control characters go (the fence is chosen longer
    than any run of backticks in the text by the caller)."""
    return Markup(plain_text(value, keep_newlines=True))


def csv_cell(value: Any) -> str:
    """A spreadsheet-safe CSV cell: text starting with = + - @ (or a tab/CR) gets a leading quote.

    Plain numbers such as -0.5 stay as they are; they are not formulas in any spreadsheet.
    """
    text = plain_text(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


#: Larger magnitudes are not drawn: matplotlib's tick arithmetic overflows on an axis reaching 1e308
#: ("arange: cannot compute length"), and no step count, LR or loss of a real run comes near this.
PLOT_LIMIT = 1e100


def drawable(x: float, y: float) -> bool:
    """Whether a point can go on a matplotlib axis: finite, and within PLOT_LIMIT."""
    return math.isfinite(x) and math.isfinite(y) and abs(x) <= PLOT_LIMIT and abs(y) <= PLOT_LIMIT


def plot_text(value: Any) -> str:
    """A label for matplotlib: plain text, and `$` escaped so a name is never parsed as mathtext."""
    return plain_text(value).replace("\\", "\\\\").replace("$", r"\$")

"""Find and render the Jinja templates (shipped inside the wheel as rundiff/templates).

One environment per output language, chosen by the template's name (`*.html.j2`, `*.md.j2`,
`*.txt.j2`); each escapes every `{{ value }}` for its language, so text from files cannot become
HTML, Markdown markup or terminal escape codes whatever a template author forgets. A template that
means to emit markup builds it from `Markup` (the `verbatim` filter inside a code fence).
"""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from rundiff.report.safe import markdown_text, markdown_verbatim, plain_text


def templates_dir() -> Path:
    """Inside an installed wheel the templates sit in the package; in a checkout, at the repo root."""
    packaged = Path(__file__).resolve().parent.parent / "templates"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "templates"


def _text_finalize(value: Any) -> Markup:
    return value if isinstance(value, Markup) else Markup(plain_text(value))


def number(value: Any) -> str:
    """A number as reports print it: ints as they are, floats to 7 significant digits."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return str(value) if isinstance(value, int) else f"{value:.7g}"


@cache
def environment(language: str = "html") -> jinja2.Environment:
    """The environment for `html`, `md` or `txt` templates."""
    # Autoescape is on for all three: it keeps macro output (Markup) from being escaped twice; for
    # Markdown and text, `finalize` does the escaping and returns Markup, which HTML escaping leaves be.
    options: dict[str, Any] = {"autoescape": True}
    if language == "md":
        options["finalize"] = markdown_text
    elif language != "html":
        options["finalize"] = _text_finalize
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        **options,
    )
    env.filters["md"] = markdown_text
    env.filters["verbatim"] = markdown_verbatim
    env.filters["num"] = number
    env.filters["plain"] = plain_text
    return env


def markdown_cell(value: Any) -> str:
    """Text safe inside a Markdown table cell (kept for callers outside the templates)."""
    return str(markdown_text(value))


def render(template: str, context: dict[str, Any]) -> str:
    language = template.rsplit(".", 2)[-2] if template.endswith(".j2") else "html"
    return environment(language).get_template(template).render(**context)

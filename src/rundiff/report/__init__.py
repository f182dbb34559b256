"""Reports: a plain context dict rendered by Jinja templates (Markdown, HTML), JSON, CSV, terminal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rundiff.comparison.table import Comparison
from rundiff.errors import RundiffError

FORMATS = ("md", "html", "json", "csv")
_SUFFIX_FORMATS = {".md": "md", ".markdown": "md", ".html": "html", ".htm": "html", ".json": "json", ".csv": "csv"}


def format_for(output: Path | None, fmt: str | None) -> str:
    """An explicit --format wins; else the output file's suffix; else the terminal."""
    if fmt:
        if fmt not in FORMATS + ("terminal", "text"):
            raise RundiffError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
        return "terminal" if fmt == "text" else fmt
    if output is not None:
        found = _SUFFIX_FORMATS.get(output.suffix.lower())
        if found is None:
            raise RundiffError(f"cannot tell the report format from the suffix {output.suffix!r}; "
                               f"use --format", output)
        return found
    return "terminal"


def render_comparison(comparison: Comparison, fmt: str, *, show_all: bool = False,
                      diagnosis: list[dict[str, Any]] | None = None) -> str:
    from rundiff.report.context import comparison_context
    from rundiff.report.data import render_csv, render_json
    from rundiff.report.templates import render

    if fmt == "json":
        return render_json(comparison, diagnosis)
    if fmt == "csv":
        return render_csv(comparison)
    context = comparison_context(comparison, show_all=show_all, diagnosis=diagnosis)
    return render(f"compare.{fmt}.j2", context)


def write_atomic(path: Path, text: str) -> None:
    """Write all or nothing: a failed report never leaves half a file behind."""
    tmp = path.with_name(f".{path.name}.rundiff-tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise RundiffError(f"cannot write the report: {err.strerror or err}", path) from None

"""Reports: one render layer for every command's result and every format.

A result (a Comparison, a Diagnosis, a LoRA inspection, a Sweep) becomes a plain context dict; the
Jinja templates (Markdown, HTML, text) render it; JSON and CSV come from the same data. Writing a
report (atomically) and choosing its format from the options live in `report.output`.
"""

from __future__ import annotations

from typing import Any

from rundiff.errors import RundiffError
from rundiff.report.output import write_atomic

__all__ = ["render", "render_comparison", "write_atomic"]


def render_comparison(
    comparison: Any, fmt: str, *, show_all: bool = False, width: int | None = None, extras: Any = None
) -> str:
    """A Comparison as text, md, html, json or csv.

    ``extras`` (report.extras.Extras) asks for curves, sample images and a metric's effects; the
    picture files a Markdown report links are left in ``extras.files`` for the caller to write.
    """
    from rundiff.report.data import render_csv, render_json

    metric = None
    if extras is not None and extras.metric and fmt == "json":
        from rundiff.report.metric import metric_effects

        metric = metric_effects(comparison, extras.metric)
    if fmt == "json":
        return render_json(comparison, comparison.diagnosis, metric=metric)
    if fmt == "csv":
        return render_csv(comparison)
    from rundiff.report.context import comparison_context

    context = comparison_context(comparison, show_all=show_all)
    if extras is not None:
        from rundiff.report.extras import add_extras

        add_extras(context, comparison, fmt, extras)
    if fmt == "text":
        from rundiff.report.terminal import comparison_text

        return comparison_text(context, width=width)
    from rundiff.report.templates import render as render_template

    return render_template(f"compare.{fmt}.j2", context)


def render(result: Any, fmt: str, **options: Any) -> str:
    """Any command's result in ``fmt``; the type of ``result`` picks the report."""
    kind = type(result).__name__
    if kind == "Comparison":
        return render_comparison(result, fmt, **options)
    if kind == "Diagnosis":
        from rundiff.diagnose.render import render as render_diagnosis

        return render_diagnosis(result, fmt, **options)
    if kind == "Sweep":
        from rundiff.ablate.report import render_sweep

        return render_sweep(result, fmt, **options)
    if kind == "LoraInfo":
        if fmt == "json":
            import json

            return json.dumps(result.to_json(), indent=2, allow_nan=False) + "\n"
        from rundiff.infer.folders import single_result

        result, kind = single_result(result), "InspectResult"
    if kind == "InspectResult":
        from rundiff.infer.render import render_result

        if fmt == "json":
            import json

            return json.dumps(result.to_json(), indent=2, allow_nan=False) + "\n"
        if fmt == "text":
            return render_result(result) + "\n"
        if fmt in ("md", "html"):
            from rundiff.report.lora import lora_context
            from rundiff.report.templates import render as render_template

            return render_template(f"infer.{fmt}.j2", lora_context(result))
    raise RundiffError(f"cannot render {kind} as {fmt}")

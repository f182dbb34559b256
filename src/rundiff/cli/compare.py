"""`rundiff compare runA/ runB/ ...`"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from rundiff.cli import app
from rundiff.cli.common import user_errors


@app.command("compare")
def compare_command(
    runs: Annotated[list[Path], typer.Argument(help="Run folders, or single files (script, config, .safetensors).")],
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write the report here (.md, .html, .json, .csv).")] = None,
    fmt: Annotated[str | None, typer.Option("--format", "-f", help="md, html, json or csv (default: from -o, else the terminal).")] = None,
    baseline: Annotated[str | None, typer.Option("--baseline", help="Run to compare against (default: the first).")] = None,
    good: Annotated[list[str] | None, typer.Option("--good", help="Mark a run as good (repeatable).")] = None,
    bad: Annotated[list[str] | None, typer.Option("--bad", help="Mark a run as bad (repeatable).")] = None,
    show_all: Annotated[bool, typer.Option("--all", help="Also show parameters that are the same in every run.")] = False,
    diagnose: Annotated[bool, typer.Option("--diagnose/--no-diagnose", help="Include each run's diagnosis.")] = True,
) -> None:
    """Line runs up parameter by parameter: what changed, where each value came from, what to suspect."""
    from rundiff.api import compare
    from rundiff.report import format_for, render_comparison, write_atomic

    with user_errors():
        chosen = format_for(output, fmt)
        comparison = compare(list(runs), baseline=baseline, good=good or [], bad=bad or [])
        findings = _diagnosis(comparison) if diagnose else None
        if chosen == "terminal":
            from rundiff.report.context import comparison_context
            from rundiff.report.terminal import print_comparison

            print_comparison(comparison_context(comparison, show_all=show_all, diagnosis=findings))
            return
        text = render_comparison(comparison, chosen, show_all=show_all, diagnosis=findings)
        if output is None:
            sys.stdout.write(text)
        else:
            write_atomic(output, text)
            print(f"wrote {output}", file=sys.stderr)


def _diagnosis(comparison) -> list[dict] | None:
    """Each run's findings (rundiff.diagnose), when that stage is available."""
    try:
        from rundiff.diagnose.engine import diagnose_run
    except ImportError:
        return None
    findings = []
    for run in comparison.runs:
        findings.extend(f.to_json() for f in diagnose_run(run))
    return findings

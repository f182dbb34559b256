"""`rundiff compare runA/ runB/ ...`"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rundiff.cli import app
from rundiff.cli.common import FORMAT_HELP, OPEN_HELP, OUTPUT_HELP, emit, from_config, user_errors

FORMATS = ("text", "md", "html", "json", "csv")


@app.command("compare", epilog="Exit codes: 0 compared; 2 bad input or options.")
def compare_command(
    ctx: typer.Context,
    runs: Annotated[list[Path], typer.Argument(help="Run folders, or single files (script, config, .safetensors).")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help=OUTPUT_HELP.format(suffixes=".txt .md .html .json .csv"))
    ] = None,
    fmt: Annotated[
        str | None, typer.Option("--format", "-f", help=FORMAT_HELP.format(formats=", ".join(FORMATS)))
    ] = None,
    open_after: Annotated[bool, typer.Option("--open", help=OPEN_HELP)] = False,
    baseline: Annotated[
        str | None, typer.Option("--baseline", help="Run to compare against (default: the first).")
    ] = None,
    good: Annotated[list[str] | None, typer.Option("--good", help="Mark a run as good (repeatable).")] = None,
    bad: Annotated[list[str] | None, typer.Option("--bad", help="Mark a run as bad (repeatable).")] = None,
    show_all: Annotated[
        bool, typer.Option("--all", help="Also show parameters that are the same in every run.")
    ] = False,
    diagnose: Annotated[bool, typer.Option("--diagnose/--no-diagnose", help="Include each run's diagnosis.")] = True,
    metric: Annotated[
        str | None,
        typer.Option(
            "--metric",
            help="A numeric outcome (rundiff.yaml metrics/score, or a log series such as loss/average): how much each differing parameter moves it.",
        ),
    ] = None,
    curves: Annotated[
        bool, typer.Option("--curves/--no-curves", help="Overlay the runs' loss and LR curves (HTML, Markdown).")
    ] = True,
    samples: Annotated[
        bool, typer.Option("--samples/--no-samples", help="Show the runs' sample images side by side (HTML, Markdown).")
    ] = True,
) -> None:
    """Line runs up parameter by parameter: what changed, where each value came from, what to suspect."""
    from rundiff import api
    from rundiff.report.output import choose_output

    with user_errors():
        from rundiff.report.extras import Extras, write_files

        out = choose_output(output, fmt, FORMATS, open_after=open_after, fmt_is_default=from_config(ctx, "fmt"))
        comparison = api.compare(list(runs), baseline=baseline, good=good or [], bad=bad or [], diagnose=diagnose)
        extras = Extras(metric=metric, curves=curves, samples=samples, report_path=out.path)
        if out.to_terminal:
            from rundiff.report.context import comparison_context
            from rundiff.report.extras import add_extras
            from rundiff.report.terminal import print_comparison

            context = comparison_context(comparison, show_all=show_all)
            add_extras(context, comparison, "text", extras)
            print_comparison(context)
            return
        text = api.render(comparison, out.format, show_all=show_all, extras=extras)
        write_files(extras.files)
        emit(text, out)

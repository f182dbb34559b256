"""``rundiff diagnose``: lint a run's training dynamics (LR schedule, EMA, logs)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from rundiff.cli import app
from rundiff.cli.common import FORMAT_HELP, OPEN_HELP, OUTPUT_HELP, emit, from_config, user_errors
from rundiff.errors import RundiffError
from rundiff.report.safe import plain_text

FORMATS = ("text", "md", "html", "json")


def diagnose(
    ctx: typer.Context,
    runs: Annotated[list[Path], typer.Argument(help="Run folders (or single config/script/log files).")],
    fmt: Annotated[
        str | None, typer.Option("--format", "-f", help=FORMAT_HELP.format(formats=", ".join(FORMATS)))
    ] = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help=OUTPUT_HELP.format(suffixes=".txt .md .html .json"))
    ] = None,
    open_after: Annotated[bool, typer.Option("--open", help=OPEN_HELP)] = False,
    select: Annotated[list[str] | None, typer.Option("--select", help="Run only this rule (repeatable).")] = None,
    ignore: Annotated[list[str] | None, typer.Option("--ignore", help="Rule id to leave out (repeatable).")] = None,
    weights: Annotated[
        bool,
        typer.Option(
            "--weights",
            help="Also read each saved LoRA's weights, tensor by tensor: per-epoch norms, never-trained (all-zero) factors.",
        ),
    ] = False,
    exit_zero: Annotated[bool, typer.Option("--exit-zero", help="Exit 0 even when errors remain.")] = False,
    plots: Annotated[Path | None, typer.Option("--plots", help="Write LR, loss and EMA plots (PNG) here.")] = None,
) -> None:
    """Find training-dynamics problems: LR 0 at the start, long warmups, LR out of range, slow EMA,
    rank/repeats vs dataset, frozen parameters, flat or non-finite losses, logged LR != simulated.

    A run that cannot be read is an error line for that run; the others are still diagnosed.
    `rundiff rule --all` explains every rule."""
    with user_errors():
        from rundiff import api
        from rundiff.config import load_config
        from rundiff.diagnose.render import render
        from rundiff.report.output import choose_output

        out = choose_output(output, fmt, FORMATS, open_after=open_after, fmt_is_default=from_config(ctx, "fmt"))
        # select/ignore of [tool.rundiff.diagnose] arrive as option defaults; its `rules` table is read here
        config_path = ctx.parent.params.get("config") if ctx.parent is not None else None
        thresholds = load_config(config_path).section("diagnose", "rules")
        diagnosis = api.diagnose(runs, select=select or [], ignore=ignore or [], thresholds=thresholds, weights=weights)
        images = None
        if plots is not None or out.format == "html":
            from rundiff.diagnose.plots import diagnosis_plots, write_plots

            images = diagnosis_plots(diagnosis)
            if plots is not None:
                try:
                    write_plots(images, plots)
                except OSError as err:
                    raise RundiffError(f"cannot write plots: {err.strerror or err}", plots) from None
        emit(render(diagnosis, out.format, images if out.format == "html" else None), out, quiet=True)
    for item in diagnosis.unreadable:
        print(f"rundiff: error: {plain_text(item.path)}: {plain_text(item.error)}", file=sys.stderr)
    if diagnosis.has_errors and not exit_zero:
        raise typer.Exit(1)


app.command(
    "diagnose",
    epilog="Exit codes: 0 no errors found; 1 errors found or a run unreadable (--exit-zero: 0); "
    "2 bad input or options, or no run could be read.",
)(diagnose)

"""``rundiff diagnose``: lint a run's training dynamics (LR schedule, EMA, logs)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from rundiff.cli import app
from rundiff.cli.common import user_errors
from rundiff.errors import RundiffError

_FORMATS = ("text", "json", "md", "html")


def diagnose(
    runs: Annotated[list[Path], typer.Argument(help="Run folders (or single config/script files).")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="text, json, md or html.")] = "text",
    ignore: Annotated[list[str] | None, typer.Option("--ignore", help="Rule id to leave out (repeatable).")] = None,
    exit_zero: Annotated[bool, typer.Option("--exit-zero", help="Exit 0 even when errors remain.")] = False,
    plots: Annotated[Path | None, typer.Option("--plots", help="Write LR, loss and EMA plots (PNG) here.")] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write the report to this file.")] = None,
) -> None:
    """Find training-dynamics problems: LR 0 at the start, long warmups, LR out of range, slow EMA,
    rank/repeats vs dataset, frozen parameters, flat or non-finite losses, logged LR != simulated."""
    with user_errors():
        if fmt not in _FORMATS:
            raise RundiffError(f"unknown format {fmt!r} (choose from {', '.join(_FORMATS)})", key="--format")
        import rundiff
        from rundiff.diagnose.engine import check_rule_ids, diagnose_runs
        from rundiff.diagnose.render import render
        from rundiff.report import write_atomic

        ignored = check_rule_ids(ignore or [])
        diagnosis = diagnose_runs([rundiff.load_run(path) for path in runs], ignore=ignored)
        images = None
        if plots is not None or fmt == "html":
            from rundiff.diagnose.plots import diagnosis_plots, write_plots

            images = diagnosis_plots(diagnosis)
            if plots is not None:
                try:
                    write_plots(images, plots)
                except OSError as err:
                    raise RundiffError(f"cannot write plots: {err.strerror or err}", plots) from None
        report = render(diagnosis, fmt, images if fmt == "html" else None)
        if output is None:
            sys.stdout.write(report)
        else:
            write_atomic(output, report)
    if diagnosis.has_errors and not exit_zero:
        raise typer.Exit(1)


app.command("diagnose")(diagnose)

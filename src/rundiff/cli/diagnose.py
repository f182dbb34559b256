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
    runs: Annotated[list[Path], typer.Argument(help="Run folders (or single config/script/log files).")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="text, json, md or html.")] = "text",
    select: Annotated[list[str] | None, typer.Option("--select", help="Run only this rule (repeatable).")] = None,
    ignore: Annotated[list[str] | None, typer.Option("--ignore", help="Rule id to leave out (repeatable).")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="rundiff.toml / pyproject.toml with [tool.rundiff.diagnose] (default: found from the current folder up).")] = None,
    exit_zero: Annotated[bool, typer.Option("--exit-zero", help="Exit 0 even when errors remain.")] = False,
    plots: Annotated[Path | None, typer.Option("--plots", help="Write LR, loss and EMA plots (PNG) here.")] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write the report to this file.")] = None,
) -> None:
    """Find training-dynamics problems: LR 0 at the start, long warmups, LR out of range, slow EMA,
    rank/repeats vs dataset, frozen parameters, flat or non-finite losses, logged LR != simulated.

    Exit code 1 when an error-severity finding remains (or a run could not be read), 0 otherwise,
    2 when no run could be read at all. `rundiff rule --all` lists the rules."""
    with user_errors():
        if fmt not in _FORMATS:
            raise RundiffError(f"unknown format {fmt!r} (choose from {', '.join(_FORMATS)})", key="--format")
        from rundiff.diagnose.config import diagnose_config
        from rundiff.diagnose.engine import RuleSelection, diagnose_runs
        from rundiff.diagnose.render import render
        from rundiff.report import write_atomic

        settings, _ = diagnose_config(config)
        selection = RuleSelection.of(select=[*settings.get("select", []), *(select or [])],
                                     ignore=[*settings.get("ignore", []), *(ignore or [])],
                                     thresholds=settings.get("rules", {}))
        loaded, unreadable = _load(runs)
        if not loaded:
            first = unreadable[0]
            raise RundiffError(first.error if len(unreadable) == 1 else
                               f"no run could be read ({len(unreadable)} given); first: {first.path}: {first.error}",
                               first.path if len(unreadable) == 1 else None)
        diagnosis = diagnose_runs(loaded, ignore=selection, unreadable=unreadable)
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
    for item in unreadable:
        print(f"rundiff: error: {item.path}: {item.error}", file=sys.stderr)
    if diagnosis.has_errors and not exit_zero:
        raise typer.Exit(1)


def _load(paths: list[Path]):
    """Each run loaded on its own: one unreadable run is an error line for it, the others go on."""
    import rundiff
    from rundiff.diagnose.findings import UnreadableRun

    loaded, unreadable = [], []
    for path in paths:
        try:
            loaded.append(rundiff.load_run(path))
        except RundiffError as err:
            message = err.message if err.path == str(path) and err.line is None and err.key is None else str(err)
            unreadable.append(UnreadableRun(str(path), message))
    return loaded, unreadable


app.command("diagnose")(diagnose)

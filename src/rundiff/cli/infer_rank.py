"""``rundiff infer-rank``: rank, alpha, format and base model of LoRA files, from their headers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from rundiff.cli import app
from rundiff.cli.common import FORMAT_HELP, OPEN_HELP, OUTPUT_HELP, emit, user_errors
from rundiff.errors import RundiffError

FORMATS = ("text", "json")


def infer_rank(
    files: Annotated[list[Path] | None, typer.Argument(help="LoRA .safetensors files to inspect.")] = None,
    size: Annotated[
        str | None, typer.Option("--size", help="Estimate the rank from a file size: 1.7GB, 72MB, 36MiB.")
    ] = None,
    arch: Annotated[
        str | None, typer.Option("--arch", help="With --size: sd1, sd2, sdxl, flux, sd3-medium, ...")
    ] = None,
    dtype: Annotated[str | None, typer.Option("--dtype", help="With --size: F16, BF16 or F32.")] = None,
    unet_only: Annotated[bool, typer.Option("--unet-only", help="With --size: no text encoder modules.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (same as --format json).")] = False,
    fmt: Annotated[
        str | None, typer.Option("--format", "-f", help=FORMAT_HELP.format(formats=", ".join(FORMATS)))
    ] = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help=OUTPUT_HELP.format(suffixes=".txt .json"))
    ] = None,
    open_after: Annotated[bool, typer.Option("--open", help=OPEN_HELP)] = False,
) -> None:
    """Read rank, alpha, LoRA type, base architecture and metadata from the header alone."""
    from rundiff.infer import inspect_file
    from rundiff.infer.render import render_info, render_size
    from rundiff.infer.sizes import size_report
    from rundiff.report.output import choose_output
    from rundiff.report.safe import plain_text

    with user_errors():
        if as_json and fmt not in (None, "json"):
            raise RundiffError(f"--json and --format {fmt} disagree", key="--json")
        out = choose_output(output, "json" if as_json else fmt, FORMATS, open_after=open_after)
        if size is None and not files:
            raise RundiffError("give one or more .safetensors files, or --size")
        if size is not None:
            if files:
                raise RundiffError("give either files or --size, not both", key="--size")
            report = size_report(size, arch=arch, dtype=dtype, unet_only=unet_only)
            text = json.dumps(report, indent=2) if out.format == "json" else render_size(report)
        else:
            infos = [inspect_file(f) for f in files or []]
            if out.format == "json":
                data = [i.to_json() for i in infos]
                text = json.dumps(data[0] if len(data) == 1 else data, indent=2, allow_nan=False)
            else:
                text = "\n\n".join(plain_text(render_info(i), keep_newlines=True) for i in infos)
        emit(text + "\n", out)


app.command("infer-rank", epilog="Exit codes: 0 read; 2 bad input or options.")(infer_rank)

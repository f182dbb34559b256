"""``rundiff infer-rank``: rank, alpha, format and base model of LoRA files, from their headers."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from rundiff.cli import app
from rundiff.errors import RundiffError


def infer_rank(
    files: list[Path] = typer.Argument(None, help="LoRA .safetensors files to inspect."),  # noqa: B008
    size: str | None = typer.Option(
        None, "--size", help="Estimate the rank from a file size: 1.7GB, 72MB, 36MiB."
    ),
    arch: str | None = typer.Option(
        None, "--arch", help="With --size: sd1, sd2, sdxl, flux, sd3-medium, ..."
    ),
    dtype: str | None = typer.Option(None, "--dtype", help="With --size: F16, BF16 or F32."),
    unet_only: bool = typer.Option(False, "--unet-only", help="With --size: no text encoder modules."),
    as_json: bool = typer.Option(
        False, "--json", help="Print JSON (an object per file, a list for several)."
    ),
) -> None:
    """Read rank, alpha, LoRA type, base architecture and metadata from the header alone."""
    from rundiff.infer import inspect_file
    from rundiff.infer.render import render_info, render_size
    from rundiff.infer.sizes import size_report

    try:
        if size is None and not files:
            raise RundiffError("give one or more .safetensors files, or --size")
        if size is not None:
            if files:
                raise RundiffError("give either files or --size, not both", key="--size")
            report = size_report(size, arch=arch, dtype=dtype, unet_only=unet_only)
            out = json.dumps(report, indent=2) if as_json else render_size(report)
        else:
            infos = [inspect_file(f) for f in files]
            if as_json:
                data = [i.to_json() for i in infos]
                out = json.dumps(data[0] if len(data) == 1 else data, indent=2, allow_nan=False)
            else:
                out = "\n\n".join(render_info(i) for i in infos)
    except RundiffError as err:
        print(f"rundiff: error: {err}", file=sys.stderr)
        raise typer.Exit(2) from None
    typer.echo(out)


app.command("infer-rank")(infer_rank)

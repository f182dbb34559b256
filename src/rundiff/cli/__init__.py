"""The command line: thin functions that turn options into one library call and a renderer."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

EXIT_CODES = (
    "Exit codes: 0 done; 1 diagnose found errors (--exit-zero keeps 0); 2 bad input or options "
    "(one line on stderr naming the file, nothing written); 130 interrupted."
)

app = typer.Typer(
    name="rundiff",
    help="Compare, diagnose and ablate Stable Diffusion LoRA / fine-tune training runs.\n\n"
    "Defaults come from [tool.rundiff] in pyproject.toml or a rundiff.toml (the closest one up from here).",
    epilog=EXIT_CODES,
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from rundiff import __version__

        typer.echo(f"rundiff {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    version: Annotated[
        bool, typer.Option("--version", "-V", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", help="Settings file to use instead of the closest rundiff.toml / pyproject.toml [tool.rundiff]."
        ),
    ] = None,
) -> None:
    from rundiff.cli.common import apply_config

    apply_config(ctx, config)


def main() -> None:
    app()


# Each command module registers itself on `app`.
from rundiff.cli import ablate, compare, diagnose, infer_rank, rule  # noqa: E402,F401

"""The command line: thin functions that turn options into one library call and a renderer."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="rundiff",
    help="Compare, diagnose and ablate Stable Diffusion LoRA / fine-tune training runs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def main() -> None:
    app()


# Each command module registers itself on `app`.
from rundiff.cli import ablate, compare, diagnose, infer_rank, rule  # noqa: E402,F401

"""The typer app behind every typer command, with commands loaded on first lookup.

Built only when a typer command runs (or a test asks for ``rundiff.cli.app``); ``rundiff --help``,
``--version`` and ``rundiff infer-rank`` never import this module (see :mod:`rundiff.cli`).
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import Annotated

import typer
import typer.main
from typer.core import TyperGroup

from rundiff.cli import COMMANDS, CONFIG_HELP, EXIT_CODES, HELP


def build_app() -> typer.Typer:
    """A typer app whose group imports a command's module when the command is looked up."""
    app = typer.Typer(
        name="rundiff",
        help=f"{HELP}\n\n{CONFIG_HELP}",
        epilog=EXIT_CODES,
        cls=LazyGroup,
        no_args_is_help=True,
        add_completion=True,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    LazyGroup.app = app
    app.callback()(root)
    app.command(
        "infer-rank",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
        add_help_option=False,
        help=COMMANDS["infer-rank"][1],
    )(infer_rank_passthrough)
    return app


def _version(value: bool) -> None:
    if value:
        from rundiff import __version__

        typer.echo(f"rundiff {__version__}")
        raise typer.Exit()


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

    if ctx.invoked_subcommand in typer_standalone():
        return  # infer-rank reads the config file itself
    apply_config(ctx, config)


def typer_standalone() -> frozenset[str]:
    from rundiff.cli import STANDALONE

    return frozenset(STANDALONE)


def infer_rank_passthrough(ctx: typer.Context) -> None:
    """infer-rank has its own (argparse) parser; typer only hands it the arguments."""
    from rundiff.cli.infer_rank import run

    config = ctx.parent.params.get("config") if ctx.parent is not None else None
    code = run(list(ctx.args), config=str(config) if config is not None else None)
    if code:
        raise typer.Exit(code)


class LazyGroup(TyperGroup):
    """A typer group that imports a command's module only when that command is looked up."""

    app: typer.Typer | None = None

    def list_commands(self, ctx):  # noqa: ANN001, ANN201 - click's signature
        return list(dict.fromkeys([*COMMANDS, *self.commands]))

    def get_command(self, ctx, cmd_name):  # noqa: ANN001, ANN201
        if cmd_name not in self.commands and cmd_name in COMMANDS and self.app is not None:
            import_module(COMMANDS[cmd_name][0])
            for info in self.app.registered_commands:
                if info.name == cmd_name:
                    self.commands[cmd_name] = typer.main.get_command_from_info(
                        info,
                        pretty_exceptions_short=self.app.pretty_exceptions_short,
                        rich_markup_mode=self.app.rich_markup_mode,
                    )
        return self.commands.get(cmd_name)

"""The typer app behind every typer command, with commands loaded on first lookup.

Built only when a typer command runs (or a test asks for ``rundiff.cli.app``); ``rundiff --help``
and ``rundiff infer-rank`` never import this module (see :mod:`rundiff.cli`).
"""

from __future__ import annotations

from importlib import import_module

import typer
import typer.main
from typer.core import TyperGroup

from rundiff.cli import COMMANDS, HELP


def build_app() -> typer.Typer:
    """A typer app whose group imports a command's module when the command is looked up."""
    app = typer.Typer(
        name="rundiff",
        help=HELP,
        cls=LazyGroup,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    LazyGroup.app = app

    @app.callback()
    def _root() -> None:
        """Compare, diagnose and ablate Stable Diffusion LoRA / fine-tune training runs."""

    app.command(
        "infer-rank",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
        add_help_option=False,
        help=COMMANDS["infer-rank"][1],
    )(infer_rank_passthrough)
    return app


def infer_rank_passthrough(ctx: typer.Context) -> None:
    """infer-rank has its own (argparse) parser; typer only hands it the arguments."""
    from rundiff.cli.infer_rank import run

    code = run(list(ctx.args))
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

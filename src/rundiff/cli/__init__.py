"""The command line: thin functions that turn options into one library call and a renderer.

Commands are registered lazily: :data:`COMMANDS` names each command's module and one-line summary,
and a module is imported only when its command runs. ``rundiff --help`` is printed from that table
without importing typer, and ``rundiff infer-rank`` (whose goal is to cost little more than reading
a header in bare Python) parses its options with argparse, so it never pays typer's ~50-100 ms
import either. Every other command is a typer command; ``rundiff.cli.app`` is the typer app with
every command (built on first access, for tests and for the typer commands).

To add a command: write ``rundiff/cli/<name>.py`` with ``@app.command("<name>")`` and add one line
to :data:`COMMANDS` (``tests/test_cli_lazy.py`` checks the two agree).
"""

from __future__ import annotations

import sys
TYPE_CHECKING = False  # typing is not imported at run time: `rundiff --help` and infer-rank start fast

if TYPE_CHECKING:
    import typer

HELP = "Compare, diagnose and ablate Stable Diffusion LoRA / fine-tune training runs."

#: command name -> (module that registers it, one-line summary shown by ``rundiff --help``)
COMMANDS: dict[str, tuple[str, str]] = {
    "compare": (
        "rundiff.cli.compare",
        "Line runs up parameter by parameter: what changed, where each value came from, what to suspect.",
    ),
    "diagnose": ("rundiff.cli.diagnose", "Find training-dynamics problems (LR schedule, EMA, logs, rank)."),
    "ablate": ("rundiff.cli.ablate", "Re-run short trainings that vary one setting, judged against seed noise."),
    "infer-rank": (
        "rundiff.cli.infer_rank",
        "Rank, alpha, format, base model, trainer and hashes of LoRA files (header only by default).",
    ),
}

#: Commands with their own (argparse) option parser: they must start fast, so they skip typer.
STANDALONE = {"infer-rank": "rundiff.cli.infer_rank"}


def overview() -> str:
    """The text of ``rundiff --help``, built from the command table alone."""
    width = max(len(name) for name in COMMANDS)
    lines = [
        "Usage: rundiff COMMAND [ARGS]...",
        "",
        HELP,
        "",
        "Commands:",
        *(f"  {name:<{width}}  {summary}" for name, (_, summary) in COMMANDS.items()),
        "",
        "Run 'rundiff COMMAND --help' for a command's options.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    """Console entry point: dispatch to one command, importing only what that command needs."""
    args = sys.argv[1:] if argv is None else list(argv)
    if not args or args[0] in ("-h", "--help"):
        sys.stdout.write(overview())
        return
    module = STANDALONE.get(args[0])
    if module is not None:
        from importlib import import_module

        raise SystemExit(import_module(module).run(args[1:]))
    __getattr__("app")(args=args, prog_name="rundiff")


_APP: typer.Typer | None = None


def __getattr__(name: str):  # noqa: ANN202 - module attribute hook (PEP 562)
    global _APP
    if name == "app":
        if _APP is None:
            from rundiff.cli.typer_app import build_app

            _APP = build_app()
        return _APP
    raise AttributeError(f"module 'rundiff.cli' has no attribute {name!r}")

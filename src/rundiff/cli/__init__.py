"""The command line: thin functions that turn options into one library call and a renderer.

Commands are registered lazily: :data:`COMMANDS` names each command's module and one-line summary,
and a module is imported only when its command runs. ``rundiff --help`` and ``--version`` are
answered from that table without importing typer, and ``rundiff infer-rank`` (whose goal is to cost
little more than reading a header in bare Python, see ``bench/infer_rank.py``) parses its options
with argparse, so it never pays typer's import either. Every other command is a typer command on
``rundiff.cli.app`` (built on first access by :mod:`rundiff.cli.typer_app`, with the root options
``--version`` and ``--config`` and the config-file defaults of :mod:`rundiff.cli.common`).

To add a command: write ``rundiff/cli/<name>.py`` with ``@app.command("<name>")`` and add one line
to :data:`COMMANDS` (``tests/test_cli_lazy.py`` checks the two agree).
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing is not imported at run time: `rundiff --help` and infer-rank start fast
if TYPE_CHECKING:
    import typer

HELP = "Compare, diagnose and ablate Stable Diffusion LoRA / fine-tune training runs."
CONFIG_HELP = "Defaults come from [tool.rundiff] in pyproject.toml or a rundiff.toml (the closest one up from here)."
EXIT_CODES = (
    "Exit codes: 0 done; 1 diagnose found errors (--exit-zero keeps 0); 2 bad input or options "
    "(one line on stderr naming the file, nothing written); 130 interrupted."
)

#: command name -> (module that registers it, one-line summary shown by ``rundiff --help``)
COMMANDS: dict[str, tuple[str, str]] = {
    "compare": (
        "rundiff.cli.compare",
        "Line runs up parameter by parameter: what changed, where each value came from, what to suspect.",
    ),
    "diagnose": ("rundiff.cli.diagnose", "Find training-dynamics problems (LR schedule, EMA, logs, rank)."),
    "ablate": ("rundiff.cli.ablate", "Re-run short trainings that vary one setting, judged against seed noise."),
    "rule": ("rundiff.cli.rule", "Explain a diagnose rule: what it flags and why, its thresholds and its fix."),
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
        "Usage: rundiff [OPTIONS] COMMAND [ARGS]...",
        "",
        HELP,
        "",
        CONFIG_HELP,
        "",
        "Options:",
        "  -V, --version  Print the version and exit.",
        "  --config PATH  Settings file to use instead of the closest rundiff.toml / pyproject.toml [tool.rundiff].",
        "  -h, --help     Show this message and exit.",
        "  --install-completion / --show-completion  Shell completion for bash, zsh, fish or PowerShell.",
        "",
        "Commands:",
        *(f"  {name:<{width}}  {summary}" for name, (_, summary) in COMMANDS.items()),
        "",
        "Run 'rundiff COMMAND --help' for a command's options.",
        "",
        EXIT_CODES,
    ]
    return "\n".join(lines) + "\n"


def _split_root_options(args: list[str]) -> tuple[str | None, list[str]]:
    """(``--config`` value, the rest) when the root options end before a standalone command."""
    config = None
    rest = list(args)
    if rest[:1] == ["--config"] and len(rest) >= 2:
        config, rest = rest[1], rest[2:]
    elif rest and rest[0].startswith("--config="):
        config, rest = rest[0].split("=", 1)[1], rest[1:]
    return config, rest


def main(argv: list[str] | None = None) -> None:
    """Console entry point: dispatch to one command, importing only what that command needs."""
    args = sys.argv[1:] if argv is None else list(argv)
    if not args or args[0] in ("-h", "--help"):
        sys.stdout.write(overview())
        return
    if args[0] in ("-V", "--version"):
        from rundiff import __version__

        sys.stdout.write(f"rundiff {__version__}\n")
        return
    config, rest = _split_root_options(args)
    module = STANDALONE.get(rest[0]) if rest else None
    if module is not None:
        from importlib import import_module

        raise SystemExit(import_module(module).run(rest[1:], config=config))
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

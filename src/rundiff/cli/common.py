"""What every command shares: user errors become one line on stderr and exit code 2; settings from
the config file become option defaults; reports go where `--format` / `-o` / `--open` say."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from rundiff.errors import RundiffError

FORMAT_HELP = "Report format: {formats} (default: from the -o extension, else text on the terminal)."
OUTPUT_HELP = "Write the report to this file; its extension picks the format ({suffixes})."
OPEN_HELP = "Open the written report (-o) in the browser or viewer."


def error_line(err: RundiffError | str) -> str:
    """The one stderr line for a user error: file names and values from files cannot move the cursor."""
    from rundiff.report.safe import plain_text

    return f"rundiff: error: {plain_text(err)}"


@contextmanager
def user_errors() -> Iterator[None]:
    try:
        yield
    except RundiffError as err:
        print(error_line(err), file=sys.stderr)
        raise typer.Exit(2) from None


def apply_config(ctx: typer.Context, path: Path | None) -> None:
    """Turn the config file's settings for the invoked command into its option defaults (click's
    default_map), refusing keys the command has no option for."""
    from rundiff.config import load_config

    name = ctx.invoked_subcommand
    if name is None or ctx.resilient_parsing:
        return
    with user_errors():
        config = load_config(path)
        if config.path is None:
            return
        command = ctx.command.get_command(ctx, name) if hasattr(ctx.command, "get_command") else None
        if command is None:
            return
        settings = config.command_options(name)
        by_key = _option_keys(command)
        defaults = {}
        for key, value in settings.items():
            param = by_key.get(key.replace("-", "_"))
            if param is None:
                if key in ("format", "open"):  # shared keys apply where the command has the option
                    continue
                raise RundiffError(
                    f"`rundiff {name}` has no option --{key.replace('_', '-')}", config.path, key=f"{name}.{key}"
                )
            defaults[param] = value
        ctx.default_map = {**(ctx.default_map or {}), name: defaults}


def _option_keys(command: Any) -> dict[str, str]:
    """Config key (an option's long name, dashes as underscores) -> the click parameter's name."""
    keys: dict[str, str] = {}
    for param in command.params:
        if getattr(param, "param_type_name", "") != "option" or param.name is None:
            continue
        for opt in (*param.opts, *param.secondary_opts):
            if opt.startswith("--") and not opt.startswith("--no-"):
                keys[opt[2:].replace("-", "_")] = param.name
        keys.setdefault(param.name, param.name)
    return keys


def emit(text: str | bytes, out, *, quiet: bool = False) -> None:
    """Print a rendered report to stdout, or write it (atomically) to out.path and maybe open it."""
    from rundiff.report.output import encode_report, open_report, write_atomic

    if out.path is None:
        sys.stdout.flush()
        sys.stdout.buffer.write(text if isinstance(text, bytes) else encode_report(text))
        sys.stdout.buffer.flush()
        return
    write_atomic(out.path, text)
    if not quiet and sys.stderr.isatty():  # a note for people; scripts see the file (and exit 0)
        from rundiff.report.safe import plain_text

        print(f"wrote {plain_text(out.path)}", file=sys.stderr)
    if out.open_after:
        open_report(out.path)


def from_config(ctx: Any, param: str) -> bool:
    """Whether the command's ``param`` holds a config file's default (its default_map), not a typed value."""
    source = ctx.get_parameter_source(param)
    return source is not None and source.name == "DEFAULT_MAP"

"""``rundiff infer-rank``: rank, alpha, format, base model and trainer of LoRA files, from their headers.

Parsed with argparse, not typer: this command's goal is to start about as fast as a bare Python
header read (see ``bench/infer_rank.py``), and importing typer alone costs more than the read. The
options follow the shared contract all the same (``--format``/``-f``, ``-o``, ``--open``, defaults
from ``[tool.rundiff.infer-rank]``), through the same :mod:`rundiff.report.output` helpers, which
are imported only when those options (or a config file) are in play.
"""

from __future__ import annotations

import argparse
import os
import re
import sys

PROG = "rundiff infer-rank"
FORMATS = ("text", "json", "md", "html")
EPILOG = "Exit codes: 0 read; 2 bad input or options."
#: ``rundiff = {...}`` inside a ``[tool]`` table (the other way to write [tool.rundiff]).
_INLINE_TABLE = re.compile(rb"^\s*rundiff\s*=", re.MULTILINE)


def _formatter(prog: str) -> argparse.HelpFormatter:
    """argparse's formatter with the width given, so it does not import shutil (and bz2, lzma) for it."""
    try:
        width = int(os.environ.get("COLUMNS", "")) or os.get_terminal_size().columns
    except (ValueError, OSError):
        width = 80
    return argparse.HelpFormatter(prog, width=max(40, width - 2))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Read rank, alpha, LoRA type, base architecture, trainer and training settings from the "
            "header of LoRA .safetensors files (folders: every LoRA in them; an epoch series is one "
            "table, one row per save). --hash and --weights read the tensor data too."
        ),
        epilog=EPILOG,
        formatter_class=_formatter,
    )
    p.add_argument("files", nargs="*", metavar="FILE_OR_FOLDER", help="LoRA .safetensors files or folders.")
    p.add_argument("--size", help="Estimate the rank from a file size: 1.7GB, 72MB, 36MiB.")
    p.add_argument("--arch", help="With --size: sd1, sd2, sdxl, flux, sd3-medium, wan-14b, qwen-image, ...")
    p.add_argument("--dtype", help="With --size: F16, BF16 or F32.")
    p.add_argument("--unet-only", action="store_true", help="With --size: no text encoder modules.")
    p.add_argument("--json", dest="as_json", action="store_true", help="Print JSON (same as --format json).")
    p.add_argument(
        "-f", "--format", dest="fmt", help="Report format: text, json, md, html (default: from the -o extension)."
    )
    p.add_argument(
        "-o", "--output", help="Write the report to this file; its extension picks the format (.txt .json .md .html)."
    )
    p.add_argument("--open", dest="open_after", action="store_true", help="Open the written report (-o).")
    p.add_argument(
        "--settings", action="store_true", help="Show the metadata as canonical training parameters (as compare does)."
    )
    p.add_argument("--hash", dest="hashes", action="store_true", help="Read the whole file: SHA-256, AutoV2, AutoV3.")
    p.add_argument(
        "--weights",
        action="store_true",
        help="Read the tensors one by one: per-block update norms, untrained/NaN tensors, effective rank.",
    )
    return p


def run(argv: list[str], *, config: str | None = None) -> int:
    """Run the command; returns the exit code (0, or 2 for bad input or options)."""
    p = parser()
    try:
        opts = p.parse_args(argv, namespace=_config_defaults(p, config))
    except _ConfigError as err:
        return _fail(err.error)
    # a config file's `format` is a default: -o's extension wins over it unless --format was typed
    opts.fmt_typed = any(a in ("-f", "--format") or a.startswith(("-f", "--format=")) for a in argv)
    from rundiff.errors import RundiffError

    try:
        out = _output(opts)
        if opts.size is None and not opts.files:
            raise RundiffError("give one or more .safetensors files or folders, or --size")
        if opts.size is not None:
            if opts.files:
                raise RundiffError("give either files or --size, not both", key="--size")
            text = _size(opts, out)
        else:
            text = _files(opts, out)
        text = text if text.endswith("\n") else text + "\n"
        if out is None:
            sys.stdout.write(text)
        else:
            from rundiff.cli.common import emit

            emit(text, out)
    except RundiffError as err:
        return _fail(err)
    return 0


def _fail(err: object) -> int:
    from rundiff.infer.render import clean

    sys.stderr.write(f"rundiff: error: {clean(str(err))}\n")
    return 2


class _ConfigError(Exception):
    def __init__(self, error: object) -> None:
        self.error = error


def _config_present(config: str | None) -> bool:
    """Whether a config file may apply, without importing the TOML reader when none can.

    Mirrors :func:`rundiff.config.find_config_file` conservatively: any rundiff.toml, and any
    pyproject.toml that may hold a ``[tool.rundiff]`` table, sends us to the real reader.
    """
    if config is not None or os.environ.get("RUNDIFF_CONFIG"):
        return True
    if os.environ.get("RUNDIFF_NO_CONFIG"):
        return False
    here = os.path.abspath(os.getcwd())
    while True:
        if os.path.isfile(os.path.join(here, "rundiff.toml")) or os.path.isfile(os.path.join(here, ".rundiff.toml")):
            return True
        pyproject = os.path.join(here, "pyproject.toml")
        if os.path.isfile(pyproject):
            try:
                with open(pyproject, "rb") as fh:
                    data = fh.read(256 * 1024 + 1)
            except OSError:
                return True
            if b"tool.rundiff" in data or (b"[tool]" in data and _INLINE_TABLE.search(data)):
                return True
        parent = os.path.dirname(here)
        if parent == here:
            return False
        here = parent


def _config_defaults(p: argparse.ArgumentParser, config: str | None) -> argparse.Namespace:
    """Option defaults from ``[tool.rundiff.infer-rank]`` (and the shared keys); the command line wins."""
    namespace = argparse.Namespace()
    if not _config_present(config):
        return namespace
    from pathlib import Path

    from rundiff.config import load_config
    from rundiff.errors import RundiffError

    try:
        loaded = load_config(Path(config) if config is not None else None)
        if loaded.path is None:
            return namespace
        dests = {a.dest: a for a in p._actions if a.option_strings}
        by_key = {
            s.lstrip("-").replace("-", "_"): a.dest for a in p._actions for s in a.option_strings if s.startswith("--")
        }
        for key, value in loaded.command_options("infer-rank").items():
            dest = by_key.get(key.replace("-", "_"))
            if dest is None:
                if key in ("format", "open"):  # shared keys apply where the command has the option
                    continue
                raise RundiffError(
                    f"`rundiff infer-rank` has no option --{key.replace('_', '-')}",
                    loaded.path,
                    key=f"infer-rank.{key}",
                )
            if dest in dests:
                setattr(namespace, dest, value)
    except RundiffError as err:
        raise _ConfigError(err) from None
    return namespace


def _output(opts: argparse.Namespace):  # noqa: ANN202 - rundiff.report.output.Output, or None for stdout text
    """None for the common case (text on stdout: nothing to import); else the shared Output."""
    from rundiff.errors import RundiffError

    if opts.as_json and opts.fmt not in (None, "json"):
        raise RundiffError(f"--json and --format {opts.fmt} disagree", key="--json")
    fmt = "json" if opts.as_json else opts.fmt
    if fmt is None and opts.output is None and not opts.open_after:
        return None
    from pathlib import Path

    from rundiff.report.output import choose_output

    output = Path(opts.output) if opts.output is not None else None
    typed = opts.as_json or getattr(opts, "fmt_typed", True)
    return choose_output(output, fmt, FORMATS, open_after=opts.open_after, fmt_is_default=not typed)


def _size(opts: argparse.Namespace, out) -> str:  # noqa: ANN001
    import json

    from rundiff.infer.render import render_size
    from rundiff.infer.sizes import size_report

    if out is not None and out.format in ("md", "html"):
        from rundiff.errors import RundiffError

        raise RundiffError(f"--size writes text or json, not {out.format}", key="--format")
    report = size_report(opts.size, arch=opts.arch, dtype=opts.dtype, unet_only=opts.unet_only)
    return json.dumps(report, indent=2) if out is not None and out.format == "json" else render_size(report)


def _files(opts: argparse.Namespace, out) -> str:  # noqa: ANN001
    import json

    from rundiff.infer.folders import inspect_paths
    from rundiff.infer.render import clean, render_result

    as_json = out is not None and out.format == "json"
    result = inspect_paths(opts.files, hashes=opts.hashes, weights=opts.weights, settings=opts.settings or as_json)
    for warning in result.warnings:
        sys.stderr.write(f"rundiff: warning: {clean(warning)}\n")
    if as_json:
        return json.dumps(result.to_json(), indent=2, allow_nan=False)
    if out is not None and out.format in ("md", "html"):
        from rundiff.report import render

        return render(result, out.format)
    return render_result(result)

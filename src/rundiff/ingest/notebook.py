"""Ingest Jupyter notebooks: the shell commands of their code cells (`!accelerate launch ...`).

Many diffusers / SimpleTuner runs are started from a notebook. Only what the shell would see is
read, never executed: `!cmd` lines, whole `%%bash` / `%%sh` cells, and `%env NAME=value` (as an
export); Python lines are blanked (kept as empty lines so numbering inside a cell is stable).
Line numbers point into the .ipynb file where the cell's text starts, when that can be found.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from pathlib import Path

from rundiff.errors import RundiffError
from rundiff.ingest.script import LaunchSource, ingest_command_text
from rundiff.ingest.textfile import read_text

FORMAT = "notebook-command"
MAX_BYTES = 20 * 1024 * 1024
_ENV = re.compile(r"^%env\s+([A-Za-z_][A-Za-z0-9_]*)\s*[= ]\s*(.*)$")
_PY_ENV = re.compile(r"""^os\.environ\[\s*["']([A-Za-z_][A-Za-z0-9_]*)["']\s*\]\s*=\s*(["'].*["'])\s*$""")


def shell_text(cell_lines: list[str]) -> str:
    """The shell the cell hands to the system, one output line per input line."""
    lines = "".join(cell_lines).split("\n")
    whole = bool(lines) and lines[0].strip() in ("%%bash", "%%sh", "%%script bash", "%%shell")
    out = []
    for index, line in enumerate(lines):
        stripped = line.strip()
        if whole:
            out.append("" if index == 0 else line)
        elif stripped.startswith("!"):
            out.append(stripped[1:])
        elif _ENV.match(stripped):
            name, value = _ENV.match(stripped).groups()
            out.append(f"export {name}={value}")
        elif _PY_ENV.match(stripped):
            name, value = _PY_ENV.match(stripped).groups()
            out.append(f"export {name}={value}")
        elif out and out[-1].rstrip().endswith("\\"):
            out.append(line)  # continuation of a `!cmd \` line
        else:
            out.append("")
    return "\n".join(out)


def ingest_notebook(
    path: Path,
    *,
    known_args: Collection[str] = (),
    flag_args: Collection[str] = (),
    list_args: Collection[str] | None = None,
) -> list[LaunchSource]:
    """One LaunchSource per launch command in the notebook's code cells; [] when there is none."""
    text = read_text(path, limit=MAX_BYTES)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise RundiffError(f"invalid notebook JSON: {err.msg}", path, line=err.lineno) from None
    cells = data.get("cells") if isinstance(data, dict) else None
    if not isinstance(cells, list):
        raise RundiffError("not a Jupyter notebook (no cells)", path)
    raw_lines = text.splitlines()
    sources: list[LaunchSource] = []
    env_prefix: list[str] = []
    for cell in cells:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source")
        lines = source if isinstance(source, list) else [str(source or "")]
        lines = [str(x) for x in lines]
        shell = shell_text(lines)
        exports = [line for line in shell.split("\n") if line.startswith("export ")]
        if not shell.strip():
            continue
        first = _first_line(raw_lines, lines)
        body = "\n".join(env_prefix) + ("\n" if env_prefix else "") + shell
        found = ingest_command_text(
            body,
            path,
            first - len(env_prefix),
            dialect="posix",
            fmt=FORMAT,
            known_args=known_args,
            flag_args=flag_args,
            list_args=list_args,
        )
        sources.extend(found)
        env_prefix.extend(exports)  # a later cell sees the variables an earlier cell exported
    return sources


def _first_line(raw_lines: list[str], cell_lines: list[str]) -> int:
    probe = next((x.strip() for x in cell_lines if x.strip()), "")
    needle = json.dumps(probe)[1:-1][:60]
    if needle:
        for number, line in enumerate(raw_lines, start=1):
            if needle in line:
                return number
    return 1

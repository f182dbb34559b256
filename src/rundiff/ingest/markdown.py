"""Ingest Markdown run notes: only launch commands inside fenced code blocks count.

Prose and inline `code` mentions are not commands (a note saying "I dropped `--network_dim 64`"
must not set anything). A leading shell prompt (`$ `, `> `, `PS> `) is stripped from each line of
a block; line numbers stay those of the .md file.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from pathlib import Path

from rundiff.ingest.script import LaunchSource, ingest_command_text, read_text

FORMAT = "markdown-command"
_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_PROMPT = re.compile(r"^(?:PS(?: [^>\n]*)?> |\$ |> )")
_POWERSHELL = {"powershell", "ps", "ps1", "pwsh", "posh"}
_CMD = {"cmd", "bat", "batch", "dos", "doscon"}


def ingest_markdown(
    path: Path,
    *,
    known_args: Collection[str] = (),
    flag_args: Collection[str] = (),
    list_args: Collection[str] | None = None,
) -> list[LaunchSource]:
    """One LaunchSource per launch command found in the file's fenced code blocks."""
    path = Path(path)
    sources: list[LaunchSource] = []
    for first_line, info, text in fenced_blocks(read_text(path)):
        sources.extend(
            ingest_command_text(
                text,
                path,
                first_line,
                dialect=_dialect(info),
                fmt=FORMAT,
                known_args=known_args,
                flag_args=flag_args,
                list_args=list_args,
            )
        )
    return sources


def fenced_blocks(text: str) -> list[tuple[int, str, str]]:
    """(file line of the block's first content line, info string, content) for each fenced block."""
    blocks = []
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m or (m.group("fence")[0] == "`" and "`" in m.group("info")):
            i += 1
            continue
        fence, indent = m.group("fence"), len(m.group("indent"))
        start = i + 1
        body = []
        i += 1
        while i < len(lines):
            close = _FENCE.match(lines[i])
            if (
                close
                and close.group("fence")[0] == fence[0]
                and len(close.group("fence")) >= len(fence)
                and not close.group("info").strip()
            ):
                break
            line = lines[i]
            line = line[min(indent, len(line) - len(line.lstrip(" \t"))) :]
            body.append(_PROMPT.sub("", line, count=1))
            i += 1
        i += 1
        blocks.append((start + 1, m.group("info").strip(), "\n".join(body)))
    return blocks


def _dialect(info: str) -> str:
    word = info.split()[0].lower().strip("{}.") if info.split() else ""
    if word in _POWERSHELL:
        return "powershell"
    if word in _CMD:
        return "cmd"
    return "posix"

"""Ingest kohya launch scripts: one SourceFile per training launch, never running the script.

Configs a launch points at (`--config_file` after the script, `--dataset_config`) are listed in
`SourceFile.references` as resolved paths (relative ones against the script's folder). When the
script itself wrote that file with a here-document, nothing exists on disk to read: the source
carries the text in `SourceFile.virtual_files[str(path)]` (the same resolved path as in
`references`), and the caller parses that text instead of opening the path.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from rundiff.errors import RundiffError
from rundiff.ingest.launch import TRAINERS, Launch, basename, find_launch
from rundiff.ingest.shell import ShellScript, dialect_for, read_script
from rundiff.ingest.shell_words import ShellLimitError
from rundiff.ingest.textfile import read_text
from rundiff.model import Fact, Provenance, SourceFile, SourceKind

PRECEDENCE_CLI = 20
TRAINER = "sd-scripts"
_FROM_NAME = "from the training script name"


@dataclass
class LaunchSource(SourceFile):
    """A SourceFile for one launch, keeping the parsed launch for callers that want more detail."""

    launch: Launch | None = None


#: Launch scripts are a few KiB; the shell evaluators read about 100-300 KiB/s, so a larger file would take
#: longer than a user waits (repro M06: 3.5 MB of arguments on one line).
MAX_SCRIPT_BYTES = 512 * 1024


def virtual_text(source: SourceFile, path: Path) -> str | None:
    """The here-document text the script wrote to `path`, or None when it must be read from disk."""
    return source.virtual_files.get(str(path))


def ingest_script(
    path: Path,
    *,
    known_args: Collection[str] = (),
    flag_args: Collection[str] = (),
    list_args: Collection[str] | None = None,
) -> list[LaunchSource]:
    """One LaunchSource per training launch in the script; [] when it launches no training."""
    path = Path(path)
    return ingest_command_text(
        read_text(path, limit=MAX_SCRIPT_BYTES),
        path,
        1,
        dialect=dialect_for(path),
        fmt="kohya-script",
        known_args=known_args,
        flag_args=flag_args,
        list_args=list_args,
        script_dir=str(path.resolve().parent),
    )


def ingest_command_text(
    text: str,
    path: Path,
    first_line: int = 1,
    *,
    dialect: str = "posix",
    fmt: str = "markdown-command",
    known_args: Collection[str] = (),
    flag_args: Collection[str] = (),
    list_args: Collection[str] | None = None,
    script_dir: str | None = None,
) -> list[LaunchSource]:
    """Launches in `text`, a piece of `path` starting at line `first_line` (a Markdown code block)."""
    path = Path(path)
    try:
        shell = read_script(text, dialect, first_line, script_dir=script_dir)
    except ShellLimitError as err:
        raise RundiffError(f"not read as a launch script: {err}", path) from None
    except RecursionError:
        raise RundiffError("not read as a launch script: expansions nested too deeply", path) from None
    sources = []
    for index, command in enumerate(shell.commands):
        launch = find_launch(command, known_args=known_args, flag_args=flag_args, list_args=list_args)
        if launch is None:
            continue
        source = _source(launch, shell, path, fmt)
        source.warnings[:0] = [f"{path}:{note}" for note in shell.notes]
        following = shell.commands[index + 1] if index + 1 < len(shell.commands) else None
        if following is not None and following.words[0].text.startswith("--"):
            source.warnings.append(
                f"{path}:{following.line}: options on this line are not part of the launch at line "
                f"{launch.line}: the shell ends that command at a comment or blank line before them"
            )
        sources.append(source)
    return sources


def no_launch_reason(path: Path) -> str:
    """Why a script gives no training launch, for the run's list of skipped files."""
    path = Path(path)
    try:
        shell = read_script(read_text(path), dialect_for(path), script_dir=str(path.resolve().parent))
    except (RundiffError, ShellLimitError, RecursionError) as err:
        return f"not read as a launch script: {err}"
    for command in shell.commands:
        for word in command.words:
            name = basename(word.text)
            if name.lower().endswith(".py") and not word.text.startswith("-"):
                if name not in TRAINERS and "train" not in name.lower():
                    return f"line {command.line} runs {name}, which is not a training script (no launch in it)"
                head = " ".join(w.text for w in command.words[:3])
                return f"line {command.line} names {name} but not as a launch rundiff knows ({head!r} ...)"
    heads = list(dict.fromkeys(basename(c.words[0].text) for c in shell.commands if c.words))[:5]
    shown = ", ".join(heads) if heads else "nothing"
    return f"no command in it runs a training script (it runs: {shown})"


def _source(launch: Launch, shell: ShellScript, path: Path, fmt: str) -> LaunchSource:
    where = str(path)
    source = LaunchSource(
        path=where,
        format=fmt,
        trainer=TRAINER,
        chain=f"{where}#{launch.line}",
        precedence=PRECEDENCE_CLI,
        launch=launch,
    )
    facts = source.facts
    facts.append(Fact("training_script", launch.script, SourceKind.CLI, where, launch.line))
    if launch.family:
        facts.append(
            Fact(
                "model_family",
                launch.family,
                SourceKind.CLI,
                where,
                launch.line,
                Provenance.INFERRED,
                _FROM_NAME + (" and --v2" if launch.family == "sd2" else ""),
            )
        )
    if launch.training_type:
        facts.append(
            Fact(
                "training_type",
                launch.training_type,
                SourceKind.CLI,
                where,
                launch.line,
                Provenance.INFERRED,
                _FROM_NAME,
            )
        )
    for arg in launch.launcher_args:
        facts.append(Fact(arg.name, arg.value, SourceKind.LAUNCHER, where, arg.line, note=arg.note))
    seen: dict[str, int] = {}
    for arg in launch.trainer_args:
        if arg.name in seen:
            source.warnings.append(
                f"{where}:{arg.line}: --{arg.name} given again (first at line "
                f"{seen[arg.name]}); the later value wins, as in argparse"
            )
        seen[arg.name] = arg.line
    for name, arg in launch.last_values().items():
        if arg.cond:
            shown = arg.value if not isinstance(arg.value, list) else " ".join(arg.value)
            source.warnings.append(
                f"{where}:{arg.line}: --{name}: {arg.cond}; its value is unknown (read as {shown!r})"
            )
            facts.append(
                Fact(name, None, SourceKind.CLI, where, arg.line, Provenance.UNKNOWN, f"{arg.cond} (read as {shown!r})")
            )
            continue
        facts.append(Fact(name, arg.value, SourceKind.CLI, where, arg.line, note=arg.note))
        if name in ("config_file", "dataset_config") and isinstance(arg.value, str) and arg.value:
            _reference(source, shell, path, arg.value, add_toml=name == "config_file")
    source.warnings.extend(f"{where}:{w.removeprefix('line ')}" for w in launch.warnings)
    explained = " ".join(a.cond for a in launch.trainer_args + launch.launcher_args if a.cond)
    for variable, line in dict.fromkeys(launch.unresolved):
        if f"from {_describe(variable)}" in explained or f", {_describe(variable)}" in explained:
            continue  # the argument it went into is already reported as unknown, naming it
        source.warnings.append(f"{where}:{line}: {_describe(variable)} is not set in this script; it was read as empty")
    from rundiff.ingest.profiled import apply_launch_profile  # the trainer's profile, by script name

    apply_launch_profile(source, launch, path)
    return source


def _reference(source: LaunchSource, shell: ShellScript, path: Path, value: str, add_toml: bool) -> None:
    """Resolve a config path the way sd-scripts opens it (it adds .toml unless the name ends so)."""
    name = value if not add_toml or value.endswith(".toml") else value + ".toml"
    resolved = _resolve(path, name)
    source.references.append(resolved)
    for vname, vfile in shell.virtual_files.items():
        if _resolve(path, vname) == resolved:
            source.virtual_files[str(resolved)] = vfile.text
            for variable, line in vfile.unresolved:
                source.warnings.append(
                    f"{path}:{line}: {_describe(variable)} in the here-document for "
                    f"{vname} is not set in this script; it was read as empty"
                )


def _resolve(script: Path, name: str) -> Path:
    target = Path(name.replace("\\", "/")) if "\\" in name and ":" not in name else Path(name)
    return Path(os.path.normpath(target if target.is_absolute() else script.parent / target))


def _describe(variable: str) -> str:
    return variable if variable.startswith("$") else f"${variable}"

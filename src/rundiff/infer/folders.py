"""``infer-rank`` over files and folders: every LoRA file, grouped into save series (one row per epoch).

A folder is walked without following links, to a bounded depth and file count; a file that cannot
be read becomes a warning naming it, and the others are still inspected. Only a file named
explicitly on the command line, when it is the only one, turns a bad read into an error.
"""

from __future__ import annotations

import os
import stat

from rundiff.errors import RundiffError
from rundiff.infer.inspect import LoraInfo, inspect_file
from rundiff.infer.series import Series, group_series

TYPE_CHECKING = False  # typing is not imported at run time: infer-rank's start-up budget
if TYPE_CHECKING:
    from typing import Any

#: Deeper than any real output folder (SimpleTuner: output/checkpoint-N/ema/file).
MAX_DEPTH = 8
#: A folder with more LoRA files than this is not a training output folder.
MAX_FILES = 5000


class InspectResult:
    """The files inspected, the series they form, and what could not be read.

    (A plain class: infer-rank's start-up path does not import ``dataclasses``.)
    """

    __slots__ = ("infos", "series", "warnings", "single")

    def __init__(
        self, infos: list[LoraInfo], series: list[Series], warnings: list[str] | None = None, single: bool = False
    ) -> None:
        self.infos = infos
        self.series = series
        self.warnings = warnings if warnings is not None else []
        self.single = single  # one file was named: JSON is one object, not a list

    def to_json(self) -> Any:
        """One object for a single file (the original contract); a list of objects otherwise."""
        where = {id(info): (series, i, name) for series in self.series for i, (name, info) in enumerate(series.members)}
        items = []
        for info in self.infos:
            item = info.to_json()
            series, position, name = where[id(info)]
            item["series"] = {
                "stem": series.stem,
                "folder": series.folder,
                "epoch": name.epoch,
                "step": name.step,
                "final": name.final,
                "position": position,
                "saves": len(series.members),
                "naming": name.naming,
            }
            items.append(item)
        return items[0] if self.single and len(items) == 1 else items


def single_result(info: LoraInfo) -> InspectResult:
    """One inspected file as a result of its own (what the renderers take)."""
    return InspectResult([info], group_series([info]), [], single=True)


def _walk(folder: str, warnings: list[str]) -> list[str]:
    found: list[str] = []
    seen: set[tuple[int, int]] = set()

    def visit(d: str, depth: int) -> None:
        try:
            st = os.stat(d)
            if (st.st_dev, st.st_ino) in seen:
                return
            seen.add((st.st_dev, st.st_ino))
            entries = sorted(os.scandir(d), key=lambda e: e.name)
        except OSError as err:
            warnings.append(f"{d}: cannot list folder: {err.strerror or err}")
            return
        for entry in entries:
            if len(found) >= MAX_FILES:
                warnings.append(f"{folder}: more than {MAX_FILES} .safetensors files; the rest are skipped")
                return
            try:
                if entry.is_dir(follow_symlinks=False):
                    if depth < MAX_DEPTH:
                        visit(entry.path, depth + 1)
                elif entry.name.endswith(".safetensors") and entry.is_file(follow_symlinks=False):
                    found.append(entry.path)
            except OSError:
                continue

    visit(folder, 0)
    return found


def expand(paths: list[str | os.PathLike], warnings: list[str]) -> list[str]:
    """Files as given, folders replaced by the .safetensors files inside them."""
    out: list[str] = []
    for raw in paths:
        p = os.fspath(raw)
        try:
            mode = os.stat(p).st_mode
        except OSError as err:
            raise RundiffError(f"cannot read: {err.strerror or err}", p) from None
        if stat.S_ISDIR(mode):
            files = _walk(p, warnings)
            if not files:
                warnings.append(f"{p}: no .safetensors files in this folder")
            out.extend(files)
        else:
            out.append(p)
    return out


def inspect_paths(
    paths: list[str | os.PathLike], *, hashes: bool = False, weights: bool = False, settings: bool = False
) -> InspectResult:
    """Inspect every file named or found in the folders named; see the module docstring for errors."""
    warnings: list[str] = []
    files = expand(paths, warnings)
    single = len(paths) == 1 and len(files) == 1 and not os.path.isdir(paths[0])
    infos: list[LoraInfo] = []
    for f in files:
        try:
            infos.append(inspect_file(f, hashes=hashes, weights=weights, settings=settings))
        except RundiffError as err:
            if single:
                raise
            warnings.append(str(err))
    if not infos and files:
        raise RundiffError(f"none of the {len(files)} files could be read: {warnings[-1]}")
    return InspectResult(infos, group_series(infos), warnings, single)

"""Save series: the files one run wrote at successive epochs or steps, recognised by their names.

Each trainer names intermediate saves its own way (``shared/reference/logs-and-metadata.md``
§1.2-§1.5, §2.6); the patterns are kept as one table. Files of one series share a folder and a
stem; they are ordered by epoch, then step, and the unsuffixed final save comes last.
"""

from __future__ import annotations

import os
import re
from collections import namedtuple

TYPE_CHECKING = False  # typing is not imported at run time: infer-rank's start-up budget
if TYPE_CHECKING:
    from rundiff.infer.inspect import LoraInfo

#: (trainer, pattern on the file stem). Groups: stem, and epoch and/or step.
SAVE_NAMES: tuple[tuple[str, re.Pattern[str]], ...] = (
    # sd-scripts / musubi-tuner: name-000003, name-step00000500 (train_util.py:90-99)
    ("sd-scripts", re.compile(r"(?P<stem>.+)-(?P<epoch>\d{6})")),
    ("sd-scripts", re.compile(r"(?P<stem>.+)-step(?P<step>\d{8})")),
    # OneTrainer: <prefix><timestamp>-save-<global_step>-<epoch>-<epoch_step> (GenericTrainer.py:485-509)
    ("OneTrainer", re.compile(r"(?P<stem>.*?)-save-(?P<step>\d+)-(?P<epoch>\d+)-\d+")),
    # ComfyUI trainer: <prefix>_<steps>_steps_<counter:05>_ (nodes_train.py:750-785)
    ("ComfyUI", re.compile(r"(?P<stem>.+)_(?P<step>\d+)_steps_\d{5}_")),
    # ai-toolkit: name_000000250 (9-digit step; BaseSDTrainProcess.py:255-257)
    ("ai-toolkit", re.compile(r"(?P<stem>.+)_(?P<step>\d{9})(?P<expert>_(?:high|low)_noise)?")),
)
#: SimpleTuner: checkpoint-<step>/pytorch_lora_weights.safetensors (save_hooks.py:38-40)
_CHECKPOINT_DIR = re.compile(r"checkpoint-(?P<step>\d+)")
_MAX_DIGITS = 12  # a save counter longer than this is not a counter


class SaveName(namedtuple("SaveName", "stem folder epoch step final naming", defaults=(None, None, False, None))):
    """Where a file sits in its run's saves: the run's output name and folder, epoch and/or step,
    ``final`` for the unsuffixed save written at the end, and whose naming scheme matched."""

    __slots__ = ()

    @property
    def order(self) -> tuple[int, int, int]:
        return (1 if self.final else 0, self.epoch if self.epoch is not None else -1, self.step or 0)


def _int(text: str | None) -> int | None:
    return int(text) if text and len(text) <= _MAX_DIGITS else None


def save_name(path: str | os.PathLike) -> SaveName:
    """Parse a save's file name (and SimpleTuner's ``checkpoint-N`` folder)."""
    folder, name = os.path.split(os.fspath(path))
    stem = name[: -len(".safetensors")] if name.endswith(".safetensors") else os.path.splitext(name)[0]
    m = _CHECKPOINT_DIR.fullmatch(os.path.basename(folder))
    if m and _int(m.group("step")) is not None:
        run_folder = os.path.dirname(folder)
        return SaveName(
            f"{os.path.basename(run_folder)}/{stem}", run_folder, None, _int(m.group("step")), naming="SimpleTuner"
        )
    for naming, pattern in SAVE_NAMES:
        m = pattern.fullmatch(stem)
        if m:
            groups = m.groupdict()
            epoch, step = _int(groups.get("epoch")), _int(groups.get("step"))
            if epoch is None and step is None:
                continue
            key = m.group("stem") + (groups.get("expert") or "")
            return SaveName(key, folder, epoch, step, naming=naming)
    return SaveName(stem, folder, final=True)


class Series:
    """Files of one run in save order; a lone file is a series of one."""

    __slots__ = ("stem", "folder", "members")

    def __init__(self, stem: str, folder: str) -> None:
        self.stem = stem
        self.folder = folder
        self.members: list[tuple[SaveName, LoraInfo]] = []

    @property
    def is_series(self) -> bool:
        return len(self.members) > 1


def group_series(infos: list[LoraInfo]) -> list[Series]:
    """Group inspected files into series, in the order their first member was given."""
    groups: dict[tuple[str, str], Series] = {}
    for info in infos:
        name = save_name(info.path)
        key = (name.folder, name.stem)
        groups.setdefault(key, Series(name.stem, name.folder)).members.append((name, info))
    for series in groups.values():
        series.members.sort(key=lambda m: m[0].order)
    return list(groups.values())

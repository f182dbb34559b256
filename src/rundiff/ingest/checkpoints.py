"""A run's saved checkpoints as its progress: ``name-000004.safetensors`` ... ``name.safetensors``.

sd-scripts and musubi save ``<name>-<6-digit epoch>`` and ``<name>-step<8-digit step>`` files and a
final ``<name>`` file; each header repeats the settings and adds how far the run had got
(``ss_epoch``, ``ss_steps``). Read header by header (metadata only, no tensor data), they say how many
steps an epoch took and whether the run reached its planned end. What the weights themselves
say per epoch (norms) is the diagnose stage's, on request (``--weights``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rundiff.errors import RundiffError
from rundiff.ingest.logs import numbers
from rundiff.ingest.safetensors_file import checkpoint_order
from rundiff.model import Fact, Provenance, SourceFile, SourceKind

#: Headers read for one series at most (a run saving every epoch for 1000 epochs is rare).
MAX_SERIES_FILES = 1000


@dataclass(frozen=True)
class Checkpoint:
    """One saved file of a series, in save order."""

    path: str
    epoch: int | None  # ss_epoch, else the file name's epoch number
    step: int | None  # ss_steps
    final: bool  # the file without an epoch/step suffix
    max_train_steps: int | None = None


def _meta_int(metadata: dict[str, str] | None, key: str) -> int | None:
    if not metadata or key not in metadata:
        return None
    return numbers.counter(str(metadata[key]).strip())


def read_series(paths: list[Path], warnings: list[str]) -> list[Checkpoint]:
    """The checkpoints of one save series (same folder and stem), in save order; unreadable files warned."""
    from rundiff.infer.header import read_header

    ordered = sorted(paths, key=lambda p: checkpoint_order(p)[1:])[:MAX_SERIES_FILES]
    series = []
    for path in ordered:
        _, kind, number = checkpoint_order(path)
        try:
            metadata = read_header(path).metadata
        except RundiffError as err:
            warnings.append(str(err))
            continue
        epoch = _meta_int(metadata, "ss_epoch")
        if epoch is None and kind == 1:
            epoch = number
        step = _meta_int(metadata, "ss_steps")
        if step is None and kind == 0:
            step = number
        series.append(Checkpoint(str(path), epoch, step, kind == 2, _meta_int(metadata, "ss_max_train_steps")))
    return series


def series_groups(paths: list[Path]) -> list[list[Path]]:
    """Weights files grouped into save series (two or more files of one folder and stem)."""
    groups: dict[tuple[Path, str], list[Path]] = {}
    for path in paths:
        groups.setdefault((path.parent, checkpoint_order(path)[0]), []).append(path)
    return [members for members in groups.values() if len(members) > 1]


def series_source(series: list[Checkpoint]) -> SourceFile | None:
    """Facts a series proves: checkpoints saved, last epoch/step saved, steps per epoch, whether it ended."""
    if len(series) < 2:
        return None
    facts: list[Fact] = []
    last = series[-1]

    def add(key: str, value: object, path: str, note: str) -> None:
        facts.append(Fact(key, value, SourceKind.LOG, path, None, Provenance.INFERRED, note))

    add("checkpoints_saved", len(series), last.path, "files of the save series (epoch/step saves and the final file)")
    epochs = [c for c in series if c.epoch is not None and c.step is not None]
    if last.epoch is not None:
        add("last_saved_epoch", last.epoch, last.path, "ss_epoch of the last file of the series")
    if last.step is not None:
        add("last_saved_step", last.step, last.path, "ss_steps of the last file of the series")
    spans = {
        (b.step - a.step) // (b.epoch - a.epoch)
        for a, b in zip(epochs, epochs[1:], strict=False)
        if b.epoch > a.epoch and b.step > a.step and (b.step - a.step) % (b.epoch - a.epoch) == 0
    }
    if len(spans) == 1 and not any(c.final for c in epochs[1:-1]):
        first = epochs[0]
        add(
            "steps_per_epoch",
            spans.pop(),
            first.path,
            f"ss_steps between the epoch saves of the series ({first.path} ... {epochs[-1].path})",
        )
    if last.final and last.step is not None and last.max_train_steps:
        add(
            "run_finished",
            last.step >= last.max_train_steps,
            last.path,
            f"the final file's ss_steps {last.step} against ss_max_train_steps {last.max_train_steps}",
        )
    root = str(Path(last.path).parent)
    return SourceFile(path=root, format="checkpoint-series", facts=facts, chain=f"{root}#checkpoints")

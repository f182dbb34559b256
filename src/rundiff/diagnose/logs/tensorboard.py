"""kohya's TensorBoard event files, read with TensorBoard's own event reader."""

from __future__ import annotations

from pathlib import Path

from rundiff.diagnose.logs.model import Point, RunLogs

#: kohya tags -> rundiff series; tags logged at the epoch number (not global_step) are marked.
TAG_SERIES: dict[str, tuple[str, bool]] = {
    "loss": ("loss/current", False),  # fine_tune.py / train_db.py / sdxl_train.py per-step tag
    "loss/current": ("loss/current", False),
    "loss/average": ("loss/average", False),
    "loss/epoch": ("loss/epoch", True),
    "loss/epoch_average": ("loss/epoch", True),
    "loss/validation/epoch_average": ("loss/validation", True),
    "loss/validation/step_average": ("loss/validation/step", False),
}


def read_event_file(path: Path) -> RunLogs:
    """Scalars of one ``events.out.tfevents.*`` file; a damaged file becomes a warning."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logs = RunLogs(files=[str(path)])
    accumulator = EventAccumulator(str(path), size_guidance={"scalars": 0})
    try:
        accumulator.Reload()
        tags = accumulator.Tags().get("scalars", [])
    except Exception as exc:  # the reader's own errors (DataLossError, ...) vary across versions
        logs.warnings.append(f"{path}: not a readable TensorBoard event file ({exc.__class__.__name__})")
        return logs
    for tag in tags:
        name, per_epoch = TAG_SERIES.get(tag, (tag, False))
        for event in accumulator.Scalars(tag):
            logs.lines_read += 1
            if per_epoch:
                point = Point(float(event.value), epoch=int(event.step), source=f"{path} [{tag}]")
            else:
                point = Point(float(event.value), step=int(event.step), source=f"{path} [{tag}]",
                              exact_step=tag.startswith("lr/"))
            logs.add(name, point)
    return logs

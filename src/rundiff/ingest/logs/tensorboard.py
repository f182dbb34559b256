"""TensorBoard event files of any trainer, read with TensorBoard's own event reader (keys.yaml maps the tags)."""

from __future__ import annotations

from pathlib import Path

from rundiff.ingest.logs import numbers
from rundiff.ingest.logs.keys import series_for
from rundiff.ingest.logs.model import Point, RunLogs


def read_event_file(path: Path) -> RunLogs:
    """Scalars of one ``events.out.tfevents.*`` file; a damaged file becomes a warning.

    Tags keys.yaml does not know are kept under their own name. An ``lr/*`` value at step N is
    the LR after N scheduler steps (sd-scripts, musubi, OneTrainer, SimpleTuner, diffusers all
    read it after ``lr_scheduler.step()``), so those points are marked exact.
    """
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logs = RunLogs(files=[str(path)])
    try:
        with path.open("rb"):
            pass
        accumulator = EventAccumulator(str(path), size_guidance={"scalars": 0})
        accumulator.Reload()
        tags = accumulator.Tags().get("scalars", [])
    except Exception as exc:  # the reader's own errors (DataLossError, OSError, ...) vary across versions
        logs.warnings.append(f"{path}: not a readable TensorBoard event file ({exc.__class__.__name__})")
        logs.unreadable.append(str(path))
        return logs
    if {"loss/current", "loss/average"} <= set(tags) and any(t.startswith("lr/") for t in tags):
        logs.trainer = ("sd-scripts", f"{path}: sd-scripts' train_network tags loss/current, loss/average, lr/*")
    out_of_range = 0
    for tag in tags:
        hit = series_for(tag)
        name, per_epoch = (hit.series, hit.per_epoch) if hit else (tag[:200], False)
        for event in accumulator.Scalars(tag):
            logs.lines_read += 1
            counter = numbers.counter(int(event.step))
            if counter is None:
                out_of_range += 1
                logs.lines_skipped += 1
                continue
            where = f"{path} [{tag}]"
            if per_epoch:
                point = Point(float(event.value), epoch=counter, source=where)
            else:
                point = Point(float(event.value), step=counter, source=where, exact_step=name.startswith("lr/"))
                logs.last_step = max(logs.last_step or 0, counter)
            logs.add(name, point)
    if out_of_range:
        logs.warnings.append(f"{path}: {out_of_range} point(s) with a step outside 0-{numbers.MAX_COUNTER} not read")
    return logs

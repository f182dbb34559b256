"""Loss and learning-rate curves of the compared runs, overlaid on one axis each (PNG bytes).

The logs are read by the same readers diagnose uses. Axes never use an offset (`1e-4 + 1.2e-9`
labels make equal curves look different); with many runs the lines are coloured by outcome and
the legend gives way to a count.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from rundiff.model import Run
from rundiff.report.safe import drawable, plot_text

#: The loss series drawn, first found per run (kohya's moving average reads best).
LOSS_SERIES = ("loss/average", "loss/current", "loss/validation", "loss/epoch")
#: Runs with their own legend entry; past this, lines are coloured by outcome.
LEGEND_RUNS = 12
#: Points kept per line (evenly thinned): a plot is a picture, not the data.
MAX_POINTS = 2000
_OUTCOME_COLOURS = {"good": "#1e7b34", "bad": "#b00020"}


@dataclass(frozen=True)
class Curve:
    kind: str  # loss | lr
    title: str
    png: bytes
    width: int
    height: int


def _read_logs(run: Run):
    try:
        from rundiff.ingest.logs import read_run_logs  # where logs live once they are an ingest format
    except ImportError:
        from rundiff.diagnose.logs import read_run_logs
    return read_run_logs(run.path, run.log_files)


def _line(points: list[Any]) -> tuple[list[float], list[float], str]:
    finite = [p for p in points if p.finite and drawable(p.step or p.epoch or 0, p.value)]
    stepped = [p for p in finite if p.step is not None]
    if stepped:
        xs, ys, axis = [float(p.step) for p in stepped], [p.value for p in stepped], "step"
    elif any(p.epoch is not None for p in finite):
        xs, ys, axis = [float(p.epoch or 0) for p in finite], [p.value for p in finite], "epoch"
    else:
        xs, ys, axis = [float(i) for i in range(len(finite))], [p.value for p in finite], "point"
    if len(xs) > MAX_POINTS:
        stride = len(xs) / MAX_POINTS
        keep = sorted({int(i * stride) for i in range(MAX_POINTS)} | {len(xs) - 1})
        xs, ys = [xs[i] for i in keep], [ys[i] for i in keep]
    return xs, ys, axis


def run_lines(runs: list[Run]) -> dict[str, list[tuple[Run, str, list[float], list[float], str]]]:
    """kind -> [(run, series name, xs, ys, x axis)] for every run whose logs have such a series."""
    lines: dict[str, list[Any]] = {"loss": [], "lr": []}
    for run in runs:
        if not run.log_files and not _has_log_dir(run):
            continue
        logs = _read_logs(run)
        loss = next((name for name in LOSS_SERIES if logs.get(name)), None)
        if loss:
            lines["loss"].append((run, loss, *_line(logs.get(loss))))
        groups = logs.lr_groups()
        if groups:
            lines["lr"].append((run, groups[0], *_line(logs.get(groups[0]))))
    return {k: v for k, v in lines.items() if v}


def _has_log_dir(run: Run) -> bool:
    from pathlib import Path

    folder = Path(run.path)
    return folder.is_dir() and any((folder / name).is_dir() for name in ("logs", "log", "runs", "tensorboard"))


def overlay_curves(runs: list[Run]) -> list[Curve]:
    """One PNG per kind (loss, lr) that at least one run logged; [] when no run has logs."""
    lines = run_lines(runs)
    if not lines:
        return []
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["axes.formatter.useoffset"] = False
    import matplotlib.pyplot as plt

    curves = []
    for kind, entries in lines.items():
        fig, ax = plt.subplots(figsize=(7.5, 3.4), dpi=100)
        many = len(entries) > LEGEND_RUNS
        for run, series, xs, ys, _axis in entries:
            style: dict[str, Any] = {"lw": 0.8 if many else 1.3, "alpha": 0.6 if many else 0.95}
            if many:
                style["color"] = _OUTCOME_COLOURS.get(run.outcome or "", "#777777")
            else:
                style["label"] = plot_text(run.name) + ("" if series in ("lr", "loss/average") else f" ({series})")
            ax.plot(xs, ys, **style)
        axes = {a for *_, a in entries}
        ax.set_xlabel(" / ".join(sorted(axes)))
        ax.set_ylabel("loss" if kind == "loss" else "learning rate")
        title = "Training loss" if kind == "loss" else "Learning rate (first parameter group)"
        ax.set_title(title + (f" — {len(entries)} runs, green good, red bad" if many else ""))
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 4), useOffset=False)
        ax.grid(alpha=0.3)
        if not many:
            ax.legend(fontsize=8, loc="best")
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        plt.close(fig)
        curves.append(Curve(kind, title, buffer.getvalue(), 750, 340))
    return curves

"""Pictures of a diagnosis: simulated vs logged LR, loss curves, EMA mix. Matplotlib lives only here."""

from __future__ import annotations

import io
import re
from pathlib import Path

from rundiff.diagnose.context import RunContext
from rundiff.diagnose.ema import ema_new_fraction
from rundiff.diagnose.findings import Diagnosis, RunDiagnosis
from rundiff.report.safe import PLOT_LIMIT, drawable, plot_text

#: Most points drawn for one simulated curve.
MAX_CURVE_POINTS = 2000


#: Text from files (run names, group names) is never TeX; plot_text escapes `$`, so never mathtext either.
_PLAIN_TEXT = {"text.usetex": False}
#: Epoch boundaries are drawn only up to this many epochs (beyond, they are a grey wall).
MAX_EPOCH_LINES = 200


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["axes.formatter.useoffset"] = False  # equal curves must not look different
    import matplotlib.pyplot as plt

    return plt


def _label(text: str) -> str:
    """A legend label: no leading underscore (matplotlib hides those), bounded length."""
    text = str(text)[:200]
    return text if not text.startswith("_") else " " + text


def _epoch_lines(ax, spe: int | None, epochs: int | None) -> None:
    if spe and epochs and epochs <= MAX_EPOCH_LINES:
        for epoch in range(1, epochs + 1):
            ax.axvline(epoch * spe, color="#e5e7eb", lw=0.8, zorder=0)


def _x(point, spe: int | None, epoch_at: float = 1.0) -> float | None:
    """Where a logged point sits on the update axis; epoch points at ``epoch_at`` of their epoch."""
    if point.step is not None:
        return float(point.step)
    if point.epoch is not None and spe:
        return float((point.epoch - 1 + epoch_at) * spe)
    return None


def _updates(total: int) -> list[int]:
    stride = max(1, total // MAX_CURVE_POINTS)
    return list(range(0, total, stride)) + [total - 1]


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    with _pyplot().rc_context(_PLAIN_TEXT):
        fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    return buffer.getvalue()


def lr_plot(ctx: RunContext) -> bytes | None:
    """The simulated LR at every update, with the logged LR of each group on top."""
    schedule, spe = ctx.schedule, ctx.plan.steps_per_epoch
    logged = {
        n: [(x, p.value) for p in ctx.logs.get(n) if p.finite and (x := _x(p, spe, 0.5)) is not None]
        for n in ctx.logs.lr_groups()
    }
    logged = {n: [(x, v) for x, v in pts if drawable(x, v)] for n, pts in logged.items()}
    logged = {n: pts for n, pts in logged.items() if pts}
    simulated = []
    if schedule is not None and schedule.total_updates:
        simulated = [(k, lr) for k in _updates(schedule.total_updates) if drawable(k, lr := schedule.lr(k))]
    if not simulated and not logged:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.6))
    markers = "osD^v<>"
    for i, (name, pts) in enumerate(sorted(logged.items())):
        pts.sort()
        if len(pts) > 200:  # dense per-step logs read better as a line under the simulation
            label = _label(f"logged {plot_text(name)}")
            ax.plot([x for x, _ in pts], [v for _, v in pts], lw=3, alpha=0.45, label=label)
        else:
            ax.scatter(
                [x for x, _ in pts],
                [v for _, v in pts],
                s=16,
                marker=markers[i % len(markers)],
                zorder=3,
                label=_label(f"logged {plot_text(name)}"),
            )
    if simulated:
        ax.plot(
            [k for k, _ in simulated],
            [lr for _, lr in simulated],
            color="#111827",
            lw=1.4,
            ls="--",
            zorder=4,
            label=f"simulated {schedule.scheduler} ({'per epoch' if schedule.per_epoch else 'per step'}), "
            f"{ctx.main_lr[0] if ctx.main_lr else 'lr'}",
        )
        if ctx.plan.warmup_steps and ctx.plan.warmup_steps <= PLOT_LIMIT:
            ax.axvline(ctx.plan.warmup_steps, color="#999999", ls=":", lw=1, label="end of warmup")
    _epoch_lines(ax, spe, ctx.plan.num_epochs)
    ax.set_xlabel("optimizer update" + (f" (epoch = {spe} updates)" if spe else ""))
    ax.set_ylabel("learning rate")
    ax.set_title(f"{plot_text(ctx.name)}: learning rate")
    ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    ax.legend(fontsize=8, loc="best")
    return _png(fig)


def loss_plot(ctx: RunContext) -> bytes | None:
    """Train losses (per step, moving average, per epoch) and validation losses."""
    spe = ctx.plan.steps_per_epoch
    series = {
        n: [(x, p.value) for p in ctx.logs.get(n) if p.finite and (x := _x(p, spe)) is not None]
        for n in ("loss/current", "loss/average", "loss/epoch", "loss/validation", "loss/validation/step")
    }
    series = {n: [(x, v) for x, v in pts if drawable(x, v)] for n, pts in series.items()}
    series = {n: pts for n, pts in series.items() if pts}
    if not series:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.6))
    style = {
        "loss/current": dict(color="#9ca3af", lw=0.6, alpha=0.7),
        "loss/average": dict(color="#1f4e9c", lw=1.8),
        "loss/epoch": dict(color="#047857", lw=1.8, marker="o", ms=3),
        "loss/validation": dict(color="#b91c1c", lw=1.8, marker="s", ms=3),
        "loss/validation/step": dict(color="#f59e0b", lw=1.0),
    }
    for name, pts in series.items():
        pts.sort()
        ax.plot([x for x, _ in pts], [v for _, v in pts], label=plot_text(name), **style[name])
    ax.set_xlabel("optimizer update" if spe or any(n != "loss/epoch" for n in series) else "epoch")
    ax.set_ylabel("loss")
    ax.set_title(f"{plot_text(ctx.name)}: loss")
    ax.legend(fontsize=8, loc="best")
    return _png(fig)


def ema_plot(ctx: RunContext) -> bytes | None:
    """Share of the EMA that comes from this run's training, over the updates."""
    decay = ctx.value("ema_decay")
    total = ctx.plan.total_steps
    if not isinstance(decay, float) or not 0 < decay < 1 or not total:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.6))
    xs = _updates(total + 1)
    ax.plot(
        xs,
        [100 * ema_new_fraction(decay, k) for k in xs],
        color="#7c3aed",
        lw=2,
        label=f"new weights in EMA (decay {decay:g})",
    )
    ax.axhline(50, color="#b91c1c", ls="--", lw=1, label="half")
    spe = ctx.plan.steps_per_epoch
    _epoch_lines(ax, spe, ctx.plan.num_epochs)
    ax.set_ylim(0, 100)
    ax.set_xlabel("optimizer update")
    ax.set_ylabel("% of EMA from this run")
    ax.set_title(f"{plot_text(ctx.name)}: EMA mix, 1 - decay^n")
    ax.legend(fontsize=8, loc="best")
    return _png(fig)


def run_plots(run: RunDiagnosis) -> dict[str, bytes]:
    """PNG images of one run, by kind (lr, loss, ema); kinds without data are left out."""
    if run.context is None:
        return {}
    with _pyplot().rc_context(_PLAIN_TEXT):
        made = {kind: make(run.context) for kind, make in (("lr", lr_plot), ("loss", loss_plot), ("ema", ema_plot))}
    return {kind: png for kind, png in made.items() if png is not None}


def diagnosis_plots(diagnosis: Diagnosis) -> dict[str, dict[str, bytes]]:
    return {run.run: run_plots(run) for run in diagnosis.runs}


def write_plots(plots: dict[str, dict[str, bytes]], folder: Path) -> list[Path]:
    """Write ``<run>_<kind>.png`` files; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for run_name, images in plots.items():
        stem = re.sub(r"[^A-Za-z0-9.-]+", "_", run_name).strip("_") or "run"
        for kind, png in images.items():
            path = folder / f"{stem}_{kind}.png"
            path.write_bytes(png)
            written.append(path)
    return written

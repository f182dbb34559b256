"""Pictures of a sweep, per factor: loss, LR, ‖ΔW‖ and validation loss, one colour per value.

Seeds of one value are drawn as a band (min..max across seeds) around their mean. The training loss is
smoothed lightly first (a centred moving average over ``SMOOTH_FRACTION`` of the steps): one step's
diffusion loss depends mostly on its random timestep, and the raw curves of several variants on top of
each other would be a grey mass. Only finished variants are drawn. Matplotlib is imported only here,
inside the functions.
"""

from __future__ import annotations

import io
import re

from rundiff.ablate.sweep import Sweep, VariantOutcome
from rundiff.ablate.verdict import value_label
from rundiff.report.safe import drawable, plot_text

#: Width of the moving average over the training loss, as a fraction of the steps.
SMOOTH_FRACTION = 0.05
#: A positive quantity whose largest value is this many times its smallest is drawn on a log axis.
LOG_SPAN = 10.0
#: The PNG carries no software version or date, so the same sweep gives the same bytes.
PNG_METADATA = {"Software": None}

KINDS = ("loss", "lr", "dw", "val_loss")
_FIGSIZE = (8, 3.8)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["axes.formatter.useoffset"] = False  # equal curves must not look different
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight", metadata=PNG_METADATA)
    _pyplot().close(fig)
    return buffer.getvalue()


def plot_file_name(factor: str, kind: str) -> str:
    """Deterministic file name: ``network_dim_loss.png``; grid factors ``network_dim+network_alpha_lr.png``."""
    stem = re.sub(r"[^A-Za-z0-9.+=-]+", "_", factor).strip("_.") or "factor"
    return f"{stem}_{kind}.png"


def smooth(values: list[float], window: int) -> list[float]:
    """Centred moving average; the window shrinks at the ends instead of padding."""
    if window <= 1 or len(values) < 3:
        return list(values)
    half = window // 2
    prefix = [0.0]
    for v in values:
        prefix.append(prefix[-1] + v)
    out = []
    for i in range(len(values)):
        lo, hi = max(0, i - half), min(len(values), i + half + 1)
        out.append((prefix[hi] - prefix[lo]) / (hi - lo))
    return out


def _finite_series(variant: VariantOutcome, column: str) -> tuple[list[float], list[float]]:
    steps, values = variant.metrics.series(column)
    pairs = sorted((s, v) for s, v in zip(steps, values, strict=False) if drawable(s, v))
    return [s for s, _ in pairs], [v for _, v in pairs]


class _Groups:
    """The finished variants of one factor grouped by value, in plan order, each with its colour."""

    def __init__(self, variants: list[VariantOutcome]) -> None:
        self.groups: dict[str, list[VariantOutcome]] = {}
        for variant in variants:
            if variant.finished:
                self.groups.setdefault(value_label(variant.overrides), []).append(variant)
        labels = list(self.groups)
        numeric = all(
            len(g[0].overrides) == 1 and _is_number(next(iter(g[0].overrides.values()))) for g in self.groups.values()
        )
        if numeric:  # an ordered colour map, so the eye reads the order of the values
            labels.sort(key=lambda label: next(iter(self.groups[label][0].overrides.values())))
        self.labels = labels
        self.colours = _colours(len(labels), ordered=numeric)

    def __iter__(self):
        for label, colour in zip(self.labels, self.colours, strict=True):
            yield _short(plot_text(label)), colour, self.groups[label]


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _colours(count: int, ordered: bool) -> list:
    from matplotlib import colormaps

    if ordered or count > 10:
        cmap = colormaps["viridis"]
        return [cmap(0.05 + 0.8 * i / max(1, count - 1)) for i in range(count)]
    cmap = colormaps["tab10"]
    return [cmap(i) for i in range(count)]


def _band(ax, curves: list[tuple[list[float], list[float]]], colour, label: str, marker: str | None = None) -> bool:
    """Mean line with a min..max band over seeds, on the steps of the longest seed."""
    import numpy as np

    curves = [(s, v) for s, v in curves if s]
    if not curves:
        return False
    grid = np.asarray(max(curves, key=lambda c: len(c[0]))[0], dtype=float)
    stacked = []
    for steps, values in curves:
        inside = (grid >= steps[0]) & (grid <= steps[-1])
        row = np.full(grid.shape, np.nan)
        row[inside] = np.interp(grid[inside], steps, values)
        stacked.append(row)
    data = np.vstack(stacked)
    present = ~np.all(np.isnan(data), axis=0)
    grid, data = grid[present], data[:, present]
    mean = np.nanmean(data, axis=0)
    n = len(curves)
    ax.plot(
        grid, mean, color=colour, lw=1.6, marker=marker, ms=3, label=f"{label}" + (f" ({n} seeds)" if n > 1 else "")
    )
    if n > 1:
        ax.fill_between(grid, np.nanmin(data, axis=0), np.nanmax(data, axis=0), color=colour, alpha=0.22, lw=0)
    return True


def _scale(ax, values: list[float]) -> None:
    positive = [v for v in values if v > 0]
    if positive and len(positive) == len(values) and max(positive) / min(positive) > LOG_SPAN:
        _log_axis(ax)


def _log_axis(ax) -> None:
    """A log y axis labelled in plain numbers (0.3, 2, 1e-05) rather than 3×10⁻¹ or 3e-01."""
    from matplotlib.ticker import LogFormatter

    class PlainLogFormatter(LogFormatter):  # matplotlib chooses which ticks get a label; the text is ours
        def __call__(self, x: float, pos: int | None = None) -> str:
            return f"{x:g}" if super().__call__(x, pos) else ""

    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(PlainLogFormatter())
    ax.yaxis.set_minor_formatter(PlainLogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5)))


#: A linear y axis spans at least this fraction of its largest |value|: curves that differ by float noise
#: (0.123401 against 0.123402) are drawn on top of each other instead of filling the axis apart.
MIN_RELATIVE_SPAN = 0.02


def _no_offset(ax) -> None:
    """Plain tick labels (no "+1.234e-1" offset that makes equal curves look apart) and a minimum span."""
    from matplotlib.ticker import ScalarFormatter

    for axis in (ax.xaxis, ax.yaxis):
        formatter = axis.get_major_formatter()
        if isinstance(formatter, ScalarFormatter):
            formatter.set_useOffset(False)
    if ax.get_yscale() == "linear":
        low, high = ax.get_ylim()
        span = MIN_RELATIVE_SPAN * max(abs(low), abs(high))
        if 0 < high - low < span:
            middle = (low + high) / 2
            ax.set_ylim(middle - span / 2, middle + span / 2)


def _finish(ax, title: str, ylabel: str, *, factor: str, note: str = "", xlabel: str = "optimizer update") -> None:
    _no_offset(ax)
    ax.set_title(title, fontsize=11)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, color="#e5e7eb", lw=0.6)
    ax.set_axisbelow(True)
    handles, _ = ax.get_legend_handles_labels()
    if handles:
        ax.legend(
            fontsize=8,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            frameon=False,
            title=_short(factor),
            title_fontsize=8,
            alignment="left",
        )
    if note:
        ax.text(0.0, -0.2, note, transform=ax.transAxes, fontsize=7.5, color="#6b7280", va="top")


def _short(text: str, width: int = 28) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _title(factor: str, what: str, proxy: bool) -> str:
    return f"{factor}: {what}" + (" (proxy model)" if proxy else "")


def loss_plot(factor: str, groups: _Groups, steps_total: int, proxy: bool) -> bytes | None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=_FIGSIZE)
    drawn, seen = False, []
    for label, colour, variants in groups:
        curves = []
        for variant in variants:
            steps, values = _finite_series(variant, "loss")
            window = max(1, int(round(SMOOTH_FRACTION * max(len(steps), steps_total))) | 1)
            curves.append((steps, smooth(values, window)))
            seen += curves[-1][1]
        ended = sum(v.final_loss is None for v in variants)  # the curve stops where the loss turned NaN/inf
        drawn |= _band(ax, curves, colour, label + (f", {ended} not finite at the end" if ended else ""))
    if not drawn:
        plt.close(fig)
        return None
    _scale(ax, seen)
    note = f"centred moving average over {SMOOTH_FRACTION:.0%} of the steps; line = mean over seeds, band = min..max"
    _finish(ax, _title(factor, "training loss", proxy), "loss (smoothed)", factor=factor, note=note)
    return _png(fig)


def lr_plot(factor: str, groups: _Groups, proxy: bool) -> bytes | None:
    """Applied LR per group (lr/*: the LR each step ran with, for every backend; lr_applied/* in older sweeps),
    of each value's first seed.

    Values whose schedules are identical (the factor does not touch the LR) share one line, so that
    lines drawn on top of each other do not hide which values they stand for.
    """
    lines: dict[tuple, dict] = {}
    for label, colour, variants in groups:
        variant = variants[0]
        columns = [c for c in variant.metrics.steps if c.startswith("lr_applied/")] or variant.metrics.lr_columns()
        for column in sorted(columns):
            steps, values = _finite_series(variant, column)
            if not steps:
                continue
            group = plot_text(column.split("/", 1)[1])
            key = (group, tuple(steps), tuple(float(f"{v:.9g}") for v in values))
            line = lines.setdefault(
                key, {"group": group, "steps": steps, "values": values, "labels": [], "colour": colour}
            )
            line["labels"].append(label)
    if not lines:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=_FIGSIZE)
    group_names = sorted({line["group"] for line in lines.values()})
    styles = ["-", "--", ":", "-."]
    every = len(groups.labels)
    for line in lines.values():
        shared = len(line["labels"]) == every and every > 1
        who = "every value" if shared else ", ".join(line["labels"])
        ax.plot(
            line["steps"],
            line["values"],
            color="#374151" if shared else line["colour"],
            lw=1.8,
            alpha=0.9,
            ls=styles[group_names.index(line["group"]) % len(styles)],
            label=f"{_short(who)} · {line['group']}" if len(group_names) > 1 else _short(who),
        )
    peaks = [max(line["values"]) for line in lines.values()]
    if min(peaks) > 0 and max(peaks) / min(peaks) > LOG_SPAN:  # LRs decades apart (an LR ladder)
        _log_axis(ax)
    else:
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3), useOffset=False)
    _finish(
        ax,
        _title(factor, "learning rate used at each update", proxy),
        "learning rate",
        factor=factor,
        note="first seed of each value; one line style per parameter group",
    )
    return _png(fig)


def dw_plot(factor: str, groups: _Groups, proxy: bool) -> bytes | None:
    """‖ΔW‖ over the steps when logged per step, else a bar of the final ‖ΔW‖ per value."""
    per_step = all(len(_finite_series(v, "dw")[0]) > 1 for _, _, vs in groups for v in vs)
    if per_step:
        plt = _pyplot()
        fig, ax = plt.subplots(figsize=_FIGSIZE)
        drawn = False
        seen: list[float] = []
        for label, colour, variants in groups:
            curves = [_finite_series(v, "dw") for v in variants]
            seen += [x for _, vs in curves for x in vs]
            drawn |= _band(ax, curves, colour, label)
        if not drawn:
            plt.close(fig)
            return None
        _scale(ax, seen)
        _finish(
            ax,
            _title(factor, "weight movement ‖ΔW‖ of the merged LoRA", proxy),
            "‖ΔW‖ (Frobenius)",
            factor=factor,
            note="line = mean over seeds, band = min..max",
        )
        return _png(fig)
    return _final_points(factor, groups, "dw", "final ‖ΔW‖ of the merged LoRA", "‖ΔW‖ (Frobenius)", proxy)


def val_loss_plot(factor: str, groups: _Groups, proxy: bool) -> bytes | None:
    """Validation loss over the steps, or per value when each variant measured it once."""
    series = {v.name: _finite_series(v, "val_loss") for _, _, vs in groups for v in vs}
    if not any(s for s, _ in series.values()):
        return None
    if all(len(s) < 2 for s, _ in series.values()):
        return _final_points(
            factor, groups, "val_loss", "validation loss at the end", "validation loss", proxy, bars=False
        )
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=_FIGSIZE)
    seen: list[float] = []
    for label, colour, variants in groups:
        curves = [series[v.name] for v in variants]
        seen += [x for _, vs in curves for x in vs]
        _band(ax, curves, colour, label, marker="o")
    _scale(ax, seen)
    _finish(
        ax,
        _title(factor, "validation loss", proxy),
        "validation loss",
        factor=factor,
        note="held-out images; line = mean over seeds, band = min..max",
    )
    return _png(fig)


def _final_points(
    factor: str, groups: _Groups, column: str, what: str, ylabel: str, proxy: bool, bars: bool = True
) -> bytes | None:
    """One dot per seed and the mean, per value: a bar from zero for an amount (‖ΔW‖), a tick for a loss,
    whose axis then starts near the data so that small differences stay visible."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=_FIGSIZE)
    seen: list[float] = []
    labels = []
    for index, (label, colour, variants) in enumerate(groups):
        finals = []
        for variant in variants:
            steps, values = _finite_series(variant, column)
            if values:
                finals.append(values[-1])
        if not finals:
            continue
        labels.append((index, label))
        mean = sum(finals) / len(finals)
        if bars:
            ax.bar(index, mean, width=0.6, color=colour, alpha=0.35)
        else:
            ax.hlines(mean, index - 0.3, index + 0.3, color=colour, lw=2.5)
        ax.scatter([index] * len(finals), finals, color=colour, s=22, zorder=3, edgecolors="white", linewidths=0.5)
        seen += finals
    if not seen:
        plt.close(fig)
        return None
    ax.set_xticks([i for i, _ in labels], [label for _, label in labels], rotation=30 if len(labels) > 6 else 0)
    ax.set_xlim(-0.6, len(groups.labels) - 0.4)
    if not bars:
        _scale(ax, seen)
    note = ("bar" if bars else "line") + " = mean over seeds, dots = seeds"
    _finish(ax, _title(factor, what, proxy), ylabel, factor=factor, note=note, xlabel=factor)
    return _png(fig)


def factor_plots(sweep: Sweep, factor: str) -> dict[str, bytes]:
    """PNG images of one factor by kind (loss, lr, dw, val_loss); kinds without data are left out."""
    groups = _Groups(sweep.of_factor(factor))
    if not groups.labels:
        return {}
    factor = plot_text(factor)
    made = {
        "loss": loss_plot(factor, groups, sweep.steps, sweep.proxy),
        "lr": lr_plot(factor, groups, sweep.proxy),
        "dw": dw_plot(factor, groups, sweep.proxy),
        "val_loss": val_loss_plot(factor, groups, sweep.proxy),
    }
    return {kind: png for kind, png in made.items() if png is not None}


def sweep_plots(sweep: Sweep, factors: list[str]) -> dict[str, dict[str, bytes]]:
    return {factor: factor_plots(sweep, factor) for factor in factors}

"""`--metric NAME`: how much each differing parameter moves a numeric outcome across the runs.

A run's value of NAME comes from its `rundiff.yaml` (`metrics: {NAME: value}`, or `score:` for
`--metric score`) or else from its logs: the mean of the last tenth of the series NAME (a log
series name such as `loss/average`, or its last segment). For each differing parameter (per-run
identifiers left out) the runs are grouped by its value; the effect is the range of the group
means and the spread is the pooled standard deviation inside the groups, so "ratio" says whether
the effect stands out from run-to-run noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rundiff.comparison.table import Comparison
from rundiff.model import Run
from rundiff.report.values import cell_text

TAIL_FRACTION = 0.1
MAX_YAML_BYTES = 64 * 1024
#: Parameters listed in the effect table (largest ratio first).
MAX_EFFECTS = 15
#: A parameter with more distinct values than this is described by its extremes only.
MAX_GROUPS = 8


@dataclass(frozen=True)
class RunMetric:
    value: float
    source: str


def _from_run_file(run: Run, name: str) -> RunMetric | None:
    from rundiff.errors import RundiffError
    from rundiff.ingest.run_folder import read_run_file

    folder = Path(run.path)
    for file_name in ("rundiff.yaml", "rundiff.yml"):
        path = folder / file_name
        try:
            if not path.is_file() or path.stat().st_size > MAX_YAML_BYTES:
                continue
            data = read_run_file(path)  # the one bounded reader of this file (ingest warns when it fails)
        except (OSError, RundiffError):
            return None  # a bad rundiff.yaml is the run's warning already; no metric from it
        metrics = data.get("metrics") if isinstance(data.get("metrics"), dict) else {}
        raw = metrics.get(name, data.get(name) if name == "score" else None)
        number = _number(raw)
        if number is not None:
            return RunMetric(number, f"{path} [{'metrics.' if name in metrics else ''}{name}]")
    return None


def _number(raw: Any) -> float | None:
    if isinstance(raw, bool) or raw is None:
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError, OverflowError):
        return None
    return value if math.isfinite(value) else None


def _from_logs(run: Run, name: str) -> RunMetric | None:
    from rundiff.report.curves import _read_logs

    logs = _read_logs(run)
    series = logs.get(name) or next((logs.get(n) for n in sorted(logs.series) if n.rsplit("/", 1)[-1] == name), [])
    values = [p.value for p in series if p.finite]
    if not values:
        return None
    tail = values[-max(1, int(len(values) * TAIL_FRACTION)) :]
    return RunMetric(sum(tail) / len(tail), f"logs: mean of the last {len(tail)} of {len(values)} points of {name}")


def run_metric(run: Run, name: str) -> RunMetric | None:
    return _from_run_file(run, name) or _from_logs(run, name)


def _mean_sd(values: list[float]) -> tuple[float, float | None]:
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"


def _ratio_text(effect: float, spread: float | None) -> str:
    if spread is None:
        return "—"  # one run per value: no spread to compare with
    if spread == 0:
        return "∞" if effect > 0 else "—"
    return f"{effect / spread:.3g}"


def metric_effects(comparison: Comparison, name: str) -> dict[str, Any]:
    """The context block the reports show under "Effect on NAME"."""
    metrics = {run.name: m for run in comparison.runs if (m := run_metric(run, name)) is not None}
    effects = []
    for row in comparison.rows:
        if row.status != "differs" or row.replicate:
            continue
        groups: dict[str, list[float]] = {}
        for run_name, metric in metrics.items():
            entry = row.entries[run_name]
            if entry.cell.known and entry.inactive is None:
                groups.setdefault(cell_text(entry.cell), []).append(metric.value)
        if len(groups) < 2:
            continue
        stats = {text: _mean_sd(vals) for text, vals in groups.items()}
        means = [m for m, _ in stats.values()]
        effect = max(means) - min(means)
        pooled_n = sum(len(v) - 1 for v in groups.values() if len(v) > 1)
        spread = (
            math.sqrt(sum(sd**2 * (len(groups[t]) - 1) for t, (_, sd) in stats.items() if sd is not None) / pooled_n)
            if pooled_n
            else None
        )
        scale = max(abs(m) for m in means) or 1.0
        if spread is not None and spread < 1e-9 * scale:
            spread = 0.0  # equal values within every group: rounding noise is no spread
        ratio = effect / spread if spread else None
        ordered = sorted(groups, key=lambda t: stats[t][0])
        shown = ordered if len(ordered) <= MAX_GROUPS else [ordered[0], ordered[-1]]
        effects.append(
            {
                "name": row.name,
                "effect_value": effect,
                "ratio_value": ratio,
                "effect": _fmt(effect),
                "spread": _fmt(spread),
                "ratio": _ratio_text(effect, spread),
                "groups": [{"text": t, "mean": _fmt(stats[t][0]), "n": len(groups[t])} for t in shown],
            }
        )
    registry = comparison.registry

    def rank(e: dict[str, Any]) -> tuple:  # on a tie the input goes before a row derived from it
        param = registry.get(e["name"]) if registry is not None else None
        ratio = round(e["ratio_value"] or 0, 9)
        return (
            e["ratio"] != "∞",
            e["ratio_value"] is None,
            -ratio,
            -round(e["effect_value"], 12),
            bool(param and param.derived),
            e["name"],
        )

    effects.sort(key=rank)
    if not metrics:
        sentence = f"No run has a value for {name} (rundiff.yaml `metrics: {{{name}: ...}}` or a log series)."
    else:
        sentence = (
            f"{len(metrics)} of {len(comparison.runs)} runs have a value for {name}. Effect: the range of "
            f"the mean {name} across a parameter's values; spread: the pooled standard deviation within a "
            f"value; a ratio well above 1 stands out from run-to-run noise."
        )
    return {
        "name": name,
        "sentence": sentence,
        "effects": effects[:MAX_EFFECTS],
        "more": max(0, len(effects) - MAX_EFFECTS),
        "runs": {run: {"value": m.value, "source": m.source} for run, m in metrics.items()},
    }

"""Is a varied parameter's effect larger than the seed-to-seed spread? One plain sentence per factor.

Per finished variant a final score (mean of the last 20 % of its validation loss when measured, else of
its training loss; also its final ‖ΔW‖). Per value of the factor the mean over seeds. The effect is the
range of those means; the seed-to-seed spread is the pooled standard deviation across seeds within a
value. Their ratio is judged against what noise alone produces: the 95th percentile of the same ratio
when every value has the same true score (Tukey's studentized range divided by √n, simulated for the
sweep's own seed counts), so three values with two seeds need a larger ratio than two values with five.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from typing import Any

from rundiff.ablate.sweep import PROXY_LABEL, Sweep, VariantOutcome

#: The chance that noise alone passes the threshold: the sentence's "1 time in 20".
NOISE_LEVEL = 0.05
_NOISE_DRAWS = 20000
_ROUNDING = 1e-12

METRIC_LABELS = {"val_loss": "final validation loss", "loss": "final training loss", "dw": "final ‖ΔW‖"}

LARGER = "larger_than_noise"
NOT_DISTINGUISHABLE = "not_distinguishable"
SPREAD_UNKNOWN = "spread_unknown"
NO_DATA = "no_data"


@dataclass(frozen=True)
class ValueScores:
    """The final scores of one value of a factor, one per finished seed."""

    label: str  # "64", or "network_dim=16,network_alpha=8" in a grid
    value: Any  # the override value (a dict of them in a grid)
    seeds: tuple[int, ...]
    scores: tuple[float, ...]

    @property
    def n(self) -> int:
        return len(self.scores)

    @property
    def mean(self) -> float:
        return sum(self.scores) / self.n

    @property
    def sd(self) -> float | None:
        if self.n < 2:
            return None
        mean = self.mean
        return math.sqrt(sum((s - mean) ** 2 for s in self.scores) / (self.n - 1))

    def to_json(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "label": self.label,
            "seeds": list(self.seeds),
            "scores": list(self.scores),
            "n": self.n,
            "mean": self.mean,
            "sd": self.sd,
            "min": min(self.scores),
            "max": max(self.scores),
        }


@dataclass(frozen=True)
class Effect:
    """One metric of one factor: the per-value scores, the effect, the spread and the verdict."""

    factor: str
    metric: str  # val_loss | loss | dw
    values: tuple[ValueScores, ...]
    effect: float | None
    seed_spread: float | None
    ratio: float | None  # None when the spread is unknown or zero
    noise_threshold: float | None  # the ratio noise alone passes NOISE_LEVEL of the time
    verdict: str
    sentence: str

    @property
    def metric_label(self) -> str:
        return METRIC_LABELS[self.metric]

    @property
    def detail(self) -> str:
        """The sentence without its leading factor name, for a line already under that factor."""
        return self.sentence.removeprefix(f"{self.factor}: ")

    def to_json(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "metric_label": self.metric_label,
            "values": [v.to_json() for v in self.values],
            "effect": self.effect,
            "seed_spread": self.seed_spread,
            "ratio": self.ratio,
            "noise_threshold": self.noise_threshold,
            "verdict": self.verdict,
            "sentence": self.sentence,
        }


@dataclass(frozen=True)
class FactorVerdict:
    """What varying one parameter (or one grid of them) did to the loss, and to the weights."""

    name: str
    loss: Effect  # on validation loss when measured, else training loss
    movement: Effect | None  # on the final ‖ΔW‖, when the backend measured it
    left_out: tuple[str, ...]  # "name (status)" of variants kept out of the statistics
    proxy: bool

    @property
    def sentence(self) -> str:
        return self.loss.sentence + (f" {PROXY_LABEL.capitalize()}." if self.proxy else "")

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "values": [v.to_json() for v in self.loss.values],
            "verdict": self.loss.verdict,
            "sentence": self.sentence,
            "effect": self.loss.effect,
            "seed_spread": self.loss.seed_spread,
            "ratio": self.loss.ratio,
            "noise_threshold": self.loss.noise_threshold,
            "metric": self.loss.metric,
            "metric_label": self.loss.metric_label,
            "movement": self.movement.to_json() if self.movement else None,
            "left_out": list(self.left_out),
        }


def judge_sweep(sweep: Sweep) -> list[FactorVerdict]:
    """A verdict for every varied factor, in the plan's order."""
    factors: list[str] = []
    for variant in sweep.variants:
        if variant.factor is not None and variant.factor not in factors:
            factors.append(variant.factor)
    return [judge_factor(sweep, factor) for factor in factors]


def judge_factor(sweep: Sweep, factor: str) -> FactorVerdict:
    variants = sweep.of_factor(factor)
    left_out = [f"{v.name} ({v.status})" for v in variants if not v.finished]
    finished = [v for v in variants if v.finished]
    left_out += [f"{v.name} (no finite loss at the end: diverged?)" for v in finished if v.final_loss is None]
    scored = [v for v in finished if v.final_loss is not None]
    metric = "val_loss" if scored and all(v.final_val_loss is not None for v in scored) else "loss"
    loss = judge_metric(factor, metric, scored)
    moved = [v for v in scored if v.dw is not None]
    movement = judge_metric(factor, "dw", moved) if moved else None
    return FactorVerdict(factor, loss, movement, tuple(left_out), sweep.proxy)


def judge_metric(factor: str, metric: str, variants: list[VariantOutcome]) -> Effect:
    values = _group(variants, metric)
    if len(values) < 2:
        sentence = f"{factor}: fewer than two values finished with a {METRIC_LABELS[metric]}; nothing to compare."
        return Effect(factor, metric, tuple(values), None, None, None, None, NO_DATA, sentence)
    means = [v.mean for v in values]
    effect = max(means) - min(means)
    spread = pooled_sd(values)
    if spread is not None and spread <= _ROUNDING * max(abs(m) for m in means):
        spread = 0.0  # seeds that agree up to float rounding agree
    threshold = noise_threshold(tuple(v.n for v in values)) if spread is not None else None
    ratio = effect / spread if spread else None
    if spread is None:
        verdict = SPREAD_UNKNOWN
    elif spread == 0:
        verdict = LARGER if effect > 0 else NOT_DISTINGUISHABLE
    else:
        verdict = LARGER if threshold is not None and ratio >= threshold else NOT_DISTINGUISHABLE
    sentence = _sentence(factor, metric, values, effect, spread, ratio, threshold, verdict)
    return Effect(factor, metric, tuple(values), effect, spread, ratio, threshold, verdict, sentence)


def pooled_sd(values: list[ValueScores]) -> float | None:
    """Pooled standard deviation across seeds within a value; None when no value has two seeds."""
    df = sum(v.n - 1 for v in values if v.n >= 2)
    if not df:
        return None
    return math.sqrt(sum((v.n - 1) * v.sd**2 for v in values if v.n >= 2) / df)


@cache
def noise_threshold(counts: tuple[int, ...], level: float = NOISE_LEVEL) -> float | None:
    """The (effect / seed spread) ratio that pure noise passes ``level`` of the time with these seed counts.

    Simulated with a fixed generator, so the same design always gives the same threshold.
    """
    import numpy as np

    if len(counts) < 2 or not any(n >= 2 for n in counts):
        return None
    rng = np.random.default_rng(0)
    means, ss = [], np.zeros(_NOISE_DRAWS)
    for n in counts:
        draws = rng.standard_normal((_NOISE_DRAWS, n))
        mean = draws.mean(axis=1)
        means.append(mean)
        ss += ((draws - mean[:, None]) ** 2).sum(axis=1)
    stacked = np.stack(means, axis=1)
    df = sum(n - 1 for n in counts if n >= 2)
    ratio = (stacked.max(axis=1) - stacked.min(axis=1)) / np.sqrt(ss / df)
    return float(np.quantile(ratio, 1 - level))


def _group(variants: list[VariantOutcome], metric: str) -> list[ValueScores]:
    groups: dict[str, list[VariantOutcome]] = {}
    for variant in variants:
        if variant.score(metric) is not None:
            groups.setdefault(json.dumps(variant.overrides, sort_keys=True, default=str), []).append(variant)
    out = []
    for members in groups.values():
        overrides = members[0].overrides
        value = next(iter(overrides.values())) if len(overrides) == 1 else dict(overrides)
        out.append(
            ValueScores(
                value_label(overrides),
                value,
                tuple(v.seed for v in members),
                tuple(float(v.score(metric)) for v in members),
            )
        )
    return out


def value_label(overrides: dict[str, Any]) -> str:
    """How a value reads in a sentence: ``64``, or ``network_dim=16,network_alpha=8`` in a grid."""
    if len(overrides) == 1:
        return _text(next(iter(overrides.values())))
    return ",".join(f"{k}={_text(v)}" for k, v in overrides.items())


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return format(value, "g")
    if isinstance(value, list | tuple):
        return "x".join(_text(v) for v in value)
    return str(value)


def _sentence(
    factor: str,
    metric: str,
    values: list[ValueScores],
    effect: float,
    spread: float | None,
    ratio: float | None,
    threshold: float | None,
    verdict: str,
) -> str:
    low = min(values, key=lambda v: v.mean)
    high = max(values, key=lambda v: v.mean)
    low_text, high_text = pair_text(low.mean, high.mean)
    head = f"{factor}: {METRIC_LABELS[metric]} ranges {low_text} ({low.label}) to {high_text} ({high.label})"
    if low.mean == high.mean:
        head = f"{factor}: {METRIC_LABELS[metric]} is {low_text} for every value"
    if verdict == SPREAD_UNKNOWN:
        text = (
            f"{head}; spread unknown with one seed: rundiff cannot tell this effect from seed noise, nor say "
            f"which value is better. It needs at least 2 seeds per value ({_seeds_needed(values)})."
        )
        return text  # no direction, no trend: nothing says they are not noise
    elif spread == 0:
        text = f"{head}; the seeds agree exactly (spread 0): " + (
            "the effect is larger than noise." if effect > 0 else "every value gives the same result."
        )
    else:
        noise = f"noise alone passes {ratio_text(threshold)} 1 time in 20" if threshold is not None else ""
        text = f"{head}, {ratio_text(ratio)} the seed-to-seed spread ({number(spread)})"
        if verdict == LARGER:
            text += f": the effect is larger than noise ({noise})."
        else:
            text += f": not distinguishable from noise at these settings ({noise})."
            needed = seeds_for_ratio(ratio, len(values), min(v.n for v in values)) if ratio else None
            if needed is not None:
                text += (
                    f" If an effect this size is real, about {needed} seeds per value would show it "
                    f"(--seeds {','.join(str(i) for i in range(needed))})."
                )
    if verdict == NOT_DISTINGUISHABLE:
        return text
    trend = _trend(factor, values, spread or 0.0)
    if metric == "dw":
        return text + (f" ‖ΔW‖ {trend}." if trend else "")
    return text + f" Lowest at {_setting(factor, low)}" + (f"; the loss {trend}." if trend else ".")


#: Most seeds per value the report suggests; beyond this the effect is too small to chase with seeds.
MAX_SUGGESTED_SEEDS = 12


def _seeds_needed(values: list[ValueScores]) -> str:
    k = max(2, len(values))
    threshold = noise_threshold((3,) * k)
    return (
        f"--seeds 0,1,2: with 3 seeds each, noise alone passes {ratio_text(threshold)} the seed-to-seed "
        "spread 1 time in 20, so an effect must be larger than that"
    )


def seeds_for_ratio(ratio: float, k: int, n_now: int) -> int | None:
    """Seeds per value at which an effect of ``ratio`` x the spread (as measured with ``n_now`` seeds) would
    pass the noise threshold: the range of means shrinks like 1/sqrt(n) under noise, the effect does not."""
    if ratio <= 0 or k < 2:
        return None
    for n in range(n_now + 1, MAX_SUGGESTED_SEEDS + 1):
        threshold = noise_threshold((n,) * k)
        if threshold is not None and ratio >= threshold:
            return n
    return None


def _setting(factor: str, value: ValueScores) -> str:
    return value.label if "=" in value.label else f"{factor}={value.label}"


def _trend(factor: str, values: list[ValueScores], spread: float) -> str | None:
    """'rises as X grows' / 'falls as X grows' when the values are numbers, the means are monotonic and every
    step between neighbouring values is larger than the seed-to-seed spread (a trend made of steps within
    the noise is not claimed)."""
    if not all(isinstance(v.value, int | float) and not isinstance(v.value, bool) for v in values):
        return None
    ordered = [v.mean for v in sorted(values, key=lambda v: v.value)]
    steps = [b - a for a, b in zip(ordered, ordered[1:], strict=False)]
    if not all(abs(s) > spread for s in steps):
        return None
    if all(s > 0 for s in steps):
        return f"rises as {factor} grows"
    if all(s < 0 for s in steps):
        return f"falls as {factor} grows"
    return None


def number(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "—"
    if value == 0:
        return "0"
    return format(value, f".{digits}g")


def pair_text(low: float, high: float) -> tuple[str, str]:
    """Both ends with 3 significant digits (trailing zeros kept: 0.120 next to 0.122), or as many more,
    up to 6, as it takes to tell them apart."""
    for digits in range(3, 7):
        a, b = (format(x, f"#.{digits}g").rstrip(".") for x in (low, high))
        if a != b or low == high:
            break
    return a, b


def ratio_text(ratio: float | None) -> str:
    if ratio is None:
        return "—"
    return f"{ratio:.1f}x" if ratio < 10 else f"{ratio:.0f}x"

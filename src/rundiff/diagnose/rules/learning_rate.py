"""Rules on the size of the peak learning rate, per kind of training and kind of optimizer."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from rundiff.diagnose.findings import Severity
from rundiff.diagnose.rules.base import Hit, NotChecked, RuleView, fmt, rule


@dataclass(frozen=True)
class LrRange:
    """Usual LRs for one (training kind, optimizer family), and where rundiff starts to flag."""

    typical: tuple[float, float]  # what the sources recommend (shown in messages)
    warn_below: float  # lr < warn_below -> warning
    error_at_or_below: float  # lr <= error_at_or_below -> error
    warn_above: float  # lr > warn_above -> warning
    error_above: float  # lr > error_above -> error
    source: str


#: (training kind, optimizer family) -> range. Kinds: "network" (LoRA & co.), "full". Families below.
LR_RANGES: dict[tuple[str, str], LrRange] = {
    ("network", "adamw"): LrRange(
        (1e-4, 5e-4), 5e-5, 1e-5, 1e-3, 5e-3, "field report 000 (LoRA 1e-4..5e-4); sd-scripts docs recommend 1e-4"
    ),
    ("full", "adamw"): LrRange(
        (1e-5, 2e-5),
        2e-6,
        1e-6,
        5e-5,
        2e-4,
        "field report 000 (SDXL full fine-tune 1e-5..2e-5); sd-scripts' fine-tune default 2e-6",
    ),
    ("network", "lion"): LrRange(
        (1e-5, 1e-4), 5e-6, 1e-6, 3e-4, 1e-3, "Lion needs a 3-10x smaller LR than AdamW (lion-pytorch README)"
    ),
    ("full", "lion"): LrRange(
        (1e-6, 5e-6), 3e-7, 1e-7, 2e-5, 1e-4, "Lion needs a 3-10x smaller LR than AdamW (lion-pytorch README)"
    ),
    ("network", "adaptive"): LrRange(
        (1.0, 1.0),
        0.1,
        0.01,
        3.0,
        10.0,
        "Prodigy / D-Adaptation estimate the step size; lr is a multiplier, 1.0 "
        "by convention (sd-scripts warns at lr <= 0.1)",
    ),
}
LR_RANGES[("full", "adaptive")] = LR_RANGES[("network", "adaptive")]


def optimizer_family(optimizer: str | None) -> str | None:
    """``"adamw"``, ``"lion"``, ``"adaptive"``, or None for optimizers without a known LR range."""
    name = str(optimizer or "AdamW").lower().rsplit(".", 1)[-1]
    if name.startswith(("dadapt", "prodigy")) or "prodigy" in name:
        return "adaptive"
    if "lion" in name:
        return "lion"
    if "adam" in name:  # AdamW, AdamW8bit, PagedAdamW*, RAdamScheduleFree, AdEMAMix8bit ...
        return "adamw"
    return None  # SGD, AdaFactor (relative step ignores the LR), unknown classes


def _range(ctx: RuleView) -> tuple[LrRange, str, str, float]:
    """The usual range for this run (its thresholds as configured), or NotChecked saying what is missing."""
    kind = ctx.training_kind
    if kind is None:
        raise NotChecked("training type unknown (LoRA or full fine-tune): give training_type or network_dim")
    optimizer = ctx.value("optimizer_type")
    if optimizer is None:
        return _any_optimizer_range(ctx, kind)
    family = optimizer_family(optimizer)
    if family is None:
        raise NotChecked(f"no usual LR range is known for optimizer {optimizer!r} (SGD, AdaFactor, ...)")
    main = ctx.main_lr
    if main is None:
        raise NotChecked("learning rate unknown: give it (learning_rate / unet_lr) or keep a log of the LR")
    peak = ctx.schedule.peak_lr() if ctx.schedule is not None else main[1]
    limits = LR_RANGES[(kind, family)]
    overrides = ctx.t.get(f"{kind}/{family}", {})
    limits = LrRange(
        limits.typical,
        **{
            k: float(overrides.get(k, getattr(limits, k)))
            for k in ("warn_below", "error_at_or_below", "warn_above", "error_above")
        },
        source=limits.source,
    )
    return limits, kind, family, peak


def _any_optimizer_range(ctx: RuleView, kind: str) -> tuple[LrRange, str, str, float]:
    """Optimizer unknown: a range only the LRs outside every known optimizer's range fall out of."""
    main = ctx.main_lr
    if main is None:
        raise NotChecked("learning rate and optimizer_type unknown")
    peak = ctx.schedule.peak_lr() if ctx.schedule is not None else main[1]
    ranges = [r for (k, _), r in LR_RANGES.items() if k == kind]
    low = min(r.error_at_or_below for r in ranges)
    high = max(r.error_above for r in ranges)
    if low < peak <= high:
        raise NotChecked("optimizer_type unknown: the usual LR depends on it")
    limits = LrRange(
        (min(r.typical[0] for r in ranges), max(r.typical[1] for r in ranges)),
        low,
        low / 10,
        high,
        high * 10,
        "outside the usual range of every known optimizer (AdamW, Lion, Prodigy/D-Adaptation); "
        "the optimizer is unknown, so this is a warning",
    )
    return limits, kind, "any", peak


def _what(kind: str, family: str, ctx: RuleView) -> str:
    training = "LoRA" if kind == "network" else "full fine-tune"
    optimizer = ctx.value("optimizer_type") or "an unknown optimizer"
    return f"a {training} with {optimizer}"


@rule(
    "lr-too-low",
    severity=Severity.WARNING,
    summary="The peak LR is below the range usual for this kind of training and optimizer.",
    fix="Raise the learning rate into the usual range (full fine-tune ~1e-5, LoRA ~1e-4 with AdamW, 1.0 for "
    "Prodigy/D-Adaptation).",
    thresholds={
        f"{k[0]}/{k[1]}": {"warn_below": v.warn_below, "error_at_or_below": v.error_at_or_below}
        for k, v in LR_RANGES.items()
    },
)
def lr_too_low(ctx: RuleView) -> Iterator[Hit]:
    """Flags a peak LR below the usual range; error at a tenth of the usual LR or less.

    Too low an LR leaves the weights where they started: the run reproduces the base model and the
    loss barely moves (field report 000: 1e-6 for an SDXL full fine-tune, "10x too conservative").
    Ranges (typical; warning below; error at or below), AdamW-like optimizers: LoRA 1e-4..5e-4;
    5e-5; 1e-5. Full fine-tune 1e-5..2e-5; 2e-6 (sd-scripts' default for fine-tuning); 1e-6.
    Lion (3-10x smaller than AdamW): LoRA 5e-6; 1e-6, full 3e-7; 1e-7. Prodigy / D-Adaptation
    expect about 1.0: 0.1; 0.01. Sources: field report 000, sd-scripts docs, lion-pytorch, prodigyopt.
    SGD, AdaFactor (relative step) and unknown optimizer classes are not checked (listed as not checked).
    """
    limits, kind, family, peak = _range(ctx)
    if peak >= limits.warn_below:
        return
    severity = Severity.ERROR if peak <= limits.error_at_or_below and family != "any" else Severity.WARNING
    low, high = limits.typical
    evidence = {
        "peak_lr": peak,
        "typical_low": low,
        "typical_high": high,
        "factor_below_typical": round(low / peak, 2) if peak > 0 else float("inf"),
    }
    below = f"{fmt(low / peak)}x below the usual" if peak else "0, below the usual"
    yield Hit(
        f"peak LR {fmt(peak)} is too low for {_what(kind, family, ctx)}: {below} {fmt(low)}..{fmt(high)} "
        f"(source: {limits.source}).",
        evidence,
        severity=severity,
    )


@rule(
    "lr-too-high",
    severity=Severity.WARNING,
    summary="The peak LR is above the range usual for this kind of training and optimizer.",
    fix="Lower the learning rate into the usual range (full fine-tune ~1e-5, LoRA ~1e-4 with AdamW, 1.0 for "
    "Prodigy/D-Adaptation).",
    thresholds={
        f"{k[0]}/{k[1]}": {"warn_above": v.warn_above, "error_above": v.error_above} for k, v in LR_RANGES.items()
    },
)
def lr_too_high(ctx: RuleView) -> Iterator[Hit]:
    """Flags a peak LR above the usual range; error far above it.

    Too high an LR overwrites what the base model knows (burnt, oversaturated or noisy images) and
    can make the loss diverge to nan. Ranges (typical; warning above; error above), AdamW-like: LoRA
    1e-4..5e-4; 1e-3; 5e-3. Full fine-tune 1e-5..2e-5; 5e-5; 2e-4. Lion: LoRA 3e-4; 1e-3, full 2e-5;
    1e-4. Prodigy / D-Adaptation (about 1.0): 3; 10. Sources as for lr-too-low.
    """
    limits, kind, family, peak = _range(ctx)
    if peak <= limits.warn_above:
        return
    severity = Severity.ERROR if peak > limits.error_above and family != "any" else Severity.WARNING
    low, high = limits.typical
    evidence = {
        "peak_lr": peak,
        "typical_low": low,
        "typical_high": high,
        "factor_above_typical": round(peak / high, 2),
    }
    yield Hit(
        f"peak LR {fmt(peak)} is too high for {_what(kind, family, ctx)}: {fmt(peak / high)}x above the "
        f"usual {fmt(low)}..{fmt(high)} (source: {limits.source}).",
        evidence,
        severity=severity,
    )

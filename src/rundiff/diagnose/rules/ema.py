"""Rules on the EMA copy of the weights that samples and the saved model may come from."""

from __future__ import annotations

from collections.abc import Iterator

from rundiff.diagnose.ema import ema_new_fraction, steps_to_fraction
from rundiff.diagnose.findings import Severity
from rundiff.diagnose.rules.base import Hit, NotChecked, RuleView, pct, rule

EMA_MIN_NEW_FRACTION = 0.5


def _first_sample_step(ctx: RuleView) -> tuple[int | None, str]:
    spe = ctx.plan.steps_per_epoch
    every_steps = ctx.value("sample_every_n_steps")
    every_epochs = ctx.value("sample_every_n_epochs")
    if every_epochs and spe:  # sd-scripts: sample_every_n_epochs overrides the steps
        return int(every_epochs) * spe, "first sample point"
    if every_steps:
        return int(every_steps), "first sample point"
    if spe:
        return spe, "end of epoch 1"
    return None, ""


@rule(
    "ema-too-slow",
    severity=Severity.ERROR,
    summary="EMA weights are used, but less than half of the EMA comes from weights trained in this run.",
    fix="Lower ema_decay so that 1/(1 - decay) is well below the number of steps (0.999 for ~1k-10k steps), "
    "or use the raw weights for samples and the saved model.",
    thresholds={"min_new_weight_fraction": EMA_MIN_NEW_FRACTION},
)
def ema_too_slow(ctx: RuleView) -> Iterator[Hit]:
    """Flags an EMA whose share of trained weights, ``1 - decay**steps``, stays below 50 %.

    An EMA with constant decay d starts as a copy of the pretrained weights and after n updates
    holds d**n of them; only 1 - d**n comes from the run. Used for samples or for the saved model,
    it shows mostly the base model (field report 000: decay 0.9999 holds 1 - 0.9999**128 = 1.3 %
    new weights after the first epoch of 128 steps). Error when under 50 % at the end of training;
    warning when the end is fine but the first sample point (sample_every_n_steps/epochs, set
    explicitly) is under 50 %, so the samples that guide the user mislead. Not checked when
    use_ema_weights_for_inference is false.
    """
    decay = ctx.value("ema_decay")
    use_ema = ctx.value("use_ema")
    if use_ema is False or ctx.value("use_ema_weights_for_inference") is False:
        return
    if decay is None:
        raise NotChecked("ema_decay unknown: give the EMA settings (or use_ema: false)")
    if isinstance(decay, bool) or not isinstance(decay, int | float) or not 0 < float(decay) < 1:
        return
    decay = float(decay)
    total = None if ctx.plan.total_is_default else ctx.plan.total_steps
    first_step, first_label = _first_sample_step(ctx)
    evidence: dict[str, float] = {"ema_decay": decay}
    half = steps_to_fraction(decay, EMA_MIN_NEW_FRACTION)
    if half is not None:
        evidence["steps_to_half_new_weights"] = half
    parts = []
    if first_step is not None:
        first = ema_new_fraction(decay, first_step)
        evidence["check_step"] = first_step
        evidence["new_weight_fraction"] = round(first, 4)
        parts.append(f"{pct(first)} new weights after {first_step} steps ({first_label})")
    if total is not None:
        end = ema_new_fraction(decay, total)
        evidence["total_steps"] = total
        evidence["new_weight_fraction_at_end"] = round(end, 4)
        parts.append(f"{pct(end)} at the end of training ({total} steps)")
    if not parts:
        raise NotChecked(
            "total steps and steps per epoch unknown: give the image count and batch size, "
            "max_train_steps, or keep the training log"
        )
    minimum = ctx.t["min_new_weight_fraction"]
    end_bad = total is not None and evidence["new_weight_fraction_at_end"] < minimum
    explicit_samples = bool(ctx.value("sample_every_n_steps") or ctx.value("sample_every_n_epochs"))
    first_bad = first_step is not None and evidence["new_weight_fraction"] < minimum
    if end_bad or (total is None and first_bad):
        severity = Severity.ERROR if end_bad else Severity.WARNING
    elif first_bad and explicit_samples:
        severity = Severity.WARNING
    else:
        return
    text = f"EMA decay {decay:g} holds only " + " and ".join(parts)
    if half is not None:
        text += f"; half the EMA is new weights only after {half} steps"
    yield Hit(text + " (1 - decay^steps).", evidence, severity=severity)

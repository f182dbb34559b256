"""Rules on what the saved weights show (``diagnose --weights``): a LoRA that never trained, norms that stall."""

from __future__ import annotations

from collections.abc import Iterator

from rundiff.diagnose.findings import Severity
from rundiff.diagnose.rules.base import Hit, NotChecked, RuleView, pct, rule

NORM_MIN_GROWTH = 0.01
NORM_MIN_STALLED_SAVES = 2


def _saved(ctx: RuleView):
    if ctx.weights is None:
        raise NotChecked("weights not read: run with --weights")
    if not ctx.weights:
        raise NotChecked("no readable LoRA .safetensors in the run")
    return ctx.weights


def _label(saved) -> str:
    if saved.epoch is not None:
        return f"epoch {saved.epoch}"
    if saved.step is not None:
        return f"step {saved.step}"
    return saved.path


@rule(
    "lora-never-trained",
    severity=Severity.ERROR,
    summary="Every module of the saved LoRA has an all-zero up (or down) weight: it changes nothing.",
    fix="Check that the LR is above 0, that the optimizer got the LoRA parameters and stepped (no skipped "
    "steps from fp16 overflow), and that the file saved is the trained network, not a fresh one.",
)
def lora_never_trained(ctx: RuleView) -> Iterator[Hit]:
    """Flags a saved LoRA whose every module has an all-zero factor (``--weights``).

    kohya-style LoRAs start with the up weight at exactly 0; one optimizer step with an LR above 0
    makes it nonzero. A file whose up weights are all still zero never trained: it reproduces the
    base model whatever the logs say. Read tensor by tensor (rundiff.infer.weights). Threshold: every
    module of the last saved file (or of every file of the series) is all-zero in one factor.
    """
    saved = _saved(ctx)
    last = saved[-1]
    if not last.never_trained:
        return
    never = [s for s in saved if s.never_trained]
    for s in (never[0], last):
        ctx.cite(s.path)
    evidence = {"modules": last.modules, "files_never_trained": len(never), "files_read": len(saved)}
    span = f"all {len(saved)} saved files" if len(never) == len(saved) else f"{len(never)} of {len(saved)} saved files"
    yield Hit(
        f"every one of the {last.modules} modules of {last.path} has an all-zero factor ({span} never "
        "trained): the LoRA changes nothing.",
        evidence,
    )


@rule(
    "weight-norm-stalled",
    severity=Severity.WARNING,
    summary="The LoRA's weight norm stops growing over the later saves while training goes on.",
    fix="Check the LR over those epochs (a schedule that reaches 0 early, a per-epoch scheduler, a warmup "
    "that never ends), and whether later epochs add anything; stop earlier or raise the LR.",
    thresholds={"min_relative_growth": NORM_MIN_GROWTH, "min_stalled_saves": NORM_MIN_STALLED_SAVES},
)
def weight_norm_stalled(ctx: RuleView) -> Iterator[Hit]:
    """Flags an epoch series whose total update norm grows less than 1 % per save over its last saves.

    A LoRA's update norm grows while it learns (roughly like the square root of the steps at a
    constant LR); a norm that stops changing from one epoch to the next means the later epochs
    changed nothing: the LR is (near) 0 or the parameters stopped receiving updates. A schedule that
    decays to 0 at the very end slows the last save's growth legitimately, so the rule needs at least
    2 consecutive stalled intervals and skips intervals the simulated LR puts below 10 % of its peak.
    Thresholds: growth under 1 % per save, for at least 2 consecutive saves.
    """
    saved = [s for s in _saved(ctx) if s.total_norm is not None]
    if len(saved) < ctx.t["min_stalled_saves"] + 1:
        raise NotChecked(
            f"fewer than {ctx.t['min_stalled_saves'] + 1} saved files with a readable norm (keep the epoch checkpoints)"
        )
    schedule, spe = ctx.schedule, ctx.plan.steps_per_epoch
    stalled = 0
    for previous, current in zip(saved, saved[1:], strict=False):
        growth = (current.total_norm - previous.total_norm) / previous.total_norm if previous.total_norm else 0.0
        low_lr = False
        if schedule is not None and schedule.base_lr and current.epoch is not None and spe:
            low_lr = schedule.lr(max(0, current.epoch * spe - 1)) < 0.1 * schedule.peak_lr()
        stalled = stalled + 1 if growth < ctx.t["min_relative_growth"] and not low_lr else 0
    if stalled < ctx.t["min_stalled_saves"]:
        return
    first = saved[-stalled - 1]
    for s in (first, saved[-1]):
        ctx.cite(s.path)
    change = (saved[-1].total_norm - first.total_norm) / first.total_norm if first.total_norm else 0.0
    yield Hit(
        f"the LoRA's total update norm changes by {pct(change)} from {_label(first)} to {_label(saved[-1])} "
        f"({stalled} saves in a row under {pct(ctx.t['min_relative_growth'])} each): the later epochs "
        "changed nothing.",
        {
            "stalled_saves": stalled,
            "norm_first": round(first.total_norm, 6),
            "norm_last": round(saved[-1].total_norm, 6),
            "relative_change": round(change, 4),
        },
    )

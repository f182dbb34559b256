"""What a run's logs reveal about its settings, as facts with provenance ``inferred`` and file:line.

Steps per epoch, total steps and epochs come from the trainer's console block or progress bar;
the LR schedule's shape, warmup length and base LR from the logged LR curve (only when one shape
fits every point within the logs' rounding, and no other comes close); parameter groups from the
LR series' names; the effective LR of adaptive optimizers from their d*lr series; whether the
run finished from its last lines.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from rundiff.ingest.logs.model import Point, RunLogs
from rundiff.model import Fact, Provenance, SourceFile, SourceKind

#: Console/bar facts -> canonical parameter names.
_FACT_NAMES = {
    "num_train_images": "num_train_images",
    "num_batches_per_epoch": "num_batches_per_epoch",
    "train_batch_size": "train_batch_size",
    "gradient_accumulation_steps": "gradient_accumulation_steps",
    "max_train_epochs": "max_train_epochs",
    "num_epochs": "num_epochs",
    "total_steps": "total_steps",
}
#: A shape fits when every logged LR is within this fraction of the peak (logs print 3-6 digits).
FIT_TOLERANCE = 0.01
#: ... and the next best shape misses by at least this much somewhere.
FIT_MARGIN = 0.03
#: A fitted warmup longer than this is no warmup of a real run (and would not fit an int cheaply).
MAX_FIT_STEPS = 10**9
MIN_FIT_POINTS = 5
#: Without a progress bar, series that stop below this share of the total steps mean the run stopped
#: (trainers log every N steps, so the last point may be short of the total by one interval).
UNFINISHED_FRACTION = 0.9
#: LR series whose base LR is a known parameter.
_GROUP_PARAMS = {"lr": "learning_rate", "lr/unet": "unet_lr", "lr/textencoder": "text_encoder_lr"}


def split_where(where: str) -> tuple[str, int | None]:
    """``path:line`` -> (path, line); ``path [tag]`` stays a path with no line."""
    head, sep, tail = where.rpartition(":")
    if sep and tail.isascii() and tail.isdigit() and head:
        return head, int(tail)
    return where, None


@dataclass(frozen=True)
class ScheduleFit:
    scheduler: str
    warmup_steps: int
    base_lr: float
    total_steps: int | None
    error: float
    points: int


def _multiplier(scheduler: str, k: float, warmup: float, total: float) -> float:
    from rundiff.diagnose.schedule import lr_multiplier

    return lr_multiplier(scheduler, k, warmup=warmup, total=total)


def _error(points: list[Point], scheduler: str, warmup: int, total: int, base: float) -> float:
    worst = 0.0
    for p in points:
        assert p.step is not None
        steps = (p.step,) if p.exact_step else (p.step, p.step - 1, p.step + 1)
        miss = min(abs(base * _multiplier(scheduler, max(0, s), warmup, total) - p.value) for s in steps)
        worst = max(worst, miss / base)
        if worst > FIT_MARGIN * 4:
            break
    return worst


def fit_schedule(points: list[Point], total: int | None) -> ScheduleFit | None:
    """The one schedule shape (constant, constant_with_warmup, linear, cosine) the logged LRs follow."""
    pts = sorted((p for p in points if p.finite and p.step is not None), key=lambda p: p.step or 0)
    if len(pts) < MIN_FIT_POINTS:
        return None
    base = max(p.value for p in pts)
    if base <= 0:
        return None
    peak_at = next(p.step for p in pts if p.value >= base * (1 - 1e-3))
    ramp = [p for p in pts if p.step is not None and p.step < peak_at and p.value > 0]
    # a linear warmup reaches base at step * base / value; a tiny value makes that inf, a step 0 nothing
    estimates = [r for p in ramp if p.step and math.isfinite(r := p.step * base / p.value)]
    if ramp:
        if not estimates or statistics.median(estimates) > MAX_FIT_STEPS:
            return None  # no usable point on the ramp, or a warmup longer than any run
        warmup = round(statistics.median(estimates))
    elif pts[0].step is not None and pts[0].step <= 1:
        warmup = 0
    else:
        return None  # the first point is already at the peak, but late: the warmup is not visible
    last = pts[-1]
    totals = [total] if total else []
    if last.value < 0.05 * base and last.step:
        totals += [last.step, last.step + 1]
    candidates: list[tuple[float, str, int]] = []
    flat = "constant_with_warmup" if warmup else "constant"
    candidates.append((_error(pts, flat, warmup, total or last.step or 1, base), flat, total or 0))
    for candidate_total in dict.fromkeys(totals):
        if candidate_total and candidate_total > warmup:
            for scheduler in ("linear", "cosine"):
                candidates.append((_error(pts, scheduler, warmup, candidate_total, base), scheduler, candidate_total))
    candidates.sort()
    best_error, scheduler, fitted_total = candidates[0]
    rivals = [c for c in candidates[1:] if c[1] != scheduler]
    if best_error > FIT_TOLERANCE or (rivals and rivals[0][0] < FIT_MARGIN):
        return None
    return ScheduleFit(scheduler, warmup, float(f"{base:.6g}"), fitted_total or None, best_error, len(pts))


def _finish_facts(logs: RunLogs) -> list[tuple[str, object, str, str]]:
    out: list[tuple[str, object, str, str]] = []
    total = logs.facts.get("total_steps") or logs.facts.get("bar_total_steps")
    if logs.finish is not None:
        finished, where = logs.finish
        note = (
            "the log's last lines say the run ended normally"
            if finished
            else "the log shows the run failed (traceback or error exit)"
        )
        out.append(("run_finished", finished, where, note))
    elif "bar_last_step" in logs.facts and "bar_total_steps" in logs.facts:
        (last, where), bar_total = logs.facts["bar_last_step"], logs.facts["bar_total_steps"][0]
        out.append(("run_finished", last >= bar_total, where, f"the progress bar ends at {last} of {bar_total} steps"))
    elif total is not None and logs.last_step is not None and logs.last_step < UNFINISHED_FRACTION * total[0]:
        out.append(
            (
                "run_finished",
                False,
                total[1],
                f"the logged series stop at step {logs.last_step} of "
                f"{total[0]} (below {UNFINISHED_FRACTION:.0%}: more than a logging interval short)",
            )
        )
    if logs.last_step is not None:
        out.append(
            (
                "last_logged_step",
                logs.last_step,
                total[1] if total else (logs.files[0] if logs.files else ""),
                "the highest global step a progress bar or logged series shows",
            )
        )
    return out


def _schedule_facts(logs: RunLogs) -> list[tuple[str, object, str, str]]:
    out: list[tuple[str, object, str, str]] = []
    groups = logs.lr_groups()
    named = [g.split("/", 1)[1] for g in groups if "/" in g]
    if named:
        out.append(
            (
                "lr_groups",
                sorted(set(named)),
                logs.get(groups[0])[0].source if logs.get(groups[0]) else "",
                "parameter groups named by the logged LR series",
            )
        )
    total_fact = logs.facts.get("total_steps") or logs.facts.get("bar_total_steps")
    total = int(total_fact[0]) if total_fact else None
    fits: dict[str, ScheduleFit] = {}
    for group in groups:
        fit = fit_schedule(logs.get(group), total)
        if fit is not None:
            fits[group] = fit
    if fits:
        main = next((g for g in ("lr/unet", "lr", "lr/transformer", "lr/unet_lora") if g in fits), next(iter(fits)))
        fit = fits[main]
        where = logs.get(main)[0].source
        note = f"{fit.scheduler} fits all {fit.points} logged {main} points within {100 * fit.error:.2g} % of the peak"
        out.append(("lr_scheduler", fit.scheduler, where, note))
        if fit.warmup_steps or fit.scheduler == "constant":
            out.append(("lr_warmup_steps", fit.warmup_steps, where, f"warmup ramp of the logged {main}: " + note))
        if fit.total_steps and total is None:
            out.append(("total_steps", fit.total_steps, where, f"the logged {main} reaches 0 here: " + note))
        for group, group_fit in fits.items():
            param = _GROUP_PARAMS.get(group)
            if param:
                out.append(
                    (
                        param,
                        group_fit.base_lr,
                        logs.get(group)[0].source,
                        f"peak of the logged {group} ({group_fit.scheduler} schedule)",
                    )
                )
    zero = [g for g in groups if logs.get(g) and all(p.value == 0.0 for p in logs.get(g) if p.finite)]
    for group in zero:
        param = _GROUP_PARAMS.get(group)
        if param and len(logs.get(group)) >= 2:
            out.append((param, 0.0, logs.get(group)[0].source, f"every logged {group} value is 0"))
    effective = [p for name in logs.names("lr/d*lr") for p in logs.get(name) if p.finite]
    if effective:
        peak = max(effective, key=lambda p: p.value)
        out.append(
            (
                "effective_lr",
                float(f"{peak.value:.6g}"),
                peak.source,
                "peak d x lr an adaptive optimizer logged (Prodigy, D-Adaptation)",
            )
        )
    return out


def log_sources(logs: RunLogs, run_path: str, kinds: dict[str, str] | None = None) -> list[SourceFile]:
    """One SourceFile per log file read, holding the facts that file reveals (all in one chain)."""
    rows: list[tuple[str, object, str, str]] = []
    for key, name in _FACT_NAMES.items():
        if key in logs.facts:
            value, where = logs.facts[key]
            rows.append((name, value, where, "printed by the trainer"))
    if "total_steps" not in logs.facts and "bar_total_steps" in logs.facts:
        value, where = logs.facts["bar_total_steps"]
        rows.append(("total_steps", value, where, "the training progress bar's total"))
    rows += _schedule_facts(logs)
    rows += _finish_facts(logs)
    seen: set[str] = set()
    facts = []
    for name, value, where, note in rows:
        if name in seen or isinstance(value, float) and not math.isfinite(value):
            continue
        seen.add(name)
        path, line = split_where(where)
        facts.append(Fact(name, value, SourceKind.LOG, path, line, Provenance.INFERRED, note))
    if (
        logs.trainer is not None
        and logs.trainer[0] == "sd-scripts"
        and logs.get("loss/current")
        and logs.get("loss/average")
    ):
        path, line = split_where(logs.trainer[1].split(": ", 1)[0])
        facts.append(
            Fact(
                "training_type",
                "lora",
                SourceKind.LOG,
                path,
                line,
                Provenance.INFERRED,
                "sd-scripts logs loss/current and loss/average only from train_network (LoRA)",
            )
        )
    chain = f"{run_path}#logs"
    readable = [f for f in logs.files if f not in set(logs.unreadable)]
    sources = {
        path: SourceFile(path=path, format=f"{(kinds or {}).get(path, 'training')}-log", chain=chain)
        for path in readable
    }
    for fact in facts:
        target = sources.get(fact.path) or (next(iter(sources.values())) if sources else None)
        if target is None:
            target = sources.setdefault(fact.path, SourceFile(path=fact.path, format="training-log", chain=chain))
        target.facts.append(fact)
    # logs.trainer is evidence, not a licence for defaults: a log does not show what the config left unset.
    return list(sources.values())

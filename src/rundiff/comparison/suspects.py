"""Rank the parameters that separate the bad runs from the good ones.

For each differing parameter: how many bad runs hold a value no good run holds (separating), how
many hold a good run's value (contradicting), how many are unknown. The score is the parameter's
impact weight times the separating share of the bad runs, halved when the good runs disagree among
themselves. Unknown cells count as not separating, so missing evidence never promotes a suspect.

Never suspects: per-run identifiers (registry `replicate`: seed, output names and paths), values
that have no effect in their run (registry `active_when`), rows whose known values agree. A reason
names at most a few runs, so a sweep of hundreds of runs still reads in one line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rundiff.normalise.registry import Registry
from rundiff.normalise.values import values_equal

if TYPE_CHECKING:
    from rundiff.comparison.table import Comparison, Suspect


def _show(value: Any) -> str:
    from rundiff.report.values import format_value

    return format_value(value)


#: Runs named in one suspect's reason; the rest are counted ("and 197 more").
REASON_RUNS = 3
#: Longest value text in a reason.
REASON_VALUE_CHARS = 60


def _clip(text: str) -> str:
    return text if len(text) <= REASON_VALUE_CHARS else text[: REASON_VALUE_CHARS - 1] + "…"


def _some(items: list[str], sep: str = ", ") -> str:
    shown = sep.join(_clip(i) for i in items[:REASON_RUNS])
    return shown + (f"{sep}and {len(items) - REASON_RUNS} more" if len(items) > REASON_RUNS else "")


def rank_suspects(comparison: Comparison, registry: Registry) -> list[Suspect]:
    from rundiff.comparison.table import Suspect

    good = [r for r in comparison.runs if r.outcome == "good"]
    bad = [r for r in comparison.runs if r.outcome == "bad"]
    if not good or not bad:
        return []
    suspects: list[Suspect] = []
    for row in comparison.rows:
        if row.status != "differs" or row.replicate:
            continue
        path_like = (param := registry.get(row.name)) is not None and param.type == "path"
        good_values = [
            row.entries[r.name].cell.value
            for r in good
            if row.entries[r.name].cell.known and row.entries[r.name].inactive is None
        ]
        if not good_values:
            continue
        good_agree = all(values_equal(good_values[0], v, path_like=path_like) for v in good_values[1:])
        separating, contradicting, unknown, inactive = [], [], [], []
        for run in bad:
            cell = row.entries[run.name].cell
            if not cell.known:
                unknown.append(run.name)
            elif row.entries[run.name].inactive is not None:
                inactive.append(run.name)
            elif any(values_equal(cell.value, v, path_like=path_like) for v in good_values):
                contradicting.append(run.name)
            else:
                separating.append(f"{run.name} {_show(cell.value)}")
        if not separating:
            continue
        weight = registry.impacts.get(row.impact, 1)
        share = len(separating) / len(bad)
        score = round(weight * share * (1.0 if good_agree else 0.5), 4)
        good_text = _show(good_values[0]) if good_agree else "/".join(sorted({_show(v) for v in good_values}))
        reason = (
            f"{len(separating)} of {len(bad)} bad runs differ from the good value {_clip(good_text)} "
            f"({_some(separating, '; ')})"
        )
        if contradicting:
            reason += f"; same as good in {_some(contradicting)}"
        if unknown:
            reason += f"; unknown in {_some(unknown)}"
        if inactive:
            reason += f"; without effect in {_some(inactive)}"
        if not good_agree:
            reason += "; the good runs disagree among themselves"
        suspects.append(Suspect(row.name, score, reason, row.category, row.impact))

    def derived(name: str) -> bool:  # a derived row restates its inputs: on a tie, the input goes first
        param = registry.get(name)
        return param is not None and param.derived

    suspects.sort(key=lambda s: (-s.score, derived(s.name), registry.category_rank(s.category), s.name))
    return suspects

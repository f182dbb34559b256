"""Line runs up parameter by parameter against a baseline, and classify every difference.

Per cell (against the baseline run): `same`, `changed`, `added` (the baseline only has the default,
this run sets another value), `removed` (the baseline sets a value, this run has a different
default), `unknown` (this run's or the baseline's value is not known), `inactive` (the value has no
effect here under the run's other settings, see comparison.activity).

Per row, counting only values that are known and take effect:
    differs   two or more known values disagree
    inactive  values disagree only where one of them has no effect
    partial   the known values agree but some runs are unknown
    unknown   fewer than two runs know the value: nothing to compare
    same      every run knows it, and they agree
A value equal to the default is the same value: setting `--bucket_reso_steps 64` where 64 is the
default is not a change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rundiff.comparison.activity import inactive_because
from rundiff.errors import RundiffError
from rundiff.model import SET_PROVENANCES, Cell, Conflict, Run
from rundiff.normalise.registry import Registry, load_registry
from rundiff.normalise.values import values_equal

if TYPE_CHECKING:
    import pandas as pd

UNMAPPED_CATEGORY = "other"
UNMAPPED_IMPACT = "low"


@dataclass(frozen=True)
class Entry:
    """One run's cell in a row, and how it differs from the baseline's."""

    cell: Cell
    change: str  # same | changed | added | removed | unknown | inactive
    #: Why the value has no effect in this run (registry `active_when`), or None when it takes effect.
    inactive: str | None = None


@dataclass
class Row:
    name: str
    category: str
    impact: str
    status: str  # same | differs | partial
    entries: dict[str, Entry]
    rationale: str = ""
    known_parameter: bool = True  # False for keys no registry alias maps
    #: A per-run identifier (seed, output name, ...): differences are by design, never suspects.
    replicate: bool = False


@dataclass
class Suspect:
    name: str
    score: float
    reason: str
    category: str = ""
    impact: str = ""


@dataclass
class Comparison:
    runs: list[Run]
    baseline: str
    rows: list[Row]
    conflicts: list[Conflict]
    suspects: list[Suspect] = field(default_factory=list)
    registry: Registry | None = None
    #: Each run's diagnosis findings (JSON dicts), when the comparison was asked to diagnose.
    diagnosis: list[dict[str, Any]] | None = None
    #: Runs that could not be read, one line each (file and reason); the others were compared.
    left_out: list[str] = field(default_factory=list)

    def run_names(self) -> list[str]:
        return [r.name for r in self.runs]

    def differing(self) -> list[Row]:
        """Rows whose known, effective values disagree (per-run identifiers included)."""
        return [r for r in self.rows if r.status == "differs"]

    def frame(self) -> pd.DataFrame:
        """Rows parameters, columns runs: the values (plus category, impact and status)."""
        import pandas as pd

        names = self.run_names()
        records = []
        for row in self.rows:
            record: dict[str, Any] = {
                "parameter": row.name,
                "category": row.category,
                "impact": row.impact,
                "status": row.status,
            }
            for run in names:
                record[run] = row.entries[run].cell.value
            records.append(record)
        frame = pd.DataFrame.from_records(records, columns=["parameter", "category", "impact", "status", *names])
        return frame.set_index("parameter")


def cell_change(base: Cell, other: Cell, *, path_like: bool = False) -> str:
    """How one run's cell differs from the baseline's (activity is applied by the caller).

    Equal values are the same whatever their provenance: a default equal to what the baseline
    wrote down is no removal. Set vs default with different values is `removed` / `added`.
    """
    if not other.known or not base.known:
        return "unknown"
    if values_equal(base.value, other.value, path_like=path_like):
        return "same"
    base_set = base.provenance in SET_PROVENANCES
    other_set = other.provenance in SET_PROVENANCES
    if base_set and not other_set:
        return "removed"
    if not base_set and other_set:
        return "added"
    return "changed"


def row_status(entries: list[Entry], *, path_like: bool = False) -> str:
    """One of same | differs | inactive | partial | unknown (see the module docstring)."""
    known = [e for e in entries if e.cell.known]
    effective = [e for e in known if e.inactive is None]

    def disagree(group: list[Entry]) -> bool:
        return any(not values_equal(group[0].cell.value, e.cell.value, path_like=path_like) for e in group[1:])

    if len(effective) >= 2 and disagree(effective):
        return "differs"
    if len(effective) < len(known) and (effective or disagree(known)):
        return "inactive"  # takes effect in some runs only, or differs only where it has no effect
    if len(entries) == 1:
        return "same" if known else "unknown"
    if len(known) < 2:
        return "unknown"
    return "same" if len(known) == len(entries) else "partial"


def compare_runs(
    runs: list[Run],
    baseline: str | None = None,
    registry: Registry | None = None,
    good: list[str] | None = None,
    bad: list[str] | None = None,
) -> Comparison:
    from rundiff.comparison.suspects import rank_suspects

    registry = registry or load_registry()
    if not runs:
        raise RundiffError("no runs to compare")
    _unique_names(runs)
    names = [r.name for r in runs]
    base_name = baseline or names[0]
    if base_name not in names:
        raise RundiffError(f"--baseline {base_name!r} is not one of the runs ({', '.join(names)})")
    for run in runs:
        if run.name in (good or []):
            run.outcome = "good"
        if run.name in (bad or []):
            run.outcome = "bad"
    for label in (good or []) + (bad or []):
        if label not in names:
            raise RundiffError(f"--good/--bad {label!r} is not one of the runs ({', '.join(names)})")
    base_run = runs[names.index(base_name)]
    all_names: list[str] = []
    seen: set[str] = set()
    for run in runs:
        for name in run.cells:
            if name not in seen:
                seen.add(name)
                all_names.append(name)
    rows = []
    for name in all_names:
        param = registry.get(name)
        path_like = param is not None and param.type == "path"
        base_cell = base_run.get(name)
        base_inactive = inactive_because(param, base_run)
        entries = {}
        for run in runs:
            cell = run.get(name)
            inactive = inactive_because(param, run) if cell.known else None
            if run is base_run:
                change = "same" if cell.known else "unknown"
            else:
                change = cell_change(base_cell, cell, path_like=path_like)
                if change != "unknown" and (inactive or base_inactive):
                    # no effect on one side: not a difference to count; on both: the same (no effect)
                    change = "same" if inactive and base_inactive else "inactive"
            entries[run.name] = Entry(cell, change, inactive)
        status = row_status(list(entries.values()), path_like=path_like)
        rows.append(
            Row(
                name=name,
                category=param.category if param else UNMAPPED_CATEGORY,
                impact=param.impact if param else UNMAPPED_IMPACT,
                status=status,
                entries=entries,
                rationale=param.rationale if param else "",
                known_parameter=param is not None,
                replicate=param.replicate if param is not None else False,
            )
        )
    impact_order = {k: -v for k, v in registry.impacts.items()}
    rows.sort(key=lambda r: (registry.category_rank(r.category), impact_order.get(r.impact, 0), r.name))
    conflicts = [c for run in runs for c in run.conflicts]
    comparison = Comparison(runs, base_name, rows, conflicts, registry=registry)
    comparison.suspects = rank_suspects(comparison, registry)
    return comparison


def _unique_names(runs: list[Run]) -> None:
    """Two runs named alike (runA/out, runB/out) get their parent folder's name in front."""
    counts: dict[str, int] = {}
    for run in runs:
        counts[run.name] = counts.get(run.name, 0) + 1
    for run in runs:
        if counts[run.name] > 1:
            parent = Path(run.path).resolve().parent.name
            run.name = f"{parent}/{run.name}"
    seen: dict[str, int] = {}
    for run in runs:
        if run.name in seen:
            seen[run.name] += 1
            run.name = f"{run.name}#{seen[run.name]}"
        else:
            seen[run.name] = 1

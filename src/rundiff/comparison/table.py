"""Line runs up parameter by parameter against a baseline, and classify every difference.

Per cell (against the baseline run): `same`, `changed`, `added` (not set in the baseline, set
here), `removed` (set in the baseline, only a default or nothing here), `unknown`.
Per row: `same`, `differs`, or `partial` (some runs unknown, the known values equal).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
    change: str  # same | changed | added | removed | unknown


@dataclass
class Row:
    name: str
    category: str
    impact: str
    status: str  # same | differs | partial
    entries: dict[str, Entry]
    rationale: str = ""
    known_parameter: bool = True  # False for keys no registry alias maps


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

    def run_names(self) -> list[str]:
        return [r.name for r in self.runs]

    def differing(self) -> list[Row]:
        return [r for r in self.rows if r.status != "same"]

    def frame(self) -> pd.DataFrame:
        """Rows parameters, columns runs: the values (plus category, impact and status)."""
        import pandas as pd

        names = self.run_names()
        records = []
        for row in self.rows:
            record: dict[str, Any] = {"parameter": row.name, "category": row.category, "impact": row.impact,
                                      "status": row.status}
            for run in names:
                record[run] = row.entries[run].cell.value
            records.append(record)
        frame = pd.DataFrame.from_records(records, columns=["parameter", "category", "impact", "status", *names])
        return frame.set_index("parameter")


def cell_change(base: Cell, other: Cell, *, path_like: bool = False) -> str:
    """How one run's cell differs from the baseline's.

    Set vs default counts as added/removed even when the values are equal: a knob someone wrote
    down and then dropped (multires_noise_discount 0.3 with its iterations gone) is a change to see.
    """
    if not other.known:
        return "unknown"
    base_set = base.provenance in SET_PROVENANCES
    other_set = other.provenance in SET_PROVENANCES
    if base_set and not other_set:
        return "removed"
    if not base_set and other_set:
        return "added"
    if not base.known:
        return "unknown"
    return "same" if values_equal(base.value, other.value, path_like=path_like) else "changed"


def row_status(cells: list[Cell], changes: list[str], *, path_like: bool = False) -> str:
    known = [c for c in cells if c.known]
    equal = all(values_equal(known[0].value, c.value, path_like=path_like) for c in known[1:]) if known else True
    if not equal or any(ch in ("changed", "added", "removed") for ch in changes):
        return "differs"
    return "same" if len(known) == len(cells) else "partial"


def compare_runs(runs: list[Run], baseline: str | None = None, registry: Registry | None = None,
                 good: list[str] | None = None, bad: list[str] | None = None) -> Comparison:
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
        entries = {}
        for run in runs:
            cell = run.get(name)
            change = "same" if run is base_run else cell_change(base_cell, cell, path_like=path_like)
            if run is base_run and not cell.known:
                change = "unknown"
            entries[run.name] = Entry(cell, change)
        status = row_status([e.cell for e in entries.values()], [e.change for e in entries.values()],
                            path_like=path_like)
        rows.append(Row(
            name=name,
            category=param.category if param else UNMAPPED_CATEGORY,
            impact=param.impact if param else UNMAPPED_IMPACT,
            status=status,
            entries=entries,
            rationale=param.rationale if param else "",
            known_parameter=param is not None,
        ))
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

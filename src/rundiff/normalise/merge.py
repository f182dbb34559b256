"""Turn a run's facts into one cell per parameter, with provenance and conflicts.

One rule set for every run:
- Facts are mapped to canonical names through the registry and coerced to the parameter's type.
- Inside one launch chain the trainer's own precedence decides (dataset TOML > command line >
  --config_file), as sd-scripts does; that is resolution, not disagreement.
- Different chains are independent evidence (two scripts, a GUI JSON, the metadata of the weights,
  the weights themselves). When they disagree the run gets a Conflict naming every value, and the
  cell shows the strongest evidence: weights > metadata > explicit > inferred.
- Parameters nobody set get the trainer's default, only when the trainer is known.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rundiff.model import Cell, Conflict, Fact, Provenance, Run, SourceKind, settings_files
from rundiff.normalise.registry import Alias, Parameter, Registry, load_registry
from rundiff.normalise.values import ValueProblem, coerce, is_none, kv_pairs, show, to_bool, values_equal

#: Trainers whose defaults are sd-scripts' (the kohya_ss GUI launches sd-scripts).
SD_SCRIPTS_TRAINERS = frozenset({"sd-scripts", "kohya_ss"})
#: When sources disagree, the strongest evidence of what produced the run is shown.
_STRENGTH = {
    Provenance.WEIGHTS: 5,
    Provenance.METADATA: 4,
    Provenance.EXPLICIT: 3,
    Provenance.DERIVED: 2,
    Provenance.INFERRED: 1,
}
#: When they agree, the user's own setting is shown first and the others confirm it.
_AGREEING_ORDER = {
    Provenance.EXPLICIT: 0,
    Provenance.METADATA: 1,
    Provenance.WEIGHTS: 2,
    Provenance.DERIVED: 3,
    Provenance.INFERRED: 4,
}


class Unusable(str):
    """A value that could not be used, standing in for it: the text says why (the cell becomes unknown)."""


@dataclass(frozen=True)
class Observation:
    """A fact after mapping and coercion."""

    name: str
    value: Any
    provenance: Provenance
    source: str
    chain: str
    precedence: int
    note: str | None = None


def map_fact(fact: Fact, registry: Registry, warnings: list[str]) -> list[tuple[str, Any, str | None]]:
    """(canonical or raw name, normalised value, note) for one fact; kv lists expand into several."""
    if fact.kind is SourceKind.LAUNCHER:
        return [(f"accelerate.{fact.key}", fact.value, None)]
    if fact.kind is SourceKind.METADATA and fact.key in registry.metadata_ignore:
        return []
    kind = fact.kind.value
    if fact.kind in (SourceKind.WEIGHTS, SourceKind.DATASET_FOLDER):
        kind = "cli"
    hit = registry.lookup(kind, fact.key)
    if hit is None:
        if registry.is_credential(fact.key) and fact.value not in (None, ""):
            return [(fact.key, "***", "looks like a credential: its value is not shown")]
        return [(fact.key, _plain(fact.value), fact.note)]
    param, alias = hit
    return _apply(param, alias, fact, registry, warnings)


def _plain(value: Any) -> Any:
    """Unmapped values keep their own type, made JSON-friendly."""
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _apply(
    param: Parameter, alias: Alias, fact: Fact, registry: Registry, warnings: list[str]
) -> list[tuple[str, Any, str | None]]:
    if param.type == "kv_list":
        return _expand(param, fact, registry, warnings)
    raw = fact.value
    note = fact.note
    if alias.sets_value:
        if not _flag_is_on(raw):
            return []
        raw = alias.value
        note = note or f"from the legacy flag --{alias.key}"
    if fact.kind is SourceKind.CONFIG_TOML and param.kind == "flag" and isinstance(raw, str):
        return [_quoted_flag(param, fact, raw, warnings)]
    try:
        value = coerce(param, raw, argv=fact.kind is SourceKind.CLI and isinstance(raw, str))
        if alias.scale is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
            note = note or f"{alias.key} {show(raw)} x {alias.scale}"
            value = coerce(param, value * alias.scale)
    except ValueProblem as err:
        reason = f"the value of {fact.key} was not used: {err}"
        warnings.append(f"{fact.location} [{fact.key}]: {err}; {param.name} is unknown")
        return [(param.name, Unusable(reason), None)]
    if param.secret and value is not None:
        return [(param.name, "***", "a credential: its value is not shown")]
    if value is None and param.none_means is not None:
        value = param.none_means
        note = note or f"None means {param.none_means}"
    return [(param.name, value, note)]


def _quoted_flag(param: Parameter, fact: Fact, raw: str, warnings: list[str]) -> tuple[str, Any, str | None]:
    """A flag written as a string in a --config_file: sd-scripts puts the value into its namespace unconverted
    and tests it with ``if args.flag:``, so any non-empty string, "false" included, turns the flag on."""
    on = bool(raw)
    try:
        meant: bool | None = to_bool(raw)
    except ValueProblem:
        meant = None
    if meant is not on:
        warnings.append(
            f"{fact.location} [{fact.key}]: the string {show(raw)} is {'on' if on else 'off'} for "
            "sd-scripts (it tests a config value's truth); write true or false without quotes"
        )
    return param.name, on, f"the string {show(raw)}: sd-scripts tests its truth"


def _flag_is_on(raw: Any) -> bool:
    """A legacy flag (``--use_8bit_adam``) is on when given bare, or true as the value reader reads it."""
    if isinstance(raw, str) and not raw.strip():
        return True
    try:
        return to_bool(raw)
    except ValueProblem:
        return False


def _expand(param: Parameter, fact: Fact, registry: Registry, warnings: list[str]) -> list[tuple[str, Any, str | None]]:
    """network_args / optimizer_args: one parameter per inner key (unknown keys keep a prefix)."""
    pairs = kv_pairs(fact.value)
    out: list[tuple[str, Any, str | None]] = []
    for key, raw in pairs:
        hit = registry.lookup(param.expand or param.name, key)
        if hit is None:
            out.append((f"{param.name}.{key}", raw, None))
            continue
        inner_param, inner_alias = hit
        inner = Fact(key, raw, fact.kind, fact.path, fact.line, fact.provenance, fact.note)
        out.extend(_apply(inner_param, inner_alias, inner, registry, warnings))
    return out


def observations(run_files: Any, registry: Registry) -> tuple[list[Observation], list[str]]:
    warnings: list[str] = []
    found: list[Observation] = []
    for source in run_files.sources:
        for fact in source.facts:
            for name, value, note in map_fact(fact, registry, warnings):
                found.append(
                    Observation(
                        name,
                        value,
                        fact.provenance,
                        fact.location,
                        source.chain or source.path,
                        source.precedence,
                        note,
                    )
                )
    return found, warnings


def resolve(run_name: str, found: list[Observation], registry: Registry) -> tuple[dict[str, Cell], list[Conflict]]:
    """One cell per parameter: precedence inside a chain, strength and conflicts across chains."""
    by_name: dict[str, list[Observation]] = {}
    for obs in found:
        by_name.setdefault(obs.name, []).append(obs)
    cells: dict[str, Cell] = {}
    conflicts: list[Conflict] = []
    for name, items in by_name.items():
        # A trainer's default (from its profile) only speaks when no file sets the parameter.
        set_here = [o for o in items if o.provenance is not Provenance.DEFAULT]
        if not set_here:
            first = items[0]
            cells[name] = Cell(first.value, first.provenance, None, first.note)
            continue
        items = set_here
        winners: dict[str, Observation] = {}
        for obs in items:  # later facts win ties (a key repeated later in a file overrides)
            current = winners.get(obs.chain)
            if current is None or obs.precedence >= current.precedence:
                winners[obs.chain] = obs
        usable = [o for o in winners.values() if not isinstance(o.value, Unusable)]
        if not usable:  # every source's value was refused: unknown, saying why
            first = min(winners.values(), key=lambda o: o.source)
            cells[name] = Cell(None, Provenance.UNKNOWN, first.source, str(first.value))
            continue
        known = [o for o in usable if o.provenance is not Provenance.UNKNOWN]
        # a value a script could not settle (an undecidable if) yields to any other source that knows it
        ranked = sorted(known or usable, key=lambda o: (-_STRENGTH.get(o.provenance, 0), o.source))
        param = registry.get(name)
        path_like = param is not None and param.type == "path"
        strongest = ranked[0]
        if strongest.provenance is not Provenance.INFERRED:
            # An inference (from a log) confirms what a file says, or fills a gap; it never disputes it.
            ranked = [
                o
                for o in ranked
                if o.provenance is not Provenance.INFERRED
                or values_equal(o.value, strongest.value, path_like=path_like)
            ]
        agreeing = [o for o in ranked if o is strongest or values_equal(o.value, strongest.value, path_like=path_like)]
        disagreeing = [o for o in ranked if o not in agreeing]
        agreeing.sort(key=lambda o: (_AGREEING_ORDER.get(o.provenance, 9), o.source))
        shown = agreeing[0]
        if disagreeing:
            conflicts.append(
                Conflict(
                    run_name,
                    name,
                    tuple((o.value, o.provenance.value, o.source) for o in [strongest, *disagreeing]),
                    strongest.value,
                )
            )
        confirmed = tuple(f"{o.provenance.value}: {o.source}" for o in agreeing[1:])
        cells[name] = Cell(shown.value, shown.provenance, shown.source, shown.note, confirmed)
    return cells, conflicts


def add_defaults(cells: dict[str, Cell], trainer: str | None, registry: Registry) -> None:
    """sd-scripts' defaults (from the registry) for trainers that launch sd-scripts or share its
    arguments, as their profile adjusts them; other trainers' defaults come from their profiles."""
    from rundiff.normalise.profile import load_profiles

    profile = load_profiles().get(trainer or "")
    if profile is None or profile.vocabulary != "sd-scripts":
        return
    label = profile.default_note
    for name, param in registry.parameters.items():
        if name in cells or param.derived or name in profile.no_defaults:
            continue
        if name in profile.defaults:
            value = profile.defaults[name]
            cells[name] = Cell(coerce(param, value) if value is not None else None, Provenance.DEFAULT, None, label)
            continue
        if not param.has_default:
            continue
        value = param.default
        note = label
        if is_none(value) and param.none_means is not None:
            value, note = param.none_means, f"{label} (None means {param.none_means})"
        cells[name] = Cell(value, Provenance.DEFAULT, None, note)


def defaults_unknown(cells: dict[str, Cell], failed: list[str]) -> None:
    """A trainer default is the value only when every file of the run was read: with one that failed
    to parse (it may set the value), each default cell is unknown, the default named in its note."""
    failed = list(dict.fromkeys(Path(f).name for f in failed))
    names = ", ".join(failed[:3]) + (f" and {len(failed) - 3} more" if len(failed) > 3 else "")
    for name, cell in cells.items():
        if cell.provenance is Provenance.DEFAULT:
            default = "None" if cell.value is None else str(cell.value)
            note = f"{names} failed to parse and may set it ({cell.note or 'default'}: {default[:40]})"
            cells[name] = Cell(None, Provenance.UNKNOWN, None, note)


def choose_trainer(run_files: Any) -> str | None:
    order = {
        "kohya-script": 0,
        "markdown-command": 0,
        "notebook-command": 0,
        "kohya-gui-json": 1,
        "trainer-config": 1,
        "wandb-config": 1,
        "kohya-config-toml": 2,
        "dataset-config": 3,
        "safetensors-metadata": 4,
    }
    ranked = sorted((order.get(s.format, 9), s.trainer) for s in run_files.sources if s.trainer)
    return ranked[0][1] if ranked else None


def trainer_evidence(run_files: Any, trainer: str | None) -> list[str]:
    """What named the trainer: each source of that trainer, with the evidence its ingest found."""
    if trainer is None:
        return []
    found: list[str] = []
    for source in run_files.sources:
        if source.trainer != trainer:
            continue
        reasons = source.evidence or [f"read as {source.format}"]
        found.extend(f"{source.path}: {reason}" for reason in reasons)
    return found


def normalise_run(run_files: Any, registry: Registry | None = None) -> Run:
    """Run cells from ingested files: map, resolve, default, derive."""
    from rundiff.normalise.derived import add_derived

    registry = registry or load_registry()
    found, warnings = observations(run_files, registry)
    cells, conflicts = resolve(run_files.name, found, registry)
    trainer = choose_trainer(run_files)
    add_defaults(cells, trainer, registry)
    failed = settings_files(list(getattr(run_files, "failed_files", [])))
    if failed:
        defaults_unknown(cells, failed)
    add_derived(cells, registry)
    run = Run(
        name=run_files.name,
        path=str(run_files.path),
        sources=list(run_files.sources),
        cells=cells,
        conflicts=conflicts,
        warnings=list(run_files.warnings) + warnings,
        trainer=trainer,
        outcome=run_files.outcome,
        log_files=[str(p) for p in run_files.log_files],
        skipped=list(getattr(run_files, "skipped", [])),
        trainer_evidence=trainer_evidence(run_files, trainer),
        logs=getattr(run_files, "logs", None),
        failed_files=list(getattr(run_files, "failed_files", [])),
        checkpoints=list(getattr(run_files, "checkpoints", [])),
    )
    for source in run_files.sources:
        run.warnings.extend(source.warnings)
    return run

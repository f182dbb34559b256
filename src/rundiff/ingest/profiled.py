"""Read a trainer's document (config, dataset file, tracker config, launch arguments) with its profile.

The profile (normalise/profiles/<trainer>.yaml) recognises the document and maps it; this module
turns the result into a SourceFile: facts, the trainer and the evidence that named it, the files
the document points at (a dataset backend file, a concepts file) and the dataset folders it uses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rundiff.errors import RundiffError
from rundiff.model import Fact, Provenance, SourceFile, SourceKind
from rundiff.normalise.profile import (
    _ABSENT as _MISSING,
)
from rundiff.normalise.profile import (
    Located,
    Profile,
    evaluate,
    get_path,
    load_profiles,
    migrate,
    prepare,
    profile_for_script,
    recognise,
)

PRECEDENCE_CONFIG = 20
PRECEDENCE_DATASET = 30
PRECEDENCE_COMMAND = 30


def line_finder(lines: dict[str, int]) -> Any:
    """A locator over `dotted path -> line`: exact path first, then the last segment alone (JSON)."""
    by_last: dict[str, int] = {}
    for key, line in lines.items():
        by_last.setdefault(key.rsplit(".", 1)[-1], line)

    def line_of(path: str) -> int | None:
        if path in lines:
            return lines[path]
        return by_last.get(path.rsplit(".", 1)[-1].lstrip("-")) or by_last.get(f"--{path.rsplit('.', 1)[-1]}")

    return line_of


def field_profiles(exclude: tuple[str, ...] = ("wandb",)) -> list[str]:
    return [name for name, p in load_profiles().items() if name not in exclude]


def read_with_profile(
    path: Path, data: Any, lines: dict[str, int], fmt: str, *, chain: str | None = None, shown: str | None = None
) -> SourceFile | None:
    """The source for one document, or None when no trainer profile recognises it.

    A document nested too deeply or holding too many keys is refused with one line, not a traceback.
    """
    try:
        return _read_with_profile(path, data, lines, fmt, chain=chain, shown=shown)
    except RecursionError:
        raise RundiffError("nested too deeply to read as a trainer config", path) from None
    except ValueError as err:
        raise RundiffError(f"not read as a trainer config: {err}", path) from None


def _read_with_profile(
    path: Path, data: Any, lines: dict[str, int], fmt: str, *, chain: str | None = None, shown: str | None = None
) -> SourceFile | None:
    shown = shown or str(path)
    profile, evidence = recognise(data, shown)
    if profile is None:
        return None
    if profile.name == "wandb":
        return read_wandb_config(path, data, lines, shown=shown, chain=chain)
    if profile.vocabulary == "sd-scripts":
        return None  # sd-scripts' own vocabulary: the TOML / registry readers handle it
    return _source(profile, evidence, path, data, lines, shown, chain=chain)


def _source(
    profile: Profile,
    evidence: list[str],
    path: Path,
    data: Any,
    lines: dict[str, int],
    shown: str,
    *,
    chain: str | None,
    overrides: dict[str, Any] | None = None,
    fmt: str | None = None,
    precedence: int | None = None,
) -> SourceFile:
    facts, warnings, _used = evaluate(profile, data, Located(shown, line_finder(lines)), overrides=overrides)
    _migrated, era = migrate(profile, prepare(profile, data)) if isinstance(data, dict) else (data, None)
    if era:
        evidence = [*evidence, era]
    is_dataset = profile.part_of is not None and profile.datasets is not None and not profile.fields
    source = SourceFile(
        shown,
        fmt or ("dataset-config" if is_dataset else "trainer-config"),
        trainer=profile.trainer,
        evidence=list(evidence),
        facts=facts,
        chain=chain or f"{shown}#{'dataset' if is_dataset else 'config'}",
        precedence=precedence or profile.precedence or (PRECEDENCE_DATASET if is_dataset else PRECEDENCE_CONFIG),
    )
    source.warnings.extend(warnings)
    _add_references(source, profile, data, path)
    _add_datasets(source, facts, path)
    return source


def _add_references(source: SourceFile, profile: Profile, data: Any, path: Path) -> None:
    """Files the document names (SimpleTuner --data_backend_config, OneTrainer concept_file_name);
    an entry `{key, unless}` is skipped when the document already holds `unless` (inlined concepts)."""
    document = prepare(profile, data)
    for entry in profile.references:
        key, unless = (entry, None) if isinstance(entry, str) else (entry["key"], entry.get("unless"))
        if unless is not None and get_path(document, unless) not in (None, [], _MISSING):
            continue
        value = get_path(document, key)
        if isinstance(value, str) and value.strip():
            source.references.append(resolve_reference(path, value.strip()))


def resolve_reference(base_file: Path, value: str) -> Path:
    """A path a config names: relative to the config's folder, else to the trainer's working folder
    (the config's parent folders: `config/multidatabackend.json` from `config/config.json`), else
    the same file name next to the config."""
    ref = Path(value.replace("\\", "/")).expanduser()
    if ref.is_absolute():
        return ref if ref.exists() else base_file.parent / ref.name
    candidates = [
        base_file.parent / ref,
        *(parent / ref for parent in list(base_file.parents)[1:3]),
        base_file.parent / ref.name,
    ]
    return next((c for c in candidates if c.is_file()), candidates[0])


def _add_datasets(source: SourceFile, facts: list[Fact], path: Path) -> None:
    dirs = [f for f in facts if f.key == "train_data_dir" and f.provenance is Provenance.EXPLICIT]
    repeats = next((f.value for f in facts if f.key == "num_repeats"), None)
    for fact in dirs:
        values = fact.value if isinstance(fact.value, list) else [fact.value]
        for value in values:
            if not isinstance(value, str) or not value:
                continue
            folder = Path(value).expanduser()
            folder = folder if folder.is_absolute() else path.parent / folder
            if folder.is_dir():
                source.datasets.append((folder, repeats if isinstance(repeats, int) and len(values) == 1 else None))


# ----------------------------------------------------------------------------- Weights & Biases


def unwrap_wandb(data: dict[str, Any]) -> dict[str, Any]:
    """W&B config.yaml: drop wandb_version and _wandb, take each top key's `value`."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key in ("wandb_version", "_wandb"):
            continue
        out[key] = value["value"] if isinstance(value, dict) and "value" in value else value
    return out


def read_wandb_config(
    path: Path, data: dict[str, Any], lines: dict[str, int], *, shown: str, chain: str | None = None
) -> SourceFile:
    """The settings a trainer sent to W&B, read with that trainer's profile."""
    inner = unwrap_wandb(data)
    inner_lines = {k.replace(".value", "", 1) if k.split(".")[1:2] == ["value"] else k: v for k, v in lines.items()}
    evidence = ["a _wandb entry and {key: {value: ...}} wrapping (Weights & Biases files/config.yaml)"]
    chain = chain or f"{Path(shown).parent}#wandb"
    profile, inner_evidence = recognise(inner, None, only=field_profiles(("wandb",)))
    if profile is not None and profile.vocabulary != "sd-scripts":
        source = _source(
            profile,
            evidence + [f"inside: {e}" for e in inner_evidence],
            path,
            inner,
            inner_lines,
            shown,
            chain=chain,
            fmt="wandb-config",
        )
        return source
    trainer = profile.trainer if profile is not None else None
    facts = [
        Fact(
            key,
            _repr_list(value),
            SourceKind.CONFIG_TOML if profile is not None else SourceKind.TRAINER_CONFIG,
            shown,
            line_finder(inner_lines)(key),
        )
        for key, value in inner.items()
    ]
    return SourceFile(
        shown,
        "wandb-config",
        trainer=trainer,
        evidence=evidence + [f"inside: {e}" for e in inner_evidence],
        facts=facts,
        chain=chain,
        precedence=PRECEDENCE_CONFIG,
    )


def _repr_list(value: Any) -> Any:
    """sd-scripts logs list arguments as their Python repr: "['conv_dim=4', 'conv_alpha=1']"."""
    if isinstance(value, str) and value.startswith("[") and value.endswith("]") and "'" in value:
        return [p.strip().strip("'\"") for p in value[1:-1].split(",") if p.strip()]
    return value


def read_wandb_metadata(path: Path, data: dict[str, Any], lines: dict[str, int]) -> SourceFile | None:
    """wandb-metadata.json: `program` + `args` is the command the user typed (before the trainer
    recomputed anything), parsed with the script's own argument vocabulary."""
    program, args = data.get("program"), data.get("args")
    if not isinstance(program, str) or not isinstance(args, list):
        return None
    from rundiff.ingest.launch import basename, parse_script_args

    script = basename(program)
    shown = str(path)
    chain = f"{path.parent}#wandb"
    launch = parse_script_args(script, [str(a) for a in args], line=lines.get("args"))
    if launch is None:
        return SourceFile(
            shown,
            "wandb-metadata",
            evidence=[f"W&B wandb-metadata.json: program {script}"],
            facts=[Fact("training_script", script, SourceKind.CLI, shown, lines.get("program"))],
            chain=chain,
            precedence=PRECEDENCE_COMMAND,
        )
    source = SourceFile(
        shown,
        "wandb-metadata",
        chain=chain,
        precedence=PRECEDENCE_COMMAND,
        evidence=[f"W&B wandb-metadata.json: program {script} and its command-line args"],
    )
    apply_launch_profile(source, launch, path)
    return source


# ----------------------------------------------------------------------------- launches


def apply_launch_profile(source: SourceFile, launch: Any, path: Path | None = None) -> None:
    """Name the trainer of a launch by its script, and read a non-sd-scripts script's arguments
    with that script's profile (its own names and defaults)."""
    hit = profile_for_script(launch.script)
    where = source.path
    if hit is None:
        if not source.facts:
            for name, arg in launch.last_values().items():
                source.facts.append(Fact(name, arg.value, SourceKind.CLI, where, arg.line, note=arg.note))
        return
    profile, entry = hit
    source.trainer = profile.trainer
    posix = launch.script_path.replace("\\", "/")
    if profile.name == "sd-scripts" and ("scripts/stable/" in posix or "scripts/dev/" in posix):
        source.trainer = "lora-scripts"
        source.evidence.append(f"launches {launch.script_path} (lora-scripts' vendored sd-scripts)")
    else:
        source.evidence.append(f"launches {launch.script} ({profile.title})")
    accelerate = {a.name: a for a in launch.launcher_args}
    if profile.vocabulary == "sd-scripts":
        if not source.facts:
            for name, arg in launch.last_values().items():
                source.facts.append(Fact(name, arg.value, SourceKind.CLI, where, arg.line, note=arg.note))
        _script_facts(source, entry, launch)
        names = {f.key for f in source.facts if f.kind is not SourceKind.LAUNCHER}
        if (
            "mixed_precision" in profile.no_defaults
            and "mixed_precision" not in names
            and "mixed_precision" in accelerate
        ):
            arg = accelerate["mixed_precision"]
            source.facts.append(
                Fact(
                    "mixed_precision",
                    arg.value,
                    SourceKind.CLI,
                    where,
                    arg.line,
                    Provenance.INFERRED,
                    f"accelerate launch --mixed_precision ({profile.title} "
                    "leaves it to accelerate when its own flag is absent)",
                )
            )
        return
    args = {name: arg.value for name, arg in launch.last_values().items()}
    lines = {name: arg.line for name, arg in launch.last_values().items()}
    overrides: dict[str, Any] = dict(entry.get("defaults") or {})
    if "mixed_precision" not in args and "mixed_precision" in accelerate:
        overrides["mixed_precision"] = {
            "value": accelerate["mixed_precision"].value,
            "note": "from accelerate launch --mixed_precision (the script's own is unset)",
        }
    facts, warnings, _used = evaluate(profile, args, Located(where, lambda k: lines.get(k)), overrides=overrides)
    kept = [f for f in source.facts if f.kind is SourceKind.LAUNCHER or f.key == "training_script"]
    source.facts = kept + facts
    source.warnings.extend(warnings)
    _script_facts(source, entry, launch)
    if path is not None:
        _add_datasets(source, facts, path)


def _script_facts(source: SourceFile, entry: dict[str, Any], launch: Any) -> None:
    names = {f.key for f in source.facts if f.kind is not SourceKind.LAUNCHER}
    note = "from the training script name"
    if entry.get("family") and "model_family" not in names:
        source.facts.append(
            Fact(
                "model_family", entry["family"], SourceKind.PROFILE, source.path, launch.line, Provenance.INFERRED, note
            )
        )
    if entry.get("type") and "training_type" not in names:
        source.facts.append(
            Fact(
                "training_type", entry["type"], SourceKind.PROFILE, source.path, launch.line, Provenance.INFERRED, note
            )
        )
    if entry.get("network_module") and "network_module" not in names:
        source.facts.append(
            Fact(
                "network_module",
                entry["network_module"],
                SourceKind.PROFILE,
                source.path,
                launch.line,
                Provenance.INFERRED,
                note,
            )
        )
    if "training_script" not in names:
        source.facts.append(Fact("training_script", launch.script, SourceKind.CLI, source.path, launch.line))


def script_vocabulary(script: str) -> dict[str, frozenset[str]] | None:
    """Argument names, flags and list arguments of a non-sd-scripts training script (for argparse
    prefix matching), or None when the script uses sd-scripts' own arguments."""
    hit = profile_for_script(script)
    if hit is None:
        return None
    profile, entry = hit
    if profile.vocabulary == "sd-scripts":
        own = entry.get("args") or {}  # this script's own arguments (sd-scripts' flux, sd3, ... scripts)
        extra = frozenset(profile.args.get("known") or ()) | frozenset(own.get("known") or ())
        if not extra:
            return None
        from rundiff.ingest.run_folder import _argument_vocabulary

        base = _argument_vocabulary()
        flags = frozenset(profile.args.get("flags") or ()) | frozenset(own.get("flags") or ())
        return {
            "known_args": base["known_args"] | extra | flags,
            "flag_args": base["flag_args"] | flags,
            "list_args": base["list_args"],
        }
    known: set[str] = set(profile.args.get("flags") or ()) | set(profile.args.get("lists") or ())
    for spec in profile.fields:
        for key in spec.get("keys") or ():
            known.add(key)
        for flag in spec.get("flags") or ():
            known.add(flag["key"])
        for cond in _condition_keys(spec.get("when")):
            known.add(cond)
    known |= set(profile.args.get("known") or ())
    return {
        "known_args": frozenset(known),
        "flag_args": frozenset(profile.args.get("flags") or ()),
        "list_args": frozenset(profile.args.get("lists") or ()),
    }


def _condition_keys(cond: Any) -> list[str]:
    if not isinstance(cond, dict):
        return []
    out = [cond["key"]] if "key" in cond else []
    for k in ("all", "any"):
        for c in cond.get(k) or ():
            out.extend(_condition_keys(c))
    if "not" in cond:
        out.extend(_condition_keys(cond["not"]))
    return out

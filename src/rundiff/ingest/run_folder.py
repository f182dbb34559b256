"""Read a run: a folder (every file in it that rundiff understands) or a single file.

Dispatches each file to the ingest module of its format, follows the configs a launch script
references (so they form one launch chain with the trainer's precedence), and finds the dataset
folders the run used. One unreadable file inside a folder is a warning; the rest still counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from rundiff.errors import RundiffError
from rundiff.ingest import dataset_folder, kohya_gui, toml_config, trainer_config
from rundiff.ingest.bounded import load_json, load_yaml
from rundiff.ingest.filesystem import (
    exists,
    expand_user,
    is_directory,
    is_regular_file,
    not_regular_reason,
    resolved,
    walk,
)
from rundiff.ingest.logs.discover import classify_log
from rundiff.ingest.safetensors_file import final_checkpoints, ingest_safetensors
from rundiff.ingest.shell import SCRIPT_SUFFIXES as _SHELL_SUFFIXES
from rundiff.ingest.textfile import read_text
from rundiff.model import Fact, Skipped, SourceFile, SourceKind

SCRIPT_SUFFIXES = _SHELL_SUFFIXES
MARKDOWN_SUFFIXES = frozenset({".md", ".markdown"})
YAML_SUFFIXES = frozenset({".yaml", ".yml"})
ENV_SUFFIXES = frozenset({".env"})
PICKLE_SUFFIXES = frozenset({".ckpt", ".pt", ".pth", ".bin"})
RUN_FILE_NAMES = frozenset({"rundiff.yaml", "rundiff.yml"})
#: JSON files that are never training configs (tokenizers, model configs, caches, indexes).
_JSON_SKIP = {
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.json",
    "special_tokens_map.json",
    "model_index.json",
    "metadata_cache.json",
    "train_state.json",
    "scheduler_config.json",
    "preprocessor_config.json",
    "added_tokens.json",
    "merges.txt",
    # rundiff's own outputs in an ablation sweep
    "variant.json",
    "plan.json",
    "command.json",
    "train_result.json",
    "report.json",
    # W&B logged values, read as a log (ingest/logs); wandb-metadata.json is read as the
    # command line that started the run (ingest/profiled.py)
    "wandb-summary.json",
}
#: Folders of a diffusers model (a base model stored in the run folder, not the run's settings).
_MODEL_COMPONENT_DIRS = {
    "unet",
    "vae",
    "text_encoder",
    "text_encoder_2",
    "tokenizer",
    "tokenizer_2",
    "scheduler",
    "transformer",
    "feature_extractor",
    "safety_checker",
}
MAX_DEPTH = 4
MAX_FILES = 20_000
MAX_JSON_BYTES = 2 * 1024 * 1024
#: A launch -> config -> dataset config chain is 3 deep; past this, references are not followed.
MAX_REFERENCE_DEPTH = 8


@dataclass
class RunFiles:
    """Everything ingest found for one run, before normalisation."""

    path: Path
    name: str
    sources: list[SourceFile] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    log_files: list[Path] = field(default_factory=list)
    log_kinds: list[str] = field(default_factory=list)
    outcome: str | None = None
    skipped: list[Skipped] = field(default_factory=list)
    #: What the logs hold (series of points), read once here; None when the run has no logs.
    logs: Any = None
    #: Files that failed to parse (their warning is in ``warnings``).
    failed_files: list[str] = field(default_factory=list)
    #: Save series (epoch checkpoints ... final file), each in save order.
    checkpoints: list[Any] = field(default_factory=list)


def ingest_run(path: str | Path) -> RunFiles:
    root = Path(path)
    if not is_directory(root) and not is_regular_file(root):
        raise RundiffError(
            "no such file or folder" if not exists(root) else f"not a run: {not_regular_reason(root)}", root
        )
    name = root.name if is_directory(root) else root.stem
    files = RunFiles(root, name)
    if is_regular_file(root):
        try:
            sources = ingest_file(root)
        except NotASource as why:
            files.skipped.append(Skipped(str(root), str(why)))
            sources = []
        kind = classify_log(root) if sources is None else None
        if kind is not None:  # a log on its own is a run too
            files.log_files, files.log_kinds = [root], [kind]
            _read_logs(files)
            return files
        if sources is None:
            raise RundiffError("unknown format: not a launch script, config, Markdown note or .safetensors", root)
        files.sources.extend(sources)
        _follow_references(files, root.parent, strict=True)
        _add_dataset_folders(files, [])
        return files
    _ingest_folder(files)
    return files


def ingest_file(path: Path) -> list[SourceFile] | None:
    """The sources one file contributes; None when rundiff does not read this kind of file."""
    suffix = path.suffix.lower()
    if suffix in SCRIPT_SUFFIXES:
        from rundiff.ingest.script import ingest_script, no_launch_reason

        launches = ingest_script(path, **_argument_vocabulary())
        if not launches:
            raise NotASource(no_launch_reason(path))
        return launches
    if suffix in MARKDOWN_SUFFIXES:
        from rundiff.ingest.markdown import ingest_markdown
        from rundiff.ingest.markdown_configs import ingest_markdown_configs

        sources: list[SourceFile] = list(ingest_markdown(path, **_argument_vocabulary()))
        configs, warnings = ingest_markdown_configs(path)
        found = sources + configs
        if found:
            found[0].warnings.extend(warnings)
        return found
    if suffix == ".ipynb":
        from rundiff.ingest.notebook import ingest_notebook

        sources = ingest_notebook(path, **_argument_vocabulary())
        if not sources:
            raise NotASource("notebook without a training launch in its shell commands")
        return sources
    if suffix == ".toml":
        return _ingest_toml(path)
    if suffix == ".json":
        return _ingest_json(path)
    if suffix in ENV_SUFFIXES:
        from rundiff.ingest.env_file import ingest_env

        sources = ingest_env(path)
        if not sources:
            raise NotASource("environment file with no variables of a trainer rundiff knows")
        return sources
    if suffix in YAML_SUFFIXES:
        return _ingest_yaml(path)
    if suffix == ".safetensors":
        return ingest_safetensors(path)
    return None


@cache
def _argument_vocabulary() -> dict[str, frozenset[str]]:
    """Argument names (for argparse prefix abbreviations), store_true flags and nargs='*' lists: the
    registry's argument kinds."""
    from rundiff.normalise.registry import load_registry

    registry = load_registry()
    return {
        "known_args": frozenset(registry.cli_names()),
        "flag_args": frozenset(registry.flag_names()),
        "list_args": frozenset(registry.list_names()),
    }


def _ingest_toml(
    path: Path, *, text: str | None = None, chain: str | None = None, display_path: str | None = None
) -> list[SourceFile]:
    """A TOML read by its trainer's profile (SimpleTuner config.toml), else as sd-scripts reads it,
    with the evidence that names the trainer (lora-scripts autosave, musubi-tuner dataset TOML)."""
    from rundiff.ingest.profiled import field_profiles, read_with_profile
    from rundiff.normalise.profile import recognise

    data, raw = toml_config.parse_toml(path, text)
    shown = display_path or str(path)
    profile, _evidence = recognise(data, shown, only=field_profiles())
    if profile is not None and profile.vocabulary != "sd-scripts":
        source = read_with_profile(path, data, _toml_lines(raw), "toml", chain=chain, shown=shown)
        if source is not None:
            return [source]
    sources = toml_config.ingest_toml(path, text=raw, chain=chain, display_path=display_path)
    profile, evidence = recognise(data, shown, only=["kohya_ss", "lora-scripts", "musubi-tuner", "sd-scripts"])
    for source in sources:
        if profile is not None:
            source.trainer = profile.trainer
            source.evidence = list(evidence)
    return sources


def _toml_lines(text: str) -> dict[str, int]:
    return {
        (f"{section}.{key}" if section else key): line for (section, key), line in toml_config.key_lines(text).items()
    }


def _json_key_lines(text: str) -> dict[str, int]:
    lines: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.lstrip()
        if stripped.startswith('"'):
            lines.setdefault(stripped[1:].split('"', 1)[0], number)
    return lines


_WANDB_NOT_SETTINGS = {
    "wandb-summary.json": "W&B summary: the last value of each metric (no settings)",
    "wandb-events.jsonl": "W&B system metrics (no settings)",
}


def _ingest_json(path: Path) -> list[SourceFile]:
    if path.name in _JSON_SKIP or path.name.endswith(".index.json"):
        raise NotASource("a model, tokenizer, cache or rundiff output file (not training settings)")
    if path.name in _WANDB_NOT_SETTINGS:
        raise NotASource(_WANDB_NOT_SETTINGS[path.name])
    text = read_text(path, limit=MAX_JSON_BYTES)
    data = load_json(text, path)
    from rundiff.ingest.profiled import read_wandb_metadata, read_with_profile

    if path.name == "wandb-metadata.json" and isinstance(data, dict):
        source = read_wandb_metadata(path, data, _json_key_lines(text))
        if source is None:
            raise NotASource("W&B run metadata without a program and its arguments")
        return [source]
    if isinstance(data, list):
        source = read_with_profile(path, data, _json_key_lines(text), "json")
        if source is None:
            raise RundiffError("expected a JSON object of settings (a list no trainer profile recognises)", path)
        return [source]
    if not isinstance(data, dict):
        raise RundiffError("expected a JSON object of settings", path)
    from rundiff.normalise.profile import recognise

    profile, evidence = recognise(data, str(path))
    # the GUI's own keys, unless another trainer's evidence comes first (a SimpleTuner config also
    # has pretrained_model_name_or_path and optimizer); profiles are tried in their order
    if (profile is None or profile.name == "kohya_ss") and kohya_gui.looks_like_gui_config(data):
        source = kohya_gui.ingest_gui_json(path, data, text)
        source.evidence = evidence or ["kohya_ss GUI keys"]
        return [source]
    profiled = read_with_profile(path, data, _json_key_lines(text), "json")
    if profiled is not None:
        return [profiled]
    if isinstance(data.get("datasets"), list):
        return [toml_config.ingest_dataset_json(path, data)]
    source = trainer_config.ingest_trainer_config(path, data, None, "json-config")
    _json_lines(source, text)
    if path.name == "adapter_config.json":
        source.format, source.trainer = "peft-adapter-config", "peft"
    return [source]


def _json_lines(source: SourceFile, text: str) -> None:
    """JSON has no node marks: place each key on the first line that names its last segment."""
    lines: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.lstrip()
        if stripped.startswith('"'):
            lines.setdefault(stripped[1:].split('"', 1)[0], number)
    source.facts = [
        Fact(f.key, f.value, f.kind, f.path, lines.get(f.key.rsplit(".", 1)[-1]), f.provenance, f.note)
        for f in source.facts
    ]


def _ingest_yaml(path: Path) -> list[SourceFile]:
    if path.name in RUN_FILE_NAMES:
        return []
    text = read_text(path)
    data, node = trainer_config.load_yaml(path, text)
    if data is None:
        raise NotASource("empty YAML file")
    from rundiff.ingest.wandb_run import ingest_wandb_config, is_wandb_config

    if is_wandb_config(path) and isinstance(data, dict):
        return [ingest_wandb_config(path, data, node)]
    if isinstance(data, dict) and "compute_environment" in data:  # accelerate's own config
        facts = [Fact(k, v, SourceKind.LAUNCHER, str(path), line) for k, v, line in trainer_config.flatten(data, node)]
        return [SourceFile(str(path), "accelerate-config", facts=facts, chain=f"{path}#accelerate")]
    profiled = trainer_config.ingest_document(path, data, trainer_config.yaml_lines(data, node), "yaml")
    if profiled is not None:
        return [profiled]
    return [trainer_config.ingest_trainer_config(path, data, node, "yaml-config")]


def read_run_file(path: Path) -> dict[str, Any]:
    """`rundiff.yaml` in a run folder: `outcome: good|bad`, optional `name`."""
    text = read_text(path)
    data = load_yaml(text, path)[0] or {}
    if not isinstance(data, dict):
        raise RundiffError("expected a mapping such as `outcome: good`", path)
    outcome = data.get("outcome")
    if outcome is not None and str(outcome).lower() not in ("good", "bad"):
        raise RundiffError(f"outcome must be good or bad, not {outcome!r}", path, key="outcome")
    return data


#: Hidden files that are a trainer's record of the run (ai-toolkit's UI writes `.job_config.json`).
_HIDDEN_SOURCES = frozenset({".job_config.json"})
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".avif", ".jxl", ".mp4", ".webm"})
#: When one folder holds more skipped files than this for one reason, they are listed as one entry.
GROUP_AFTER = 5


class NotASource(Exception):
    """A file rundiff recognises and deliberately does not read as settings (the reason says why)."""


def _walk(root: Path) -> tuple[list[Path], list[Path], list[Skipped]]:
    """(files, dataset subset folders, what was not entered or read) under root, bounded in depth and count.

    Only plain files are listed: FIFOs, devices, symlink loops and unlistable folders are skipped
    with their reason where the folder is walked (rundiff.ingest.filesystem).
    """
    files: list[Path] = []
    subsets: list[Path] = []
    skipped: list[Skipped] = []
    for here, dirs, names in walk(root, on_skip=lambda p, why: skipped.append(Skipped(str(p), f"not read: {why}"))):
        depth = len(here.relative_to(root).parts)
        kept = []
        for d in sorted(dirs):
            child = here / d
            if d.startswith(".") or d == "__pycache__":
                skipped.append(Skipped(f"{child}/", "hidden or cache folder (not entered)"))
                continue
            if d in _MODEL_COMPONENT_DIRS:
                skipped.append(
                    Skipped(f"{child}/", "a diffusers model component folder (a base model, not the run's settings)")
                )
                continue
            if dataset_folder.is_subset_folder(child):
                subsets.append(child)
                continue
            if depth + 1 <= MAX_DEPTH:
                kept.append(d)
            else:
                skipped.append(Skipped(f"{child}/", f"deeper than {MAX_DEPTH} folders below the run (not entered)"))
        dirs[:] = kept
        for n in sorted(names):
            if n.startswith(".") and n not in _HIDDEN_SOURCES:
                skipped.append(Skipped(str(here / n), "hidden file"))
                continue
            files.append(here / n)
            if len(files) > MAX_FILES:
                raise RundiffError(f"more than {MAX_FILES} files: is this really one run folder?", root)
    return files, subsets, skipped


def _inside_run(files: list[Path], root: Path, skipped: list[Skipped]) -> list[Path]:
    """Files whose real location is inside the run folder: a link out of it (to ~/.kaggle, /etc) is
    not the run's, and reading it could put someone's secrets into a report."""
    real_root = root.resolve()
    kept = []
    for f in files:
        try:
            real = f.resolve()
        except (OSError, RuntimeError):
            skipped.append(Skipped(str(f), "a link that cannot be followed (not read)"))
            continue
        if real != real_root and real_root not in real.parents:
            skipped.append(Skipped(str(f), "links outside the run folder (not read)"))
            continue
        kept.append(f)
    return kept


def _ingest_folder(run: RunFiles) -> None:
    files, subset_dirs, skipped_dirs = _walk(run.path)
    run.skipped.extend(skipped_dirs)
    files = _inside_run(files, run.path, run.skipped)
    reasons: dict[Path, str] = {}
    used: set[Path] = set()
    for f in files:
        if f.name in RUN_FILE_NAMES:
            try:
                data = read_run_file(f)
            except RundiffError as err:  # a bad label file costs the label, not the run
                run.warnings.append(f"{err} (outcome and name not read)")
                continue
            run.outcome = str(data["outcome"]).lower() if data.get("outcome") else None
            if data.get("name"):
                run.name = str(data["name"])
            used.add(resolved(f))
    weights = [f for f in files if f.suffix.lower() == ".safetensors"]
    finals, intermediate = final_checkpoints(weights)
    for f in intermediate:
        reasons[f] = "intermediate checkpoint: the last file of its series is read (the settings repeat)"
    _read_checkpoint_series(run, weights)
    ordered = (
        [f for f in files if f.suffix.lower() in SCRIPT_SUFFIXES | MARKDOWN_SUFFIXES | {".ipynb"}]
        + [f for f in files if f.suffix.lower() in {".toml", ".json"} | YAML_SUFFIXES | ENV_SUFFIXES]
        + finals
    )
    consumed: set[Path] = set()
    for f in ordered:
        if resolved(f) in consumed:
            continue
        if run.failed_files and resolved(f) in {resolved(Path(p)) for p in run.failed_files}:
            reasons[f] = "not read: a launch references it and it failed to parse (the warning says why)"
            continue  # read once already, as that launch's config: one warning, not two
        try:
            sources = ingest_file(f)
        except NotASource as why:
            reasons[f] = str(why)
            continue
        except RundiffError as err:
            run.warnings.append(str(err))
            run.failed_files.append(str(f))
            reasons[f] = f"not read: {err}"
            continue
        if not sources:
            reasons[f] = _no_settings_reason(f)
        for source in sources or []:
            run.sources.append(source)
            used.add(resolved(f))
            consumed |= _follow(run, source, f.parent, strict=False)
    used |= consumed
    for f in files:
        suffix = f.suffix.lower()
        if suffix in PICKLE_SUFFIXES:
            run.warnings.append(f"{f}: not read (pickle-based weights are never unpickled)")
            reasons[f] = "pickle-based file: never unpickled"
        elif f.name in _NOT_LOGS:
            reasons[f] = _NOT_LOGS[f.name]
        elif resolved(f) not in used and not (suffix == ".txt" and _is_prompt_file(f)):
            kind = classify_log(f)
            if kind is not None:
                run.log_files.append(f)
                run.log_kinds.append(kind)
    _read_logs(run)
    unreadable = set(run.logs.unreadable) if run.logs is not None else set()
    for f in run.log_files:
        if str(f) in unreadable:
            reasons[f] = "training log that could not be read (see the warnings)"
        else:
            used.add(resolved(f))
    for f in files:
        if resolved(f) in used:
            continue
        run.skipped.append(Skipped(str(f), reasons.get(f) or _unread_reason(f)))
    run.skipped = _group_skipped(run.skipped)
    _adopt_lone_dataset_configs(run)
    _add_dataset_folders(run, subset_dirs)


def _read_checkpoint_series(run: RunFiles, weights: list[Path]) -> None:
    """Epoch/step saves of one series: the run's progress, from their headers (ingest/checkpoints.py)."""
    from rundiff.ingest.checkpoints import read_series, series_groups, series_source

    for members in series_groups(weights):
        series = read_series(members, run.warnings)
        source = series_source(series)
        if source is not None:
            run.sources.append(source)
            run.checkpoints.append(series)


def _read_logs(run: RunFiles) -> None:
    """Read the run's logs once; what they reveal joins the run as inferred facts (ingest/logs/facts.py)."""
    if not run.log_files:
        return
    from rundiff.ingest.logs import read_logs
    from rundiff.ingest.logs.facts import log_sources

    run.logs = read_logs(list(zip(run.log_files, run.log_kinds, strict=True)))
    run.warnings.extend(run.logs.warnings)
    kinds = {str(f): kind for f, kind in zip(run.log_files, run.log_kinds, strict=True)}
    run.sources.extend(log_sources(run.logs, str(run.path), kinds))


#: Text files that look like logs by their suffix but hold no training record.
_NOT_LOGS = {
    "requirements.txt": "package list (no training settings)",
    "LICENSE.txt": "licence text",
    "license.txt": "licence text",
}


def _no_settings_reason(path: Path) -> str:
    if path.suffix.lower() == ".toml":
        return "the kohya_ss GUI's own UI settings (not a run's training config)"
    return "no training settings found in it"


def _unread_reason(path: Path) -> str:
    """Why a file that no ingest module claims is not read."""
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image or video (sample output or data, not settings)"
    if suffix == ".txt" and _is_prompt_file(path):
        return "sample prompt file (prompts are not training settings)"
    if suffix == ".py":
        return "program source (never executed or interpreted)"
    if suffix == ".wandb":
        return "W&B binary record log (not decoded; files/config.yaml and wandb-metadata.json are read)"
    return f"not a format rundiff reads ({suffix or 'no extension'})"


def _group_skipped(skipped: list[Skipped]) -> list[Skipped]:
    """Many files of one folder skipped for one reason (sample images) become one folder entry."""
    groups: dict[tuple[str, str], list[Skipped]] = {}
    for item in skipped:
        folder = str(Path(item.path).parent) if not item.path.endswith("/") else item.path
        groups.setdefault((folder, item.reason), []).append(item)
    out: list[Skipped] = []
    for (folder, reason), items in groups.items():
        if len(items) > GROUP_AFTER and not items[0].path.endswith("/"):
            out.append(Skipped(f"{folder}/", f"{len(items)} files: {reason}"))
        else:
            out.extend(items)
    return out


def _adopt_lone_dataset_configs(run: RunFiles) -> None:
    """A dataset file no launch references joins the run's only launch, if it has exactly one.

    A folder holding `config.toml` and `dataset.toml` side by side was trained with both, so the
    dataset TOML's values beat the training config's, as sd-scripts applies them; the same holds for
    another trainer's dataset file (SimpleTuner multidatabackend.json, OneTrainer concepts.json)
    beside that trainer's config.
    """
    launches = {
        (s.chain, s.trainer if s.format in _PROFILE_FORMATS else None)
        for s in run.sources
        if s.format in _LAUNCH_FORMATS | _PROFILE_FORMATS
    }
    if len(launches) != 1:
        return
    chain, trainer = launches.pop()
    for source in run.sources:
        if source.chain == chain or not (source.chain or "").endswith("#dataset"):
            continue
        if source.format == "kohya-dataset-toml" or (source.format == "dataset-config" and source.trainer == trainer):
            source.chain = chain


_LAUNCH_FORMATS = frozenset(
    {"kohya-script", "markdown-command", "notebook-command", "kohya-config-toml", "kohya-gui-json"}
)
_PROFILE_FORMATS = frozenset({"trainer-config", "wandb-config"})


def _is_prompt_file(path: Path) -> bool:
    return "prompt" in path.name.lower() or path.parent.name.lower() in ("sample", "samples")


def _follow_references(run: RunFiles, base: Path, *, strict: bool) -> None:
    for source in list(run.sources):
        _follow(run, source, base, strict=strict)


def _follow(
    run: RunFiles, source: SourceFile, base: Path, *, strict: bool, within: frozenset[Path] | None = None
) -> set[Path]:
    """Read the configs a launch references, in the launch's chain; returns the files consumed.

    ``within`` holds the files already on this chain of references, so a config naming itself (or
    an earlier file) is a warning, not endless recursion.
    """
    within = within if within is not None else frozenset({resolved(Path(source.path))})
    consumed: set[Path] = set()
    for ref in source.references:
        virtual = source.virtual_files.get(str(ref)) or source.virtual_files.get(ref.name)
        if virtual is None and not is_regular_file(ref):
            run.warnings.append(f"{source.path}: references {ref}, which is not here (not read)")
            continue
        key = resolved(ref)
        if virtual is None and (key in within or len(within) > MAX_REFERENCE_DEPTH):
            run.warnings.append(
                f"{source.path}: references {ref}, which is already being read (a cycle of references; not read again)"
            )
            continue
        try:
            if ref.suffix.lower() == ".json" and virtual is None:
                try:
                    more = _ingest_json(ref)
                except NotASource:
                    continue
            else:
                more = _ingest_toml(
                    ref,
                    text=virtual,
                    chain=source.chain,
                    display_path=str(ref) if virtual is None else f"{source.path} (heredoc {ref.name})",
                )
        except RundiffError as err:
            if strict:
                raise
            run.warnings.append(str(err))
            run.failed_files.append(str(ref))
            continue
        for extra in more:
            extra.chain = source.chain
            # read on its own earlier in the walk: it belongs to this launch, not beside it
            run.sources[:] = [s for s in run.sources if not (s.path == extra.path and s.chain != source.chain)]
            run.sources.append(extra)
            consumed.add(key)
            consumed |= _follow(run, extra, ref.parent, strict=strict, within=within | {key})
    return consumed


def _add_dataset_folders(run: RunFiles, discovered: list[Path]) -> None:
    """Image folders named by the configs (train_data_dir, dataset TOML image_dir) or found here."""
    named: list[tuple[Path, int | None]] = []
    caption_extension: str | None = None
    for source in run.sources:
        named.extend(source.datasets)
        for fact in source.facts:
            if fact.key in ("caption_extension", "caption_extention") and isinstance(fact.value, str):
                caption_extension = fact.value if fact.value.startswith(".") else f".{fact.value}"
            if fact.key == "train_data_dir" and isinstance(fact.value, str) and fact.value:
                parent = expand_user(fact.value)
                if not parent.is_absolute():
                    parent = Path(fact.path).parent / parent
                named.extend((p, None) for p in dataset_folder.find_subsets(parent))
    seen: set[Path] = set()
    folders: list[tuple[Path, int | None]] = []
    for folder, repeats in named + [(p, None) for p in discovered]:
        key = resolved(folder)
        if key in seen or not is_directory(folder):
            continue
        seen.add(key)
        folders.append((folder, repeats))
    if not folders:
        return
    try:
        source = dataset_folder.ingest_dataset_folders(
            [f for f, _ in folders], caption_extension=caption_extension, repeats=[r for _, r in folders]
        )
    except RundiffError as err:
        run.warnings.append(f"dataset not read: {err}")
        return
    if source is not None:
        run.sources.append(source)

"""Rebuild a base run's sd-scripts launch for one variant: its own arguments, one override, a short run.

The base launch is read with rundiff's own script reader (never executed). What each variant runs:

- the base's trainer arguments (argparse semantics: the last occurrence wins, prefixes resolved), with
  relative paths made absolute against the base script's folder (a `--config_file`'s own paths against
  that TOML's folder, a `--dataset_config`'s `image_dir`s against the dataset file's folder, as
  rundiff's ingest resolves them), so the variant runs from its own folder;
- the override where sd-scripts will obey it: a dataset key (`num_repeats`, `batch_size`, `resolution`,
  `shuffle_caption`, ...) goes into the copy of the dataset TOML, because the dataset TOML beats the
  command line; a key of `--network_args`/`--optimizer_args`/`--lr_scheduler_args` goes into that
  list; anything else goes on the command line, which beats `--config_file`;
- the short-run settings: `--max_train_steps` (and no `--max_train_epochs`, which would win),
  `--output_dir=output`, `--logging_dir=logs`, a fixed `--output_name`, the variant's seed, no
  intermediate saves, no uploads, no resume; sample prompts only when asked for, once at the end.

The per-variant paths (output, logs, the config copies) stay relative, so `rundiff compare` of two
variant folders shows the varied parameter as their only difference.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rundiff.ablate.backend import ShortRun
from rundiff.ablate.backends.kohya import args as kohya_args
from rundiff.ablate.plan import Variant
from rundiff.errors import RundiffError
from rundiff.ingest.launch import Launch, find_launch
from rundiff.ingest.script import read_text
from rundiff.ingest.shell import dialect_for, read_script
from rundiff.ingest.shell_words import ShellLimitError
from rundiff.model import Run
from rundiff.normalise.registry import Parameter, Registry, load_registry

OUTPUT_DIR = "output"
LOGGING_DIR = "logs"
DEFAULT_STEM = "lora"
GENERATED_DATASET = "dataset_config.toml"

#: Arguments that name files or folders (resolved to absolute paths in the variant).
PATH_ARGS = frozenset(
    {
        "pretrained_model_name_or_path",
        "vae",
        "tokenizer_cache_dir",
        "train_data_dir",
        "reg_data_dir",
        "in_json",
        "conditioning_data_dir",
        "network_weights",
        "base_weights",
        "sample_prompts",
        "log_tracker_config",
        "dataset_config",
        "config_file",
        "metadata_thumbnail",
    }
)
#: Arguments a short re-training must not inherit: other runs' step counts, saves, uploads, resumes.
DROPPED = {
    "max_train_epochs": "the short run's --max_train_steps would lose against it",
    "save_every_n_epochs": "no intermediate saves in a short run",
    "save_every_n_steps": "no intermediate saves in a short run",
    "save_n_epoch_ratio": "no intermediate saves in a short run",
    "save_last_n_epochs": "",
    "save_last_n_epochs_state": "",
    "save_last_n_steps": "",
    "save_last_n_steps_state": "",
    "save_state": "",
    "save_state_on_train_end": "",
    "resume": "a variant trains from the start",
    "initial_epoch": "",
    "initial_step": "",
    "skip_until_initial_step": "",
    "output_config": "it would only write a config and exit",
    "debug_dataset": "it would only show the dataset and never train",
    "huggingface_repo_id": "variants are never uploaded",
    "huggingface_repo_type": "",
    "huggingface_path_in_repo": "",
    "huggingface_token": "",
    "huggingface_repo_visibility": "",
    "save_state_to_huggingface": "",
    "resume_from_huggingface": "",
    "async_upload": "",
    "wandb_api_key": "",
    "wandb_run_name": "",
    "console_log_file": "the console goes to the variant's stdout/stderr",
}
SAMPLE_ARGS = ("sample_prompts", "sample_every_n_steps", "sample_every_n_epochs", "sample_at_first", "sample_sampler")
#: Set by every variant the same way (plus seed and max_train_steps).
FIXED_ARGS = ("output_dir", "output_name", "logging_dir")
#: Keys of the dataset TOML by level (sd-scripts' config_util schema); `batch_size` is --train_batch_size.
DATASET_LEVEL = frozenset(
    {
        "batch_size",
        "resolution",
        "enable_bucket",
        "min_bucket_reso",
        "max_bucket_reso",
        "bucket_reso_steps",
        "bucket_no_upscale",
        "network_multiplier",
        "validation_seed",
        "validation_split",
    }
)
SUBSET_LEVEL = frozenset(
    {
        "num_repeats",
        "shuffle_caption",
        "keep_tokens",
        "keep_tokens_separator",
        "secondary_separator",
        "caption_separator",
        "enable_wildcard",
        "color_aug",
        "flip_aug",
        "random_crop",
        "face_crop_aug_range",
        "caption_prefix",
        "caption_suffix",
        "token_warmup_min",
        "token_warmup_step",
        "resize_interpolation",
        "caption_dropout_rate",
        "caption_dropout_every_n_epochs",
        "caption_tag_dropout_rate",
        "caption_extension",
        "class_tokens",
        "cache_info",
    }
)
LIST_HOSTS = ("network_args", "optimizer_args", "lr_scheduler_args")
#: Environment variables of the base script worth handing to the trainer (never credentials).
ENV_NAMES = frozenset(
    {
        "HF_HUB_OFFLINE",
        "TRANSFORMERS_OFFLINE",
        "HF_DATASETS_OFFLINE",
        "HF_HOME",
        "HF_HUB_CACHE",
        "HUGGINGFACE_HUB_CACHE",
        "TRANSFORMERS_CACHE",
        "TORCH_HOME",
        "PYTORCH_CUDA_ALLOC_CONF",
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
        "TOKENIZERS_PARALLELISM",
        "TF_CPP_MIN_LOG_LEVEL",
    }
)
_SECRET = re.compile(r"TOKEN|KEY|SECRET|PASSWORD", re.I)
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


Dataset = tuple[dict[str, Any], str]  # (dataset config data, its file name in the variant folder)


@dataclass
class BaseLaunch:
    """The base run's launch as sd-scripts would receive it (paths not yet rewritten)."""

    script: str  # basename, e.g. "train_network.py"
    source: Path  # the launch script (or the config TOML of a TOML-only base)
    folder: Path  # where the script's relative paths are resolved
    launcher: str  # "accelerate" | "python"
    launcher_args: list[tuple[str, str | bool]] = field(default_factory=list)
    args: dict[str, Any] = field(default_factory=dict)  # name -> str | True | list[str], in order
    env: dict[str, str] = field(default_factory=dict)
    virtual_files: dict[str, str] = field(default_factory=dict)  # heredoc configs: resolved path -> text
    warnings: list[str] = field(default_factory=list)


@dataclass
class VariantLaunch:
    """Everything one variant runs: trainer arguments, accelerate options, config copies, environment."""

    script: str
    args: dict[str, Any]
    launcher_args: list[tuple[str, str | bool]]
    files: dict[str, str] = field(default_factory=dict)  # file name in the variant folder -> text
    env: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)  # the --config_file copy, flattened
    unset_flags: set[str] = field(default_factory=set)  # store_true flags a variant turns off

    def effective(self, name: str, default: Any = None) -> Any:
        """A trainer argument as sd-scripts resolves it: command line, else --config_file, else default."""
        if name in self.args:
            return self.args[name]
        return self.config.get(name, default)

    def trainer_groups(self) -> list[list[str]]:
        """The trainer's argv, one group per option: ["--flag"], ["--name=value"], ["--list", "a", "b"]."""
        groups: list[list[str]] = []
        for name, value in self.args.items():
            if value is True:
                groups.append([f"--{name}"])
            elif isinstance(value, list):
                groups.append([f"--{name}", *value])
            else:
                groups.append([f"--{name}={value}"])
        return groups

    def trainer_argv(self) -> list[str]:
        return [word for group in self.trainer_groups() for word in group]


# ---------------------------------------------------------------------------------------------- the base


def read_base_launch(base: Run) -> BaseLaunch:
    """The base run's sd-scripts launch: its launch script, else a lone sd-scripts --config_file TOML."""
    scripts = [s for s in base.sources if getattr(s, "launch", None) is not None]
    preferred = [s for s in scripts if s.format == "kohya-script"] or scripts
    if preferred:
        source = preferred[0]
        launch: Launch = source.launch  # type: ignore[attr-defined]
        path = Path(source.path)
        warnings = []
        if len(preferred) > 1:
            warnings.append(
                f"the base run has {len(preferred)} launches; the one in {source.path} line {launch.line} is rebuilt"
            )
        if source.format == "kohya-script" and path.is_file():
            return _reread_script(path, launch.line, warnings)
        return _from_launch(launch, path, path.parent, {}, {}, warnings)
    configs = [s for s in base.sources if s.format == "kohya-config-toml"]
    if configs:
        path = Path(configs[0].path)
        script = "sdxl_train_network.py" if base.value("model_family") == "sdxl" else "train_network.py"
        return BaseLaunch(
            script,
            path,
            path.parent,
            "python",
            args={"config_file": str(path)},
            warnings=[f"the base run has no launch script; {script} is run with its {path.name}"],
        )
    held = sorted({s.format for s in base.sources}) or ["nothing rundiff reads"]
    raise RundiffError(
        "the base run has no sd-scripts launch script or --config_file TOML to rebuild (it holds "
        f"{', '.join(held)}); the kohya backend re-runs the base's own launch (try --backend builtin)",
        base.path,
    )


def _reread_script(path: Path, line: int, warnings: list[str]) -> BaseLaunch:
    """Read the script again with the trainer's own vocabulary (its store_true flags and nargs='*' lists)."""
    try:
        shell = read_script(read_text(path), dialect_for(path), script_dir=str(path.resolve().parent))
    except (ShellLimitError, RecursionError) as err:
        raise RundiffError(f"not read as a launch script: {err}", path) from None
    found = []
    for command in shell.commands:
        launch = _find(command)
        if launch is not None:
            found.append((launch, command))
    if not found:
        raise RundiffError("no sd-scripts launch found in this script", path)
    launch, command = next(((lc, c) for lc, c in found if lc.line == line), found[0])
    env = {k: v for k, v in shell.variables.items() if k in ENV_NAMES and isinstance(v, str)}
    env.update({k: v for k, v in command.env.items() if not _SECRET.search(k)})
    virtual = {}
    for name, vfile in shell.virtual_files.items():
        virtual[str(_resolve(name, path.parent))] = vfile.text
    return _from_launch(launch, path, path.parent, env, virtual, warnings)


def _find(command) -> Launch | None:
    texts = [w.text for w in command.words]
    script = next((Path(t).name for t in texts if t.lower().endswith(".py")), "train_network.py")
    table = kohya_args.arguments(script)
    return find_launch(
        command, known_args=table, flag_args=kohya_args.flags(script), list_args=kohya_args.lists(script)
    )


def _from_launch(
    launch: Launch, path: Path, folder: Path, env: dict[str, str], virtual: dict[str, str], warnings: list[str]
) -> BaseLaunch:
    args: dict[str, Any] = {}
    for arg in launch.trainer_args:  # argparse: the last occurrence wins
        args[arg.name] = arg.value
    launcher_args = [
        (a.name, a.value if isinstance(a.value, (str, bool)) else " ".join(a.value)) for a in launch.launcher_args
    ]
    warnings = warnings + [f"{path}:{w.removeprefix('line ')}" for w in launch.warnings]
    for variable, line in launch.unresolved:
        warnings.append(f"{path}:{line}: ${variable.lstrip('$')} is not set in the script; it was read as empty")
    return BaseLaunch(launch.script, path, folder, launch.launcher, launcher_args, args, env, virtual, warnings)


def _resolve(value: str, folder: Path) -> Path:
    path = Path(os.path.expanduser(value))
    return Path(os.path.normpath(path if path.is_absolute() else folder.absolute() / path))


def absolute_path(name: str, value: str, folder: Path) -> str:
    """A path argument as an absolute path; a model name that is a Hugging Face id stays as written."""
    if not value:
        return value
    resolved = _resolve(value, folder)
    if (
        name in ("pretrained_model_name_or_path", "vae")
        and not resolved.exists()
        and _HUB_ID.match(value)
        and not value.startswith(".")
    ):
        return value
    return str(resolved)


# ------------------------------------------------------------------------------------------ the variant


def sd_scripts_name(name: str, script: str, registry: Registry | None = None) -> str | None:
    """The sd-scripts argument that sets the canonical parameter ``name``, if there is one."""
    table = kohya_args.arguments(script)
    if name in table:
        return name
    registry = registry or load_registry()
    param = registry.get(name)
    for alias in param.aliases.get("cli", ()) if param else ():
        if alias.key in table and not alias.sets_value:
            return alias.key
    return None


def placement(name: str, script: str, registry: Registry | None = None) -> str | None:
    """Where an override of ``name`` can go: 'seed', 'cli', 'dataset', 'network_args', ... or None."""
    registry = registry or load_registry()
    if name == "seed":
        return "seed"
    param = registry.get(name)
    if param is not None and _dataset_key(param):
        return "dataset"
    if sd_scripts_name(name, script, registry):
        return "cli"
    for host in LIST_HOSTS:
        if param is not None and param.aliases.get(host):
            return host
    return None


def _dataset_key(param: Parameter) -> str | None:
    for alias in param.aliases.get("dataset_toml", ()):
        if alias.key in DATASET_LEVEL | SUBSET_LEVEL:
            return alias.key
    return param.name if param.name in DATASET_LEVEL | SUBSET_LEVEL else None


def build_variant(
    base: BaseLaunch, variant: Variant, short: ShortRun, stem: str | None = None, registry: Registry | None = None
) -> VariantLaunch:
    """The variant's launch: base arguments, the override, the short-run settings (nothing written yet)."""
    registry = registry or load_registry()
    out = VariantLaunch(base.script, {}, list(base.launcher_args), env=dict(base.env), warnings=list(base.warnings))
    for name, value in base.args.items():
        out.args[name] = _absolute_arg(name, value, base.folder)
    config_name, config = _load_config(base, out)
    out.config = _flatten(config)
    dataset = _load_dataset(base, out)
    for name, value in variant.overrides.items():
        dataset = _apply_override(out, name, value, dataset, registry)
    _short_run(out, base, variant, short, stem, config)
    if dataset is not None:
        data, file_name = dataset
        out.files[file_name] = dump_toml(data)
        out.args["dataset_config"] = file_name
        _config_drop(config, "dataset_config")  # the copy is named on the command line
    if config_name is not None:
        out.files[config_name] = dump_toml(config)
        out.args["config_file"] = config_name
    out.config = _flatten(config)
    return out


def _absolute_arg(name: str, value: Any, folder: Path) -> Any:
    if name not in PATH_ARGS or value is True:
        return value
    if isinstance(value, list):
        return [absolute_path(name, v, folder) for v in value]
    return absolute_path(name, value, folder)


def _load_config(base: BaseLaunch, out: VariantLaunch) -> tuple[str | None, dict[str, Any]]:
    """The --config_file as a dict (sections kept) with its paths made absolute, or (None, {})."""
    raw = out.args.get("config_file")
    if not isinstance(raw, str) or not raw:
        return None, {}
    path = Path(raw if raw.endswith(".toml") else raw + ".toml")
    data = _read_toml(path, base.virtual_files)
    for table in [data, *[v for v in data.values() if isinstance(v, dict)]]:
        for key, value in list(table.items()):
            if key in PATH_ARGS and isinstance(value, (str, list)):
                table[key] = _absolute_arg(key, value, path.parent)
    return path.name, data


def _load_dataset(base: BaseLaunch, out: VariantLaunch) -> Dataset | None:
    """The --dataset_config (command line, else --config_file) with its image folders made absolute."""
    raw = out.args.get("dataset_config") or out.config.get("dataset_config")
    if not isinstance(raw, str) or not raw:
        return None
    path = Path(raw)
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(_read_text_or_virtual(path, base.virtual_files))
        except json.JSONDecodeError as err:
            raise RundiffError(f"invalid JSON: {err.msg}", path, line=err.lineno) from None
    else:
        data = _read_toml(path, base.virtual_files)
    if not isinstance(data.get("datasets"), list):
        raise RundiffError("a --dataset_config needs [[datasets]]", path)
    for dataset in data["datasets"]:
        for subset in dataset.get("subsets") or []:
            for key in ("image_dir", "conditioning_data_dir", "metadata_file"):
                if isinstance(subset.get(key), str):
                    subset[key] = str(_resolve(subset[key], path.parent))
    name = path.with_suffix(".toml").name
    return data, ("dataset_" + name if name == (Path(str(out.args.get("config_file", ""))).name) else name)


def _read_text_or_virtual(path: Path, virtual: dict[str, str]) -> str:
    if str(path) in virtual and not path.is_file():
        return virtual[str(path)]
    if not path.is_file():
        raise RundiffError("the base run's launch names this file, which is not here", path)
    return read_text(path)


def _read_toml(path: Path, virtual: dict[str, str]) -> dict[str, Any]:
    try:
        return tomllib.loads(_read_text_or_virtual(path, virtual))
    except tomllib.TOMLDecodeError as err:
        raise RundiffError(f"invalid TOML: {err}", path) from None


def _flatten(config: dict[str, Any]) -> dict[str, Any]:
    """sd-scripts' --config_file namespace: sections lifted into one level, a later key wins."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update(value)
        else:
            flat[key] = value
    return flat


def _config_drop(config: dict[str, Any], key: str) -> bool:
    found = False
    for table in [config, *[v for v in config.values() if isinstance(v, dict)]]:
        if key in table:
            del table[key]
            found = True
    return found


def _apply_override(
    out: VariantLaunch, name: str, value: Any, dataset: Dataset | None, registry: Registry
) -> Dataset | None:
    """Put one override where sd-scripts obeys it; returns the dataset config (generated if needed)."""
    where = placement(name, out.script, registry)
    param = registry.get(name)
    if where == "seed":
        return dataset  # the short-run settings put the variant's seed in
    if where == "dataset":
        key = _dataset_key(param)  # type: ignore[arg-type]
        cli = sd_scripts_name(name, out.script, registry)
        if cli == "dataset_repeats" and not out.effective("in_json"):
            cli = None  # --dataset_repeats only counts for the fine-tune (--in_json) method
        if dataset is None and cli is None:
            dataset = _generated_dataset(out)
        if dataset is None:
            _set_cli(out, cli, value, param)  # type: ignore[arg-type]
            return dataset
        _set_dataset(dataset[0], key, value)  # type: ignore[arg-type]
        if cli is not None and cli in out.args:  # keep the command line from showing a stale value
            _set_cli(out, cli, value, param)
        return dataset
    if where == "cli":
        _set_cli(out, sd_scripts_name(name, out.script, registry), value, param)  # type: ignore[arg-type]
        return dataset
    if where in LIST_HOSTS:
        key = param.aliases[where][0].key  # type: ignore[union-attr]
        items = [i for i in out.effective(where) or [] if i.split("=", 1)[0].strip() != key]
        out.args[where] = [*items, f"{key}={format_value(value)}"]
        return dataset
    raise RundiffError(
        f"{name} is not an argument of sd-scripts' {out.script}; the kohya backend varies only "
        "what the trainer's command line or dataset config takes",
        key=name,
    )


def _set_cli(out: VariantLaunch, name: str, value: Any, param: Parameter | None) -> None:
    if value is None:  # "not set" (the base run's own value of an optional argument): leave it out
        out.args.pop(name, None)
        out.unset_flags.add(name)
        return
    if isinstance(value, bool) or (param is not None and param.type == "bool"):
        if value:
            out.args[name] = True
        else:  # a store_true flag cannot be switched off: it must be absent (from the config copy too)
            out.args.pop(name, None)
            out.unset_flags.add(name)
        return
    if isinstance(value, list) and kohya_args.arguments(out.script).get(name, ("value",))[0] == "list":
        out.args[name] = [format_value(v) for v in value]
        return
    if isinstance(value, str) and name in PATH_ARGS:
        value = str(_resolve(value, Path.cwd()))
    out.args[name] = format_value(value)


def format_value(value: Any) -> str:
    """A value as sd-scripts' command line reads it: 1e-4 -> "0.0001", [768, 512] -> "768,512"."""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, float):
        return repr(value)  # "0.0001", "5e-05", "8.0": float() reads each back exactly
    if isinstance(value, (list, tuple)):
        if len(value) == 2 and value[0] == value[1]:
            return format_value(value[0])
        return ",".join(format_value(v) for v in value)
    return str(value)


def _set_dataset(data: dict[str, Any], key: str, value: Any) -> None:
    """Make ``key`` take effect for every training subset: set at the level sd-scripts reads it from."""
    value = list(value) if isinstance(value, tuple) else value
    for dataset in data.get("datasets") or []:
        if key in DATASET_LEVEL:
            dataset[key] = value
            continue
        for subset in dataset.get("subsets") or []:
            if key == "num_repeats" and subset.get("is_reg"):
                continue
            subset[key] = value


def _generated_dataset(out: VariantLaunch) -> Dataset:
    """A dataset TOML equivalent to the base's `<repeats>_<name>` folders (train_data_dir, reg_data_dir).

    Needed when a key only the dataset config can set (num_repeats) is varied on a folder-method base.
    """
    subsets: list[dict[str, Any]] = []
    for arg, is_reg in (("train_data_dir", False), ("reg_data_dir", True)):
        parent = out.effective(arg)
        if not isinstance(parent, str) or not parent:
            continue
        folder = Path(parent)
        if not folder.is_dir():
            raise RundiffError(f"--{arg} is not a folder here, so its repeats cannot be rewritten", folder)
        for child in sorted(folder.iterdir()):
            match = re.match(r"^(\d+)_(.+)$", child.name)
            if child.is_dir() and match:
                subset: dict[str, Any] = {
                    "image_dir": str(child),
                    "num_repeats": int(match.group(1)),
                    "class_tokens": match.group(2),
                }
                if is_reg:
                    subset["is_reg"] = True
                subsets.append(subset)
    if not subsets:
        raise RundiffError(
            "the base run names no <repeats>_<name> image folders (train_data_dir), so its repeats cannot be varied"
        )
    for arg in ("train_data_dir", "reg_data_dir"):
        out.args.pop(arg, None)
    out.warnings.append(
        "the base's image folders were written as a dataset config (dataset_config.toml) so that "
        "num_repeats can be set; --train_data_dir/--reg_data_dir are left out"
    )
    return {"datasets": [{"subsets": subsets}]}, GENERATED_DATASET


def _short_run(
    out: VariantLaunch, base: BaseLaunch, variant: Variant, short: ShortRun, stem: str | None, config: dict[str, Any]
) -> None:
    flat = _flatten(config)
    dropped = []
    for name, why in DROPPED.items():
        in_cli = out.args.pop(name, None) is not None
        in_config = _config_drop(config, name)
        if (in_cli or in_config) and why:
            dropped.append(f"--{name} ({why})")
    if dropped:
        out.warnings.append("left out of every variant: " + ", ".join(dropped))
    for name in out.unset_flags:
        _config_drop(config, name)
    prompts = out.args.get("sample_prompts") or flat.get("sample_prompts")
    sampler = out.args.get("sample_sampler") or flat.get("sample_sampler")
    for name in SAMPLE_ARGS:
        out.args.pop(name, None)
        _config_drop(config, name)
    if prompts and short.samples:
        out.args["sample_prompts"] = prompts
        out.args["sample_every_n_steps"] = str(short.steps)  # once, at the end of the short run
        if sampler:
            out.args["sample_sampler"] = sampler
    elif prompts:
        out.warnings.append("sample images are not made (samples are off for this sweep)")
    log_with = out.effective("log_with")
    if log_with not in (None, "tensorboard"):
        out.args["log_with"] = "tensorboard"
        _config_drop(config, "log_with")
        out.warnings.append(f"--log_with {log_with} -> tensorboard: the variants' curves are read from TensorBoard")
    for name in (*FIXED_ARGS, "max_train_steps", "seed"):
        _config_drop(config, name)
        out.args.pop(name, None)
    name = stem or out.effective("output_name") or base.args.get("output_name") or DEFAULT_STEM
    out.args["output_dir"] = OUTPUT_DIR
    out.args["output_name"] = str(name)
    out.args["logging_dir"] = LOGGING_DIR
    out.args["max_train_steps"] = str(short.steps)
    out.args["seed"] = str(variant.overrides.get("seed", variant.seed))
    _short_warmup(out, variant, config)
    _cpu_precision(out, short, config)


def _short_warmup(out: VariantLaunch, variant: Variant, config: dict[str, Any]) -> None:
    """The short run's warmup in its own steps (`rundiff.ablate.horizon`), on the command line."""
    schedule = variant.schedule or {}
    if not schedule:
        return
    warmup = int(schedule["warmup_steps"])
    had = out.effective("lr_warmup_steps")
    _config_drop(config, "lr_warmup_steps")
    if warmup or had not in (None, 0, "0"):
        out.args["lr_warmup_steps"] = str(warmup)  # in place when the base had it: same position
    else:
        out.args.pop("lr_warmup_steps", None)


def _cpu_precision(out: VariantLaunch, short: ShortRun, config: dict[str, Any]) -> None:
    """fp16 mixed precision fails on a CPU at the first step (Half != float in the LoRA forward): use "no"."""
    if not short.device.startswith("cpu"):
        return
    if out.effective("mixed_precision", "no") == "fp16":
        out.args.pop("full_fp16", None)
        for key in ("full_fp16", "mixed_precision"):
            _config_drop(config, key)
        out.args["mixed_precision"] = "no"
        out.warnings.append(
            "mixed_precision fp16 -> no: sd-scripts fails with fp16 on a CPU at the first step "
            "(RuntimeError: expected m1 and m2 to have the same dtype)"
        )
    out.launcher_args = [(k, "no" if k == "mixed_precision" and v == "fp16" else v) for k, v in out.launcher_args]


# ------------------------------------------------------------------------------------------------ TOML


def dump_toml(data: dict[str, Any]) -> str:
    """TOML text for plain nested data (tables, arrays of tables, scalars, arrays of scalars)."""
    from rundiff.ablate.backends.tomlwrite import toml_value

    lines: list[str] = []

    def emit(table: dict[str, Any], prefix: str) -> None:
        for key, value in table.items():
            if value is None or isinstance(value, dict) or _is_table_array(value):
                continue
            lines.append(f"{_key(key)} = {toml_value(value)}")
        for key, value in table.items():
            name = f"{prefix}{_key(key)}"
            if isinstance(value, dict):
                lines.extend(["", f"[{name}]"])
                emit(value, name + ".")
            elif _is_table_array(value):
                for item in value:
                    lines.extend(["", f"[[{name}]]"])
                    emit(item, name + ".")

    emit(data, "")
    return "\n".join(lines).lstrip("\n") + "\n"


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _key(key: str) -> str:
    return key if re.match(r"^[A-Za-z0-9_-]+$", key) else json.dumps(key)

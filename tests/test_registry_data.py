"""Schema and content checks of the parameter registry (src/rundiff/normalise/registry.yaml).

The registry is data that contributors edit by hand, so these tests are what keeps a typo from
silently mapping a key to the wrong parameter, or a YAML 1.1 surprise (`1e-4` read as a string,
`no` read as false) from reaching the comparison.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from rundiff.ingest.safetensors_file import PACKED_KEYS


def _words(text: str) -> list[str]:
    return text.split()


REGISTRY_PATH = Path(__file__).resolve().parents[1] / "src" / "rundiff" / "normalise" / "registry.yaml"
REFERENCE_PATH = Path(__file__).resolve().parents[2] / "shared" / "reference" / "kohya-sd-scripts.md"

CATEGORIES = {
    "model",
    "network",
    "resolution",
    "optimization",
    "precision",
    "noise",
    "caption",
    "dataset",
    "duration",
    "other",
}
IMPACTS = {"high": 3, "medium": 2, "low": 1}
TYPES = {"int", "float", "number", "bool", "str", "path", "resolution", "float_list", "int_list", "str_list", "kv_list"}
ALIAS_KINDS = {
    "cli",
    "config_toml",
    "dataset_toml",
    "gui",
    "trainer_config",
    "metadata",
    "network_args",
    "optimizer_args",
    "lr_scheduler_args",
}
EXPAND_KINDS = {"network_args", "optimizer_args", "lr_scheduler_args"}
ENTRY_FIELDS = {
    "category",
    "impact",
    "type",
    "choices",
    "default",
    "none_means",
    "expand",
    "derived",
    "aliases",
    "rationale",
    "ladder",
    "secret",
    "active_when",
    "replicate",
    "kind",
    "range",
    "sd_scripts",
    "overridden_by",
}
ARG_KINDS = {"flag", "value", "list"}
SD_SCRIPTS_FIELDS = {"type", "default", "choices", "scripts"}
ARGPARSE_TYPES = {"int", "float", "str", "int_or_float", "Path"}
#: Kinds whose keys default to the canonical name: an explicit alias there must not shadow another parameter.
IMPLICIT_CANONICAL_KINDS = {"cli", "config_toml"}

#: Every training argument of train_network.py / sdxl_train_network.py / train_db.py / fine_tune.py listed in
#: section 1 of the sd-scripts reference, plus the DiT-only ones it names (without the legacy spellings).
SD_SCRIPTS_ARGS = _words("""
adaptive_noise_scale alpha_mask async_upload base_weights base_weights_multiplier blocks_to_swap
bucket_no_upscale bucket_reso_steps cache_info cache_latents cache_latents_to_disk
cache_text_encoder_outputs cache_text_encoder_outputs_to_disk caption_dropout_every_n_epochs
caption_dropout_rate caption_extension caption_prefix caption_separator caption_suffix
caption_tag_dropout_rate clip_skip color_aug conditioning_data_dir config_file console_log_file
console_log_level console_log_simple cpu_offload_checkpointing dataset_class dataset_config
ddp_gradient_as_bucket_view ddp_static_graph ddp_timeout debiased_estimation_loss debug_dataset
deepspeed diffusers_xformers dim_from_weights disable_mmap_load_safetensors dynamo_backend
enable_bucket enable_wildcard face_crop_aug_range flip_aug fp16_master_weights_and_gradients
fp8_base fp8_base_unet full_bf16 full_fp16 fused_backward_pass gradient_accumulation_steps
gradient_checkpointing highvram huber_c huber_scale huber_schedule huggingface_path_in_repo
huggingface_repo_id huggingface_repo_type huggingface_repo_visibility huggingface_token in_json
initial_epoch initial_step ip_noise_gamma ip_noise_gamma_random_strength keep_tokens
keep_tokens_separator learning_rate learning_rate_te log_config log_prefix log_tracker_config
log_tracker_name log_with logging_dir logit_mean logit_std loss_type lowram lr_decay_steps
lr_scheduler lr_scheduler_args lr_scheduler_min_lr_ratio lr_scheduler_num_cycles lr_scheduler_power
lr_scheduler_timescale lr_scheduler_type lr_warmup_steps masked_loss max_bucket_reso
max_data_loader_n_workers max_grad_norm max_timestep max_token_length max_train_epochs
max_train_steps max_validation_steps mem_eff_attn metadata_author metadata_description
metadata_is_negative_embedding metadata_license metadata_merged_from metadata_preprocessor
metadata_tags metadata_thumbnail metadata_title metadata_trigger_phrase metadata_usage_hint
min_bucket_reso min_snr_gamma min_timestep mixed_precision mode_scale multires_noise_discount
multires_noise_iterations network_alpha network_args network_dim network_dropout network_module
network_train_text_encoder_only network_train_unet_only network_weights no_half_vae no_metadata
no_token_padding noise_offset noise_offset_random_strength offload_optimizer_device
offload_optimizer_nvme_path offload_param_device offload_param_nvme_path optimizer_args
optimizer_type output_config output_dir output_name persistent_data_loader_workers
pretrained_model_name_or_path prior_loss_weight random_crop reg_data_dir resize_interpolation
resolution resume resume_from_huggingface sample_at_first sample_every_n_epochs sample_every_n_steps
sample_prompts sample_sampler save_every_n_epochs save_every_n_steps save_last_n_epochs
save_last_n_epochs_state save_last_n_steps save_last_n_steps_state save_model_as save_n_epoch_ratio
save_precision save_state save_state_on_train_end save_state_to_huggingface
scale_v_pred_loss_like_noise_pred scale_weight_norms sdpa secondary_separator seed shuffle_caption
skip_cache_check skip_until_initial_step stop_text_encoder_training text_encoder_batch_size
text_encoder_lr token_warmup_min token_warmup_step tokenizer_cache_dir torch_compile
train_batch_size train_data_dir train_text_encoder training_comment unet_lr use_safetensors v2
v_parameterization v_pred_like_loss vae vae_batch_size validate_every_n_epochs
validate_every_n_steps validation_seed validation_split wandb_api_key wandb_run_name
weighted_captions weighting_scheme xformers zero3_init_flag zero3_save_16bit_model zero_stage
zero_terminal_snr
""")

#: Spellings in section 1 that are not parameters of their own: legacy aliases and prose tokens.
SD_SCRIPTS_NON_PARAMS = {
    "caption_extention",
    "use_8bit_adam",
    "use_lion_optimizer",
    "dataset_repeats",
    "max_train_epoch",
    "flag",
    "no",
}

#: The always-present ss_* keys of current train_network.py (reference section 4.2).
SS_KEYS_4_2 = _words("""
ss_session_id ss_training_started_at ss_training_finished_at ss_output_name ss_learning_rate
ss_text_encoder_lr ss_unet_lr ss_num_train_images ss_num_validation_images ss_num_reg_images
ss_num_batches_per_epoch ss_num_epochs ss_epoch ss_steps ss_gradient_checkpointing
ss_gradient_accumulation_steps ss_max_train_steps ss_lr_warmup_steps ss_lr_scheduler
ss_network_module ss_network_dim ss_network_alpha ss_network_dropout ss_mixed_precision ss_full_fp16
ss_v2 ss_base_model_version ss_clip_skip ss_max_token_length ss_cache_latents ss_seed ss_lowram
ss_noise_offset ss_multires_noise_iterations ss_multires_noise_discount ss_adaptive_noise_scale
ss_zero_terminal_snr ss_training_comment ss_sd_scripts_commit_hash ss_optimizer ss_max_grad_norm
ss_caption_dropout_rate ss_caption_dropout_every_n_epochs ss_caption_tag_dropout_rate
ss_face_crop_aug_range ss_prior_loss_weight ss_min_snr_gamma ss_scale_weight_norms ss_ip_noise_gamma
ss_debiased_estimation ss_noise_offset_random_strength ss_ip_noise_gamma_random_strength
ss_loss_type ss_huber_schedule ss_huber_c ss_huber_scale ss_fp8_base ss_fp8_base_unet
ss_validation_seed ss_validation_split ss_max_validation_steps ss_validate_every_n_epochs
ss_validate_every_n_steps ss_resize_interpolation
""")

#: Section 4.3 (without --dataset_config) and 4.4 keys that name a training setting.
SS_KEYS_4_3_4_4 = _words("""
ss_batch_size_per_device ss_total_batch_size ss_resolution ss_color_aug ss_flip_aug ss_random_crop
ss_shuffle_caption ss_enable_bucket ss_bucket_no_upscale ss_min_bucket_reso ss_max_bucket_reso
ss_keep_tokens ss_dataset_dirs ss_reg_dataset_dirs ss_network_args ss_sd_model_name ss_vae_name
""")

#: Parameters `rundiff ablate --vary` must have a default ladder for.
LADDER_PARAMS = _words("""
network_dim network_alpha conv_dim learning_rate unet_lr text_encoder_lr lr_warmup_steps
lr_scheduler optimizer_type train_batch_size min_snr_gamma noise_offset multires_noise_iterations
ip_noise_gamma max_grad_norm ema_decay resolution num_repeats keep_tokens caption_dropout_rate
weight_decay
""")

#: Rows rundiff computes; the issue requires them.
DERIVED_PARAMS = {
    "effective_batch_size",
    "lora_scale",
    "conv_scale",
    "steps_per_epoch",
    "total_steps",
    "warmup_steps",
    "warmup_fraction",
    "num_epochs",
}


class _DuplicateCheckingLoader(yaml.SafeLoader):
    """safe_load silently keeps the last of two equal keys; the registry must never have any."""


def _construct_mapping_without_duplicates(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False):
    seen: set = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_DuplicateCheckingLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping_without_duplicates
)


@pytest.fixture(scope="module")
def registry() -> dict:
    with REGISTRY_PATH.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@pytest.fixture(scope="module")
def params(registry: dict) -> dict:
    return registry["parameters"]


def _alias_key(alias) -> str:
    return alias if isinstance(alias, str) else alias["key"]


def _matches_type(value, type_name: str) -> bool:
    """Whether a default/ladder/none_means value is a valid normalised value of `type_name`."""
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if type_name == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if type_name in {"float", "number"}:
        return is_number
    if type_name == "bool":
        return isinstance(value, bool)
    if type_name in {"str", "path"}:
        return isinstance(value, str)
    if type_name == "resolution":
        return (
            isinstance(value, list)
            and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
        )
    if type_name == "float_list":
        return isinstance(value, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    if type_name in {"str_list", "kv_list"}:
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    raise AssertionError(f"unknown type {type_name}")


def _alias_owners(params: dict) -> dict[tuple[str, str], set[str]]:
    owners: dict[tuple[str, str], set[str]] = defaultdict(set)
    for name, entry in params.items():
        for kind, aliases in (entry.get("aliases") or {}).items():
            for alias in aliases:
                owners[(kind, _alias_key(alias))].add(name)
    return owners


def _all_metadata_keys(params: dict) -> dict[str, str]:
    return {
        _alias_key(a): name for name, entry in params.items() for a in (entry.get("aliases") or {}).get("metadata", [])
    }


# ----------------------------------------------------------------------------------- the file itself


def test_registry_has_no_duplicate_keys_anywhere():
    with REGISTRY_PATH.open(encoding="utf-8") as handle:
        yaml.load(handle, Loader=_DuplicateCheckingLoader)  # noqa: S506 - a SafeLoader subclass


def test_top_level_blocks(registry: dict):
    assert set(registry) == {"categories", "impacts", "metadata_ignore", "parameters", "credential_keys"}
    assert set(registry["categories"]) == CATEGORIES
    assert all(isinstance(label, str) and label for label in registry["categories"].values())
    assert registry["impacts"] == IMPACTS
    ignore = registry["metadata_ignore"]
    assert len(ignore) == len(set(ignore)), "metadata_ignore lists a key twice"
    assert {"ss_session_id", "ss_epoch", "ss_steps", "ss_tag_frequency", "modelspec.date"} <= set(ignore)


# ----------------------------------------------------------------------------------- every entry


def test_entry_fields_category_impact_type_rationale(params: dict):
    problems = []
    for name, entry in params.items():
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            problems.append(f"{name}: canonical name is not snake_case")
        if not isinstance(entry, dict):
            problems.append(f"{name}: entry is not a mapping")
            continue
        unknown = set(entry) - ENTRY_FIELDS
        if unknown:
            problems.append(f"{name}: unknown fields {sorted(unknown)}")
        if entry.get("category") not in CATEGORIES:
            problems.append(f"{name}: category {entry.get('category')!r}")
        if entry.get("impact") not in IMPACTS:
            problems.append(f"{name}: impact {entry.get('impact')!r}")
        if entry.get("type") not in TYPES:
            problems.append(f"{name}: type {entry.get('type')!r}")
        rationale = entry.get("rationale")
        if not isinstance(rationale, str) or len(rationale.strip()) < 15 or "\n" in rationale.strip():
            problems.append(f"{name}: rationale must be one non-trivial line")
    assert not problems, "\n".join(problems)


def test_overridden_by_names_real_parameters_with_a_reason(params: dict):
    """`overridden_by`: rules of other parameters that, all set, take this one's place (ablate refuses it)."""
    problems = []
    seen = 0
    for name, entry in params.items():
        for rule in entry.get("overridden_by") or []:
            seen += 1
            if not isinstance(rule, dict) or set(rule) - {"params", "why", "effective"}:
                problems.append(f"{name}: overridden_by entry must be a mapping of params/why/effective")
                continue
            others = rule.get("params")
            if not isinstance(others, list) or not others or any(o not in params or o == name for o in others):
                problems.append(f"{name}: overridden_by params {others!r} must name other parameters")
            if not isinstance(rule.get("why"), str) or len(rule["why"]) < 10:
                problems.append(f"{name}: overridden_by needs a one-line why")
    assert not problems, "\n".join(problems)
    assert seen >= 4
    lr_rules = [tuple(r["params"]) for r in params["learning_rate"]["overridden_by"]]
    assert ("unet_lr", "text_encoder_lr") in lr_rules


def test_choices_only_on_str_and_canonical(params: dict):
    problems = []
    for name, entry in params.items():
        if "choices" not in entry:
            continue
        choices = entry["choices"]
        if entry["type"] != "str":
            problems.append(f"{name}: choices on type {entry['type']}")
        if not (isinstance(choices, list) and len(choices) >= 2 and all(isinstance(c, str) for c in choices)):
            problems.append(f"{name}: choices must be a list of at least two strings (a YAML `no` is a bool)")
            continue
        if len({c.lower() for c in choices}) != len(choices):
            problems.append(f"{name}: choices repeat case-insensitively")
        default = entry.get("default")
        if isinstance(default, str) and default.lower() not in {c.lower() for c in choices}:
            problems.append(f"{name}: default {default!r} not among choices")
    assert not problems, "\n".join(problems)


def test_defaults_and_none_means_match_type(params: dict):
    problems = []
    for name, entry in params.items():
        default = entry.get("default")
        if default is not None and not _matches_type(default, entry["type"]):
            problems.append(f"{name}: default {entry['default']!r} is not a {entry['type']}")
        if "none_means" in entry:
            if entry.get("default", "absent") is not None:
                problems.append(f"{name}: none_means needs `default: null`")
            if not _matches_type(entry["none_means"], entry["type"]):
                problems.append(f"{name}: none_means {entry['none_means']!r} is not a {entry['type']}")
    assert not problems, "\n".join(problems)


def test_expand_only_and_always_on_kv_list(params: dict):
    for name, entry in params.items():
        if entry["type"] == "kv_list":
            assert entry.get("expand") in EXPAND_KINDS, name
        else:
            assert "expand" not in entry, name
    expanded = {entry["expand"] for entry in params.values() if "expand" in entry}
    assert expanded == EXPAND_KINDS


def test_ladders_are_typed_distinct_and_present(params: dict):
    problems = []
    for name, entry in params.items():
        if "ladder" not in entry:
            continue
        ladder = entry["ladder"]
        if not isinstance(ladder, list) or len(ladder) < 2:
            problems.append(f"{name}: ladder needs at least two values")
            continue
        if len({repr(v) for v in ladder}) != len(ladder):
            problems.append(f"{name}: ladder repeats a value")
        for value in ladder:
            if not _matches_type(value, entry["type"]):
                problems.append(f"{name}: ladder value {value!r} is not a {entry['type']}")
            if "choices" in entry and value not in entry["choices"]:
                problems.append(f"{name}: ladder value {value!r} not among choices")
    missing = [name for name in LADDER_PARAMS if "ladder" not in params.get(name, {})]
    assert not missing, f"no ladder for {missing}"
    assert not problems, "\n".join(problems)


def test_derived_rows(params: dict):
    derived = {name for name, entry in params.items() if entry.get("derived")}
    assert derived == DERIVED_PARAMS
    for name in derived:
        entry = params[name]
        assert entry["derived"] is True
        assert "aliases" not in entry, f"{name}: derived rows are never read from files"
        assert "default" not in entry and "ladder" not in entry, name
    for name, entry in params.items():
        assert entry.get("derived", False) in (True, False), name


# ----------------------------------------------------------------------------------- aliases


def test_alias_shapes(params: dict):
    problems = []
    for name, entry in params.items():
        aliases = entry.get("aliases")
        if aliases is None:
            continue
        if not isinstance(aliases, dict) or not aliases:
            problems.append(f"{name}: aliases must be a non-empty mapping")
            continue
        for kind, keys in aliases.items():
            if kind not in ALIAS_KINDS:
                problems.append(f"{name}: unknown alias kind {kind!r}")
            if not isinstance(keys, list) or not keys:
                problems.append(f"{name}.{kind}: must be a non-empty list")
                continue
            own = [_alias_key(a) if isinstance(a, (str, dict)) else None for a in keys]
            if len(set(own)) != len(own):
                problems.append(f"{name}.{kind}: a key is listed twice")
            for alias in keys:
                if isinstance(alias, str):
                    if not alias or alias.startswith("-") or alias != alias.strip():
                        problems.append(f"{name}.{kind}: bad key {alias!r}")
                    continue
                if not isinstance(alias, dict) or not isinstance(alias.get("key"), str):
                    problems.append(f"{name}.{kind}: alias {alias!r} needs a string `key`")
                    continue
                extra = set(alias) - {"key", "sd_scripts"}
                if not extra and "sd_scripts" in alias:
                    if kind != "cli":
                        problems.append(f"{name}.{kind}: sd_scripts only on cli spellings")
                elif extra == {"scale"}:
                    if entry["type"] not in {"int", "float", "number"} or not isinstance(alias["scale"], (int, float)):
                        problems.append(f"{name}.{kind}: scale needs a numeric parameter and number")
                elif extra == {"value"}:
                    if not _matches_type(alias["value"], entry["type"]):
                        problems.append(f"{name}.{kind}: value {alias['value']!r} is not a {entry['type']}")
                    if "choices" in entry and alias["value"] not in entry["choices"]:
                        problems.append(f"{name}.{kind}: value {alias['value']!r} not among choices")
                else:
                    problems.append(f"{name}.{kind}: alias {alias!r} needs exactly one of scale/value")
    assert not problems, "\n".join(problems)


def test_no_alias_maps_to_two_parameters(params: dict):
    clashes = {
        f"{kind}:{key}": sorted(owners) for (kind, key), owners in _alias_owners(params).items() if len(owners) > 1
    }
    assert not clashes, clashes


def test_explicit_cli_and_toml_aliases_do_not_shadow_canonical_names(params: dict):
    """cli/config_toml keys default to the canonical name: an alias equal to another name is ambiguous."""
    for (kind, key), owners in _alias_owners(params).items():
        if kind in IMPLICIT_CANONICAL_KINDS and key in params:
            assert owners == {key}, f"{kind}:{key} is the canonical name of {key} but maps to {owners}"


def test_metadata_aliases_are_real_metadata_keys_and_not_ignored(registry: dict, params: dict):
    ignore = set(registry["metadata_ignore"])
    for key, name in _all_metadata_keys(params).items():
        packed = tuple(f"{k}." for k in PACKED_KEYS)  # JSON-valued keys, flattened (ot_config.lora_rank)
        assert key.startswith(("ss_", "modelspec.", *packed)), f"{name}: {key} is not a metadata key"
        assert key not in ignore, f"{key} is both ignored and mapped to {name}"


def test_every_ss_key_of_4_2_is_mapped_or_ignored(registry: dict, params: dict):
    mapped = set(_all_metadata_keys(params)) | set(registry["metadata_ignore"])
    missing = [key for key in SS_KEYS_4_2 + SS_KEYS_4_3_4_4 if key not in mapped]
    assert not missing, missing


@pytest.mark.skipif(not REFERENCE_PATH.exists(), reason="sd-scripts reference notes not on this machine")
def test_ss_key_list_agrees_with_the_reference():
    text = REFERENCE_PATH.read_text(encoding="utf-8")
    section = text.split("### 4.2", 1)[1].split("### 4.3", 1)[0]
    # the section says "there is no ss_full_bf16"
    in_reference = set(re.findall(r"`(ss_[a-z0-9_]+)`", section)) - {"ss_full_bf16"}
    assert in_reference == set(SS_KEYS_4_2)


@pytest.mark.skipif(not REFERENCE_PATH.exists(), reason="sd-scripts reference notes not on this machine")
def test_sd_scripts_arg_list_agrees_with_the_reference():
    text = REFERENCE_PATH.read_text(encoding="utf-8")
    section = text.split("## 1. Command-line arguments", 1)[1].split("## 2. ", 1)[0]
    in_reference = set(re.findall(r"--([a-z][a-z0-9_]*)", section)) - SD_SCRIPTS_NON_PARAMS
    assert in_reference == set(SD_SCRIPTS_ARGS)


# ----------------------------------------------------------------------------------- sd-scripts coverage


def test_every_sd_scripts_argument_is_a_parameter(params: dict):
    missing = [arg for arg in SD_SCRIPTS_ARGS if arg not in params]
    assert not missing, missing
    for arg in SD_SCRIPTS_ARGS:
        assert not params[arg].get("derived"), arg


def test_sd_scripts_flags_default_to_false(params: dict):
    for arg in SD_SCRIPTS_ARGS:
        entry = params[arg]
        if entry["type"] == "bool":
            assert entry.get("default", "absent") is False, f"{arg}: a store_true flag defaults to false"
        else:
            assert "default" in entry, f"{arg}: sd-scripts arguments always have a known default"


def test_every_argument_has_a_kind(params: dict):
    """The launch parser (store_true flags, nargs='*' lists) and ablate's argument table read the kind."""
    problems = []
    for name, entry in params.items():
        if entry.get("derived"):
            if "kind" in entry or "sd_scripts" in entry:
                problems.append(f"{name}: a derived row is no argument (no kind, no sd_scripts)")
            continue
        kind = entry.get("kind")
        if kind not in ARG_KINDS:
            problems.append(f"{name}: kind must be one of {sorted(ARG_KINDS)}, got {kind!r}")
        elif (kind == "flag") != (entry["type"] == "bool"):
            problems.append(f"{name}: kind flag goes with type bool and only with it")
    assert not problems, "\n".join(problems)


def test_sd_scripts_facts_are_well_formed(params: dict):
    problems = []
    for name, entry in params.items():
        spec = entry.get("sd_scripts")
        if spec is None:
            continue
        if name not in SD_SCRIPTS_ARGS:
            problems.append(f"{name}: sd_scripts on a parameter the reference does not list as an argument")
        if spec is True:
            continue
        if not isinstance(spec, dict) or set(spec) - SD_SCRIPTS_FIELDS:
            problems.append(f"{name}: sd_scripts must be true or a mapping of {sorted(SD_SCRIPTS_FIELDS)}")
            continue
        if "type" in spec and spec["type"] not in ARGPARSE_TYPES:
            problems.append(f"{name}: argparse type {spec['type']!r}")
    assert not problems, "\n".join(problems)


def test_ranges_are_ordered_pairs_on_numbers(params: dict):
    for name, entry in params.items():
        if "range" not in entry:
            continue
        low, high = entry["range"]
        assert entry["type"] in {"int", "float", "number"}, name
        assert low is None or high is None or low <= high, name
        default = entry.get("default")
        if isinstance(default, (int, float)) and not isinstance(default, bool):
            assert (low is None or default >= low) and (high is None or default <= high), name


def test_legacy_and_value_aliases(params: dict):
    owners = _alias_owners(params)
    assert owners[("cli", "caption_extention")] == {"caption_extension"}
    assert owners[("cli", "dataset_repeats")] == {"num_repeats"}
    cli_opt = {
        (_alias_key(a), a.get("value") if isinstance(a, dict) else None)
        for a in params["optimizer_type"]["aliases"]["cli"]
    }
    assert {("use_8bit_adam", "AdamW8bit"), ("use_lion_optimizer", "Lion")} <= cli_opt


# ----------------------------------------------------------------------------------- facts from the reference


@pytest.mark.parametrize(
    ("kind", "key", "name"),
    [
        ("metadata", "ss_batch_size_per_device", "train_batch_size"),
        ("metadata", "ss_debiased_estimation", "debiased_estimation_loss"),
        ("metadata", "ss_sd_model_name", "pretrained_model_name_or_path"),
        ("metadata", "ss_base_model_version", "base_model_version"),
        ("metadata", "modelspec.architecture", "modelspec_architecture"),
        ("metadata", "modelspec.prediction_type", "prediction_type"),
        ("metadata", "ss_network_args", "network_args"),
        ("dataset_toml", "batch_size", "train_batch_size"),
        ("dataset_toml", "num_repeats", "num_repeats"),
        ("gui", "max_resolution", "resolution"),
        ("gui", "optimizer", "optimizer_type"),
        ("gui", "epoch", "gui_epoch"),
        ("gui", "LoRA_type", "lora_type"),
        ("gui", "LyCORIS_preset", "preset"),
        ("gui", "sdxl", "gui_sdxl"),
        ("gui", "sdxl_no_half_vae", "no_half_vae"),
        ("gui", "sdxl_cache_text_encoder_outputs", "cache_text_encoder_outputs"),
        ("gui", "xformers", "gui_xformers"),
        ("network_args", "dropout", "network_dropout"),
        ("network_args", "conv_dim", "conv_dim"),
        ("network_args", "use_cp", "use_tucker"),
        ("optimizer_args", "weight_decay", "weight_decay"),
        ("trainer_config", "network.linear", "network_dim"),
        ("trainer_config", "network.linear_alpha", "network_alpha"),
        ("trainer_config", "train.lr", "learning_rate"),
        ("trainer_config", "snr_gamma", "min_snr_gamma"),
        ("trainer_config", "adam_weight_decay", "weight_decay"),
        ("trainer_config", "ema_config.ema_decay", "ema_decay"),
        ("trainer_config", "datasets.caption_ext", "caption_extension"),
        ("trainer_config", "training.optimizer", "optimizer_type"),
    ],
)
def test_known_aliases(params: dict, kind: str, key: str, name: str):
    assert _alias_owners(params)[(kind, key)] == {name}


def test_gui_lr_warmup_is_a_percentage(params: dict):
    gui = params["lr_warmup_steps"]["aliases"]["gui"]
    assert {"key": "lr_warmup", "scale": 0.01} in gui


@pytest.mark.parametrize(
    ("name", "default", "none_means"),
    [
        ("network_dim", None, 4),
        ("max_token_length", None, 75),
        ("clip_skip", None, 1),
        ("min_timestep", None, 0),
        ("max_timestep", None, 1000),
    ],
)
def test_none_stands_for_a_value(params: dict, name: str, default, none_means):
    assert params[name]["default"] == default
    assert params[name]["none_means"] == none_means


@pytest.mark.parametrize(
    ("name", "default"),
    [
        ("learning_rate", 2.0e-6),
        ("optimizer_type", "AdamW"),
        ("lr_scheduler", "constant"),
        ("lr_warmup_steps", 0),
        ("max_grad_norm", 1.0),
        ("max_train_steps", 1600),
        ("train_batch_size", 1),
        ("gradient_accumulation_steps", 1),
        ("mixed_precision", "no"),
        ("network_alpha", 1),
        ("caption_extension", ".caption"),
        ("keep_tokens", 0),
        ("multires_noise_discount", 0.3),
        ("loss_type", "l2"),
        ("huber_schedule", "snr"),
        ("huber_c", 0.1),
        ("prior_loss_weight", 1.0),
        ("max_data_loader_n_workers", 8),
        ("min_bucket_reso", 256),
        ("max_bucket_reso", 1024),
        ("bucket_reso_steps", 64),
        ("sample_sampler", "ddim"),
        ("save_precision", None),
        ("max_train_epochs", None),
        ("noise_offset", None),
        ("min_snr_gamma", None),
        ("seed", None),
    ],
)
def test_sd_scripts_defaults(params: dict, name: str, default):
    assert params[name]["default"] == default
    assert type(params[name]["default"]) is type(default)


def test_impact_levels_of_key_knobs(params: dict):
    high = {
        "network_dim",
        "learning_rate",
        "optimizer_type",
        "lr_scheduler",
        "lr_warmup_steps",
        "pretrained_model_name_or_path",
        "resolution",
        "noise_offset",
        "min_snr_gamma",
        "max_train_epochs",
        "max_train_steps",
        "v_parameterization",
        "ema_decay",
        "lora_scale",
        "caption_fingerprint",
    }
    medium = {
        "network_alpha",
        "train_batch_size",
        "mixed_precision",
        "shuffle_caption",
        "keep_tokens",
        "caption_dropout_rate",
        "num_repeats",
        "clip_skip",
        "max_token_length",
        "weight_decay",
    }
    low = {
        "xformers",
        "gradient_checkpointing",
        "cache_latents",
        "max_data_loader_n_workers",
        "save_every_n_epochs",
        "logging_dir",
    }
    for names, level in ((high, "high"), (medium, "medium"), (low, "low")):
        wrong = {n: params[n]["impact"] for n in names if params[n]["impact"] != level}
        assert not wrong, f"expected {level}: {wrong}"


def test_bookkeeping_is_never_high_impact(params: dict):
    for name, entry in params.items():
        if name.startswith(
            (
                "log_",
                "logging_",
                "sample_",
                "huggingface_",
                "metadata_",
                "wandb_",
                "console_",
                "save_every",
                "save_last",
                "validate_",
            )
        ):
            assert entry["category"] in {"other", "duration"} and entry["impact"] == "low", name


def test_active_when_names_real_parameters_and_well_formed_conditions(params: dict):
    problems = []
    for name, entry in params.items():
        for other, condition in (entry.get("active_when") or {}).items():
            if other not in params:
                problems.append(f"{name}: active_when names unknown parameter {other!r}")
            if condition != "set" and not isinstance(condition, list):
                problems.append(f"{name}: active_when.{other} must be 'set' or a list of values")
        if "replicate" in entry and entry["replicate"] is not True:
            problems.append(f"{name}: replicate is true or absent")
    assert not problems, "\n".join(problems)

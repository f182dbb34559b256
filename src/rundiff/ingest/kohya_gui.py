"""bmaltais/kohya_ss GUI configuration JSON (saved with "Save", and at every training start).

The GUI stores every field, numbers often as strings, 0 or "" for "not set", `lr_warmup` as a
percentage, `text_encoder_lr: 0` for UNet-only training and the network as `LoRA_type`. This module
turns those conventions into the facts sd-scripts would actually receive, as the GUI's own
`train_model` builds them (bmaltais/kohya_ss `kohya_gui/lora_gui.py`, checked at 45088f04):

- fields the GUI does not pass on under the file's other settings (the noise-offset type, the
  per-model checkboxes, a LoRA type without conv layers, a zero learning rate) are not facts; each
  such field that holds a value is named in a warning saying why it is not in effect;
- `additional_parameters` is parsed as the command line it is (quotes removed, split on
  whitespace, as the GUI does) and applied after the GUI's own settings, so it wins, as under the
  GUI since v24 (it passes them after `--config_file <its toml>`; v23 and older put them first,
  where the GUI's own later flag won).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rundiff.model import Fact, Provenance, SourceFile, SourceKind

#: LoRA_type -> (network_module, algo or None, lora_type)
LORA_TYPES: dict[str, tuple[str, str | None, str]] = {
    "standard": ("networks.lora", None, "lora"),
    "kohya locon": ("networks.lora", None, "locon"),
    "kohya dylora": ("networks.dylora", None, "dylora"),
    "lora-fa": ("networks.lora_fa", None, "lora-fa"),
    "kohya loha": ("networks.loha", None, "loha"),
    "kohya lokr": ("networks.lokr", None, "lokr"),
    "locon": ("lycoris.kohya", "locon", "locon"),
    "lycoris/locon": ("lycoris.kohya", "locon", "locon"),
    "lycoris/loha": ("lycoris.kohya", "loha", "loha"),
    "lycoris/lokr": ("lycoris.kohya", "lokr", "lokr"),
    "lycoris/ia3": ("lycoris.kohya", "ia3", "ia3"),
    "lycoris/dylora": ("lycoris.kohya", "dylora", "dylora"),
    "lycoris/glora": ("lycoris.kohya", "glora", "glora"),
    "lycoris/boft": ("lycoris.kohya", "boft", "boft"),
    "lycoris/diag-oft": ("lycoris.kohya", "diag-oft", "diag-oft"),
    "lycoris/native fine-tuning": ("lycoris.kohya", "full", "full"),
    "flux1": ("networks.lora_flux", None, "lora"),
    "flux1 oft": ("networks.oft_flux", None, "oft"),
}
#: LoRA types whose conv_dim / conv_alpha the GUI passes on (Standard ignores them).
_CONV_TYPES = {"locon", "dylora", "loha", "lokr", "glora", "full", "boft", "diag-oft"}
#: Keys the GUI treats as "0 means not set": they never reach sd-scripts when 0.
_ZERO_IS_UNSET_EXCEPT = {
    "keep_tokens",
    "caption_dropout_rate",
    "caption_dropout_every_n_epochs",
    "caption_tag_dropout_rate",
    "max_data_loader_n_workers",
}
_NOISE_ORIGINAL = {"noise_offset", "adaptive_noise_scale", "noise_offset_random_strength"}
_NOISE_MULTIRES = {"multires_noise_iterations", "multires_noise_discount"}
#: GUI-only bookkeeping keys that say nothing about the training.
_GUI_ONLY = {
    "model_list",
    "save_as_bool",
    "file_path",
    "save_as",
    "sample_prompts",
    "wandb_api_key",
    "huggingface_token",
    "additional_parameters",
    "extra_accelerate_launch_args",
    "LoRA_type",
    "LyCORIS_preset",
    "noise_offset_type",
    "xformers",
    "sdxl",
    "v2",
    "flux1_checkbox",
    "sd3_checkbox",
    "lumina_checkbox",
    "anima_checkbox",
    "hunyuan_image_checkbox",
    "sdxl_checkbox",
    "lr_warmup",
    "lr_warmup_steps",
}
_ACCELERATE_KEYS = {
    "num_cpu_threads_per_process",
    "num_processes",
    "num_machines",
    "multi_gpu",
    "gpu_ids",
    "main_process_port",
    "dynamo_backend",
    "dynamo_mode",
    "dynamo_use_fullgraph",
    "dynamo_use_dynamic",
}


def looks_like_gui_config(data: dict[str, Any]) -> bool:
    keys = set(data)
    if "LoRA_type" in keys:
        return True
    return "pretrained_model_name_or_path" in keys and bool(
        keys & {"max_resolution", "model_list", "optimizer", "save_model_as", "sdxl", "learning_rate_te"}
    )


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def _is_zero(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return value == 0
    if isinstance(value, str):
        try:
            return float(value) == 0
        except ValueError:
            return False
    return False


@dataclass(frozen=True)
class _Gate:
    """GUI keys written to sd-scripts only when `passes(settings)`; `why` says what switches them off."""

    keys: frozenset[str]
    passes: Callable[[_Settings], bool]
    why: Callable[[_Settings], str]


@dataclass(frozen=True)
class _Settings:
    """The switches gates depend on."""

    noise_type: str
    lora_type: str | None
    checkboxes: frozenset[str]  # "sdxl", "flux1", "sd3", "hunyuan_image", "anima", "lumina"
    lora_written: str = ""  # LoRA_type as the file writes it, for messages

    def on(self, *names: str) -> bool:
        return bool(self.checkboxes & set(names))


_FLUX_ONLY = {
    "fp8_base_unet",
    "split_mode",
    "t5xxl_max_token_length",
    "guidance_scale",
    "mem_eff_save",
    "apply_t5_attn_mask",
    "cpu_offload_checkpointing",
    "single_blocks_to_swap",
    "double_blocks_to_swap",
    "discrete_flow_shift",
    "model_prediction_type",
    "timestep_sampling",
    "sigmoid_scale",
    "clip_l",
    "t5xxl",
    "ae",
    "flux1_cache_text_encoder_outputs",
    "flux1_cache_text_encoder_outputs_to_disk",
}
_SD3_ONLY = {
    "clip_g",
    "clip_g_dropout_rate",
    "sd3_clip_l_dropout_rate",
    "sd3_enable_scaled_pos_embed",
    "logit_mean",
    "logit_std",
    "mode_scale",
    "pos_emb_random_crop_rate",
    "save_clip",
    "save_t5xxl",
    "sd3_t5_dropout_rate",
    "t5xxl_device",
    "t5xxl_dtype",
    "sd3_text_encoder_batch_size",
    "weighting_scheme",
    "sd3_fused_backward_pass",
    "sd3_disable_mmap_load_safetensors",
    "sd3_clip_l",
    "sd3_t5xxl",
    "sd3_cache_text_encoder_outputs",
    "sd3_cache_text_encoder_outputs_to_disk",
}
_MODEL_CHECKBOXES = (
    ("sdxl", "sdxl"),
    ("sdxl_checkbox", "sdxl"),
    ("flux1_checkbox", "flux1"),
    ("sd3_checkbox", "sd3"),
    ("hunyuan_image_checkbox", "hunyuan_image"),
    ("anima_checkbox", "anima"),
    ("lumina_checkbox", "lumina"),
)
#: The script the GUI runs: the first checked box in this order wins (lora_gui.py train_model).
_SCRIPT_ORDER = (
    ("sdxl", "sdxl", "sdxl_train_network.py"),
    ("flux1", "flux", "flux_train_network.py"),
    ("sd3", "sd3", "sd3_train_network.py"),
    ("hunyuan_image", "hunyuan_image", "hunyuan_image_train_network.py"),
    ("anima", "anima", "anima_train_network.py"),
    ("lumina", "lumina", "lumina_train_network.py"),
)

_GATES: tuple[_Gate, ...] = (
    _Gate(
        frozenset(_NOISE_ORIGINAL),
        lambda s: s.noise_type == "original",
        lambda s: f"the GUI passes it only with noise_offset_type Original, and this file has {s.noise_type!r}",
    ),
    _Gate(
        frozenset(_NOISE_MULTIRES),
        lambda s: s.noise_type == "multires",
        lambda s: f"the GUI passes it only with noise_offset_type Multires, and this file has {s.noise_type!r}",
    ),
    _Gate(
        frozenset({"conv_dim", "conv_alpha"}),
        lambda s: s.lora_type in _CONV_TYPES,
        lambda s: f"LoRA_type {s.lora_written or 'unset'!r} has no conv layers, so the GUI does not pass it",
    ),
    _Gate(
        frozenset({"sdxl_no_half_vae", "sdxl_cache_text_encoder_outputs"}),
        lambda s: s.on("sdxl"),
        lambda s: "the GUI passes it only with the sdxl checkbox on",
    ),
    _Gate(
        frozenset(_FLUX_ONLY),
        lambda s: s.on("flux1"),
        lambda s: "a Flux setting: the GUI passes it only with flux1_checkbox on",
    ),
    _Gate(
        frozenset(_SD3_ONLY),
        lambda s: s.on("sd3"),
        lambda s: "an SD3 setting: the GUI passes it only with sd3_checkbox on",
    ),
    _Gate(
        frozenset({"clip_skip"}),
        lambda s: not s.on("hunyuan_image", "anima", "lumina"),
        lambda s: "the GUI does not pass clip_skip for HunyuanImage, Anima or Lumina",
    ),
    _Gate(
        frozenset({"max_token_length"}),
        lambda s: not s.on("flux1", "hunyuan_image", "anima", "lumina"),
        lambda s: "the GUI does not pass max_token_length for Flux, HunyuanImage, Anima or Lumina",
    ),
    _Gate(
        frozenset({"v2"}), lambda s: not s.on("hunyuan_image"), lambda s: "the GUI does not pass v2 for HunyuanImage"
    ),
)


def _lines(text: str) -> dict[str, int]:
    found: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        match = re.match(r'\s*"([^"]+)"\s*:', line)
        if match:
            found.setdefault(match.group(1), number)
    return found


def ingest_gui_json(path: Path, data: dict[str, Any], text: str) -> SourceFile:
    shown = str(path)
    lines = _lines(text)
    facts: list[Fact] = []
    warnings: list[str] = []

    def add(
        key: str,
        value: Any,
        *,
        source_key: str | None = None,
        kind: SourceKind = SourceKind.GUI,
        provenance: Provenance = Provenance.EXPLICIT,
        note: str | None = None,
    ) -> None:
        facts.append(Fact(key, value, kind, shown, lines.get(source_key or key), provenance, note))

    lora_type_raw = str(data.get("LoRA_type") or "").strip()
    module, algo, lora_type = LORA_TYPES.get(lora_type_raw.lower(), (None, None, None))
    if lora_type_raw:
        add("lora_type", lora_type or lora_type_raw, source_key="LoRA_type", kind=SourceKind.CLI)
    if module:
        add(
            "network_module",
            module,
            source_key="LoRA_type",
            kind=SourceKind.CLI,
            note=f"from LoRA_type {lora_type_raw!r}",
        )
    if algo:
        add("algo", algo, source_key="LoRA_type", kind=SourceKind.CLI, note=f"from LoRA_type {lora_type_raw!r}")
    if module == "lycoris.kohya" and not _is_empty(data.get("LyCORIS_preset")):
        add("preset", data["LyCORIS_preset"], source_key="LyCORIS_preset", kind=SourceKind.CLI)

    # Which script the GUI launches, and so the model family.
    checked = frozenset(name for key, name in _MODEL_CHECKBOXES if _truthy(data.get(key)))
    script = next(((fam, file) for box, fam, file in _SCRIPT_ORDER if box in checked), None)
    family = script[0] if script else ("sd2" if _truthy(data.get("v2")) else "sd1")
    if script and len([b for b, _, _ in _SCRIPT_ORDER if b in checked]) > 1:
        ignored = [b for b, _, _ in _SCRIPT_ORDER if b in checked][1:]
        warnings.append(
            f"{shown}: several model checkboxes are on ({', '.join(sorted(checked))}); the GUI runs "
            f"{script[1]} (the first in its order), so {', '.join(ignored)} does not choose the script"
        )
    if _truthy(data.get("v2")) and "hunyuan_image" not in checked:
        add("v2", True)
    add(
        "model_family",
        family,
        kind=SourceKind.CLI,
        provenance=Provenance.INFERRED,
        note="from the GUI's model checkboxes (sdxl / flux1 / sd3 / hunyuan_image / anima / lumina / v2)",
    )
    add(
        "training_type",
        "lora" if lora_type_raw else "full",
        kind=SourceKind.CLI,
        provenance=Provenance.INFERRED,
        note="LoRA_type present" if lora_type_raw else "no LoRA_type",
    )

    # Attention backend: a string "xformers" / "sdpa" / "none" (old files: a bool).
    attention = data.get("xformers")
    if isinstance(attention, bool):
        attention = "xformers" if attention else "none"
    if isinstance(attention, str) and attention.lower() in ("xformers", "sdpa"):
        add(attention.lower(), True, source_key="xformers", kind=SourceKind.CLI)

    # Warmup: the absolute override wins when above 0, else the percentage (a ratio in sd-scripts).
    steps_override = data.get("lr_warmup_steps")
    if not _is_empty(steps_override) and not _is_zero(steps_override):
        add("lr_warmup_steps", steps_override, kind=SourceKind.CLI)
    elif not _is_empty(data.get("lr_warmup")):
        add("lr_warmup", data["lr_warmup"], note="GUI percentage of total steps")

    # The train mode follows from the two learning rates (lora_gui.py resolve_network_train_flags):
    # TE 0 with UNet above 0 is UNet-only, UNet 0 with TE above 0 text-encoder-only; both 0 train both.
    te_zero, unet_zero = _is_zero_or_empty(data.get("text_encoder_lr")), _is_zero_or_empty(data.get("unet_lr"))
    if "hunyuan_image" in checked:
        add(
            "network_train_unet_only",
            True,
            source_key="hunyuan_image_checkbox",
            kind=SourceKind.CLI,
            note="the GUI trains the UNet only for HunyuanImage",
        )
    elif te_zero and not unet_zero and "text_encoder_lr" in data:
        add(
            "network_train_unet_only",
            True,
            source_key="text_encoder_lr",
            kind=SourceKind.CLI,
            note="text_encoder_lr 0 with a UNet LR means UNet-only in the GUI",
        )
    elif unet_zero and not te_zero and "unet_lr" in data:
        add(
            "network_train_text_encoder_only",
            True,
            source_key="unet_lr",
            kind=SourceKind.CLI,
            note="unet_lr 0 with a text encoder LR means text-encoder-only in the GUI",
        )

    settings = _Settings(str(data.get("noise_offset_type") or "Original").lower(), lora_type, checked, lora_type_raw)
    held_back: dict[str, list[str]] = {}
    for key, value in data.items():
        if key in _GUI_ONLY or key.startswith("__"):
            continue
        gate = next((g for g in _GATES if key in g.keys), None)
        if key.startswith("sdxl_") and "sdxl" not in checked:
            gate = _GATES[3]
        if key in ("text_encoder_lr", "unet_lr") and _is_zero(value):
            continue  # 0 means "not set" for both (see the train mode above)
        if _is_empty(value) or value is False:  # a false checkbox passes no flag: the default applies
            continue
        if _is_zero(value) and key not in _ZERO_IS_UNSET_EXCEPT:
            continue
        if gate is not None and not gate.passes(settings):
            held_back.setdefault(gate.why(settings), []).append(f"{key}={value!r}")
            continue
        kind = SourceKind.LAUNCHER if key in _ACCELERATE_KEYS else SourceKind.GUI
        add(key, value, kind=kind)
    for why, items in held_back.items():
        where = lines.get(items[0].split("=", 1)[0])
        warnings.append(
            f"{shown}:{where}: not in effect: {', '.join(items)}: {why}"
            if where
            else f"{shown}: not in effect: {', '.join(items)}: {why}"
        )
    _additional_parameters(data, facts, warnings, shown, lines)
    return SourceFile(
        shown, "kohya-gui-json", trainer="kohya_ss", facts=facts, warnings=warnings, chain=f"{shown}#gui", precedence=20
    )


def _additional_parameters(
    data: dict[str, Any], facts: list[Fact], warnings: list[str], shown: str, lines: dict[str, int]
) -> None:
    """The free-text options, parsed as the GUI passes them: quotes deleted, split on whitespace.

    They come after the GUI's own settings (the GUI's TOML) and so win; they are added last to this
    source, where a later fact for the same parameter overrides an earlier one.
    """
    from rundiff.ingest.launch import ACCELERATE_FLAGS, Launch, parse_arguments
    from rundiff.ingest.run_folder import _argument_vocabulary
    from rundiff.ingest.shell import Word

    for key, kind, owner in (
        ("additional_parameters", SourceKind.CLI, "sd-scripts"),
        ("extra_accelerate_launch_args", SourceKind.LAUNCHER, "accelerate"),
    ):
        text = data.get(key)
        if not isinstance(text, str) or not text.strip():
            continue
        line = lines.get(key)
        words = [Word(w, line or 0) for w in text.replace('"', "").split()]
        launch = Launch("", "", line or 0, "gui")
        vocabulary = (
            _argument_vocabulary()
            if kind is SourceKind.CLI
            else {"flag_args": ACCELERATE_FLAGS, "list_args": frozenset()}
        )
        args = parse_arguments(words, launch, owner, **vocabulary)
        before = {f.key: f for f in facts}
        for arg in args:
            old = before.get(arg.name)
            if old is not None and old.value != arg.value:
                warnings.append(
                    f"{shown}:{line}: {key} --{arg.name}={arg.value!r} overrides the GUI's own "
                    f"{arg.name} {old.value!r}: the GUI passes it after its own settings"
                )
            facts.append(
                Fact(
                    arg.name,
                    arg.value,
                    kind,
                    shown,
                    line,
                    note=f"from {key} (after the GUI's own settings, so it wins)",
                )
            )
        warnings.extend(f"{shown}:{line}: {key}: {w.split(': ', 1)[-1]}" for w in launch.warnings)


def _is_zero_or_empty(value: Any) -> bool:
    """The GUI's loader turns an empty or invalid learning rate into 0.0."""
    if _is_empty(value) or _is_zero(value):
        return True
    try:
        float(value)
    except (TypeError, ValueError):
        return True
    return False


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)

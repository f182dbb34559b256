"""bmaltais/kohya_ss GUI configuration JSON (saved with "Save", and at every training start).

The GUI stores every field, numbers often as strings, 0 or "" for "not set", `lr_warmup` as a
percentage, `text_encoder_lr: 0` for UNet-only training and the network as `LoRA_type`. This module
turns those conventions into the facts sd-scripts would actually receive.
"""

from __future__ import annotations

import re
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
_ZERO_IS_UNSET_EXCEPT = {"keep_tokens", "caption_dropout_rate", "caption_dropout_every_n_epochs",
                         "caption_tag_dropout_rate", "max_data_loader_n_workers"}
_NOISE_ORIGINAL = {"noise_offset", "adaptive_noise_scale", "noise_offset_random_strength"}
_NOISE_MULTIRES = {"multires_noise_iterations", "multires_noise_discount"}
#: GUI-only bookkeeping keys that say nothing about the training.
_GUI_ONLY = {"model_list", "save_as_bool", "file_path", "save_as", "sample_prompts", "wandb_api_key",
             "huggingface_token", "additional_parameters", "extra_accelerate_launch_args",
             "LoRA_type", "LyCORIS_preset", "noise_offset_type", "xformers", "sdxl", "v2",
             "flux1_checkbox", "sd3_checkbox", "lumina_checkbox", "anima_checkbox",
             "hunyuan_image_checkbox", "sdxl_checkbox", "lr_warmup", "lr_warmup_steps"}
_ACCELERATE_KEYS = {"num_cpu_threads_per_process", "num_processes", "num_machines", "multi_gpu",
                    "gpu_ids", "main_process_port", "dynamo_backend", "dynamo_mode",
                    "dynamo_use_fullgraph", "dynamo_use_dynamic"}


def looks_like_gui_config(data: dict[str, Any]) -> bool:
    keys = set(data)
    if "LoRA_type" in keys:
        return True
    return "pretrained_model_name_or_path" in keys and bool(
        keys & {"max_resolution", "model_list", "optimizer", "save_model_as", "sdxl", "learning_rate_te"})


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

    def add(key: str, value: Any, *, source_key: str | None = None, kind: SourceKind = SourceKind.GUI,
            provenance: Provenance = Provenance.EXPLICIT, note: str | None = None) -> None:
        facts.append(Fact(key, value, kind, shown, lines.get(source_key or key), provenance, note))

    lora_type_raw = str(data.get("LoRA_type") or "").strip()
    module, algo, lora_type = LORA_TYPES.get(lora_type_raw.lower(), (None, None, None))
    if lora_type_raw:
        add("lora_type", lora_type or lora_type_raw, source_key="LoRA_type", kind=SourceKind.CLI)
    if module:
        add("network_module", module, source_key="LoRA_type", kind=SourceKind.CLI,
            note=f"from LoRA_type {lora_type_raw!r}")
    if algo:
        add("algo", algo, source_key="LoRA_type", kind=SourceKind.CLI, note=f"from LoRA_type {lora_type_raw!r}")
    if module == "lycoris.kohya" and not _is_empty(data.get("LyCORIS_preset")):
        add("preset", data["LyCORIS_preset"], source_key="LyCORIS_preset", kind=SourceKind.CLI)

    # Which script the GUI launches, and so the model family.
    family = "sdxl" if _truthy(data.get("sdxl")) or _truthy(data.get("sdxl_checkbox")) else None
    family = family or ("flux" if _truthy(data.get("flux1_checkbox")) else None)
    family = family or ("sd3" if _truthy(data.get("sd3_checkbox")) else None)
    family = family or ("sd2" if _truthy(data.get("v2")) else "sd1")
    if _truthy(data.get("v2")):
        add("v2", True)
    add("model_family", family, kind=SourceKind.CLI, provenance=Provenance.INFERRED,
        note="from the GUI's model checkboxes (sdxl / v2 / flux1 / sd3)")
    add("training_type", "lora" if lora_type_raw else "full", kind=SourceKind.CLI,
        provenance=Provenance.INFERRED, note="LoRA_type present" if lora_type_raw else "no LoRA_type")

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

    # text_encoder_lr 0 means UNet-only; unet_lr 0 with a TE LR means text-encoder-only.
    te_lr, unet_lr = data.get("text_encoder_lr"), data.get("unet_lr")
    if not _is_empty(te_lr) and _is_zero(te_lr) and "text_encoder_lr" in data:
        add("network_train_unet_only", True, source_key="text_encoder_lr", kind=SourceKind.CLI,
            note="text_encoder_lr 0 means UNet-only in the GUI")
    elif not _is_empty(unet_lr) and _is_zero(unet_lr) and not _is_empty(te_lr) and not _is_zero(te_lr):
        add("network_train_text_encoder_only", True, source_key="unet_lr", kind=SourceKind.CLI,
            note="unet_lr 0 with a text encoder LR means text-encoder-only in the GUI")

    noise_type = str(data.get("noise_offset_type") or "Original").lower()
    for key, value in data.items():
        if key in _GUI_ONLY or key.startswith("__"):
            continue
        if key in _NOISE_MULTIRES and noise_type != "multires":
            continue
        if key in _NOISE_ORIGINAL and noise_type != "original":
            continue
        if key in ("conv_dim", "conv_alpha") and lora_type not in _CONV_TYPES:
            continue
        if key in ("text_encoder_lr", "unet_lr") and _is_zero(value):
            continue
        if key.startswith("sdxl_") and family != "sdxl":
            continue
        if _is_empty(value) or value is False:  # a false checkbox passes no flag: the default applies
            continue
        if _is_zero(value) and key not in _ZERO_IS_UNSET_EXCEPT:
            continue
        kind = SourceKind.LAUNCHER if key in _ACCELERATE_KEYS else SourceKind.GUI
        add(key, value, kind=kind)
    return SourceFile(shown, "kohya-gui-json", trainer="kohya_ss", facts=facts,
                      chain=f"{shown}#gui", precedence=20)


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)

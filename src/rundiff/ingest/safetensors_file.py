"""`.safetensors` weights: the training metadata (ss_*, modelspec.*) and what the tensors prove.

Header only (see rundiff.infer): metadata facts get provenance `metadata`, facts read from tensor
names, shapes and alpha scalars get provenance `weights`.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from rundiff.model import Fact, Provenance, SourceFile, SourceKind

#: ss_base_model_version / ai-toolkit / OneTrainer vocabularies -> model family
_BASE_VERSIONS = (
    (re.compile(r"^sdxl"), "sdxl"),
    (re.compile(r"^sd_v1|^sd_1"), "sd1"),
    (re.compile(r"^sd_v2|^sd_2"), "sd2"),
    (re.compile(r"^flux|^chroma"), "flux"),
    (re.compile(r"^sd_3|^sd3|^5-|^medium|^large"), "sd3"),
    (re.compile(r"^lumina"), "lumina"),
)
#: modelspec.architecture prefixes -> model family
_MODELSPEC_ARCH = (
    ("stable-diffusion-xl", "sdxl"),
    ("stable-diffusion-v1", "sd1"),
    ("stable-diffusion-v2", "sd2"),
    ("stable-diffusion-3", "sd3"),
    ("flux", "flux"),
    ("chroma", "flux"),
    ("lumina", "lumina"),
)
#: rundiff.infer architecture names -> model family
_INFER_ARCH = {
    "sd1": "sd1",
    "sd15": "sd1",
    "sd1.x": "sd1",
    "sd2": "sd2",
    "sd2.x": "sd2",
    "sdxl": "sdxl",
    "sd3": "sd3",
    "flux": "flux",
}
_DTYPES = {"F16": "fp16", "BF16": "bf16", "F32": "float", "F64": "float"}
_EPOCH_SUFFIX = re.compile(r"^(?P<stem>.*?)(?:-(?P<epoch>\d{6})|-step(?P<step>\d{8}))?$")


def checkpoint_order(path: Path) -> tuple[str, int, int]:
    """Group key and order of a saved file: `name-000003`, `name-step00000100`, then `name` last."""
    match = _EPOCH_SUFFIX.match(path.stem)
    assert match is not None
    if match.group("epoch"):
        return match.group("stem"), 1, int(match.group("epoch"))
    if match.group("step"):
        return match.group("stem"), 0, int(match.group("step"))
    return match.group("stem"), 2, 0


def final_checkpoints(paths: list[Path]) -> tuple[list[Path], list[Path]]:
    """(the last file of each save series, the intermediate ones) — epoch saves repeat the metadata."""
    groups: dict[tuple[Path, str], list[Path]] = {}
    for path in paths:
        groups.setdefault((path.parent, checkpoint_order(path)[0]), []).append(path)
    finals, skipped = [], []
    for members in groups.values():
        members.sort(key=lambda p: checkpoint_order(p)[1:])
        finals.append(members[-1])
        skipped.extend(members[:-1])
    return sorted(finals), sorted(skipped)


def split_call(text: str) -> tuple[str, dict[str, str]]:
    """`torch.optim.adamw.AdamW(weight_decay=0.01,betas=(0.9, 0.999))` -> (class path, args)."""
    head, _, rest = text.partition("(")
    args: dict[str, str] = {}
    if rest.endswith(")"):
        depth, current = 0, ""
        for char in rest[:-1] + ",":
            if char in "([{":
                depth += 1
            elif char in ")]}":
                depth -= 1
            if char == "," and depth == 0:
                key, eq, value = current.partition("=")
                if eq:
                    args[key.strip()] = value.strip()
                current = ""
            else:
                current += char
    return head.strip(), args


def _json(value: str) -> Any:
    """A JSON-encoded metadata value, or None when it is not JSON (or nested past Python's limit)."""
    try:
        return json.loads(value)
    except (ValueError, TypeError, RecursionError):
        return None


#: More images or repeats than this are not a count a trainer wrote.
MAX_COUNT = 10**9


def _count(raw: Any) -> int | None:
    """A non-negative count from a decoded JSON value (int, integral float or digit string), else None.

    Validated where it enters: ``"abc"``, ``Infinity``, ``1e308`` or a 5000-digit string are not counts.
    """
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw if 0 <= raw <= MAX_COUNT else None
    if isinstance(raw, float):
        return int(raw) if math.isfinite(raw) and raw.is_integer() and 0 <= raw <= MAX_COUNT else None
    if isinstance(raw, str):
        text = raw.strip()
        return int(text) if text.isdigit() and len(text) <= 10 and int(text) <= MAX_COUNT else None
    return None


def metadata_facts(metadata: dict[str, str], shown: str) -> list[Fact]:
    """Facts from the ss_* / modelspec.* keys, decoding the keys that pack several settings."""
    facts: list[Fact] = []

    def add(
        key: str,
        value: Any,
        kind: SourceKind = SourceKind.CLI,
        note: str | None = None,
        provenance: Provenance = Provenance.METADATA,
    ) -> None:
        facts.append(Fact(key, value, kind, f"{shown} [{source_key}]", None, provenance, note))

    for source_key, value in sorted(metadata.items()):
        if source_key == "ss_optimizer":
            class_path, args = split_call(value)
            add("optimizer_type", class_path)
            if args:
                add("optimizer_args", args)
        elif source_key == "ss_lr_scheduler" and value.startswith("adafactor:"):
            add("lr_scheduler", "adafactor")
            add("learning_rate", value.split(":", 1)[1], note="Adafactor relative_step LR")
        elif source_key == "ss_network_args":
            decoded = _json(value)
            add("network_args", decoded if isinstance(decoded, dict) else value)
        elif source_key == "ss_dataset_dirs":
            facts.extend(_dataset_dirs_facts(_json(value), f"{shown} [{source_key}]"))
        elif source_key == "ss_datasets":
            facts.extend(_datasets_facts(_json(value), f"{shown} [{source_key}]"))
        elif source_key == "ss_base_model_version":
            add(source_key, value, kind=SourceKind.METADATA)
            family = next((fam for pattern, fam in _BASE_VERSIONS if pattern.search(value.lower())), None)
            if family:
                add("model_family", family, note=f"from ss_base_model_version {value!r}")
            if value.endswith("_v") and family in ("sd1", "sd2"):
                add("v_parameterization", True, note=f"ss_base_model_version {value!r} ends in _v")
        elif source_key == "modelspec.architecture":
            add(source_key, value, kind=SourceKind.METADATA)
            arch, _, adapter = value.partition("/")
            family = next((fam for prefix, fam in _MODELSPEC_ARCH if arch.startswith(prefix)), None)
            if family:
                add("model_family", family, note=f"from modelspec.architecture {value!r}")
            add(
                "training_type",
                "lora" if adapter == "lora" else adapter or "full",
                note=f"from modelspec.architecture {value!r}",
            )
        else:
            add(source_key, value, kind=SourceKind.METADATA)
    return facts


def _dataset_dirs_facts(dirs: Any, where: str) -> list[Fact]:
    if not isinstance(dirs, dict) or not dirs:
        return []
    entries = [v for v in dirs.values() if isinstance(v, dict)]
    repeats = sorted({r for v in entries if (r := _count(v.get("n_repeats", 1))) is not None})
    counts = [_count(v.get("img_count", 0)) for v in entries]
    facts = [Fact("dataset_subsets", sorted(str(k) for k in dirs), SourceKind.CLI, where, None, Provenance.METADATA)]
    if all(c is not None for c in counts):  # one unreadable count makes the total unknown
        facts.append(Fact("image_count", sum(counts), SourceKind.CLI, where, None, Provenance.METADATA))
    if repeats:
        facts.append(
            Fact(
                "num_repeats",
                repeats[0] if len(repeats) == 1 else repeats,
                SourceKind.CLI,
                where,
                None,
                Provenance.METADATA,
            )
        )
    return facts


def _datasets_facts(datasets: Any, where: str) -> list[Fact]:
    """ss_datasets (written with --dataset_config): per-dataset and per-subset settings."""
    if not isinstance(datasets, list) or not datasets:
        return []
    values: dict[str, list[Any]] = {}
    rename = {"batch_size_per_device": "train_batch_size", "img_count": "image_count"}
    for dataset in datasets:
        if not isinstance(dataset, dict):
            continue
        for key in (
            "batch_size_per_device",
            "resolution",
            "enable_bucket",
            "min_bucket_reso",
            "max_bucket_reso",
            "num_reg_images",
        ):
            if key in dataset:
                values.setdefault(rename.get(key, key), []).append(dataset[key])
        for subset in dataset.get("subsets") or []:
            if not isinstance(subset, dict) or subset.get("is_reg"):
                continue
            for key in (
                "num_repeats",
                "shuffle_caption",
                "keep_tokens",
                "keep_tokens_separator",
                "color_aug",
                "flip_aug",
                "random_crop",
                "caption_prefix",
                "caption_suffix",
                "secondary_separator",
                "enable_wildcard",
                "class_tokens",
            ):
                if key in subset:
                    values.setdefault(key, []).append(subset[key])
            values.setdefault("image_count", []).append(_count(subset.get("img_count", 0)))
    facts = []
    for key, items in values.items():
        if key == "image_count":
            if any(x is None for x in items):  # an unreadable count: the total is unknown
                continue
            value: Any = sum(items)
        else:
            distinct = []
            for item in items:
                if item not in distinct:
                    distinct.append(item)
            value = distinct[0] if len(distinct) == 1 else distinct
        facts.append(Fact(key, value, SourceKind.CLI, where, None, Provenance.METADATA))
    return facts


def lora_type_of(fmt: str, conv_rank: int | None) -> str | None:
    """rundiff.infer's format name -> the registry's lora_type vocabulary."""
    if fmt.endswith("dora"):
        return "dora"
    if fmt.startswith("lycoris-"):
        return fmt.removeprefix("lycoris-")
    if fmt == "kohya":
        return "locon" if conv_rank else "lora"
    if fmt == "kohya-oft":
        return "oft"
    if fmt in ("peft", "diffusers", "diffusers-old", "xlabs"):
        return "lora"
    return None


def weights_facts(info: Any, shown: str) -> list[Fact]:
    """What the tensors themselves prove (rundiff.infer.LoraInfo)."""
    facts: list[Fact] = []

    def add(key: str, value: Any, note: str) -> None:
        facts.append(Fact(key, value, SourceKind.WEIGHTS, shown, None, Provenance.WEIGHTS, note))

    fmt = info.format or ""
    if fmt == "checkpoint":
        add("training_type", "full", "the file holds full model weights, not a LoRA")
    elif fmt != "unknown":
        if info.rank is not None:
            add("network_dim", info.rank, "rank from the lora_down/lora_A tensor shapes")
        elif info.ranks:  # no single network_dim: it stays unknown, the spread is its own fact
            low, high = min(info.ranks), max(info.ranks)
            add(
                "rank_per_module",
                f"{low}-{high} ({len(info.ranks)} distinct ranks)",
                "ranks differ between modules (resized or dynamic); network_dim is not one number",
            )
        if info.alpha is not None:
            add("network_alpha", info.alpha, "alpha scalars stored in the file")
        if info.conv_rank is not None:
            add("conv_dim", info.conv_rank, "rank of the 3x3 conv modules")
        if info.conv_alpha is not None:
            add("conv_alpha", info.conv_alpha, "alpha of the 3x3 conv modules")
        lora_type = lora_type_of(fmt, info.conv_rank)
        if lora_type:
            add("lora_type", lora_type, f"tensor names of the {fmt} format")
        modules = info.modules or {}
        te_modules = sum(v for k, v in modules.items() if k.startswith(("te", "text_encoder")))
        unet_modules = sum(v for k, v in modules.items() if not k.startswith(("te", "text_encoder")))
        if modules and unet_modules and not te_modules:
            add("network_train_unet_only", True, "no text-encoder modules in the file")
    family = _INFER_ARCH.get(str(info.architecture or "").lower())
    if family:
        evidence = "; ".join(info.architecture_evidence[:2])
        add(
            "model_family",
            family,
            f"architecture from tensor names and shapes ({evidence})"
            if evidence
            else "architecture from tensor names and shapes",
        )
    dtype = _DTYPES.get(str(info.dtype or ""))
    if dtype:
        add("save_precision", dtype, "dtype of the stored tensors")
    return facts


def ingest_safetensors(path: Path) -> list[SourceFile]:
    """Two sources of evidence: what the metadata says, and what the weights prove.

    They are kept apart so that a file whose metadata contradicts its weights shows a conflict.
    """
    from rundiff.infer import inspect_file

    info = inspect_file(path)
    shown = str(path)
    metadata = dict(info.metadata or {})
    trainer = None
    if any(k.startswith("ss_") for k in metadata):
        trainer = "sd-scripts"
        if "ai-toolkit" in metadata.get("software", ""):
            trainer = "ai-toolkit"
        elif any(k.startswith("ot_") for k in metadata):
            trainer = "OneTrainer"
    weights = SourceFile(shown, "safetensors-weights", facts=weights_facts(info, shown), chain=f"{shown}#weights")
    if info.truncated:
        weights.warnings.append(f"{shown}: file is truncated; only its header was read")
    sources = [weights]
    if metadata:
        sources.insert(
            0,
            SourceFile(
                shown,
                "safetensors-metadata",
                trainer=trainer,
                facts=metadata_facts(metadata, shown),
                chain=f"{shown}#metadata",
            ),
        )
    return sources

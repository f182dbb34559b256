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

from rundiff.infer.archs import family_of, normalise_base_model
from rundiff.model import Fact, Provenance, SourceFile, SourceKind

#: Metadata values that pack several settings as a JSON object (ai-toolkit, OneTrainer, diffusers,
#: SimpleTuner): flattened into dotted keys (``ot_config.lora_rank``) that the registry's ``metadata``
#: aliases map like any other key (logs-and-metadata.md §2.3-§2.5, §2.7).
PACKED_KEYS = ("training_info", "software", "lora_adapter_metadata", "ot_config", "lycoris_config")
#: Bounds on flattening (ot_config with sample prompts and concepts is large).
MAX_PACKED_FACTS, MAX_PACKED_DEPTH = 400, 4
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
        return int(text) if text.isascii() and text.isdigit() and len(text) <= 10 and int(text) <= MAX_COUNT else None
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
        elif source_key in ("ss_base_model_version", "modelspec.architecture"):
            add(source_key, value, kind=SourceKind.METADATA)
            found = normalise_base_model(value)
            if found is not None:
                arch, variant = found
                note = f"from {source_key} {value[:80]!r}" + (f" ({variant})" if variant else "")
                add("model_family", family_of(arch), note=note)
                if variant == "v-prediction":
                    add("v_parameterization", True, note=f"{source_key} {value!r} ends in _v")
            if source_key == "modelspec.architecture":
                adapter = value.partition("/")[2]
                add(
                    "training_type",
                    "lora" if adapter == "lora" else adapter or "full",
                    note=f"from modelspec.architecture {value[:80]!r}",
                )
        elif source_key in PACKED_KEYS and isinstance(packed := _json(value), dict):
            for dotted, leaf in _flatten(packed, source_key):
                facts.append(
                    Fact(dotted, leaf, SourceKind.METADATA, f"{shown} [{source_key}]", None, Provenance.METADATA, None)
                )
        else:
            add(source_key, value, kind=SourceKind.METADATA)
    return facts


def _flatten(obj: dict, prefix: str) -> list[tuple[str, Any]]:
    """Scalar leaves of a packed JSON object as (dotted key, value), bounded in depth and count."""
    out: list[tuple[str, Any]] = []
    stack = [(prefix, obj, 0)]
    while stack and len(out) < MAX_PACKED_FACTS:
        key, value, depth = stack.pop()
        if isinstance(value, dict) and depth < MAX_PACKED_DEPTH:
            stack.extend((f"{key}.{k}", v, depth + 1) for k, v in reversed(list(value.items())))
        elif isinstance(value, str | int | float | bool) or value is None:
            out.append((key, value))
    return out


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
    family = family_of(info.architecture) if info.architecture else None
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
    trainer = info.trainer  # from metadata keys first, then the key layout (rundiff.infer.trainers)
    weights = SourceFile(shown, "safetensors-weights", facts=weights_facts(info, shown), chain=f"{shown}#weights")
    if not metadata and info.trainer:  # no metadata: the key layout alone names the trainer (ComfyUI, PEFT)
        weights.trainer, weights.evidence = info.trainer, list(info.trainer_evidence)
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
                evidence=list(info.trainer_evidence),
                facts=metadata_facts(metadata, shown),
                chain=f"{shown}#metadata",
            ),
        )
    return sources

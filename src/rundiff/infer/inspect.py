"""``inspect_file``: everything a LoRA file proves about its training, from the header and alphas only."""

from __future__ import annotations

import json
import math
import os
from collections import Counter, namedtuple

from rundiff.errors import RundiffError
from rundiff.infer.architecture import BASE_MODEL_KEYS, DIT_ARCHS, base_model_from_metadata, detect_from_weights
from rundiff.infer.archs import ARCHITECTURES, agree, family_of, label
from rundiff.infer.formats import ModuleInfo, format_name, group_modules
from rundiff.infer.header import SafetensorsHeader, read_header, read_scalars
from rundiff.infer.identity import header_hashes
from rundiff.infer.metadata import decode_metadata, json_safe, network_args
from rundiff.infer.trainers import detect_trainer

TYPE_CHECKING = False  # typing is not imported at run time: infer-rank's start-up budget
if TYPE_CHECKING:
    from typing import Any

    from rundiff.infer.weights import WeightReport

#: adapter_config.json beside a PEFT adapter is read only when it is this small.
MAX_ADAPTER_CONFIG_BYTES = 1_000_000
#: kohya ``networks.lora`` uses rank 4 when ``network_dim`` is None (metadata "None").
KOHYA_DEFAULT_DIM = 4


class Conflict(namedtuple("Conflict", "field metadata weights message")):
    """Metadata and weights (or two metadata keys) disagree; both values are kept."""

    __slots__ = ()
    field: str
    metadata: Any
    weights: Any
    message: str

    def to_json(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "metadata": json_safe(self.metadata),
            "weights": json_safe(self.weights),
            "message": self.message,
        }


class LoraInfo:
    """What one weights file says: format, base architecture, rank/alpha, sizes, metadata, conflicts.

    A plain class, not a dataclass: ``dataclasses`` imports ``inspect``, which alone costs about
    what ``json`` does, and this module is on ``infer-rank``'s start-up path (bench/infer_rank.py).
    The fields after ``decoded_metadata`` are filled in by :func:`inspect_file` as it learns them.
    """

    __slots__ = (
        "path",
        "format",
        "architecture",
        "architecture_evidence",
        "rank",
        "ranks",
        "conv_rank",
        "conv_ranks",
        "alpha",
        "alphas",
        "conv_alpha",
        "scale",
        "alpha_source",
        "dtype",
        "dtypes",
        "modules",
        "ranks_by_component",
        "n_params",
        "file_size",
        "truncated",
        "metadata",
        "decoded_metadata",
        "conflicts",
        "warnings",
        "architecture_from_metadata",
        "dora",
        "n_tensors",
        "base_model",
        "trainer",
        "trainer_evidence",
        "training",
        "hashes",
        "weights",
    )

    def __init__(
        self,
        *,
        path: str,
        format: str,
        architecture: str | None,
        architecture_evidence: list[str],
        rank: int | None,
        ranks: dict[int, int],
        conv_rank: int | None,
        conv_ranks: dict[int, int],
        alpha: float | None,
        alphas: dict[float, int],
        conv_alpha: float | None,
        scale: float | None,
        alpha_source: str,
        dtype: str | None,
        dtypes: dict[str, int],
        modules: dict[str, int],
        ranks_by_component: dict[str, dict[int, int]],
        n_params: int,
        file_size: int,
        truncated: bool,
        metadata: dict[str, str],
        decoded_metadata: dict[str, Any],
    ) -> None:
        self.path = path
        self.format = format
        self.architecture = architecture
        self.architecture_evidence = architecture_evidence
        self.rank = rank
        self.ranks = ranks
        self.conv_rank = conv_rank
        self.conv_ranks = conv_ranks
        self.alpha = alpha
        self.alphas = alphas
        self.conv_alpha = conv_alpha
        self.scale = scale
        self.alpha_source = alpha_source
        self.dtype = dtype
        self.dtypes = dtypes
        self.modules = modules
        self.ranks_by_component = ranks_by_component
        self.n_params = n_params
        self.file_size = file_size
        self.truncated = truncated
        self.metadata = metadata
        self.decoded_metadata = decoded_metadata
        self.conflicts: list[Conflict] = []
        self.warnings: list[str] = []
        self.architecture_from_metadata: str | None = None
        self.dora: bool = False
        self.n_tensors: int = 0
        self.base_model: dict[str, Any] = {}  # architecture, family, label, variant, source
        self.trainer: str | None = None  # what wrote the file: sd-scripts, musubi-tuner, ai-toolkit, ...
        self.trainer_evidence: list[str] = []
        self.training: dict[str, Any] = {}  # metadata decoded into canonical parameters (--settings, --json)
        self.hashes: dict[str, Any] = {}  # header hashes always; file hashes with --hash
        self.weights: WeightReport | None = None  # with --weights

    @property
    def is_lora(self) -> bool:
        return self.format not in ("checkpoint", "unknown")

    @property
    def architecture_label(self) -> str:
        return label(self.architecture)

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` contract of the infer-rank issue (plus a few extra keys)."""
        return {
            "path": self.path,
            "format": self.format,
            "architecture": self.architecture,
            "architecture_evidence": list(self.architecture_evidence),
            "architecture_from_metadata": self.architecture_from_metadata,
            "rank": self.rank,
            "ranks": {str(k): v for k, v in sorted(self.ranks.items())},
            "conv_rank": self.conv_rank,
            "conv_ranks": {str(k): v for k, v in sorted(self.conv_ranks.items())},
            "alpha": json_safe(self.alpha),
            "alphas": {_num(k): v for k, v in sorted(self.alphas.items(), key=lambda kv: _sort_key(kv[0]))},
            "conv_alpha": json_safe(self.conv_alpha),
            "scale": json_safe(self.scale),
            "alpha_source": self.alpha_source,
            "dtype": self.dtype,
            "dtypes": dict(self.dtypes),
            "modules": dict(self.modules),
            "ranks_by_component": {
                c: {str(k): v for k, v in sorted(r.items())} for c, r in self.ranks_by_component.items()
            },
            "dora": self.dora,
            "n_params": self.n_params,
            "n_tensors": self.n_tensors,
            "file_size": self.file_size,
            "truncated": self.truncated,
            "metadata": dict(self.metadata),
            "conflicts": [c.to_json() for c in self.conflicts],
            "warnings": list(self.warnings),
            "base_model": dict(self.base_model),
            "trainer": self.trainer,
            "trainer_evidence": list(self.trainer_evidence),
            "training": json_safe(self.training),
            "hashes": dict(self.hashes),
            "weights": self.weights.to_json() if self.weights is not None else None,
        }


def _sort_key(x: float) -> float:
    return -math.inf if math.isnan(x) else x


def _num(x: float) -> str:
    return str(int(x)) if math.isfinite(x) and x == int(x) else str(x)


def _uniform(counter: Counter) -> Any:
    return next(iter(counter)) if len(counter) == 1 else None


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=2e-3, abs_tol=1e-6)


def _adapter_config(path: str) -> dict[str, Any] | None:
    cfg = os.path.join(os.path.dirname(path), "adapter_config.json")
    try:
        if not os.path.isfile(cfg) or os.path.getsize(cfg) > MAX_ADAPTER_CONFIG_BYTES:
            return None
        with open(cfg, encoding="utf-8") as fh:
            data = json.loads(fh.read())
    except (OSError, ValueError, RecursionError):
        raise RundiffError("adapter_config.json beside the adapter is not readable JSON", cfg) from None
    return data if isinstance(data, dict) else None


#: |alpha| beyond this is not a LoRA setting (real ones are 0.1 .. a few thousand).
MAX_ALPHA = 1e6


def _alpha_number(raw: Any) -> float | None:
    """An alpha from a config file, validated where it enters: a finite number of sane size, else None."""
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    if isinstance(raw, int) and abs(raw) > MAX_ALPHA:  # checked before float() (a 400-digit int overflows)
        return None
    value = float(raw)
    return value if math.isfinite(value) and abs(value) <= MAX_ALPHA else None


def _pattern_value(patterns: Any, name: str) -> Any:
    if not isinstance(patterns, dict):
        return None
    local = name.removeprefix("base_model.model.")
    for key, value in patterns.items():
        if isinstance(key, str) and (local == key or local.endswith("." + key)):
            return value
    return None


def _fill_alphas(header: SafetensorsHeader, modules: dict[str, ModuleInfo], decoded: dict[str, Any], path: str) -> str:
    """Set each module's alpha; returns where alphas came from (for display)."""
    stored = {m.tensors["alpha"].name: m for m in modules.values() if "alpha" in m.tensors}
    values = read_scalars(header, list(stored))
    for tname, m in stored.items():
        if tname in values:
            m.alpha, m.alpha_source = values[tname], "tensor"
    sources = Counter()
    cfg = None
    if any(m.style == "peft" and m.alpha is None for m in modules.values()):
        cfg = _adapter_config(path)
    adapter_meta = decoded.get("lora_adapter_metadata")
    for m in modules.values():
        if m.alpha is not None:
            sources["tensor"] += 1
            continue
        if m.rank is None:
            continue
        if cfg is not None and m.style == "peft":
            a = _pattern_value(cfg.get("alpha_pattern"), m.name)
            if a is None:
                a = cfg.get("lora_alpha")
            if (a := _alpha_number(a)) is not None:
                m.alpha, m.alpha_source = a, "adapter_config.json"
                sources["adapter_config.json"] += 1
                continue
        if isinstance(adapter_meta, dict):
            prefix = m.name.split(".", 1)[0]
            a = adapter_meta.get(f"{prefix}.lora_alpha", adapter_meta.get("lora_alpha"))
            if (a := _alpha_number(a)) is not None:
                m.alpha, m.alpha_source = a, "lora_adapter_metadata"
                sources["lora_adapter_metadata"] += 1
                continue
        if m.algo in ("lora", "loha", "lokr", "glora"):
            m.alpha, m.alpha_source = float(m.rank), "default (= rank)"
            sources["default (= rank)"] += 1
    if not sources:
        return "none"
    return " + ".join(s for s, _ in sources.most_common())


def _dominant_dtype(header: SafetensorsHeader) -> tuple[str | None, dict[str, int]]:
    counts = Counter(t.dtype for t in header.tensors.values() if t.numel > 1)
    if not counts:
        counts = Counter(t.dtype for t in header.tensors.values())
    return (counts.most_common(1)[0][0] if counts else None), dict(counts)


def _meta_number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, int) and abs(value) > 2**53:  # not a rank or alpha; float() could overflow
        return None
    return float(value)


def _describe_ranks(ranks: Counter) -> str:
    if not ranks:
        return "none"
    if len(ranks) == 1:
        return str(next(iter(ranks)))
    return f"{min(ranks)}..{max(ranks)} (varies over {len(ranks)} values)"


def _check_dim(
    name: str,
    meta_value: Any,
    raw: str | None,
    ranks: Counter,
    default: int | None,
    conflicts: list[Conflict],
    label_: str,
) -> None:
    if raw is None or not ranks:
        return
    weights_desc = _describe_ranks(ranks)
    uniform = _uniform(ranks)
    if meta_value is None:  # "None": the trainer's default
        if default is not None and uniform == default:
            return
        extra = f" (the trainer default, {default} for networks.lora)" if default is not None else ""
        conflicts.append(
            Conflict(
                name,
                raw,
                weights_desc,
                f"{name} is 'None'{extra} but the weights have {label_} {weights_desc}",
            )
        )
        return
    if isinstance(meta_value, str) and meta_value.strip().lower() == "dynamic":
        if uniform is not None:
            conflicts.append(
                Conflict(name, raw, weights_desc, f"{name} says 'Dynamic' but every module has {label_} {uniform}")
            )
        return
    num = _meta_number(meta_value)
    if num is None:
        conflicts.append(
            Conflict(name, raw, weights_desc, f"{name} = {raw!r} is not a number; weights: {label_} {weights_desc}")
        )
        return
    if uniform is not None and _close(float(uniform), num):
        return
    if uniform is None:
        msg = f"{name} = {raw} but the weights' {label_} varies per module ({weights_desc}): resized or merged?"
    else:
        msg = f"{name} = {raw} but the weights have {label_} {uniform}"
    conflicts.append(Conflict(name, raw, weights_desc if uniform is None else uniform, msg))


def _conflicts(
    info: LoraInfo,
    lin: list[ModuleInfo],
    conv: list[ModuleInfo],
    decoded: dict[str, Any],
    meta: dict[str, str],
    arch_meta: tuple[str | None, str | None],
) -> list[Conflict]:
    out: list[Conflict] = []
    if not info.is_lora:
        return out
    args = network_args(decoded)
    module_name = str(decoded.get("ss_network_module", ""))
    default_dim = KOHYA_DEFAULT_DIM if module_name in ("networks.lora", "") else None
    rank_counter = Counter(info.ranks)
    _check_dim(
        "ss_network_dim",
        decoded.get("ss_network_dim"),
        meta.get("ss_network_dim"),
        rank_counter,
        default_dim,
        out,
        "rank",
    )
    alphas = Counter(m.alpha for m in lin if m.alpha is not None and m.alpha_source == "tensor")
    _check_dim(
        "ss_network_alpha",
        decoded.get("ss_network_alpha"),
        meta.get("ss_network_alpha"),
        alphas,
        None if default_dim is None else 1,
        out,
        "alpha",
    )
    conv_counter = Counter(info.conv_ranks)
    if "conv_dim" in args:
        raw = args["conv_dim"]
        _check_dim("ss_network_args.conv_dim", raw, str(raw), conv_counter, None, out, "conv rank")
    elif conv_counter and "ss_network_args" in meta and info.format == "kohya":
        out.append(
            Conflict(
                "ss_network_args.conv_dim",
                None,
                _describe_ranks(conv_counter),
                "ss_network_args has no conv_dim but the weights adapt 3x3 convs with rank "
                f"{_describe_ranks(conv_counter)}",
            )
        )
    algo = args.get("algo")
    if isinstance(algo, str) and info.format.startswith("lycoris-"):
        found = info.format.removeprefix("lycoris-")
        same = (
            {algo.lower(), found} <= {"lora", "locon"}
            or algo.lower() == found
            or (found == "dora" and algo.lower() in ("lora", "locon"))
        )
        if not same:
            out.append(
                Conflict(
                    "ss_network_args.algo",
                    algo,
                    found,
                    f"ss_network_args algo is {algo!r} but the tensors are {found}",
                )
            )
    arch_m, source = arch_meta
    if not agree(info.architecture, arch_m):
        out.append(
            Conflict(
                "architecture",
                arch_m,
                info.architecture,
                f"{source} says {label(arch_m)} but the weights are {label(info.architecture)}",
            )
        )
    return out


def _resolve_architecture(result, meta_arch: str | None, meta_source: str | None) -> tuple[str | None, list[str]]:
    """The weights decide; metadata fills in what they cannot (no fingerprint, or look-alikes)."""
    architecture, evidence = result.architecture, list(result.evidence)
    if architecture is None and meta_arch is not None:
        return meta_arch, [*evidence, f"from metadata only: {meta_source}"]
    if meta_arch is None:
        if result.alternatives:
            evidence.append("could also be: " + ", ".join(label(a) for a in result.alternatives))
        return architecture, evidence
    for alternative in result.alternatives:
        if agree(alternative, meta_arch) and not agree(architecture, meta_arch):
            evidence.append(f"metadata ({meta_source}) picks {label(alternative)} among the look-alikes")
            return alternative, evidence
    if (
        agree(architecture, meta_arch)
        and meta_arch != architecture
        and meta_arch in ARCHITECTURES
        and (architecture not in ARCHITECTURES)
    ):  # weights know only the family, metadata the size
        return meta_arch, [*evidence, f"size from metadata: {meta_source}"]
    return architecture, [*evidence, f"metadata: {meta_source}"]


def inspect_file(
    path: str | os.PathLike, *, hashes: bool = False, weights: bool = False, settings: bool = False
) -> LoraInfo:
    """Inspect one weights file; raises RundiffError on bad input.

    Header only by default (plus the alpha scalars). ``hashes`` streams the whole file once (SHA-256,
    AutoV1/V2/V3); ``weights`` reads every adapter tensor by offset (:mod:`rundiff.infer.weights`);
    ``settings`` decodes the metadata into canonical parameters (:mod:`rundiff.infer.settings`).
    """
    path = os.fspath(path)
    header = read_header(path)
    meta = header.metadata or {}
    decoded = decode_metadata(meta)
    modules, leftover = group_modules(header.tensors)
    args = network_args(decoded)
    algo = args.get("algo") if isinstance(args.get("algo"), str) else None
    if modules:
        fmt = format_name(modules, decoded, algo.lower() if algo else None)
    elif sum(n.endswith(".weight") for n in leftover) > 10:
        fmt = "checkpoint"
    else:
        fmt = "unknown"
    alpha_source = _fill_alphas(header, modules, decoded, path) if modules else "none"
    result = detect_from_weights(modules, leftover)
    trainer = detect_trainer(header.metadata, modules)
    prefer = trainer.prefer_base_model or BASE_MODEL_KEYS
    meta_arch, variant, meta_source = base_model_from_metadata(decoded, prefer)
    architecture, evidence = _resolve_architecture(result, meta_arch, meta_source)
    arch_meta = (meta_arch, meta_source)

    ranked = [m for m in modules.values() if m.rank is not None]
    lin = [m for m in ranked if not m.conv]
    conv = [m for m in ranked if m.conv]
    ranks, conv_ranks = Counter(m.rank for m in lin), Counter(m.rank for m in conv)
    alphas = Counter(m.alpha for m in lin if m.alpha is not None)
    conv_alphas = Counter(m.alpha for m in conv if m.alpha is not None)
    scales = Counter(round(m.alpha / m.rank, 6) for m in ranked if m.alpha is not None and m.rank)
    dit = architecture in DIT_ARCHS
    components: Counter = Counter()
    by_component: dict[str, Counter] = {}
    for m in modules.values():
        comp = m.component
        if comp in ("unet", "model", "transformer"):
            comp = "transformer" if dit else "unet"
        components[comp] += 1
        if m.rank is not None and not m.conv:
            if comp not in by_component:
                by_component[comp] = Counter()
            by_component[comp][m.rank] += 1
    dtype, dtypes = _dominant_dtype(header)
    warnings = list(header.warnings)
    if fmt == "checkpoint":
        warnings.append("not a LoRA: full checkpoint (no adapter tensors)")
    elif fmt == "unknown":
        warnings.append("no adapter tensors recognised")
    info = LoraInfo(
        path=path,
        format=fmt,
        architecture=architecture,
        architecture_evidence=evidence,
        rank=_uniform(ranks),
        ranks=dict(ranks),
        conv_rank=_uniform(conv_ranks),
        conv_ranks=dict(conv_ranks),
        alpha=_uniform(alphas),
        alphas=dict(alphas),
        conv_alpha=_uniform(conv_alphas),
        scale=_uniform(scales),
        alpha_source=alpha_source,
        dtype=dtype,
        dtypes=dtypes,
        modules=dict(components),
        ranks_by_component={c: dict(r) for c, r in by_component.items()},
        n_params=sum(t.numel for t in header.tensors.values() if t.numel > 1),
        file_size=header.file_size,
        truncated=header.truncated,
        metadata=dict(meta),
        decoded_metadata=decoded,
    )
    info.warnings = warnings
    info.architecture_from_metadata = meta_arch
    info.dora = any(m.dora for m in modules.values())
    info.n_tensors = len(header.tensors)
    info.trainer, info.trainer_evidence = trainer.trainer, list(trainer.evidence)
    info.base_model = {
        "architecture": architecture,
        "family": family_of(architecture),
        "label": label(architecture),
        "variant": variant,
        "from_metadata": meta_source,
    }
    info.conflicts = _conflicts(info, lin, conv, decoded, meta, arch_meta)
    info.hashes = header_hashes(meta)
    if hashes:
        from rundiff.infer.identity import file_hashes

        info.hashes.update(file_hashes(header))
    if weights and modules:
        from rundiff.infer.weights import weight_stats

        info.weights = weight_stats(header)
    if settings and meta:
        from rundiff.infer.settings import canonical_settings

        info.training, problems = canonical_settings(meta, path)
        info.warnings.extend(problems)
    return info

"""Write synthetic LoRA files with real key names and shapes, sparse on disk.

Tests, sample runs and the benchmark need LoRAs of real size (an SDXL dim-128 fp32 file is 1.7 GB)
without storing or even writing gigabytes: the header is written by hand, the few scalar tensors
(alphas) get their real bytes, and the zero weights are a hole made with ``truncate``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from rundiff.infer.dtypes import DTYPE_BITS, encode_scalar
from rundiff.infer.inventory import ARCHITECTURES, Module, canonical_arch, modules

#: (name, dtype, shape, scalar value or None). Entries with a value get their bytes written.
Entry = tuple[str, str, tuple[int, ...], float | None]

#: Trainer key layouts of plain LoRA files: (module naming, name prefix style, down, up, alpha tensors).
#: Sources: logs-and-metadata.md §2.1-§2.7.
LAYOUTS: dict[str, tuple[str, str, str, str, bool]] = {
    # ai-toolkit DiT models: diffusion_model.<native path>, PEFT suffixes, alpha dropped (= rank)
    "ai-toolkit": ("kohya", "diffusion_model.", "lora_A.weight", "lora_B.weight", False),
    # OneTrainer "Comfy" format: diffusion_model.<native path>, PEFT suffixes, .alpha kept
    "onetrainer-comfy": ("kohya", "diffusion_model.", "lora_A.weight", "lora_B.weight", True),
    # ComfyUI's own trainer: diffusion_model.<ComfyUI path>, lora_up/lora_down, .alpha (1.0)
    "comfyui": ("kohya", "diffusion_model.", "lora_down.weight", "lora_up.weight", True),
    # OneTrainer "Legacy" Flux/Chroma: lora_transformer_<diffusers path with _>
    "onetrainer-legacy": ("diffusers", "lora_transformer_", "lora_down.weight", "lora_up.weight", True),
    # SimpleTuner LyCORIS (LoCon algo): lycoris_<diffusers path with _>
    "simpletuner-lycoris": ("diffusers", "lycoris_", "lora_down.weight", "lora_up.weight", True),
}

FORMATS = ("kohya", "lycoris-locon", "dora", "loha", "lokr", "glora", "full", "peft", "diffusers", *LAYOUTS)

RankSpec = Callable[[str], "int | tuple[int, float]"]


def build_header(
    entries: Iterable[Entry], metadata: dict[str, str] | None = None, *, header_pad: bool = True
) -> tuple[bytes, bytes, int]:
    """(header JSON bytes, scalar data bytes, data buffer size) of a file with these entries.

    Scalars come first in the data buffer so that a single small write covers all of them.
    """
    entries = list(entries)
    ordered = [e for e in entries if e[3] is not None] + [e for e in entries if e[3] is None]
    header: dict[str, object] = {}
    if metadata is not None:
        header["__metadata__"] = dict(metadata)
    offset = 0
    scalar_bytes = bytearray()
    for name, dtype, shape, value in ordered:
        nbytes = math.prod(shape) * DTYPE_BITS[dtype] // 8
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
        if value is not None:
            scalar_bytes += encode_scalar(dtype, value)
        offset += nbytes
    raw = json.dumps(header, separators=(",", ":")).encode()
    if header_pad:
        raw += b" " * (-len(raw) % 8)
    return raw, bytes(scalar_bytes), offset


def write_safetensors(
    path: str | Path,
    entries: Iterable[Entry],
    metadata: dict[str, str] | None = None,
    *,
    header_pad: bool = True,
) -> Path:
    """Write a valid safetensors file whose non-scalar tensors are zeros stored as a sparse hole."""
    path = Path(path)
    raw, scalar_bytes, data_size = build_header(entries, metadata, header_pad=header_pad)
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as fh:
        fh.write(len(raw).to_bytes(8, "little"))
        fh.write(raw)
        fh.write(scalar_bytes)
        fh.truncate(8 + len(raw) + data_size)
    os.replace(tmp, path)
    return path


def _kohya_name(m: Module, arch: str) -> str:
    n_te = len(ARCHITECTURES[arch].text_encoders)
    if m.component == "unet":
        prefix = "lora_unet_"
    else:
        prefix = "lora_te_" if n_te == 1 and arch in ("sd1", "sd2") else f"lora_{m.component}_"
    return prefix + m.path.replace(".", "_")


def _diffusers_name(m: Module, arch: str) -> str:
    if m.component == "unet":
        return ("unet." if arch in ("sd1", "sd2", "sdxl") else "transformer.") + m.path
    return ("text_encoder." if m.component == "te1" else f"text_encoder_{m.component[2:]}.") + m.path


def _factor(dim: int) -> tuple[int, int]:
    """Split ``dim`` into m <= n with m * n == dim and m as close to sqrt(dim) as possible (LoKr)."""
    m = max(d for d in range(1, math.isqrt(dim) + 1) if dim % d == 0)
    return m, dim // m


def _module_entries(fmt: str, base: str, m: Module, r: int, alpha: float, dtype: str) -> list[Entry]:
    k = max(m.kernel, 1)
    conv = m.kernel > 0
    i, o = m.in_features, m.out_features
    alpha_e: Entry = (f"{base}.alpha", dtype, (), alpha)
    if fmt in ("kohya", "lycoris-locon", "dora"):
        down = (r, i, k, k) if conv else (r, i)
        up = (o, r, 1, 1) if conv else (o, r)
        out = [
            (f"{base}.lora_down.weight", dtype, down, None),
            (f"{base}.lora_up.weight", dtype, up, None),
            alpha_e,
        ]
        if fmt == "dora":
            out.append((f"{base}.dora_scale", dtype, (o, 1, 1, 1) if conv else (o, 1), None))
        return out
    if fmt in LAYOUTS:
        _, _, down_s, up_s, with_alpha = LAYOUTS[fmt]
        out = [
            (f"{base}.{down_s}", dtype, (r, i, k, k) if conv else (r, i), None),
            (f"{base}.{up_s}", dtype, (o, r, 1, 1) if conv else (o, r), None),
        ]
        return [*out, alpha_e] if with_alpha else out
    if fmt in ("peft", "diffusers"):
        down = (r, i, k, k) if conv else (r, i)
        up = (o, r, 1, 1) if conv else (o, r)
        return [(f"{base}.lora_A.weight", dtype, down, None), (f"{base}.lora_B.weight", dtype, up, None)]
    if fmt == "loha":
        return [
            (f"{base}.hada_w1_a", dtype, (o, r), None),
            (f"{base}.hada_w1_b", dtype, (r, i * k * k), None),
            (f"{base}.hada_w2_a", dtype, (o, r), None),
            (f"{base}.hada_w2_b", dtype, (r, i * k * k), None),
            alpha_e,
        ]
    if fmt == "lokr":
        out_l, out_k = _factor(o)
        in_m, in_n = _factor(i)
        w2b = (r, in_n, k, k) if conv else (r, in_n)
        return [
            (f"{base}.lokr_w1", dtype, (out_l, in_m), None),
            (f"{base}.lokr_w2_a", dtype, (out_k, r), None),
            (f"{base}.lokr_w2_b", dtype, w2b, None),
            alpha_e,
        ]
    if fmt == "glora":
        b2 = (r, i, k, k) if conv else (r, i)
        return [
            (f"{base}.a1.weight", dtype, (i, r), None),
            (f"{base}.a2.weight", dtype, (r, i), None),
            (f"{base}.b1.weight", dtype, (o, r), None),
            (f"{base}.b2.weight", dtype, b2, None),
            alpha_e,
        ]
    if fmt == "full":
        return [(f"{base}.diff", dtype, (o, i, k, k) if conv else (o, i), None)]
    raise ValueError(f"unknown LoRA format {fmt!r}; known: {', '.join(FORMATS)}")


def lora_entries(
    *,
    arch: str = "sd1",
    rank: int = 32,
    alpha: float = 16.0,
    dtype: str = "F16",
    fmt: str = "kohya",
    text_encoder: bool = True,
    conv_rank: int | None = None,
    conv_alpha: float | None = None,
    rank_per_module: RankSpec | None = None,
    te_mlp_only: bool = False,
) -> list[Entry]:
    """The tensor entries of a LoRA of ``arch`` in ``fmt``, before offsets are assigned."""
    arch = canonical_arch(arch)
    if fmt not in FORMATS:
        raise ValueError(f"unknown LoRA format {fmt!r}; known: {', '.join(FORMATS)}")
    if fmt == "lycoris-locon" and conv_rank is None:
        conv_rank = rank  # LyCORIS defaults conv_dim to network_dim
    naming = "diffusers" if fmt in ("peft", "diffusers") else LAYOUTS[fmt][0] if fmt in LAYOUTS else "kohya"
    if fmt == "peft" or fmt in LAYOUTS:
        text_encoder = False  # a raw PEFT adapter wraps one model; DiT trainers train the transformer
    mods = modules(arch, naming, text_encoder=text_encoder, conv=conv_rank is not None, te_mlp_only=te_mlp_only)
    entries: list[Entry] = []
    for m in mods:
        if fmt in LAYOUTS:
            prefix = LAYOUTS[fmt][1]
            base = prefix + (m.path if prefix.endswith(".") else m.path.replace(".", "_"))
        elif fmt == "peft":
            base = "base_model.model." + m.path
        elif fmt == "diffusers":
            base = _diffusers_name(m, arch)
        else:
            base = _kohya_name(m, arch)
        r, a = rank, alpha
        if m.uses_conv_rank and conv_rank is not None:
            r, a = conv_rank, conv_alpha if conv_alpha is not None else alpha
        if rank_per_module is not None:
            chosen = rank_per_module(base)
            if isinstance(chosen, tuple):
                r, a = chosen
            else:
                r = chosen
        entries.extend(_module_entries(fmt, base, m, int(r), float(a), dtype))
    return entries


def write_lora(
    path: str | Path,
    *,
    arch: str = "sd15",
    rank: int = 32,
    alpha: float = 16.0,
    dtype: str = "F16",
    fmt: str = "kohya",
    text_encoder: bool = True,
    conv_rank: int | None = None,
    conv_alpha: float | None = None,
    metadata: dict[str, str] | None = None,
    rank_per_module: RankSpec | None = None,
    te_mlp_only: bool = False,
) -> Path:
    """Write a sparse LoRA of ``arch`` in ``fmt`` with real key names/shapes and real alpha scalars.

    ``rank_per_module(name)`` may return a rank or ``(rank, alpha)`` per module base name, for
    resized/dynamic LoRAs. ``conv_rank`` adds the ResNet/sampler modules (kohya ``conv_dim``);
    ``conv_alpha`` defaults to ``alpha``. PEFT files are UNet/transformer only and carry no alpha.
    """
    if dtype not in ("F16", "BF16", "F32", "F64"):
        raise ValueError(f"unsupported LoRA dtype {dtype!r}")
    entries = lora_entries(
        arch=arch,
        rank=rank,
        alpha=alpha,
        dtype=dtype,
        fmt=fmt,
        text_encoder=text_encoder,
        conv_rank=conv_rank,
        conv_alpha=conv_alpha,
        rank_per_module=rank_per_module,
        te_mlp_only=te_mlp_only,
    )
    if metadata is None and fmt in _LYCORIS_ALGO:  # real LyCORIS files always say what wrote them
        algo = _LYCORIS_ALGO[fmt]
        metadata = {
            "ss_network_module": "lycoris.kohya",
            "ss_network_args": json.dumps({"algo": algo, "dora_wd": str(fmt == "dora")}),
        }
    return write_safetensors(path, entries, metadata)


_LYCORIS_ALGO = {
    "lycoris-locon": "locon",
    "dora": "lora",
    "loha": "loha",
    "lokr": "lokr",
    "glora": "glora",
    "full": "full",
}

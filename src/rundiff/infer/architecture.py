"""Which base model a LoRA was trained on, from key names and layer widths, cross-checked with metadata.

Order of trust (reference §3.2): shapes and keys, then ``modelspec.architecture``, then
``ss_base_model_version`` / ``ss_v2``. Every conclusion carries the evidence that led to it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from rundiff.infer.archs import ARCHITECTURES
from rundiff.infer.formats import ModuleInfo

TYPE_CHECKING = False  # typing is not imported at run time: infer-rank's start-up budget
if TYPE_CHECKING:
    from typing import Any

DIT_ARCHS = frozenset({"flux", "chroma", "sd3-medium", "sd3.5-medium", "sd3.5-large", "sd3"})
_CONTEXT_TO_ARCH = {768: "sd1", 1024: "sd2", 2048: "sdxl"}


@dataclass
class ArchResult:
    architecture: str | None  # canonical id, "sd3" when only the SD3 family is known, None = unknown
    evidence: list[str] = field(default_factory=list)
    from_metadata: str | None = None
    metadata_source: str | None = None  # "modelspec.architecture = ..." etc.


def family(arch: str | None) -> str | None:
    if arch is None:
        return None
    return "sd3" if arch.startswith("sd3") else arch


def label(arch: str | None) -> str:
    if arch is None:
        return "unknown"
    if arch == "sd3":
        return "SD3 (size unknown)"
    spec = ARCHITECTURES.get(arch)
    return spec.label if spec else arch


def _flat(name: str) -> str:
    return name.replace(".", "_")


def _widths(mods: Iterable[ModuleInfo], pattern: str) -> dict[int, str]:
    rx = re.compile(pattern)
    out: dict[int, str] = {}
    for m in mods:
        if m.in_features is not None and rx.search(_flat(m.name)):
            out.setdefault(m.in_features, m.name)
    return out


def _dit(mods: list[ModuleInfo], names: list[str], ev: list[str]) -> str | None:
    if any("double_blocks" in n or "single_blocks" in n or "single_transformer_blocks" in n for n in names):
        ev.append("Flux block names (double_blocks/single_blocks or single_transformer_blocks)")
        hidden = _widths(
            mods, r"(img_attn_qkv|double_blocks_\d+_processor_qkv_lora\d|transformer_blocks_\d+_attn_to_q)$"
        )
        for width, where in hidden.items():
            ev.append(f"hidden width {width} ({where})")
        full_blocks = any(("img_mlp" in n or "ff_net" in n) for n in names)
        modulation = any(
            ("_mod_lin" in n or "modulation_lin" in n or "norm1_linear" in n or "norm_linear" in n) for n in names
        )
        if full_blocks and not modulation:
            ev.append("no modulation layers although MLPs are adapted (Chroma has none)")
            return "chroma"
        return "flux"
    sd3_kohya = any("joint_blocks" in n for n in names)
    sd3_diffusers = any(re.search(r"transformer_blocks_\d+_attn_add_q_proj", n) for n in names)
    if sd3_kohya or sd3_diffusers:
        ev.append("SD3 MMDiT block names (joint_blocks / transformer_blocks with add_q_proj, no single blocks)")
        hidden = _widths(mods, r"(x_block_attn_qkv|transformer_blocks_\d+_attn_to_q)$")
        for width, where in hidden.items():
            ev.append(f"hidden width {width} ({where})")
        if 2432 in hidden:
            return "sd3.5-large"
        if 1536 in hidden:
            if any("attn2" in n for n in names):
                ev.append("x_block attn2 layers (SD3.5 medium)")
                return "sd3.5-medium"
            return "sd3-medium"
        return "sd3"
    return None


def detect_from_weights(modules: dict[str, ModuleInfo], leftover: list[str]) -> ArchResult:
    mods = list(modules.values())
    names = [_flat(m.name) for m in mods]
    ev: list[str] = []
    arch = _dit(mods, names, ev)
    if arch:
        return ArchResult(arch, ev)
    context = _widths(mods, r"attn2_to_k$")
    for width, where in sorted(context.items()):
        ev.append(f"cross-attention input width {width} ({where})")
    te = {c: _widths([m for m in mods if m.component == c], r"(self_attn_q_proj|mlp_fc1)$") for c in ("te1", "te2")}
    for comp, widths in te.items():
        for width in widths:
            ev.append(f"text encoder {comp[2:]} width {width}")
    sgm = any(re.search(r"(input_blocks|output_blocks|middle_block)_\d", n) for n in names)
    if sgm:
        ev.append("SGM/ldm block names (input_blocks/middle_block/output_blocks), as sd-scripts saves SDXL")
    known = [_CONTEXT_TO_ARCH[w] for w in context if w in _CONTEXT_TO_ARCH]
    if len(set(known)) == 1:
        return ArchResult(known[0], ev)
    if len(set(known)) > 1:
        ev.append("several cross-attention widths: mixed or merged file")
        return ArchResult(None, ev)
    if sgm or 1280 in te["te2"]:
        return ArchResult("sdxl", ev)
    unet_names = any(re.search(r"(down_blocks|up_blocks|mid_block)_\d*", n) for n in names)
    if 1024 in te["te1"]:
        return ArchResult("sd2", ev)
    if 768 in te["te1"] and not te["te2"]:
        if unet_names:
            return ArchResult("sd1", ev)
        ev.append("only a CLIP-L text encoder is adapted: SD1.x, or the CLIP-L part of Flux/SDXL")
        return ArchResult("sd1", ev)
    if unet_names:
        widths = _widths(mods, r"attn1_to_q$")
        if 320 in widths:
            ev.append("attention at width 320 (SD1/SD2; SDXL has none)")
            return ArchResult(None, ev)
    return _checkpoint_arch(leftover, ev)


def _checkpoint_arch(leftover: list[str], ev: list[str]) -> ArchResult:
    probes = (
        ("conditioner.embedders.1.", "sdxl", "SDXL checkpoint keys (conditioner.embedders.1)"),
        ("cond_stage_model.model.", "sd2", "SD2 checkpoint keys (OpenCLIP cond_stage_model.model)"),
        ("cond_stage_model.transformer.", "sd1", "SD1 checkpoint keys (cond_stage_model.transformer)"),
        ("double_blocks.0.img_attn.qkv.weight", "flux", "Flux checkpoint keys (double_blocks)"),
        ("joint_blocks.0.x_block.attn.qkv.weight", "sd3", "SD3 checkpoint keys (joint_blocks)"),
    )
    for needle, arch, why in probes:
        if any(needle in k for k in leftover):
            ev.append(why)
            return ArchResult(arch, ev)
    if not ev:
        ev.append("no known block names")
    return ArchResult(None, ev)


def arch_from_metadata(decoded: dict[str, Any]) -> tuple[str | None, str | None]:
    """(architecture, "key = value" it came from) from modelspec / ss_* keys, or (None, None)."""
    spec = decoded.get("modelspec.architecture")
    if isinstance(spec, str) and spec:
        s = spec.lower()
        arch = None
        if "flux" in s:
            arch = "flux"
        elif "chroma" in s:
            arch = "chroma"
        elif "xl" in s and ("stable-diffusion" in s or "sdxl" in s):
            arch = "sdxl"
        elif re.search(r"(3-5|3\.5)-?large", s):
            arch = "sd3.5-large"
        elif re.search(r"(3-5|3\.5)-?medium", s):
            arch = "sd3.5-medium"
        elif re.search(r"(v3|-3)-?medium", s):
            arch = "sd3-medium"
        elif re.search(r"stable-diffusion-(v3|3)", s):
            arch = "sd3"
        elif "stable-diffusion-v2" in s:
            arch = "sd2"
        elif "stable-diffusion-v1" in s:
            arch = "sd1"
        if arch:
            return arch, f"modelspec.architecture = {spec!r}"
    base = decoded.get("ss_base_model_version")
    if isinstance(base, str) and base:
        s = base.lower()
        table = (
            ("sdxl", "sdxl"),
            ("sd_v1", "sd1"),
            ("sd_1", "sd1"),
            ("sd_v2", "sd2"),
            ("sd_2", "sd2"),
            ("flux", "flux"),
            ("chroma", "chroma"),
            ("5-large", "sd3.5-large"),
            ("5-medium", "sd3.5-medium"),
            ("medium", "sd3-medium"),
            ("sd_3", "sd3"),
        )
        for prefix, arch in table:
            if s.startswith(prefix) or (prefix in ("5-large", "5-medium", "medium") and s == prefix):
                return arch, f"ss_base_model_version = {base!r}"
    if decoded.get("ss_v2") is True:
        return "sd2", "ss_v2 = 'True'"
    return None, None


def agree(weights: str | None, metadata: str | None) -> bool:
    if weights is None or metadata is None:
        return True
    if weights == metadata:
        return True
    if "sd3" in (weights, metadata):  # one side only knows the family
        return family(weights) == family(metadata)
    return False

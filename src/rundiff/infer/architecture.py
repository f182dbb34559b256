"""Which base model a LoRA was trained on, from key names and layer widths, cross-checked with metadata.

Order of trust (lora-files.md §3.2, logs-and-metadata.md §2.8): shapes and keys, then
``modelspec.architecture``, then ``ss_base_model_version`` / ``ss_v2``. Every conclusion carries the
evidence that led to it. Names are compared after removing the trainer's prefix (``lora_unet_``,
``diffusion_model.``, ``transformer.``, ...) and flattening dots to ``_``, so musubi's
``lora_unet_blocks_0_self_attn_q``, ai-toolkit's ``diffusion_model.blocks.0.self_attn.q`` and
ComfyUI's names all read ``blocks_0_self_attn_q``.
"""

from __future__ import annotations

import re

from rundiff.infer.archs import (
    ARCHITECTURES,
    FAMILIES,
    METADATA_ONLY,
    agree,
    family_of,
    label,
    normalise_base_model,
)
from rundiff.infer.formats import ModuleInfo

TYPE_CHECKING = False  # typing is not imported at run time: infer-rank's start-up budget
if TYPE_CHECKING:
    from typing import Any

__all__ = ["DIT_ARCHS", "agree", "arch_from_metadata", "detect_from_weights", "family", "label"]

DIT_ARCHS = frozenset(name for name, spec in ARCHITECTURES.items() if spec.dit) | frozenset(FAMILIES)
_CONTEXT_TO_ARCH = {768: "sd1", 1024: "sd2", 2048: "sdxl"}
#: Trainer prefixes, removed before names are compared: dotted ones first (on the dotted name, so that
#: ``transformer.blocks.0`` and ``transformer.transformer_blocks.0`` stay apart), then flattened ones.
_DOTTED_PREFIX = re.compile(r"^(base_model\.model\.|model\.diffusion_model\.|diffusion_model\.|transformer\.|unet\.)")
_FLAT_PREFIX = re.compile(r"^(lora_unet_|lora_transformer_|lycoris_|lora_prior_unet_|oft_unet_)")


def family(arch: str | None) -> str | None:
    return family_of(arch)


class ArchResult:
    """An architecture (canonical id, or a family such as "sd3" when only that is known) and why."""

    __slots__ = ("architecture", "evidence", "alternatives")

    def __init__(
        self, architecture: str | None, evidence: list[str] | None = None, alternatives: tuple[str, ...] = ()
    ) -> None:
        self.architecture = architecture
        self.evidence = evidence if evidence is not None else []
        self.alternatives = alternatives  # look-alikes the weights cannot rule out (metadata may decide)


class _Names:
    """Flattened, prefix-free module names with their widths, for the fingerprints.

    ``has`` searches one newline-joined text (one C-level regex scan instead of a Python loop over
    thousands of names), and ``contains`` is a plain substring test used to skip whole families.
    """

    def __init__(self, mods: list[tuple[str, ModuleInfo]]) -> None:
        self.mods = mods
        self.text = "\n" + "\n".join(n for n, _ in mods) + "\n"

    def contains(self, *needles: str) -> bool:
        return any(n in self.text for n in needles)

    def find(self, pattern: str) -> list[tuple[str, ModuleInfo]]:
        rx = re.compile(pattern)
        return [(n, m) for n, m in self.mods if rx.search(n)]

    def has(self, pattern: str) -> bool:
        return re.search(pattern, self.text, re.MULTILINE) is not None

    def width(self, pattern: str, attr: str = "in_features") -> tuple[int | None, str | None]:
        """The most common in (or out) width of the modules matching ``pattern``, with one name."""
        counts: dict[int, list[str]] = {}
        for _, m in self.find(pattern):
            w = getattr(m, attr)
            if w is not None:
                counts.setdefault(w, []).append(m.name)
        if not counts:
            return None, None
        w = max(counts, key=lambda k: len(counts[k]))
        return w, counts[w][0]

    def max_index(self, word: str) -> int | None:
        rx = re.compile(rf"^{word}_(\d+)_")
        found = [int(m.group(1)) for n, _ in self.mods if (m := rx.search(n)) and len(m.group(1)) < 6]
        return max(found) if found else None


def _flat(m: ModuleInfo) -> str:
    return _FLAT_PREFIX.sub("", _DOTTED_PREFIX.sub("", m.name).replace(".", "_"))


def _width_ev(ev: list[str], names: _Names, pattern: str, what: str, attr: str = "in_features") -> int | None:
    w, where = names.width(pattern, attr)
    if w is not None:
        ev.append(f"{what} {w} ({where})")
    return w


def _blocks_ev(ev: list[str], names: _Names, *words: str) -> list[int | None]:
    counts = [names.max_index(w) for w in words]
    shown = [f"{w} 0..{c}" for w, c in zip(words, counts, strict=True) if c is not None]
    if shown:
        ev.append("blocks seen: " + ", ".join(shown) + " (a lower bound: a LoRA may skip blocks)")
    return counts


def _flux_family(names: _Names, ev: list[str]) -> ArchResult | None:
    """BFL-native double/single stream blocks: Flux.1, Chroma, Flux.2 (dev/Klein), HunyuanVideo (1.5)."""
    if not names.contains("\ndouble_blocks_", "\nsingle_blocks_"):
        return None
    if names.has(r"^double_blocks_\d+_img_attn_q$"):
        ev.append("split q/k/v in double blocks (img_attn_q): HunyuanVideo 1.5")
        _width_ev(ev, names, r"^double_blocks_\d+_img_attn_q$", "hidden width")
        return ArchResult("hunyuan-video-1.5", ev)
    if names.has(r"^double_blocks_\d+_img_mlp_fc[12]$"):
        ev.append("img_mlp.fc1/fc2 in double blocks (Flux names them img_mlp.0/.2): HunyuanVideo")
        _width_ev(ev, names, r"^double_blocks_\d+_img_attn_qkv$", "hidden width")
        _blocks_ev(ev, names, "double_blocks", "single_blocks")
        return ArchResult("hunyuan-video", ev)
    ev.append("BFL double_blocks/single_blocks names (Flux family)")
    hidden = _width_ev(ev, names, r"^double_blocks_\d+_(img|txt)_attn_qkv$", "hidden width")
    if hidden is None:
        hidden = _width_ev(ev, names, r"^single_blocks_\d+_linear1$", "hidden width")
    mlp_out = _width_ev(ev, names, r"^double_blocks_\d+_(img|txt)_mlp_0$", "double-block MLP out", "out_features")
    linear1 = _width_ev(ev, names, r"^single_blocks_\d+_linear1$", "single-block linear1 out", "out_features")
    _blocks_ev(ev, names, "double_blocks", "single_blocks")
    if hidden == 6144:
        return ArchResult("flux2-dev", ev)
    if hidden == 4096:
        return ArchResult("flux2-klein-9b", ev)
    if hidden == 3072 and (mlp_out == 18432 or linear1 == 27648):
        ev.append("Flux.2 Klein widths (MLP out 18432 / linear1 27648; Flux.1 has 12288 / 21504)")
        return ArchResult("flux2-klein-4b", ev)
    if hidden not in (None, 3072):
        ev.append(f"width {hidden} matches no known Flux-family model")
        return ArchResult(None, ev)
    modulation = names.has(r"(_mod_lin|modulation_lin)$")
    mlps = names.has(r"(_mlp_0|_mlp_2|_linear1|_linear2)$")
    if mlps and not modulation:
        ev.append(
            "no modulation layers although the blocks' MLPs are adapted: Chroma has none "
            "(or a Flux.1 LoRA trained without them, as musubi-tuner does by default)"
        )
        return ArchResult("chroma", ev, alternatives=("flux",))
    return ArchResult("flux", ev)


def _diffusers_dit(names: _Names, ev: list[str]) -> ArchResult | None:
    """diffusers names: transformer_blocks (+ single_transformer_blocks): Flux.1/.2, FramePack, Qwen, SD3."""
    if not names.contains("\ntransformer_blocks_", "\nsingle_transformer_blocks_", "\njoint_blocks_"):
        return None
    if names.has(r"^single_transformer_blocks_\d+_attn_to_qkv_mlp_proj$") or names.has(
        r"^transformer_blocks_\d+_ff_linear_(in|out)$"
    ):
        ev.append("Flux.2 diffusers names (to_qkv_mlp_proj / ff.linear_in exist only in Flux.2)")
        hidden = _width_ev(ev, names, r"^transformer_blocks_\d+_attn_to_q$", "hidden width")
        if hidden is None:
            hidden = _width_ev(ev, names, r"^single_transformer_blocks_\d+_attn_to_qkv_mlp_proj$", "hidden width")
        arch = {6144: "flux2-dev", 4096: "flux2-klein-9b", 3072: "flux2-klein-4b"}.get(hidden or 0, "flux2")
        return ArchResult(arch, ev)
    if names.has(r"^transformer_blocks_\d+_(img|txt)_mlp_"):
        ev.append("img_mlp/txt_mlp in transformer_blocks (Flux names them ff/ff_context): Qwen-Image")
        _width_ev(ev, names, r"^transformer_blocks_\d+_attn_to_q$", "hidden width")
        _blocks_ev(ev, names, "transformer_blocks")
        return ArchResult("qwen-image", ev)
    if names.has(r"^single_transformer_blocks_\d+_"):
        ev.append("diffusers transformer_blocks + single_transformer_blocks (Flux.1 or FramePack)")
        hidden = _width_ev(ev, names, r"^(single_)?transformer_blocks_\d+_attn_to_q$", "hidden width")
        double, single = _blocks_ev(ev, names, "transformer_blocks", "single_transformer_blocks")
        if (double or 0) >= 19 or (single or 0) >= 38:
            ev.append("more than 19 double / 38 single blocks: FramePack (20 + 40)")
            return ArchResult("framepack", ev)
        if hidden not in (None, 3072):
            return ArchResult(None, ev)
        modulation = names.has(r"norm1?(_context)?_linear$")
        if names.has(r"_ff_net_|_proj_mlp$") and not modulation:
            ev.append("no norm.linear modulation layers although MLPs are adapted (Chroma has none)")
            return ArchResult("chroma", ev, alternatives=("flux",))
        alternatives = () if double == 18 or single == 37 else ("framepack",)
        return ArchResult("flux", ev, alternatives=alternatives)
    if names.has(r"^joint_blocks_\d+_") or names.has(r"^transformer_blocks_\d+_attn_add_q_proj$"):
        ev.append("SD3 MMDiT block names (joint_blocks / transformer_blocks with add_q_proj, no single blocks)")
        hidden = _width_ev(
            ev, names, r"^(joint_blocks_\d+_x_block_attn_qkv|transformer_blocks_\d+_attn_to_q)$", "hidden width"
        )
        if hidden == 2432:
            return ArchResult("sd3.5-large", ev)
        if hidden == 1536:
            if names.has(r"attn2"):
                ev.append("x_block attn2 layers (SD3.5 medium)")
                return ArchResult("sd3.5-medium", ev)
            return ArchResult("sd3-medium", ev)
        return ArchResult("sd3", ev)
    return None


def _other_dits(names: _Names, ev: list[str]) -> ArchResult | None:
    if not names.contains(
        "\nblocks_",
        "\ndouble_stream_blocks_",
        "\nsingle_stream_blocks_",
        "\nlayers_",
        "\nnoise_refiner_",
        "\ncontext_refiner_",
    ):
        return None
    if names.has(r"^blocks_\d+_(self_attn|cross_attn|ffn)_") or names.has(r"^blocks_\d+_attn[12]_"):
        ev.append("Wan attention blocks (blocks.N.self_attn/cross_attn/ffn, or attn1/attn2 in diffusers names)")
        hidden = _width_ev(ev, names, r"^blocks_\d+_(self_attn_q|attn1_to_q)$", "hidden width")
        ffn = _width_ev(ev, names, r"^blocks_\d+_ffn_(0|net_0_proj)$", "FFN width", "out_features")
        _blocks_ev(ev, names, "blocks")
        if names.has(r"^blocks_\d+_(cross_attn_[kv]_img|attn2_add_[kv]_proj)$"):
            ev.append("image cross-attention (k_img/v_img): an image-to-video (I2V) model")
        if hidden == 5120 or ffn == 13824:
            return ArchResult("wan-14b", ev)
        if hidden == 1536 or ffn == 8960:
            return ArchResult("wan-1.3b", ev)
        return ArchResult("wan", ev)
    if names.has(r"^(double_stream_blocks|single_stream_blocks)_\d+_"):
        ev.append("double_stream_blocks/single_stream_blocks names: HiDream I1")
        _width_ev(ev, names, r"_attn1_to_q$", "hidden width")
        return ArchResult("hidream-i1", ev)
    if names.has(r"^(layers|noise_refiner|context_refiner)_\d+_(attention|feed_forward|attn)_"):
        if names.has(r"_feed_forward_w[13]$") and names.has(r"_attention_to_(q|k|v|out_0)$"):
            hidden = _width_ev(ev, names, r"_attention_to_q$", "hidden width")
            if hidden in (None, 3840):
                ev.append("layers.N.attention.to_q + feed_forward.w1/w3 at width 3840: Z-Image")
                return ArchResult("z-image", ev)
        hidden = _width_ev(ev, names, r"_(attention_qkv|attn_to_q)$", "hidden width")
        if names.has(r"_attention_qkv$") or hidden == 2304:
            ev.append("layers.N.attention.qkv / attn.to_q at width 2304 (grouped-query attention): Lumina 2")
            return ArchResult("lumina2", ev)
    return None


def detect_from_weights(modules: dict[str, ModuleInfo], leftover: list[str]) -> ArchResult:
    mods = list(modules.values())
    names = _Names([(_flat(m), m) for m in mods if m.component not in ("te1", "te2", "te3")])
    ev: list[str] = []
    for probe in (_flux_family, _diffusers_dit, _other_dits):
        found = probe(names, ev)
        if found is not None:
            return found
    return _unet(mods, ev, leftover)


def _widths(
    flat: list[tuple[str, ModuleInfo]], suffixes: tuple[str, ...], component: str | None = None
) -> dict[int, str]:
    """In-widths of the modules whose flattened name ends with one of ``suffixes`` (one name each)."""
    out: dict[int, str] = {}
    for name, m in flat:
        if m.in_features is not None and name.endswith(suffixes) and component in (None, m.component):
            out.setdefault(m.in_features, m.name)
    return out


def _unet(mods: list[ModuleInfo], ev: list[str], leftover: list[str]) -> ArchResult:
    flat = [(m.name.replace(".", "_"), m) for m in mods]
    names = [n for n, _ in flat]
    context = _widths(flat, ("attn2_to_k",))
    for width, where in sorted(context.items()):
        ev.append(f"cross-attention input width {width} ({where})")
    te = {c: _widths(flat, ("self_attn_q_proj", "mlp_fc1"), c) for c in ("te1", "te2")}
    for comp, widths in te.items():
        for width in widths:
            ev.append(f"text encoder {comp[2:]} width {width}")
    text = "\n".join(names)
    sgm = re.search(r"(input_blocks|output_blocks|middle_block)_\d", text) is not None
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
    unet_names = re.search(r"(down_blocks|up_blocks|mid_block)_\d*", text) is not None
    if 1024 in te["te1"]:
        return ArchResult("sd2", ev)
    if 768 in te["te1"] and not te["te2"]:
        if unet_names:
            return ArchResult("sd1", ev)
        ev.append("only a CLIP-L text encoder is adapted: SD1.x, or the CLIP-L part of Flux/SDXL")
        return ArchResult("sd1", ev, alternatives=("flux", "sdxl"))
    if unet_names:
        widths = _widths(flat, ("attn1_to_q",))
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


#: Metadata keys that name the base model, in the order they are trusted (modelspec first).
BASE_MODEL_KEYS = ("modelspec.architecture", "ss_base_model_version")


def base_model_from_metadata(
    decoded: dict[str, Any], prefer: tuple[str, ...] = BASE_MODEL_KEYS
) -> tuple[str | None, str | None, str | None]:
    """(architecture or family, variant, "key = value" it came from) from the metadata, or Nones.

    ``prefer`` orders the keys: musubi-tuner's own ``ss_base_model_version`` (``flux_kontext``) is
    more precise than its ``modelspec.architecture`` (``Flux.1-dev/lora`` for Kontext too).
    """
    for key in prefer:
        value = decoded.get(key)
        if isinstance(value, str) and value:
            found = normalise_base_model(value)
            if found is not None:
                return found[0], found[1], f"{key} = {value[:80]!r}"
    if decoded.get("ss_v2") is True:
        return "sd2", None, "ss_v2 = 'True'"
    return None, None, None


def arch_from_metadata(decoded: dict[str, Any]) -> tuple[str | None, str | None]:
    """(architecture, "key = value" it came from) from modelspec / ss_* keys, or (None, None)."""
    arch, _, source = base_model_from_metadata(decoded)
    return arch, source


def is_known(arch: str | None) -> bool:
    return arch is None or arch in ARCHITECTURES or arch in FAMILIES or arch in METADATA_ONLY

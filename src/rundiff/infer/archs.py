"""Base architectures rundiff knows: canonical ids, labels, widths, and every trainer's name for them.

Kept apart from :mod:`rundiff.infer.inventory` (the per-module tables behind ``--size`` and the
synthetic files) so that a plain ``infer-rank`` imports only these small tables. Sources:
``shared/reference/lora-files.md`` §3 and ``logs-and-metadata.md`` §2.8-§2.9.
"""

from __future__ import annotations

from collections import namedtuple


class ArchSpec(
    namedtuple(
        "ArchSpec",
        "name label text_encoders context_dim hidden family dit",
        defaults=((), None, None, "", True),
    )
):
    """Facts about a base architecture that detection and size estimation need.

    A named tuple rather than a dataclass: this module is on ``infer-rank``'s start-up path, and
    ``dataclasses`` imports ``inspect`` (about as costly as ``json`` itself).
    """

    __slots__ = ()
    # fields (annotations only: a default here would shadow the tuple's field)
    name: str  # canonical id used everywhere in rundiff ("sd1", "sdxl", "flux", ...)
    label: str
    text_encoders: tuple[tuple[int, int, int], ...]  # (hidden, mlp, layers) of each TE kohya trains
    context_dim: int | None  # cross-attention input width (UNet models)
    hidden: int | None  # transformer width (DiT models)
    family: str  # compare's model_family, in the registry's vocabulary (its `choices`)
    dit: bool  # a transformer (its LoRA modules are "transformer", not "unet")


_CLIP_L = (768, 3072, 12)
_CLIP_G = (1280, 5120, 32)

ARCHITECTURES: dict[str, ArchSpec] = {
    spec.name: spec
    for spec in (
        ArchSpec("sd1", "SD 1.x", (_CLIP_L,), context_dim=768, family="sd1", dit=False),
        ArchSpec("sd2", "SD 2.x", ((1024, 4096, 23),), context_dim=1024, family="sd2", dit=False),
        ArchSpec("sdxl", "SDXL", (_CLIP_L, _CLIP_G), context_dim=2048, family="sdxl", dit=False),
        ArchSpec("sd3-medium", "SD3 medium", (_CLIP_L, _CLIP_G), hidden=1536, family="sd3"),
        ArchSpec("sd3.5-medium", "SD3.5 medium", (_CLIP_L, _CLIP_G), hidden=1536, family="sd3"),
        ArchSpec("sd3.5-large", "SD3.5 large", (_CLIP_L, _CLIP_G), hidden=2432, family="sd3"),
        ArchSpec("flux", "Flux.1", (_CLIP_L,), hidden=3072, family="flux"),
        ArchSpec("chroma", "Chroma", (), hidden=3072, family="chroma"),
        ArchSpec("flux2-dev", "Flux.2 dev", hidden=6144, family="flux2"),
        ArchSpec("flux2-klein-9b", "Flux.2 Klein 9B", hidden=4096, family="flux2"),
        ArchSpec("flux2-klein-4b", "Flux.2 Klein 4B", hidden=3072, family="flux2"),
        ArchSpec("wan-14b", "Wan 2.1 14B / 2.2 A14B", hidden=5120, family="wan"),
        ArchSpec("wan-1.3b", "Wan 2.1 1.3B", hidden=1536, family="wan"),
        ArchSpec("hunyuan-video", "HunyuanVideo", hidden=3072, family="hunyuan_video"),
        ArchSpec("hunyuan-video-1.5", "HunyuanVideo 1.5", hidden=2048, family="hunyuan_video"),
        ArchSpec("framepack", "FramePack (HunyuanVideo packed)", hidden=3072, family="hunyuan_video"),
        ArchSpec("qwen-image", "Qwen-Image", hidden=3072, family="qwen_image"),
        ArchSpec("z-image", "Z-Image", hidden=3840, family="z_image"),
        ArchSpec("hidream-i1", "HiDream I1", hidden=2560, family="hidream"),
        ArchSpec("lumina2", "Lumina 2", hidden=2304, family="lumina"),
    )
}
#: Families whose size is not known from a string alone (metadata like "SD3" or "Flux.2").
FAMILIES = {"sd3": "SD3 (size unknown)", "flux2": "Flux.2 (size unknown)", "wan": "Wan (size unknown)"}
#: Named by metadata only (no weight fingerprint here yet): (label, model_family).
METADATA_ONLY_FAMILY = {
    "hidream-o1": "hidream",
    "hunyuan-image-2.1": "hunyuan_image",
    "krea-2": "krea",
    "ideogram-4": "ideogram",
    "kandinsky-5": "kandinsky",
    "pixart": "pixart",
    "auraflow": "auraflow",
    "sana": "sana",
    "stable-cascade": "stable_cascade",
    "anima": "anima",
}
METADATA_ONLY = {
    "hidream-o1": "HiDream O1",
    "hunyuan-image-2.1": "HunyuanImage 2.1",
    "krea-2": "Krea 2",
    "ideogram-4": "Ideogram 4",
    "kandinsky-5": "Kandinsky 5",
    "pixart": "PixArt",
    "auraflow": "AuraFlow",
    "sana": "Sana",
    "stable-cascade": "Stable Cascade",
    "anima": "Anima",
}

ALIASES = {
    "sd15": "sd1",
    "sd1.5": "sd1",
    "sd1.x": "sd1",
    "sd14": "sd1",
    "sd_v1": "sd1",
    "sd21": "sd2",
    "sd2.1": "sd2",
    "sd2.x": "sd2",
    "sd_v2": "sd2",
    "sd3": "sd3-medium",
    "sd35-medium": "sd3.5-medium",
    "sd35-large": "sd3.5-large",
    "sd35": "sd3.5-large",
    "flux1": "flux",
    "flux.1": "flux",
    "flux2": "flux2-dev",
    "flux.2": "flux2-dev",
    "wan": "wan-14b",
    "wan2.1": "wan-14b",
    "wan2.2": "wan-14b",
    "wan-1.3b": "wan-1.3b",
    "qwen": "qwen-image",
    "qwen_image": "qwen-image",
    "zimage": "z-image",
    "z_image": "z-image",
    "hunyuanvideo": "hunyuan-video",
}


def canonical_arch(name: str) -> str:
    """Map a user-typed architecture name to its canonical id; raises KeyError when unknown."""
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in ARCHITECTURES:
        raise KeyError(name)
    return key


def family_of(arch: str | None) -> str | None:
    if arch is None:
        return None
    spec = ARCHITECTURES.get(arch)
    if spec is not None:
        return spec.family or spec.name
    return METADATA_ONLY_FAMILY.get(arch, arch)


def label(arch: str | None) -> str:
    if arch is None:
        return "unknown"
    spec = ARCHITECTURES.get(arch)
    return spec.label if spec else FAMILIES.get(arch) or METADATA_ONLY.get(arch, arch)


# --- base-model strings of every trainer ------------------------------------------------------------

#: (prefixes, needles, architecture or family, variant): a base-model string names this model when,
#: normalised (lower case; ``-``, ``_``, ``.``, ``/`` and spaces removed; a trailing ``/lora`` dropped,
#: reference §2.9 "Matching advice"), it starts with one of the prefixes and contains every needle.
#: First match wins, so specific spellings come before their prefixes. Plain string tests, no regex:
#: this table is read on every ``infer-rank``.
BASE_MODELS: tuple[tuple[tuple[str, ...], tuple[str, ...], str, str | None], ...] = (
    # SD 1.x / 2.x / XL: sd-scripts (sd_v1, sd_v2_v), ai-toolkit (sd_1.5, sdxl_1.0), OneTrainer, SimpleTuner
    (("stablediffusionxl",), ("inpainting",), "sdxl", "inpainting"),
    (("stablediffusionxl", "sdxl"), (), "sdxl", None),
    (("stablediffusionv1",), ("inpainting",), "sd1", "inpainting"),
    (("stablediffusionv1", "sdv1", "sd15", "sd1x"), (), "sd1", None),
    (("stablediffusionv2", "sdv2", "sd21", "sd2x", "sd20"), (), "sd2", None),
    # SD3 / 3.5: sd-scripts model types (medium, 5-large, 5-medium), OneTrainer, SimpleTuner, ai-toolkit
    (("stablediffusion35large", "stablediffusion3large", "sd35large", "sd3large", "5large"), (), "sd3.5-large", None),
    (("stablediffusion35medium", "sd35medium", "5medium"), (), "sd3.5-medium", None),
    (("stablediffusion3medium", "stablediffusionv3medium", "sd3medium", "medium"), (), "sd3-medium", None),
    (("stablediffusionv35", "stablediffusion35", "stablediffusion3", "stablediffusionv3", "sd3"), (), "sd3", None),
    # Flux.1: sd-scripts flux1 / flux-1-dev; musubi flux_kontext; ai-toolkit flux.1(_kontext); OT; SimpleTuner
    (("fluxkontext", "flux1kontext"), (), "flux", "Kontext"),
    (("flux1fill",), (), "flux", "Fill"),
    (("flux1schnell",), (), "flux", "schnell"),
    (("fluxkrea",), (), "flux", "Krea"),
    (("flux1", "fluxdev"), (), "flux", None),
    # Flux.2: musubi flux_2_dev / flux_2_klein_4b; ai-toolkit flux2(_klein_9b); OneTrainer Flux.2; SimpleTuner
    (("flux2klein4b",), (), "flux2-klein-4b", None),
    (("flux2klein9b",), (), "flux2-klein-9b", None),
    (("flux2dev",), (), "flux2-dev", None),
    (("flux2",), (), "flux2", None),
    # Chroma 1 (Radiance, Zeta-Chroma): sd-scripts chroma, OT Chroma1, SimpleTuner chroma-base/-hd
    (("chroma", "zetachroma"), (), "chroma", None),
    # Qwen-Image and its Edit/Layered variants (ai-toolkit writes qwen_image for Edit too)
    (("qwenimageedit",), (), "qwen-image", "Edit"),
    (("qwenimagelayered",), (), "qwen-image", "Layered"),
    (("qwenimage",), (), "qwen-image", None),
    # Wan: musubi writes wan / wan2.1 for both generations; ai-toolkit wan_2.2_14b; SimpleTuner ...-2.2-high
    (("wan",), ("22", "5b"), "wan", "2.2 5B"),
    (("wan",), ("13b",), "wan-1.3b", None),
    (("wan",), ("22",), "wan-14b", "2.2"),
    (("wan",), ("21",), "wan", "2.1"),
    (("wan",), (), "wan", None),
    (("zimage",), (), "z-image", None),
    (("hidreamo1",), (), "hidream-o1", None),
    (("hidream",), (), "hidream-i1", None),
    (("hunyuanvideo15",), (), "hunyuan-video-1.5", None),
    (("hunyuanvideo",), (), "hunyuan-video", None),
    (("framepack",), (), "framepack", None),
    (("hunyuanimage",), (), "hunyuan-image-2.1", None),
    (("lumina",), (), "lumina2", None),
    (("krea2",), (), "krea-2", None),
    (("ideogram",), (), "ideogram-4", None),
    (("kandinsky",), (), "kandinsky-5", None),
    (("pixart",), (), "pixart", None),
    (("auraflow",), (), "auraflow", None),
    (("sana",), (), "sana", None),
    (("stablecascade", "wuerstchen"), (), "stable-cascade", None),
    (("anima",), (), "anima", None),
)
_STRIP = str.maketrans("", "", "-_. /")


def normalise_base_model(text: str) -> tuple[str, str | None] | None:
    """(architecture or family, variant) a trainer's base-model string names, or None when unknown.

    ``sdxl_base_v1-0``, ``stable-diffusion-xl-v1-base/lora``, ``sdxl_1.0`` and ``sdxl-base/lora`` all
    give ``("sdxl", None)``; ``flux_kontext`` gives ``("flux", "Kontext")``.
    """
    s = text.strip().lower()
    if len(s) > 200:
        return None
    s = s.removesuffix("/lora")
    variant_v = s.endswith("_v") and s.startswith("sd_v")  # sd-scripts: v-parameterization
    key = s.translate(_STRIP)
    for prefixes, needles, arch, variant in BASE_MODELS:
        if key.startswith(prefixes) and all(n in key for n in needles):
            return arch, variant or ("v-prediction" if variant_v else None)
    return None


def agree(weights: str | None, metadata: str | None) -> bool:
    """Whether an architecture from the weights and one named by metadata can be the same model."""
    if weights is None or metadata is None or weights == metadata:
        return True
    if metadata in METADATA_ONLY:
        return False
    if metadata in FAMILIES or weights in FAMILIES:  # one side knows only the family
        return family_of(weights) == family_of(metadata)
    return False

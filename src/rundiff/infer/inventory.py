"""Module inventories of each base architecture: what a LoRA trainer wraps, with layer shapes.

One inventory serves three purposes, so they can never drift apart: the per-rank parameter tables
behind ``--size``, the synthetic test files of :mod:`rundiff.infer.synth`, and the expected module
counts shown by ``infer-rank``. Shapes follow the model code of sd-scripts / diffusers / BFL as
summarised in ``shared/reference/lora-files.md`` §5.2 (totals are checked by the tests).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

from rundiff.infer.archs import ALIASES, ARCHITECTURES, ArchSpec, canonical_arch

__all__ = ["ALIASES", "ARCHITECTURES", "ArchSpec", "Module", "ModuleSet", "canonical_arch", "module_sets", "modules"]


@dataclass(frozen=True)
class Module:
    """One wrapped layer: ``kernel`` 0 = Linear, 1 = 1x1 conv, 3 = 3x3 conv."""

    path: str  # dotted path inside its component, in the naming family of the inventory
    component: str  # "unet" (UNet or DiT), "te1", "te2", "te3"
    in_features: int
    out_features: int
    kernel: int = 0
    conv_extra: bool = False  # a ResNet / up- / downsampler module: only present with conv_dim

    @property
    def uses_conv_rank(self) -> bool:
        """kohya gives 3x3 convs ``conv_dim``; everything else (1x1 included) gets ``network_dim``."""
        return self.kernel == 3

    @property
    def params_per_rank(self) -> int:
        return self.in_features * max(self.kernel, 1) ** 2 + self.out_features


# --- UNet (SD1.x / SD2.x / SDXL), diffusers naming ------------------------------------------------


@dataclass(frozen=True)
class _UNetLayout:
    channels: tuple[int, ...]  # block_out_channels
    attention_depth: tuple[int, ...]  # transformer blocks per Transformer2D per level (0 = none)
    context: int
    linear_projection: bool  # proj_in/proj_out Linear (SDXL) or 1x1 conv (kohya SD1/SD2)
    time_embed: int


_UNETS = {
    "sd1": _UNetLayout((320, 640, 1280, 1280), (1, 1, 1, 0), 768, False, 1280),
    "sd2": _UNetLayout((320, 640, 1280, 1280), (1, 1, 1, 0), 1024, False, 1280),
    "sdxl": _UNetLayout((320, 640, 1280), (0, 2, 10), 2048, True, 1280),
}


def _transformer2d(prefix: str, c: int, depth: int, ctx: int, linear: bool) -> Iterator[Module]:
    proj_kernel = 0 if linear else 1
    yield Module(f"{prefix}.proj_in", "unet", c, c, proj_kernel)
    for i in range(depth):
        b = f"{prefix}.transformer_blocks.{i}"
        for attn, kv_in in (("attn1", c), ("attn2", ctx)):
            yield Module(f"{b}.{attn}.to_q", "unet", c, c)
            yield Module(f"{b}.{attn}.to_k", "unet", kv_in, c)
            yield Module(f"{b}.{attn}.to_v", "unet", kv_in, c)
            yield Module(f"{b}.{attn}.to_out.0", "unet", c, c)
        yield Module(f"{b}.ff.net.0.proj", "unet", c, 8 * c)  # GEGLU: two halves of 4c
        yield Module(f"{b}.ff.net.2", "unet", 4 * c, c)
    yield Module(f"{prefix}.proj_out", "unet", c, c, proj_kernel)


def _resnet(prefix: str, cin: int, cout: int, temb: int) -> Iterator[Module]:
    yield Module(f"{prefix}.conv1", "unet", cin, cout, 3, True)
    yield Module(f"{prefix}.time_emb_proj", "unet", temb, cout, 0, True)
    yield Module(f"{prefix}.conv2", "unet", cout, cout, 3, True)
    if cin != cout:
        yield Module(f"{prefix}.conv_shortcut", "unet", cin, cout, 1, True)


def _unet(lay: _UNetLayout) -> Iterator[Module]:
    chans, depth, n = lay.channels, lay.attention_depth, len(lay.channels)
    cin = chans[0]
    skips = [cin]
    for b, cout in enumerate(chans):
        for j in range(2):
            yield from _resnet(f"down_blocks.{b}.resnets.{j}", cin, cout, lay.time_embed)
            cin = cout
            if depth[b]:
                yield from _transformer2d(
                    f"down_blocks.{b}.attentions.{j}", cout, depth[b], lay.context, lay.linear_projection
                )
            skips.append(cout)
        if b < n - 1:
            yield Module(f"down_blocks.{b}.downsamplers.0.conv", "unet", cout, cout, 3, True)
            skips.append(cout)
    mid = chans[-1]
    yield from _resnet("mid_block.resnets.0", mid, mid, lay.time_embed)
    yield from _transformer2d("mid_block.attentions.0", mid, depth[-1] or 1, lay.context, lay.linear_projection)
    yield from _resnet("mid_block.resnets.1", mid, mid, lay.time_embed)
    prev = mid
    for u, cout in enumerate(reversed(chans)):
        level = n - 1 - u
        for j in range(3):
            cin = prev + skips.pop()
            yield from _resnet(f"up_blocks.{u}.resnets.{j}", cin, cout, lay.time_embed)
            prev = cout
            if depth[level]:
                yield from _transformer2d(
                    f"up_blocks.{u}.attentions.{j}", cout, depth[level], lay.context, lay.linear_projection
                )
        if u < n - 1:
            yield Module(f"up_blocks.{u}.upsamplers.0.conv", "unet", cout, cout, 3, True)


_SGM_RESNET = {
    "conv1": "in_layers.2",
    "time_emb_proj": "emb_layers.1",
    "conv2": "out_layers.3",
    "conv_shortcut": "skip_connection",
}


def sgm_path(path: str) -> str:
    """Rename an SDXL diffusers UNet path to the SGM/ldm naming sd-scripts uses for SDXL."""
    parts = path.split(".")
    head, rest = parts[:4], parts[4:]
    if head[0] == "mid_block":
        kind, idx = head[1], int(head[2])
        block = f"middle_block.{1 if kind == 'attentions' else 2 * idx}"
        rest = parts[3:]
    else:
        b, kind, j = int(head[1]), head[2], int(head[3])
        if head[0] == "down_blocks":
            block = f"input_blocks.{3 * (b + 1)}.0" if kind == "downsamplers" else f"input_blocks.{1 + 3 * b + j}"
        else:
            block = f"output_blocks.{3 * b + 2}.2" if kind == "upsamplers" else f"output_blocks.{3 * b + j}"
        if kind == "attentions":
            block += ".1"
        elif kind == "resnets":
            block += ".0"
    if kind == "resnets":
        rest = [_SGM_RESNET[rest[0]]]
    elif kind == "downsamplers":
        rest = ["op"]
    elif kind == "upsamplers":
        rest = ["conv"]
    return ".".join([block, *rest])


# --- text encoders --------------------------------------------------------------------------------


def _clip(component: str, hidden: int, mlp: int, layers: int, mlp_only: bool = False) -> Iterator[Module]:
    for i in range(layers):
        b = f"text_model.encoder.layers.{i}"
        if not mlp_only:
            for p in ("q_proj", "k_proj", "v_proj", "out_proj"):
                yield Module(f"{b}.self_attn.{p}", component, hidden, hidden)
        yield Module(f"{b}.mlp.fc1", component, hidden, mlp)
        yield Module(f"{b}.mlp.fc2", component, mlp, hidden)


# --- DiT models -----------------------------------------------------------------------------------


def _flux_kohya(modulation: bool = True) -> Iterator[Module]:
    h, m = 3072, 12288
    for i in range(19):
        for s in ("img", "txt"):
            b = f"double_blocks.{i}.{s}"
            yield Module(f"{b}_attn.qkv", "unet", h, 3 * h)
            yield Module(f"{b}_attn.proj", "unet", h, h)
            yield Module(f"{b}_mlp.0", "unet", h, m)
            yield Module(f"{b}_mlp.2", "unet", m, h)
            if modulation:
                yield Module(f"{b}_mod.lin", "unet", h, 6 * h)
    for i in range(38):
        b = f"single_blocks.{i}"
        yield Module(f"{b}.linear1", "unet", h, 3 * h + m)
        yield Module(f"{b}.linear2", "unet", h + m, h)
        if modulation:
            yield Module(f"{b}.modulation.lin", "unet", h, 3 * h)


def _flux_diffusers() -> Iterator[Module]:
    h, m = 3072, 12288
    for i in range(19):
        b = f"transformer_blocks.{i}"
        for p in ("to_q", "to_k", "to_v", "to_out.0", "add_q_proj", "add_k_proj", "add_v_proj", "to_add_out"):
            yield Module(f"{b}.attn.{p}", "unet", h, h)
        for ff in ("ff", "ff_context"):
            yield Module(f"{b}.{ff}.net.0.proj", "unet", h, m)
            yield Module(f"{b}.{ff}.net.2", "unet", m, h)
        yield Module(f"{b}.norm1.linear", "unet", h, 6 * h)
        yield Module(f"{b}.norm1_context.linear", "unet", h, 6 * h)
    for i in range(38):
        b = f"single_transformer_blocks.{i}"
        for p in ("to_q", "to_k", "to_v"):
            yield Module(f"{b}.attn.{p}", "unet", h, h)
        yield Module(f"{b}.proj_mlp", "unet", h, m)
        yield Module(f"{b}.proj_out", "unet", h + m, h)
        yield Module(f"{b}.norm.linear", "unet", h, 3 * h)


def _sd3_kohya(hidden: int, depth: int, attn2_layers: int = 0) -> Iterator[Module]:
    h = hidden
    for i in range(depth):
        for s in ("context_block", "x_block"):
            b = f"joint_blocks.{i}.{s}"
            last_context = s == "context_block" and i == depth - 1
            yield Module(f"{b}.attn.qkv", "unet", h, 3 * h)
            if last_context:  # pre_only: no output projection or MLP, 2 modulation chunks
                yield Module(f"{b}.adaLN_modulation.1", "unet", h, 2 * h)
                continue
            yield Module(f"{b}.attn.proj", "unet", h, h)
            dual = s == "x_block" and i < attn2_layers
            if dual:
                yield Module(f"{b}.attn2.qkv", "unet", h, 3 * h)
                yield Module(f"{b}.attn2.proj", "unet", h, h)
            yield Module(f"{b}.mlp.fc1", "unet", h, 4 * h)
            yield Module(f"{b}.mlp.fc2", "unet", 4 * h, h)
            yield Module(f"{b}.adaLN_modulation.1", "unet", h, (9 if dual else 6) * h)


def _flux2(hidden: int, mlp: int, n_double: int, n_single: int) -> Iterator[Module]:
    """Flux.2 (BFL names, musubi/ai-toolkit): SwiGLU MLPs, no per-block modulation (reference §2.8)."""
    h = hidden
    for i in range(n_double):
        for s in ("img", "txt"):
            b = f"double_blocks.{i}.{s}"
            yield Module(f"{b}_attn.qkv", "unet", h, 3 * h)
            yield Module(f"{b}_attn.proj", "unet", h, h)
            yield Module(f"{b}_mlp.0", "unet", h, 2 * mlp)
            yield Module(f"{b}_mlp.2", "unet", mlp, h)
    for i in range(n_single):
        b = f"single_blocks.{i}"
        yield Module(f"{b}.linear1", "unet", h, 3 * h + 2 * mlp)
        yield Module(f"{b}.linear2", "unet", h + mlp, h)


def _wan(hidden: int, ffn: int, depth: int, naming: str, i2v: bool = False) -> Iterator[Module]:
    """Wan 2.1/2.2 WanAttentionBlock: what musubi-tuner wraps (norms and embeddings excluded)."""
    h = hidden
    for i in range(depth):
        b = f"blocks.{i}"
        if naming == "diffusers":
            for attn in ("attn1", "attn2"):
                for p in ("to_q", "to_k", "to_v", "to_out.0"):
                    yield Module(f"{b}.{attn}.{p}", "unet", h, h)
            if i2v:
                yield Module(f"{b}.attn2.add_k_proj", "unet", h, h)
                yield Module(f"{b}.attn2.add_v_proj", "unet", h, h)
            yield Module(f"{b}.ffn.net.0.proj", "unet", h, ffn)
            yield Module(f"{b}.ffn.net.2", "unet", ffn, h)
            continue
        for attn in ("self_attn", "cross_attn"):
            for p in ("q", "k", "v", "o"):
                yield Module(f"{b}.{attn}.{p}", "unet", h, h)
        if i2v:
            yield Module(f"{b}.cross_attn.k_img", "unet", h, h)
            yield Module(f"{b}.cross_attn.v_img", "unet", h, h)
        yield Module(f"{b}.ffn.0", "unet", h, ffn)
        yield Module(f"{b}.ffn.2", "unet", ffn, h)


def _qwen_image(depth: int = 60, h: int = 3072) -> Iterator[Module]:
    """Qwen-Image transformer blocks, same names in musubi, ai-toolkit and diffusers (reference §2.8)."""
    for i in range(depth):
        b = f"transformer_blocks.{i}"
        for p in ("to_q", "to_k", "to_v", "to_out.0", "add_q_proj", "add_k_proj", "add_v_proj", "to_add_out"):
            yield Module(f"{b}.attn.{p}", "unet", h, h)
        for mlp in ("img_mlp", "txt_mlp"):
            yield Module(f"{b}.{mlp}.net.0.proj", "unet", h, 4 * h)
            yield Module(f"{b}.{mlp}.net.2", "unet", 4 * h, h)
        yield Module(f"{b}.img_mod.1", "unet", h, 6 * h)
        yield Module(f"{b}.txt_mod.1", "unet", h, 6 * h)


def _z_image(depth: int = 30, h: int = 3840, ffn: int = 10240) -> Iterator[Module]:
    """Z-Image layers (musubi excludes the modulation and the refiners by default)."""
    for i in range(depth):
        b = f"layers.{i}"
        for p in ("to_q", "to_k", "to_v", "to_out.0"):
            yield Module(f"{b}.attention.{p}", "unet", h, h)
        yield Module(f"{b}.feed_forward.w1", "unet", h, ffn)
        yield Module(f"{b}.feed_forward.w3", "unet", h, ffn)
        yield Module(f"{b}.feed_forward.w2", "unet", ffn, h)


def _hunyuan_video(n_double: int = 20, n_single: int = 40, h: int = 3072) -> Iterator[Module]:
    """HunyuanVideo double/single stream blocks; musubi excludes img_mod/txt_mod/modulation."""
    for i in range(n_double):
        for s in ("img", "txt"):
            b = f"double_blocks.{i}.{s}"
            yield Module(f"{b}_attn_qkv", "unet", h, 3 * h)
            yield Module(f"{b}_attn_proj", "unet", h, h)
            yield Module(f"{b}_mlp.fc1", "unet", h, 4 * h)
            yield Module(f"{b}_mlp.fc2", "unet", 4 * h, h)
    for i in range(n_single):
        b = f"single_blocks.{i}"
        yield Module(f"{b}.linear1", "unet", h, 3 * h + 4 * h)
        yield Module(f"{b}.linear2", "unet", h + 4 * h, h)


# --- public API -----------------------------------------------------------------------------------

NAMINGS = ("kohya", "diffusers")


@cache
def _unet_modules(arch: str, naming: str) -> tuple[Module, ...]:
    if arch in _UNETS:
        mods = tuple(_unet(_UNETS[arch]))
        if arch == "sdxl" and naming == "kohya":
            mods = tuple(
                Module(sgm_path(m.path), m.component, m.in_features, m.out_features, m.kernel, m.conv_extra)
                for m in mods
            )
        if arch != "sdxl" and naming == "diffusers":  # diffusers SD1/SD2 projections are plain Linear here
            mods = tuple(
                Module(
                    m.path,
                    m.component,
                    m.in_features,
                    m.out_features,
                    0 if m.kernel == 1 and not m.conv_extra else m.kernel,
                    m.conv_extra,
                )
                for m in mods
            )
        return mods
    if arch in ("flux", "chroma"):
        if naming == "diffusers":
            mods = tuple(_flux_diffusers())
            if arch == "chroma":
                mods = tuple(m for m in mods if "norm" not in m.path)
            return mods
        return tuple(_flux_kohya(modulation=arch == "flux"))
    if arch == "sd3-medium":
        return tuple(_sd3_kohya(1536, 24))
    if arch == "sd3.5-medium":
        return tuple(_sd3_kohya(1536, 24, attn2_layers=13))
    if arch == "sd3.5-large":
        return tuple(_sd3_kohya(2432, 38))
    if arch in _FLUX2:
        return tuple(_flux2(*_FLUX2[arch]))
    if arch in _WAN:
        return tuple(_wan(*_WAN[arch], naming=naming))
    if arch == "qwen-image":
        return tuple(_qwen_image())
    if arch == "z-image":
        return tuple(_z_image())
    if arch == "hunyuan-video":
        return tuple(_hunyuan_video())
    raise KeyError(arch)


#: (hidden, mlp, double blocks, single blocks), reference §2.8 (musubi flux2_models.py)
_FLUX2 = {
    "flux2-dev": (6144, 18432, 8, 48),
    "flux2-klein-9b": (4096, 12288, 8, 24),
    "flux2-klein-4b": (3072, 9216, 5, 20),
}
#: (hidden, ffn, blocks), reference §2.8 (musubi wan/configs)
_WAN = {"wan-14b": (5120, 13824, 40), "wan-1.3b": (1536, 8960, 30)}
#: Architectures whose inventory exists (others are detected but have no size table).
WITH_INVENTORY = (
    "sd1",
    "sd2",
    "sdxl",
    "sd3-medium",
    "sd3.5-medium",
    "sd3.5-large",
    "flux",
    "chroma",
    *_FLUX2,
    *_WAN,
    "qwen-image",
    "z-image",
    "hunyuan-video",
)


def modules(
    arch: str,
    naming: str = "kohya",
    *,
    text_encoder: bool = True,
    conv: bool = False,
    te_mlp_only: bool = False,
) -> list[Module]:
    """The modules a default LoRA of ``arch`` wraps (kohya target sets; ``conv`` adds ResNet convs)."""
    arch = canonical_arch(arch)
    mods = [m for m in _unet_modules(arch, naming) if conv or not m.conv_extra]
    if text_encoder:
        for n, (hidden, mlp, layers) in enumerate(ARCHITECTURES[arch].text_encoders, start=1):
            mods.extend(_clip(f"te{n}", hidden, mlp, layers, te_mlp_only))
    return mods


@dataclass(frozen=True)
class ModuleSet:
    """A named combination of modules, as users train them (UNet only, with TEs, with conv)."""

    name: str
    arch: str
    text_encoder: bool
    conv: bool = False
    te_mlp_only: bool = False
    naming: str = "kohya"

    def modules(self) -> list[Module]:
        return modules(
            self.arch,
            self.naming,
            text_encoder=self.text_encoder,
            conv=self.conv,
            te_mlp_only=self.te_mlp_only,
        )

    def linear_params_per_rank(self) -> int:
        """Parameters per unit of ``network_dim`` (3x3 convs excluded: they follow ``conv_dim``)."""
        return sum(m.params_per_rank for m in self.modules() if not m.uses_conv_rank)

    def conv_params_per_rank(self) -> int:
        return sum(m.params_per_rank for m in self.modules() if m.uses_conv_rank)


@cache
def module_sets(arch: str) -> tuple[ModuleSet, ...]:
    """Every module set worth trying for ``arch`` when only a file size is known."""
    arch = canonical_arch(arch)
    sets = [ModuleSet("unet", arch, False)]
    if ARCHITECTURES[arch].text_encoders:
        sets.append(ModuleSet("unet+te", arch, True))
    if arch == "sdxl":
        sets.append(ModuleSet("unet+te-mlp-only", arch, True, te_mlp_only=True))
    if arch in _UNETS:
        sets.append(ModuleSet("unet+conv", arch, False, conv=True))
        sets.append(ModuleSet("unet+te+conv", arch, True, conv=True))
    if arch in ("flux", "chroma", *_WAN):
        sets.append(ModuleSet("diffusers", arch, False, naming="diffusers"))
    return tuple(sets)

"""Per-format rules: group tensors into modules, and read each module's rank from its shapes.

The suffix of a tensor name says which adapter algorithm wrote it (kohya ``lora_down``, PEFT
``lora_A``, LyCORIS ``hada_*``/``lokr_*``/``a1``..., reference §2.4), and each algorithm keeps its
rank on a different axis of a different tensor. Alpha is *data* (a scalar per module) and is filled
in later by :mod:`rundiff.infer.inspect`, which knows how to read it cheaply.
"""

from __future__ import annotations

import re

from rundiff.infer.header import TensorInfo

#: Every adapter tensor suffix (reference §2.4), spelled out: ``split_key`` looks the last one to
#: three dot-separated parts of a name up in this set, much faster than a regex on big headers.
_SUFFIX_SET = frozenset(
    (
        "lora_down.weight", "lora_up.weight", "lora_mid.weight",
        "lora_A.weight", "lora_B.weight", "lora_A.default.weight", "lora_B.default.weight", "lora_A", "lora_B",
        "lora_magnitude_vector",
        "lora_linear_layer.down.weight", "lora_linear_layer.up.weight", "lora.down.weight", "lora.up.weight",
        "hada_w1_a", "hada_w1_b", "hada_w2_a", "hada_w2_b", "hada_t1", "hada_t2",
        "lokr_w1", "lokr_w2", "lokr_w1_a", "lokr_w1_b", "lokr_w2_a", "lokr_w2_b", "lokr_t1", "lokr_t2",
        "a1.weight", "a2.weight", "b1.weight", "b2.weight", "bm.weight",
        "oft_blocks", "oft_diag", "rescale", "diff", "diff_b", "w_norm", "b_norm", "on_input", "dora_scale",
        "alpha", "scale",
    )
)  # fmt: skip
_OLD_DIFFUSERS = re.compile(r"(?P<base>.+?)_lora\.(?P<suffix>down|up)\.weight\Z")  # to_q_lora.down.weight
_XLABS = re.compile(r"(?P<base>.+?_lora\d)\.(?P<suffix>down|up)\.weight\Z")  # processor.qkv_lora1.down

#: Suffix -> normalised role.
_ROLE = {
    "lora_down.weight": "down",
    "lora_up.weight": "up",
    "lora_mid.weight": "mid",
    "lora_A.weight": "down",
    "lora_B.weight": "up",
    "lora_A.default.weight": "down",
    "lora_B.default.weight": "up",
    "lora_A": "down",
    "lora_B": "up",
    "lora_linear_layer.down.weight": "down",
    "lora_linear_layer.up.weight": "up",
    "lora.down.weight": "down",
    "lora.up.weight": "up",
    "down": "down",
    "up": "up",
    "lora_magnitude_vector": "dora_scale",
}

#: Prefix of a module name -> component. Order matters: longest first where they overlap.
_PREFIXES = (
    ("lora_unet_", "unet"),
    ("lora_te1_", "te1"),
    ("lora_te2_", "te2"),
    ("lora_te3_", "te3"),
    ("lora_te_", "te1"),
    ("lora_transformer_", "transformer"),
    ("lora_prior_unet_", "unet"),
    ("lora_prior_te_", "te1"),
    ("oft_unet_", "unet"),
    ("lycoris_", "unet"),
    ("base_model.model.", "model"),
    ("unet.", "unet"),
    ("transformer.", "transformer"),
    ("text_encoder_2.", "te2"),
    ("text_encoder_3.", "te3"),
    ("text_encoder.", "te1"),
    ("model.diffusion_model.", "unet"),
    ("diffusion_model.", "unet"),
)

_CONV_NAME = re.compile(r"(conv\d?|conv_in|conv_out|in_layers[._]2|out_layers[._]3|[._]op)\Z")


class ModuleInfo:
    """One adapted layer as the file stores it.

    A plain class with slots, not a dataclass: infer-rank's start-up path avoids importing
    ``dataclasses`` (it imports ``inspect``), and an SDXL file makes ~1000 of these.
    """

    __slots__ = (
        "name",
        "component",
        "algo",
        "style",
        "tensors",
        "rank",
        "conv",
        "in_features",
        "out_features",
        "alpha",
        "alpha_source",
    )

    def __init__(
        self, name: str, component: str, algo: str, style: str, tensors: dict[str, TensorInfo] | None = None
    ) -> None:
        self.name = name  # base name, without the role suffix
        self.component = component  # "unet" | "transformer" | "te1" | "te2" | "te3" | "model" | "other"
        self.algo = algo  # "lora" | "loha" | "lokr" | "glora" | "ia3" | "full" | "oft" | "boft" | "norm"
        self.style = style  # naming family: "kohya" | "peft" | "diffusers" | "diffusers-old" | "xlabs" | "other"
        self.tensors = tensors if tensors is not None else {}  # role -> tensor
        self.rank: int | None = None
        self.conv = False  # a k x k (k > 1) convolution: its rank is the conv rank
        self.in_features: int | None = None
        self.out_features: int | None = None
        self.alpha: float | None = None  # None until read; stays None when the file stores none
        self.alpha_source = "none"

    def __repr__(self) -> str:
        return f"ModuleInfo({self.name!r}, {self.algo}, rank={self.rank}, alpha={self.alpha})"

    @property
    def dora(self) -> bool:
        return "dora_scale" in self.tensors

    @property
    def n_params(self) -> int:
        return sum(t.numel for role, t in self.tensors.items() if role not in ("alpha", "on_input"))


_ALL_PREFIXES = tuple(p for p, _ in _PREFIXES)


def component_of(base: str) -> str:
    if not base.startswith(_ALL_PREFIXES):
        return _bare_component(base)
    for prefix, component in _PREFIXES:
        if base.startswith(prefix):
            return component
    return _bare_component(base)


def _bare_component(base: str) -> str:
    if base.startswith(("double_blocks.", "single_blocks.", "transformer_blocks.", "single_transformer_blocks.")):
        return "transformer"
    return "other"


def _style(base: str, suffixes: set[str]) -> str:
    if base.startswith(("lora_", "oft_unet_", "lycoris_")):
        return "kohya"
    if any(s.startswith("lora_A") or s.startswith("lora_B") for s in suffixes):
        return "peft" if base.startswith("base_model.model.") else "diffusers"
    if "lora.down.weight" in suffixes or "lora_linear_layer.down.weight" in suffixes:
        return "diffusers-old"
    if suffixes & {"down", "up"}:
        return "xlabs" if re.search(r"_lora\d\Z", base) else "diffusers-old"
    return "other"


def split_key(name: str) -> tuple[str, str] | None:
    """(module base name, suffix) of a tensor name, or None when it is not an adapter tensor."""
    parts = name.rsplit(".", 3)
    for n in (3, 2, 1):  # longest suffix first, as the lazy base of _DOTTED would match
        if len(parts) > n and parts[0]:
            suffix = ".".join(parts[-n:])
            if suffix in _SUFFIX_SET:
                return name[: -len(suffix) - 1], suffix
    for pattern in (_XLABS, _OLD_DIFFUSERS):
        m = pattern.match(name)
        if m:
            return m.group("base"), m.group("suffix")
    return None


def _algo(roles) -> str | None:  # a set or a dict keys view
    if roles & {"down", "up"}:
        return "lora"
    if any(r.startswith("hada_") for r in roles):
        return "loha"
    if any(r.startswith("lokr_") for r in roles):
        return "lokr"
    if roles & {"a1.weight", "a2.weight", "b1.weight", "b2.weight"}:
        return "glora"
    if "on_input" in roles:
        return "ia3"
    if roles & {"diff", "diff_b"}:
        return "full"
    if roles & {"oft_blocks", "oft_diag"}:
        return "oft"
    if roles & {"w_norm", "b_norm"}:
        return "norm"
    return None  # alpha/scale alone: not an adapter module


def _fill_shapes(m: ModuleInfo) -> None:
    t = m.tensors
    if m.algo == "lora":
        down, up = t.get("down"), t.get("up")
        if down is not None and down.shape:
            m.rank = down.shape[0]
            if len(down.shape) >= 2:
                m.in_features = down.shape[1]
            m.conv = len(down.shape) == 4 and (down.shape[2] > 1 or down.shape[3] > 1)
        elif up is not None and len(up.shape) >= 2:
            m.rank = up.shape[1]
        if "mid" in t and len(t["mid"].shape) == 4:
            m.conv = t["mid"].shape[2] > 1 or m.conv
        if up is not None and up.shape:
            m.out_features = up.shape[0]
    elif m.algo == "loha":
        w1b, w1a = t.get("hada_w1_b"), t.get("hada_w1_a")
        if w1b is not None and w1b.shape:
            m.rank = w1b.shape[0]
        tucker = t.get("hada_t1")
        if tucker is not None and len(tucker.shape) == 4:
            m.conv = tucker.shape[2] > 1
            if w1a is not None and len(w1a.shape) == 2:
                m.out_features = w1a.shape[1]
            if w1b is not None and len(w1b.shape) == 2:
                m.in_features = w1b.shape[1]
        else:
            m.conv = bool(_CONV_NAME.search(m.name))
            if w1a is not None and len(w1a.shape) == 2:
                m.out_features = w1a.shape[0]
            if w1b is not None and len(w1b.shape) == 2 and not m.conv:
                m.in_features = w1b.shape[1]
    elif m.algo == "lokr":
        for key, axis in (("lokr_w2_a", 1), ("lokr_w1_a", 1)):
            f = t.get(key)
            if f is not None and len(f.shape) > axis:
                m.rank = f.shape[axis]
                break
        w2 = t.get("lokr_w2") or t.get("lokr_w2_b")
        m.conv = bool(w2 is not None and len(w2.shape) == 4 and w2.shape[2] > 1) or bool(_CONV_NAME.search(m.name))
        w1, w2a = t.get("lokr_w1"), t.get("lokr_w2_a")
        out_k = (
            t["lokr_w2"].shape[0]
            if "lokr_w2" in t and t["lokr_w2"].shape
            else w2a.shape[0]
            if w2a is not None and w2a.shape
            else None
        )
        if w1 is not None and len(w1.shape) == 2 and w2 is not None and len(w2.shape) >= 2 and out_k:
            m.in_features, m.out_features = (
                w1.shape[1] * w2.shape[1],
                w1.shape[0] * out_k,
            )  # Kronecker product
    elif m.algo == "glora":
        a2 = t.get("a2.weight")
        if a2 is not None and a2.shape:
            m.rank = a2.shape[0]
        b2 = t.get("b2.weight")
        m.conv = bool(b2 is not None and len(b2.shape) == 4 and b2.shape[2] > 1)
        b1 = t.get("b1.weight")
        if b1 is not None and b1.shape:
            m.out_features = b1.shape[0]
        if a2 is not None and len(a2.shape) >= 2:
            m.in_features = a2.shape[1]
    elif m.algo == "oft" and "oft_blocks" in t and len(t["oft_blocks"].shape) == 4:
        m.algo = "boft"
    elif m.algo == "full":
        d = t.get("diff")
        if d is not None and len(d.shape) >= 2:
            m.out_features, m.in_features = d.shape[0], d.shape[1]
            m.conv = len(d.shape) == 4 and d.shape[2] > 1


def group_modules(tensors: dict[str, TensorInfo]) -> tuple[dict[str, ModuleInfo], list[str]]:
    """Group adapter tensors by module. Returns (modules by name, names of tensors left over)."""
    groups: dict[str, dict[str, TensorInfo]] = {}
    suffixes: dict[str, set[str]] = {}
    leftover: list[str] = []
    role_of = _ROLE.get
    for name, info in tensors.items():
        parts = split_key(name)
        if parts is None:
            leftover.append(name)
            continue
        base, suffix = parts
        group = groups.get(base)
        if group is None:
            group = groups[base] = {}
            suffixes[base] = set()
        group[role_of(suffix, suffix)] = info
        suffixes[base].add(suffix)
    modules: dict[str, ModuleInfo] = {}
    for base, roles in groups.items():
        algo = _algo(roles.keys())
        if algo is None:
            leftover.extend(t.name for t in roles.values())
            continue
        if algo == "ia3" and base + ".weight" in tensors:
            roles["weight"] = tensors[base + ".weight"]
        m = ModuleInfo(base, component_of(base), algo, _style(base, suffixes[base]), roles)
        _fill_shapes(m)
        modules[base] = m
    if any(m.algo == "ia3" for m in modules.values()):
        taken = {m.name + ".weight" for m in modules.values() if m.algo == "ia3"}
        leftover = [n for n in leftover if n not in taken]
    return modules, leftover


def format_name(modules: dict[str, ModuleInfo], decoded_metadata: dict, network_algo: str | None) -> str:
    """One word for what wrote the file: kohya, lycoris-locon/loha/lokr/dora/glora/ia3/full, peft, ..."""
    algos = {m.algo for m in modules.values()}
    styles = {m.style for m in modules.values()}
    lycoris_meta = "lycoris" in str(decoded_metadata.get("ss_network_module", "")).lower()
    dora = any(m.dora for m in modules.values())
    for algo in ("loha", "lokr", "glora", "ia3", "full", "boft", "oft", "norm"):
        if algo in algos:
            if algo in ("oft", "boft") and "kohya" in styles and not lycoris_meta:
                return "kohya-oft"
            return f"lycoris-{algo}"
    if "lora" not in algos:
        return "unknown"
    if styles & {"peft"}:
        return "peft-dora" if dora else "peft"
    if styles & {"diffusers"}:
        return "diffusers-dora" if dora else "diffusers"
    if styles & {"diffusers-old"}:
        return "diffusers-old"
    if styles & {"xlabs"}:
        return "xlabs"
    if dora:
        return "lycoris-dora"
    if lycoris_meta or any("mid" in m.tensors for m in modules.values()):
        return "lycoris-locon" if (network_algo or "locon") in ("locon", "lora") else f"lycoris-{network_algo}"
    return "kohya"

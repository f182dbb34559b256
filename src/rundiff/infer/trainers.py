"""Which trainer wrote a LoRA file, from its metadata keys first and its key layout second.

Kept as one table of signatures (logs-and-metadata.md §2.1-§2.7). Metadata is checked before the
layout because OneTrainer's Kohya and Comfy formats deliberately imitate sd-scripts and ComfyUI
files (§2.1). Each signature lists the evidence it needs; the first that matches wins, and the
evidence found is reported.
"""

from __future__ import annotations

import re
from collections import namedtuple

from rundiff.infer.formats import ModuleInfo

TYPE_CHECKING = False  # typing is not imported at run time: infer-rank's start-up budget
if TYPE_CHECKING:
    pass


class Signature(
    namedtuple(
        "Signature",
        "trainer why keys values prefixes suffixes no_metadata layout prefer_base_model",
        defaults=((), (), (), (), False, None, ()),
    )
):
    """One way a trainer's files can be recognised. All given conditions must hold.

    (A named tuple, not a dataclass: this table is read on ``infer-rank``'s start-up path.)
    """

    __slots__ = ()
    trainer: str
    why: str  # shown as evidence
    keys: tuple[str, ...]  # metadata keys that must all be present
    values: tuple[tuple[str, str], ...]  # (metadata key, regex the value must match)
    prefixes: tuple[str, ...]  # some module name starts with one of these
    suffixes: tuple[str, ...]  # some tensor role (down/up/alpha/diff...) among these
    no_metadata: bool  # the file has no __metadata__ at all
    layout: str | None  # the output format a OneTrainer/musubi user chose, for display
    prefer_base_model: tuple[str, ...]  # metadata keys naming the base model, most precise first


#: musubi-tuner's ss_base_model_version vocabulary (its dataset/architectures.py)
_MUSUBI_BASE = (
    r"(wan|hunyuan_video|framepack|flux_kontext|flux_2_|qwen_image|z_image|hidream_o1|kandinsky|hv_1_5"
    r"|ideogram|krea)"
)

SIGNATURES: tuple[Signature, ...] = (
    # OneTrainer: ot_branch / ot_revision on every save (DtypeModelSaverMixin.py:103-106); five layouts
    Signature(
        "OneTrainer", "ot_revision in metadata", keys=("ot_revision",), prefixes=("lora_transformer_",), layout="Legacy"
    ),
    Signature(
        "OneTrainer", "ot_revision in metadata", keys=("ot_revision",), prefixes=("diffusion_model.",), layout="Comfy"
    ),
    Signature(
        "OneTrainer",
        "ot_revision in metadata",
        keys=("ot_revision",),
        suffixes=("lora_down", "lora_up"),
        prefixes=("lora_unet_", "lora_te"),
        layout="Kohya or Legacy",
    ),
    Signature(
        "OneTrainer",
        "ot_revision in metadata",
        keys=("ot_revision",),
        suffixes=("lora_down",),
        prefixes=("transformer.",),
        layout="Legacy",
    ),
    Signature(
        "OneTrainer",
        "ot_revision in metadata",
        keys=("ot_revision",),
        suffixes=("lora_A",),
        prefixes=("transformer.", "unet.", "text_encoder"),
        layout="Diffusers (alpha folded into lora_B)",
    ),
    Signature("OneTrainer", "ot_revision in metadata", keys=("ot_revision",), layout="Original"),
    Signature("OneTrainer", "ot_branch in metadata", keys=("ot_branch",)),
    # ai-toolkit: software = {"name": "ai-toolkit", ...} and training_info (toolkit/metadata.py)
    Signature("ai-toolkit", "software names ai-toolkit", values=(("software", r'"name":\s*"ai-toolkit"'),)),
    Signature(
        "ai-toolkit",
        "training_info with step and epoch",
        values=(("training_info", r'"step"'),),
        keys=("ss_base_model_version",),
    ),
    # SimpleTuner: re-saves diffusers files with modelspec + global_step/trained_words (save_hooks.py)
    Signature("SimpleTuner", "lycoris_config in metadata (SimpleTuner LyCORIS)", keys=("lycoris_config",)),
    Signature("SimpleTuner", "lycoris_ module prefix", prefixes=("lycoris_",)),
    Signature(
        "SimpleTuner",
        "modelspec.implementation = diffusers with global_step",
        keys=("global_step",),
        values=(("modelspec.implementation", r"^diffusers$"),),
    ),
    Signature(
        "SimpleTuner",
        "modelspec.implementation = diffusers with trained_words",
        keys=("trained_words",),
        values=(("modelspec.implementation", r"^diffusers$"),),
    ),
    # musubi-tuner: networks.lora_<arch> and its own base-model vocabulary (trainer_base.py:1820-1897)
    Signature(
        "musubi-tuner",
        "ss_base_model_version in musubi-tuner's vocabulary",
        values=(("ss_base_model_version", rf"^{_MUSUBI_BASE}"),),
        prefer_base_model=("ss_base_model_version", "modelspec.architecture"),
    ),
    Signature(
        "musubi-tuner",
        "ss_num_train_items (musubi's name for sd-scripts' ss_num_train_images)",
        keys=("ss_num_train_items",),
        prefer_base_model=("ss_base_model_version", "modelspec.architecture"),
    ),
    # sd-scripts (kohya-ss), also what kohya_ss GUI and most front-ends run
    Signature("sd-scripts", "ss_sd_scripts_commit_hash in metadata", keys=("ss_sd_scripts_commit_hash",)),
    Signature("sd-scripts", "ss_* training metadata with kohya keys", keys=("ss_network_module",)),
    Signature("sd-scripts", "ss_* training metadata", keys=("ss_output_name", "ss_learning_rate")),
    # diffusers training scripts / PEFT: format = pt, LoraConfig in lora_adapter_metadata (lora_base.py)
    Signature("diffusers", "lora_adapter_metadata (diffusers save_lora_weights)", keys=("lora_adapter_metadata",)),
    Signature("PEFT", "base_model.model. keys (peft save_pretrained)", prefixes=("base_model.model.",)),
    Signature(
        "diffusers",
        "format = pt with diffusers component keys",
        values=(("format", r"^pt$"),),
        prefixes=("transformer.", "unet.", "text_encoder"),
    ),
    # ComfyUI's trainer: no metadata, ComfyUI module paths, lora_up/lora_down (+ .diff/.diff_b) (nodes_train.py)
    Signature(
        "ComfyUI",
        "no metadata, diffusion_model. paths with lora_up/lora_down and .diff/.diff_b",
        no_metadata=True,
        prefixes=("diffusion_model.",),
        suffixes=("diff", "diff_b"),
    ),
    Signature(
        "ComfyUI",
        "no metadata, diffusion_model. paths with lora_up/lora_down",
        no_metadata=True,
        prefixes=("diffusion_model.",),
        suffixes=("lora_up",),
    ),
)


def _roles(modules: dict[str, ModuleInfo]) -> set[str]:
    """Tensor suffix families present (lora_down vs lora_A matter: both map to role 'down')."""
    out: set[str] = set()
    for m in modules.values():
        for t in m.tensors.values():
            tail = t.name[len(m.name) + 1 :]
            out.add(tail.split(".", 1)[0])
    return out


class _LazyRoles:
    """The tensor suffix families, computed only if a signature that needs them is reached."""

    def __init__(self, modules: dict[str, ModuleInfo]) -> None:
        self.modules, self.value = modules, None

    def get(self) -> set[str]:
        if self.value is None:
            self.value = _roles(self.modules)
        return self.value


def _matches(
    sig: Signature, metadata: dict[str, str] | None, modules: dict[str, ModuleInfo], roles: _LazyRoles
) -> bool:
    meta = metadata or {}
    if sig.no_metadata and metadata:
        return False
    if any(k not in meta for k in sig.keys):
        return False
    for key, pattern in sig.values:
        value = meta.get(key)
        if value is None or not re.search(pattern, value[:2000]):
            return False
    if sig.prefixes and not any(m.name.startswith(sig.prefixes) for m in modules.values()):
        return False
    return not sig.suffixes or bool(roles.get() & set(sig.suffixes))


class TrainerResult(namedtuple("TrainerResult", "trainer evidence layout prefer_base_model", defaults=((), None, ()))):
    """The trainer a file's metadata or layout names, with the evidence."""

    __slots__ = ()


def detect_trainer(metadata: dict[str, str] | None, modules: dict[str, ModuleInfo]) -> TrainerResult:
    """The first signature that matches, with the evidence; ``trainer`` None when nothing matches."""
    roles = _LazyRoles(modules)
    for sig in SIGNATURES:
        if _matches(sig, metadata, modules, roles):
            evidence = [sig.why]
            if sig.layout:
                evidence.append(f"{sig.trainer} output format: {sig.layout}")
            return TrainerResult(sig.trainer, tuple(evidence), sig.layout, sig.prefer_base_model)
    return TrainerResult(None)

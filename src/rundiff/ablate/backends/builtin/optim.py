"""Optimizers and LR schedulers by sd-scripts' names (reference §2-§3), from the libraries that define them."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

import torch

from rundiff.errors import RundiffError

from .config import TrainConfig
from .lora import LoRANetwork

#: kohya name (lower case) -> (module, class, PyPI package, defaults kohya adds)
OPTIMIZERS: dict[str, tuple[str, str, str, dict]] = {
    "adamw": ("torch.optim", "AdamW", "torch", {}),
    "sgdnesterov": ("torch.optim", "SGD", "torch", {"nesterov": True, "momentum": 0.9}),
    "adamw8bit": ("bitsandbytes.optim", "AdamW8bit", "bitsandbytes", {}),
    "pagedadamw8bit": ("bitsandbytes.optim", "PagedAdamW8bit", "bitsandbytes", {}),
    "pagedadamw": ("bitsandbytes.optim", "PagedAdamW", "bitsandbytes", {}),
    "pagedadamw32bit": ("bitsandbytes.optim", "PagedAdamW32bit", "bitsandbytes", {}),
    "lion8bit": ("bitsandbytes.optim", "Lion8bit", "bitsandbytes", {}),
    "pagedlion8bit": ("bitsandbytes.optim", "PagedLion8bit", "bitsandbytes", {}),
    "sgdnesterov8bit": ("bitsandbytes.optim", "SGD8bit", "bitsandbytes", {"nesterov": True, "momentum": 0.9}),
    "lion": ("lion_pytorch", "Lion", "lion-pytorch", {}),
    "prodigy": ("prodigyopt", "Prodigy", "prodigyopt", {}),
    "adafactor": ("transformers.optimization", "Adafactor", "transformers", {}),
    "dadaptation": ("dadaptation.experimental", "DAdaptAdamPreprint", "dadaptation", {}),
    "dadaptadampreprint": ("dadaptation.experimental", "DAdaptAdamPreprint", "dadaptation", {}),
    "dadaptadam": ("dadaptation", "DAdaptAdam", "dadaptation", {}),
    "dadaptadagrad": ("dadaptation", "DAdaptAdaGrad", "dadaptation", {}),
    "dadaptadan": ("dadaptation", "DAdaptAdan", "dadaptation", {}),
    "dadaptadanip": ("dadaptation.experimental", "DAdaptAdanIP", "dadaptation", {}),
    "dadaptlion": ("dadaptation", "DAdaptLion", "dadaptation", {}),
    "dadaptsgd": ("dadaptation", "DAdaptSGD", "dadaptation", {}),
}
#: Packages a dotted optimizer_type may name; anything else is refused rather than imported.
DOTTED_ALLOWED = (
    "torch.optim.",
    "bitsandbytes.",
    "prodigyopt.",
    "lion_pytorch.",
    "dadaptation.",
    "transformers.optimization.",
)

DIFFUSERS_SCHEDULERS = {"constant", "constant_with_warmup", "linear", "cosine", "cosine_with_restarts", "polynomial"}
TRANSFORMERS_SCHEDULERS = {"inverse_sqrt", "cosine_with_min_lr"}


@dataclass(frozen=True)
class GroupInfo:
    name: str  # as kohya logs it: textencoder, unet, unet_plus ...
    adaptive: bool  # d * lr is the real step size (Prodigy, D-Adaptation)


def param_groups(network: LoRANetwork, config: TrainConfig) -> tuple[list[dict], list[GroupInfo]]:
    """kohya's groups: TE at text_encoder_lr, U-Net at unet_lr (both default learning_rate); lr 0 groups dropped."""
    specs = []
    if not config.network_train_unet_only:
        te_lr = config.learning_rate if config.text_encoder_lr is None else config.text_encoder_lr
        specs.append(("textencoder", list(network.text_encoder_loras), te_lr))
    if not config.network_train_text_encoder_only:
        unet_lr = config.learning_rate if config.unet_lr is None else config.unet_lr
        specs.append(("unet", list(network.unet_loras), unet_lr))
    groups, names = [], []
    for name, loras, lr in specs:
        if not loras or not lr:
            continue
        if config.loraplus_lr_ratio:
            plain = [p for m in loras for n, p in m.named_parameters() if "lora_up" not in n]
            plus = [p for m in loras for n, p in m.named_parameters() if "lora_up" in n]
            groups += [{"params": plain, "lr": lr}, {"params": plus, "lr": lr * config.loraplus_lr_ratio}]
            names += [name, f"{name}_plus"]
        else:
            groups.append({"params": [p for m in loras for p in m.parameters()], "lr": lr})
            names.append(name)
    return groups, [GroupInfo(n, False) for n in names]


def build_optimizer(
    groups: list[dict], infos: list[GroupInfo], config: TrainConfig
) -> tuple[torch.optim.Optimizer, list[GroupInfo], bool]:
    """Returns the optimizer, group infos (adaptive marked) and whether Adafactor runs with relative_step."""
    module_name, class_name, package, defaults = _resolve(config.optimizer_type)
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        raise RundiffError(
            f"optimizer {config.optimizer_type} needs the package {package!r}: pip install {package}",
            key="optimizer_type",
        ) from None
    optimizer_class = getattr(module, class_name, None)
    if optimizer_class is None:
        raise RundiffError(f"{module_name} has no optimizer {class_name}", key="optimizer_type")
    kwargs = {**defaults, **dict(config.optimizer_args)}
    if class_name == "AdamW" and module_name == "torch.optim":
        kwargs.setdefault("weight_decay", 0.01)  # torch's default, stated because kohya relies on it
    relative_step = False
    if class_name == "Adafactor":
        kwargs.setdefault("relative_step", True)  # kohya forces it unless given
        relative_step = bool(kwargs["relative_step"])
        if relative_step:
            kwargs.setdefault("scale_parameter", True)
            kwargs.setdefault("warmup_init", False)
            for group in groups:
                group["lr"] = None
    if class_name == "Prodigy" and len({g["lr"] for g in groups}) > 1:
        raise RundiffError(
            "Prodigy needs every trained group at the same lr (it raises otherwise); set "
            "unet_lr = text_encoder_lr, or 0 to freeze one",
            key="optimizer_type",
        )
    try:
        optimizer = optimizer_class(groups, **kwargs)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise RundiffError(f"cannot build {class_name} with {kwargs}: {exc}", key="optimizer_args") from None
    adaptive = class_name == "Prodigy" or class_name.startswith("DAdapt")
    return optimizer, [GroupInfo(i.name, adaptive) for i in infos], relative_step


def _resolve(optimizer_type: str) -> tuple[str, str, str, dict]:
    key = optimizer_type.lower()
    if key in OPTIMIZERS:
        return OPTIMIZERS[key]
    if "." in optimizer_type:
        if not optimizer_type.startswith(DOTTED_ALLOWED):
            raise RundiffError(
                f"optimizer {optimizer_type} is outside the packages the builtin trainer loads "
                f"({', '.join(p.rstrip('.') for p in DOTTED_ALLOWED)})",
                key="optimizer_type",
            )
        module_name, _, class_name = optimizer_type.rpartition(".")
        return module_name, class_name, module_name.split(".")[0], {}
    if hasattr(torch.optim, optimizer_type):  # kohya: any other bare name is a torch.optim class
        return "torch.optim", optimizer_type, "torch", {}
    raise RundiffError(f"unknown optimizer_type {optimizer_type!r}", key="optimizer_type")


def build_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainConfig, total_steps: int, adafactor_relative_step: bool
):
    """diffusers' get_scheduler for its schedules, transformers' for the others kohya accepts."""
    name = config.lr_scheduler.lower()
    warmup = config.warmup_steps(total_steps)
    if adafactor_relative_step or name.startswith("adafactor"):
        from transformers.optimization import AdafactorSchedule

        if not adafactor_relative_step:
            raise RundiffError(
                "lr_scheduler adafactor needs optimizer_type AdaFactor with relative_step", key="lr_scheduler"
            )
        return AdafactorSchedule(optimizer, initial_lr=config.learning_rate)
    if name in DIFFUSERS_SCHEDULERS:
        from diffusers.optimization import get_scheduler

        if name == "constant" and warmup:
            raise RundiffError("lr_scheduler constant does not take warmup", key="lr_warmup_steps")
        return get_scheduler(
            name,
            optimizer,
            num_warmup_steps=warmup,
            num_training_steps=total_steps,
            num_cycles=config.lr_scheduler_num_cycles,
            power=config.lr_scheduler_power,
        )
    if name in TRANSFORMERS_SCHEDULERS:
        from transformers.optimization import get_scheduler as get_transformers_scheduler

        extra = {}
        if name == "cosine_with_min_lr":
            extra = {
                "num_cycles": config.lr_scheduler_num_cycles / 2,
                "min_lr_rate": config.lr_scheduler_min_lr_ratio or 0.0,
            }
        return get_transformers_scheduler(
            name, optimizer, num_warmup_steps=warmup, num_training_steps=total_steps, scheduler_specific_kwargs=extra
        )
    raise RundiffError(
        f"lr_scheduler {config.lr_scheduler!r} is not modelled by the builtin trainer "
        f"(known: {', '.join(sorted(DIFFUSERS_SCHEDULERS | TRANSFORMERS_SCHEDULERS))}, adafactor)",
        key="lr_scheduler",
    )


def applied_lrs(optimizer: torch.optim.Optimizer, infos: list[GroupInfo]) -> dict[str, float]:
    """The lr each group uses in the coming update; d * lr for adaptive optimizers; Adafactor's own step size."""
    out = {}
    for group, info in zip(optimizer.param_groups, infos, strict=True):
        lr = group.get("lr")
        if lr is None:  # Adafactor relative_step: report its computed step size for the first parameter
            lr = _adafactor_lr(optimizer, group)
        out[info.name] = float(lr)
        if info.adaptive:
            out[f"d*lr/{info.name}"] = float(group.get("d", 1.0) * lr)
    return out


def _adafactor_lr(optimizer, group) -> float:
    param = group["params"][0]
    state = optimizer.state.get(param)
    if not state:
        return 0.0
    return float(optimizer._get_lr(group, state))

"""A LoRA injector that behaves like kohya's ``networks/lora.py`` (reference §1.4), written from the facts.

Own code rather than peft because kohya's semantics differ from peft's in ways a sweep can see: dropout acts
on the rank-space hidden (peft drops the input), rank_dropout/module_dropout exist, 3x3 convs get a k x k
down conv with conv_dim, module names are kohya's ``lora_unet_*`` / ``lora_te_*`` keys, and the file is kohya's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

UNET_TARGETS = ("Transformer2DModel",)
UNET_CONV_TARGETS = ("ResnetBlock2D", "Downsample2D", "Upsample2D")
TEXT_ENCODER_TARGETS = ("CLIPAttention", "CLIPSdpaAttention", "CLIPMLP")


@dataclass(frozen=True)
class LoRASpec:
    dim: int
    alpha: float
    conv_dim: int | None = None
    conv_alpha: float = 1.0
    dropout: float | None = None  # network_dropout: on the rank-space hidden
    rank_dropout: float | None = None
    module_dropout: float | None = None


class LoRAModule(nn.Module):
    """``y = org(x) + s * up(drop(down(x)))`` with ``s = alpha / dim``; up starts at zero."""

    def __init__(
        self, name: str, org: nn.Module, dim: int, alpha: float, spec: LoRASpec, generator: torch.Generator
    ) -> None:
        super().__init__()
        self.lora_name = name
        self.dim = dim
        if isinstance(org, nn.Conv2d):
            self.lora_down = nn.Conv2d(org.in_channels, dim, org.kernel_size, org.stride, org.padding, bias=False)
            self.lora_up = nn.Conv2d(dim, org.out_channels, 1, 1, bias=False)
        else:
            self.lora_down = nn.Linear(org.in_features, dim, bias=False)
            self.lora_up = nn.Linear(dim, org.out_features, bias=False)
        nn.init.kaiming_uniform_(self.lora_down.weight, a=math.sqrt(5), generator=generator)
        nn.init.zeros_(self.lora_up.weight)
        self.register_buffer("alpha", torch.tensor(float(alpha)))
        self.scale = float(alpha) / dim
        self.multiplier = 1.0
        self.spec = spec
        self._org = [org]  # a list, so the wrapped layer is not registered as our child
        self._org_forward = org.forward

    def apply_to(self) -> None:
        self._org[0].forward = self.forward

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self._org_forward(x)
        spec = self.spec
        if self.training and spec.module_dropout and torch.rand(()) < spec.module_dropout:
            return out
        hidden = self.lora_down(x)
        if self.training and spec.dropout:
            hidden = F.dropout(hidden, p=spec.dropout)
        scale = self.scale
        if self.training and spec.rank_dropout:
            shape = (hidden.shape[0], self.dim) + (1,) * (hidden.dim() - 2)
            if hidden.dim() == 3:  # Linear on (B, tokens, features): rank is the last axis
                shape = (hidden.shape[0], 1, self.dim)
            mask = (torch.rand(shape, device=hidden.device) > spec.rank_dropout).to(hidden.dtype)
            hidden = hidden * mask
            scale = scale / (1.0 - spec.rank_dropout)
        return out + self.lora_up(hidden) * (self.multiplier * scale)

    def delta_weight(self) -> torch.Tensor:
        """The merged ``m * s * U D`` in the wrapped layer's weight shape (3x3: the composed kernel)."""
        up, down = self.lora_up.weight, self.lora_down.weight
        if down.dim() == 2:
            delta = up @ down
        elif down.shape[2:] == (1, 1):
            delta = (up.flatten(1) @ down.flatten(1))[:, :, None, None]
        else:
            delta = torch.einsum("or,rikl->oikl", up.flatten(1), down)
        return delta * (self.multiplier * self.scale)

    @property
    def org_weight(self) -> torch.Tensor:
        return self._org[0].weight


class LoRANetwork(nn.Module):
    """All LoRA modules of one U-Net and one text encoder, keyed by kohya's names."""

    def __init__(self, unet: nn.Module, text_encoder: nn.Module | None, spec: LoRASpec, seed: int) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.spec = spec
        self.unet_loras = nn.ModuleList(_create(unet, "lora_unet", _unet_targets(spec), spec, generator))
        # transformers 5 dropped CLIPTextModel's ``text_model`` level; kohya's key names keep it
        te_prefix = "lora_te" if hasattr(text_encoder, "text_model") else "lora_te.text_model"
        self.text_encoder_loras = nn.ModuleList(
            _create(text_encoder, te_prefix, TEXT_ENCODER_TARGETS, spec, generator) if text_encoder else []
        )
        for lora in self.all_loras():
            lora.apply_to()

    def all_loras(self) -> list[LoRAModule]:
        return [*self.text_encoder_loras, *self.unet_loras]

    def kohya_state_dict(self) -> dict[str, torch.Tensor]:
        state = {}
        for lora in self.all_loras():
            state[f"{lora.lora_name}.lora_down.weight"] = lora.lora_down.weight.detach().float().cpu().contiguous()
            state[f"{lora.lora_name}.lora_up.weight"] = lora.lora_up.weight.detach().float().cpu().contiguous()
            state[f"{lora.lora_name}.alpha"] = lora.alpha.detach().float().cpu()
        return state

    @torch.no_grad()
    def apply_max_norm(self, max_norm: float) -> tuple[int, float, float]:
        """kohya's scale_weight_norms: shrink U and D by sqrt(ratio) where ||dW|| exceeds max_norm."""
        scaled, norms = 0, []
        for lora in self.all_loras():
            norm = lora.delta_weight().norm()
            desired = torch.clamp(norm, min=max_norm / 2)
            ratio = torch.clamp(desired, max=max_norm) / desired
            sqrt_ratio = ratio.sqrt()
            lora.lora_down.weight.mul_(sqrt_ratio)
            lora.lora_up.weight.mul_(sqrt_ratio)
            scaled += int(ratio.item() != 1.0)
            norms.append(float(norm * ratio))
        return scaled, sum(norms) / max(1, len(norms)), max(norms, default=0.0)


def _unet_targets(spec: LoRASpec) -> tuple[str, ...]:
    return UNET_TARGETS + (UNET_CONV_TARGETS if spec.conv_dim else ())


def _create(
    root: nn.Module, prefix: str, targets: tuple[str, ...], spec: LoRASpec, generator: torch.Generator
) -> list[LoRAModule]:
    """kohya's create_modules: Linear and 1x1 convs get dim/alpha, k x k convs get conv_dim/conv_alpha."""
    loras: dict[str, LoRAModule] = {}
    for name, module in root.named_modules():
        if type(module).__name__ not in targets:
            continue
        for child_name, child in module.named_modules():
            is_linear = isinstance(child, nn.Linear)
            is_conv = isinstance(child, nn.Conv2d)
            if not (is_linear or is_conv):
                continue
            if is_linear or child.kernel_size == (1, 1):
                dim, alpha = spec.dim, spec.alpha
            elif spec.conv_dim:
                dim, alpha = spec.conv_dim, spec.conv_alpha
            else:
                continue
            lora_name = f"{prefix}.{name}.{child_name}".replace(".", "_")
            if lora_name not in loras:  # nested targets would otherwise wrap a layer twice
                loras[lora_name] = LoRAModule(lora_name, child, dim, alpha, spec, generator)
    return list(loras.values())

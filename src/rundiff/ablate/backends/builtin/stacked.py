"""K LoRA variants sharing one frozen base, trained at once in one process (the shared-base mode, design).

Why: on a GPU a tiny proxy model at batch 4 is bound by kernel launches, not arithmetic, so K variants
that each run their own forward waste the device; concatenating their batches through one frozen base
(FLoRA-style batch concatenation, reference §7.1) should approach K x throughput until the GPU saturates.
**That throughput was not measured: no GPU was available when this was built.** On a CPU it buys
little (reference §7.2), which is why the sweep driver still runs one process per variant and this
module is the building block behind the `shared_base` flag of `StackedLoRANetwork`'s callers, verified
for correctness only.

How (reference §7.1, §7.3), and what keeps it exactly equal to K separate runs:

- the batch is K equal segments, segment k belongs to variant k; every wrapped layer computes the base
  once on the whole batch and adds segment k's own adapter: ``y = W x + concat_k(s_k U_k D_k x_k)``;
- adapters of different ranks are padded to the largest rank; the padded rows of D and columns of U start
  at zero, get exactly zero gradient and stay zero under Adam/AdamW/Lion (elementwise updates of zero);
- each variant's D is drawn from its own generator in the shape its separate run draws, so the init is
  identical; the loss is the **sum** of per-variant mean losses (one mean over K*b samples would scale every
  gradient by 1/K), gradients are clipped per variant, and every variant has its own optimizer and
  scheduler (`variant_parameters(k)` hands each its own leaf tensors).

Not covered (each is refused by `check_stackable`): network/rank/module dropout (their random draws are
per module call and would differ), k x k conv adapters (conv_dim), variants that change the batch size,
resolution, text-encoder training, the caption pipeline or the model: those cannot share one forward.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from .lora import TEXT_ENCODER_TARGETS, UNET_TARGETS, LoRASpec

#: Settings every variant of one stacked process must share (they shape the one forward pass).
SHARED_SETTINGS = (
    "train_batch_size",
    "resolution",
    "network_train_unet_only",
    "network_train_text_encoder_only",
    "pretrained_model_name_or_path",
    "max_token_length",
    "clip_skip",
    "caption_extension",
    "gradient_accumulation_steps",
    "mixed_precision",
    "conv_dim",
)


@dataclass(frozen=True)
class AdapterSpec:
    """One variant's adapter: rank, alpha and the seed its separate run would initialise from."""

    dim: int
    alpha: float
    seed: int


def check_stackable(specs: Sequence[LoRASpec], differing: Sequence[str] = ()) -> str | None:
    """Why these variants cannot share one forward (None when they can)."""
    for spec in specs:
        if spec.dropout or spec.rank_dropout or spec.module_dropout:
            return "dropout draws are per module call; stacked variants would not match separate runs"
        if spec.conv_dim:
            return "k x k conv adapters (conv_dim) are not stacked"
    shared = sorted(set(differing) & set(SHARED_SETTINGS))
    if shared:
        return f"{', '.join(shared)} shape the forward pass; variants that differ in it run one after another"
    return None


class StackedLoRAModule(nn.Module):
    """K adapters on one frozen Linear or 1x1 Conv2d; the input batch is K equal segments."""

    def __init__(
        self, name: str, org: nn.Module, adapters: Sequence[AdapterSpec], generators: Sequence[torch.Generator]
    ) -> None:
        super().__init__()
        self.lora_name = name
        self.k = len(adapters)
        self.dims = [a.dim for a in adapters]
        rank = max(self.dims)
        self.is_conv = isinstance(org, nn.Conv2d)
        if self.is_conv and org.kernel_size != (1, 1):
            raise ValueError(f"{name}: only 1x1 convs are stacked")
        in_f = org.in_channels if self.is_conv else org.in_features
        out_f = org.out_channels if self.is_conv else org.out_features
        downs, ups = [], []
        for adapter, generator in zip(adapters, generators, strict=True):
            # drawn in the separate run's own shape, from its own generator: the same numbers
            shape = (adapter.dim, in_f, 1, 1) if self.is_conv else (adapter.dim, in_f)
            weight = torch.empty(shape)
            nn.init.kaiming_uniform_(weight, a=math.sqrt(5), generator=generator)
            down = torch.zeros(rank, in_f)
            down[: adapter.dim] = weight.reshape(adapter.dim, in_f)
            downs.append(nn.Parameter(down))
            ups.append(nn.Parameter(torch.zeros(out_f, rank)))
        # one leaf per variant: each variant's own optimizer, scheduler and clip act on its own tensors
        self.downs = nn.ParameterList(downs)
        self.ups = nn.ParameterList(ups)
        self.register_buffer("scales", torch.tensor([a.alpha / a.dim for a in adapters]))
        self._org = [org]
        self._org_forward = org.forward

    def apply_to(self) -> None:
        self._org[0].forward = self.forward

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self._org_forward(x)
        if self.is_conv:  # (K*b, C, H, W): a per-pixel linear map
            batch, channels, height, width = x.shape
            rows = x.reshape(self.k, batch // self.k, channels, height * width).permute(0, 1, 3, 2)
            rows = rows.reshape(self.k, -1, channels)
        else:  # (K*b, ..., in): batch-major, so segment k is a contiguous block of rows
            rows = x.reshape(self.k, -1, x.shape[-1])
        down, up = torch.stack(list(self.downs)), torch.stack(list(self.ups))
        hidden = torch.bmm(rows, down.transpose(1, 2))
        delta = torch.bmm(hidden, up.transpose(1, 2)) * self.scales.view(self.k, 1, 1).to(hidden.dtype)
        if self.is_conv:
            delta = delta.reshape(self.k, batch // self.k, height * width, -1).permute(0, 1, 3, 2)
            delta = delta.reshape(batch, -1, height, width)
        else:
            delta = delta.reshape(*x.shape[:-1], -1)
        return out + delta

    def delta_weight(self, k: int) -> torch.Tensor:
        """Variant k's merged ``s U D`` (in the wrapped layer's weight shape)."""
        dim = self.dims[k]
        delta = (self.ups[k][:, :dim] @ self.downs[k][:dim]) * self.scales[k]
        return delta[:, :, None, None] if self.is_conv else delta


class StackedLoRANetwork(nn.Module):
    """kohya's targets (U-Net transformer blocks, CLIP attention/MLP) with K stacked adapters each."""

    def __init__(self, unet: nn.Module, text_encoder: nn.Module | None, adapters: Sequence[AdapterSpec]) -> None:
        super().__init__()
        self.k = len(adapters)
        generators = [torch.Generator().manual_seed(a.seed) for a in adapters]
        # the same creation order as LoRANetwork: U-Net modules, then the text encoder's
        self.unet_loras = nn.ModuleList(_create(unet, "lora_unet", UNET_TARGETS, adapters, generators))
        te_prefix = "lora_te" if hasattr(text_encoder, "text_model") else "lora_te.text_model"
        self.text_encoder_loras = nn.ModuleList(
            _create(text_encoder, te_prefix, TEXT_ENCODER_TARGETS, adapters, generators) if text_encoder else []
        )
        for lora in self.all_loras():
            lora.apply_to()

    def all_loras(self) -> list[StackedLoRAModule]:
        return [*self.text_encoder_loras, *self.unet_loras]

    def variant_parameters(self, k: int) -> list[nn.Parameter]:
        """Variant k's own leaf tensors, in LoRANetwork's order (down, up per module): its optimizer's and
        its gradient clip's parameters."""
        return [p for lora in self.all_loras() for p in (lora.downs[k], lora.ups[k])]

    def kohya_state_dict(self, k: int) -> dict[str, torch.Tensor]:
        """Variant k's LoRA as its separate run would save it (padding removed)."""
        state = {}
        for lora in self.all_loras():
            dim = lora.dims[k]
            down = lora.downs[k][:dim].detach().float().cpu()
            up = lora.ups[k][:, :dim].detach().float().cpu()
            if lora.is_conv:
                down, up = down[:, :, None, None], up[:, :, None, None]
            state[f"{lora.lora_name}.lora_down.weight"] = down.contiguous()
            state[f"{lora.lora_name}.lora_up.weight"] = up.contiguous()
            state[f"{lora.lora_name}.alpha"] = torch.tensor(float(lora.scales[k] * dim))
        return state


def segment_losses(per_sample: torch.Tensor, k: int) -> torch.Tensor:
    """Each variant's mean loss over its own segment (sum them for backward: never one mean over K*b)."""
    return per_sample.reshape(k, -1).mean(dim=1)


def _create(
    root: nn.Module,
    prefix: str,
    targets: tuple[str, ...],
    adapters: Sequence[AdapterSpec],
    generators: Sequence[torch.Generator],
) -> list[StackedLoRAModule]:
    loras: dict[str, StackedLoRAModule] = {}
    for name, module in root.named_modules():
        if type(module).__name__ not in targets:
            continue
        for child_name, child in module.named_modules():
            if isinstance(child, nn.Linear) or (isinstance(child, nn.Conv2d) and child.kernel_size == (1, 1)):
                lora_name = f"{prefix}.{name}.{child_name}".replace(".", "_")
                if lora_name not in loras:
                    loras[lora_name] = StackedLoRAModule(lora_name, child, adapters, generators)
    return list(loras.values())

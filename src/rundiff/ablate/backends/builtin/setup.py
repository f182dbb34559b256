"""Assemble one variant's pieces: data, proxy model, LoRA, optimizer, scheduler, random streams."""

from __future__ import annotations

import math
import secrets
import warnings
from dataclasses import dataclass, field
from typing import Any

import torch

from .config import TrainConfig
from .data import CaptionProcessor, Dataset, EpochSampler, batches_per_epoch, load_dataset
from .lora import LoRANetwork, LoRASpec
from .model import (
    UNET_PRESETS,
    VAE_SCALE,
    ConditioningSpec,
    LatentEncoder,
    WordTokenizer,
    attention_width,
    build_text_encoder,
    build_unet,
)
from .noise import NoiseSchedule, RandomStreams, build_schedule
from .optim import GroupInfo, build_optimizer, build_scheduler, param_groups


@dataclass
class Setup:
    config: TrainConfig
    device: torch.device
    seed: int
    streams: RandomStreams
    dataset: Dataset
    tokenizer: WordTokenizer
    conditioning: ConditioningSpec
    text_encoder: Any
    unet: Any
    network: LoRANetwork
    train_latents: torch.Tensor
    val_latents: torch.Tensor
    schedule: NoiseSchedule
    optimizer: torch.optim.Optimizer | None
    scheduler: Any
    groups: list[GroupInfo]
    adafactor_relative_step: bool
    total_steps: int
    batches_per_epoch: int
    captions: CaptionProcessor
    batches: Any  # iterator over (epoch, indices)
    train_text_encoder: bool
    autocast_dtype: torch.dtype | None
    proxy: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def trainable(self) -> list[torch.nn.Parameter]:
        return [p for g in (self.optimizer.param_groups if self.optimizer else []) for p in g["params"]]


def build_setup(config: TrainConfig, device: str | torch.device = "cpu") -> Setup:
    device = torch.device(device)
    notes: list[str] = []
    seed = config.seed if config.seed is not None else secrets.randbelow(2**32)
    streams = RandomStreams(seed)
    torch.manual_seed(streams.dropout_seed)  # the LoRA dropouts draw from the global generator

    image_size = proxy_image_size(config)
    dataset = load_dataset(config, image_size)
    captions = [s.caption for s in (*dataset.train, *dataset.validation)]
    affixes = [c for c in (config.caption_prefix, config.caption_suffix) if c]
    tokenizer = WordTokenizer([*captions, *affixes])
    proxy = config.proxy
    hidden = UNET_PRESETS[proxy.model]["cross_attention_dim"]
    text_encoder = build_text_encoder(tokenizer.vocab_size, hidden, seed=proxy.model_seed).to(device)
    unet = build_unet(proxy.model, image_size[1] // VAE_SCALE, seed=proxy.model_seed).to(device)
    text_encoder.requires_grad_(False)
    unet.requires_grad_(False)
    encoder = LatentEncoder(seed=proxy.model_seed)
    train_latents = encoder(torch.from_numpy(_stack([s.pixels for s in dataset.train]))).to(device)
    val_latents = (
        encoder(torch.from_numpy(_stack([s.pixels for s in dataset.validation]))).to(device)
        if dataset.validation
        else torch.empty(0, 4, *train_latents.shape[2:], device=device)
    )

    dim, alpha, rank_note = _mapped_rank(
        config.effective_network_dim, config.effective_network_alpha, unet, proxy.rank_reference_width
    )
    conv_dim, conv_alpha, _ = (
        _mapped_rank(config.conv_dim, config.effective_conv_alpha, unet, proxy.rank_reference_width)
        if config.conv_dim
        else (None, 1.0, None)
    )
    spec = LoRASpec(
        dim=dim,
        alpha=alpha,
        conv_dim=conv_dim,
        conv_alpha=conv_alpha,
        dropout=config.network_dropout,
        rank_dropout=_opt_float(config.network_arg("rank_dropout")),
        module_dropout=_opt_float(config.network_arg("module_dropout")),
    )
    train_text_encoder = not config.network_train_unet_only
    network = LoRANetwork(unet, text_encoder if train_text_encoder else None, spec, streams.lora_init_seed).to(device)
    network.requires_grad_(True)

    n_batches = batches_per_epoch(dataset.num_train_images, config.train_batch_size)
    updates_per_epoch = math.ceil(n_batches / config.gradient_accumulation_steps)
    total_steps = config.max_train_epochs * updates_per_epoch if config.max_train_epochs else config.max_train_steps

    groups, infos = param_groups(network, config)
    optimizer = scheduler = None
    relative_step = False
    if groups:
        optimizer, infos, relative_step = build_optimizer(groups, infos, config)
        schedule_steps = max(total_steps, config.lr_schedule_steps or 0)  # longer under ablate --horizon prefix
        scheduler = build_scheduler(optimizer, config, schedule_steps, relative_step)
    else:
        notes.append("every learning rate is 0: no parameter group is trained (sd-scripts drops lr-0 groups)")

    autocast_dtype = _autocast_dtype(config.mixed_precision, device, notes)
    proxy_info = {
        "model": proxy.model,
        "unet": dict(UNET_PRESETS[proxy.model]),
        "image_size": list(image_size),
        "latent_size": [image_size[0] // VAE_SCALE, image_size[1] // VAE_SCALE],
        "resolution": list(config.resolution),
        "attention_width": attention_width(unet),
        "network_dim": dim,
        "network_alpha": alpha,
        "rank_mapping": rank_note,
        "conv_dim": conv_dim,
        "lora_modules": {"unet": len(network.unet_loras), "text_encoder": len(network.text_encoder_loras)},
        "dataset": dataset.origin,
        "train_images": len(dataset.train),
        "validation_images": len(dataset.validation),
    }
    return Setup(
        config=config,
        device=device,
        seed=seed,
        streams=streams,
        dataset=dataset,
        tokenizer=tokenizer,
        conditioning=ConditioningSpec(config.max_token_length, config.clip_skip),
        text_encoder=text_encoder,
        unet=unet,
        network=network,
        train_latents=train_latents,
        val_latents=val_latents,
        schedule=build_schedule(config.zero_terminal_snr),
        optimizer=optimizer,
        scheduler=scheduler,
        groups=infos,
        adafactor_relative_step=relative_step,
        total_steps=total_steps,
        batches_per_epoch=n_batches,
        captions=CaptionProcessor(config, streams.captions_seed),
        batches=iter(EpochSampler(dataset, config.train_batch_size, streams.order_seed)),
        train_text_encoder=train_text_encoder,
        autocast_dtype=autocast_dtype,
        proxy=proxy_info,
        warnings=notes,
    )


def proxy_image_size(config: TrainConfig) -> tuple[int, int]:
    """resolution / divisor, rounded to what the U-Net's down-sampling needs (at least one cell per level)."""
    levels = len(UNET_PRESETS[config.proxy.model]["block_out_channels"])
    multiple = VAE_SCALE * 2 ** (levels - 1)
    divisor = max(1, config.proxy.resolution_divisor)
    return tuple(
        max(multiple, round(side / divisor / multiple) * multiple)  # type: ignore[return-value]
        for side in config.resolution
    )


def _mapped_rank(dim: int, alpha: float, unet, reference_width: int | None) -> tuple[int, float, str | None]:
    """Proportional rank mapping ``r' = r * tiny_width / reference_width`` with alpha/r kept; None: as given."""
    if not reference_width:
        return dim, alpha, None
    width = attention_width(unet)
    mapped = max(1, round(dim * width / reference_width))
    return mapped, alpha / dim * mapped, f"rank {dim} -> {mapped} (x {width}/{reference_width}), alpha/rank kept"


def _autocast_dtype(mixed_precision: str, device: torch.device, notes: list[str]) -> torch.dtype | None:
    if mixed_precision == "bf16":
        return torch.bfloat16
    if mixed_precision == "fp16":
        if device.type == "cuda":
            return torch.float16
        message = "mixed_precision fp16 is not supported on CPU; this variant ran in fp32"
        warnings.warn(message, stacklevel=3)
        notes.append(message)
    return None


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _stack(arrays):
    import numpy as np

    return np.stack(arrays).astype("float32")

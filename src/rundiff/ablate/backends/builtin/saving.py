"""Write the trained LoRA as sd-scripts does: kohya key names, ``ss_*`` metadata encoded with ``str()``."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch

from .config import TrainConfig

PROXY_COMMENT = "rundiff builtin proxy run: tiny random model, dynamics only, not image quality"


def ss_metadata(
    config: TrainConfig,
    *,
    seed: int,
    steps: int,
    epochs: int,
    epoch: int,
    batches_per_epoch: int,
    num_train_images: int,
    num_validation_images: int,
    dataset_dirs: dict,
    optimizer: torch.optim.Optimizer,
    adafactor_relative_step: bool,
    started_at: float,
    model_name: str,
) -> dict[str, str]:
    """The keys current ``train_network.py`` writes for the folder method (reference kohya-sd-scripts §4)."""
    c = config
    optimizer_name = f"{type(optimizer).__module__}.{type(optimizer).__name__}"
    if c.optimizer_args:
        optimizer_name += "(" + ",".join(f"{k}={v}" for k, v in c.optimizer_args) + ")"
    learning_rate: Any = None if adafactor_relative_step else c.learning_rate
    scheduler = f"adafactor:{c.learning_rate}" if adafactor_relative_step else c.lr_scheduler
    network_args = dict(c.network_args)
    if c.conv_dim is not None:
        network_args.setdefault("conv_dim", c.conv_dim)
        network_args.setdefault("conv_alpha", c.conv_alpha if c.conv_alpha is not None else 1)
    values: dict[str, Any] = {
        "ss_session_id": seed,
        "ss_training_started_at": started_at,
        "ss_output_name": c.output_name,
        "ss_learning_rate": learning_rate,
        "ss_text_encoder_lr": c.text_encoder_lr,
        "ss_unet_lr": c.unet_lr,
        "ss_num_train_images": num_train_images,
        "ss_num_validation_images": num_validation_images,
        "ss_num_reg_images": 0,
        "ss_num_batches_per_epoch": batches_per_epoch,
        "ss_num_epochs": epochs,
        "ss_epoch": epoch,
        "ss_steps": steps,
        "ss_gradient_checkpointing": False,
        "ss_gradient_accumulation_steps": c.gradient_accumulation_steps,
        "ss_max_train_steps": steps,
        "ss_lr_warmup_steps": c.lr_warmup_steps,
        "ss_lr_scheduler": scheduler,
        "ss_network_module": "networks.lora",
        "ss_network_dim": c.network_dim,
        "ss_network_alpha": c.network_alpha,
        "ss_network_dropout": c.network_dropout,
        "ss_mixed_precision": c.mixed_precision,
        "ss_full_fp16": False,
        "ss_v2": False,
        "ss_base_model_version": "sd_v1_v" if c.v_parameterization else "sd_v1",
        "ss_clip_skip": c.clip_skip,
        "ss_max_token_length": c.max_token_length,
        "ss_cache_latents": True,
        "ss_seed": seed,
        "ss_lowram": False,
        "ss_noise_offset": c.noise_offset,
        "ss_multires_noise_iterations": c.multires_noise_iterations,
        "ss_multires_noise_discount": c.multires_noise_discount,
        "ss_adaptive_noise_scale": c.adaptive_noise_scale,
        "ss_zero_terminal_snr": c.zero_terminal_snr,
        "ss_training_comment": PROXY_COMMENT,
        "ss_sd_scripts_commit_hash": "(unknown)",
        "ss_optimizer": optimizer_name,
        "ss_max_grad_norm": c.max_grad_norm,
        "ss_caption_dropout_rate": c.caption_dropout_rate,
        "ss_caption_dropout_every_n_epochs": c.caption_dropout_every_n_epochs,
        "ss_caption_tag_dropout_rate": c.caption_tag_dropout_rate,
        "ss_face_crop_aug_range": None,
        "ss_prior_loss_weight": c.prior_loss_weight,
        "ss_min_snr_gamma": c.min_snr_gamma,
        "ss_scale_weight_norms": c.scale_weight_norms,
        "ss_ip_noise_gamma": c.ip_noise_gamma,
        "ss_debiased_estimation": c.debiased_estimation_loss,
        "ss_noise_offset_random_strength": c.noise_offset_random_strength,
        "ss_ip_noise_gamma_random_strength": c.ip_noise_gamma_random_strength,
        "ss_loss_type": c.loss_type,
        "ss_huber_schedule": c.huber_schedule,
        "ss_huber_c": c.huber_c,
        "ss_huber_scale": c.huber_scale,
        "ss_sd_model_name": model_name,
        # folder method (no --dataset_config)
        "ss_batch_size_per_device": c.train_batch_size,
        "ss_total_batch_size": c.train_batch_size * c.gradient_accumulation_steps,
        "ss_resolution": tuple(c.resolution),
        "ss_color_aug": False,
        "ss_flip_aug": False,
        "ss_random_crop": False,
        "ss_shuffle_caption": c.shuffle_caption,
        "ss_enable_bucket": False,
        "ss_bucket_no_upscale": False,
        "ss_min_bucket_reso": None,
        "ss_max_bucket_reso": None,
        "ss_keep_tokens": c.keep_tokens,
        "ss_training_finished_at": time.time(),
    }
    metadata = {key: str(value) for key, value in values.items()}
    if network_args:
        metadata["ss_network_args"] = json.dumps({k: str(v) for k, v in network_args.items()})
    metadata["ss_dataset_dirs"] = json.dumps(dataset_dirs)
    metadata["ss_reg_dataset_dirs"] = json.dumps({})
    return metadata


def save_lora(path: Path, state: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    """Write next to the target and rename, so a crash never leaves half a file under the final name."""
    from safetensors.torch import save_file

    partial = path.with_suffix(".safetensors.partial")
    save_file(state, str(partial), metadata=metadata)
    partial.replace(path)

"""Noise, timesteps, targets and loss weights as sd-scripts builds them (reference §1.0-§1.3).

Each kind of random draw has its own generator (``RandomStreams``): switching a knob on (say noise_offset)
adds draws to its own stream only, so ε, timesteps and caption shuffles stay identical across variants.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .config import TrainConfig

NUM_TRAIN_TIMESTEPS = 1000


def stream_seed(seed: int, name: str) -> int:
    """A stable per-stream seed (Python's hash() is salted per process)."""
    digest = hashlib.sha256(f"{seed}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & 0x7FFF_FFFF_FFFF_FFFF


class RandomStreams:
    """One generator per kind of draw, all derived from the run's seed and nothing else."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.noise = torch.Generator().manual_seed(stream_seed(seed, "noise"))
        self.offset = torch.Generator().manual_seed(stream_seed(seed, "noise_offset"))
        self.pyramid = torch.Generator().manual_seed(stream_seed(seed, "multires"))
        self.pyramid_ratios = random.Random(stream_seed(seed, "multires_ratio"))
        self.timesteps = torch.Generator().manual_seed(stream_seed(seed, "timesteps"))
        self.ip_noise = torch.Generator().manual_seed(stream_seed(seed, "ip_noise"))
        self.captions_seed = stream_seed(seed, "captions")
        self.order_seed = stream_seed(seed, "order")
        self.lora_init_seed = stream_seed(seed, "lora_init")
        self.dropout_seed = stream_seed(seed, "dropout")


@dataclass
class NoiseSchedule:
    """The DDPM scheduler used for noising (ZTSNR-fixed when asked) and the SNR table kohya caches before the fix."""

    scheduler: object  # diffusers.DDPMScheduler
    all_snr: torch.Tensor  # (1000,), from the unfixed schedule, as sd-scripts keeps it


def build_schedule(zero_terminal_snr: bool) -> NoiseSchedule:
    from diffusers import DDPMScheduler
    from diffusers.training_utils import compute_snr

    def make(rescale: bool):
        return DDPMScheduler(
            num_train_timesteps=NUM_TRAIN_TIMESTEPS,
            beta_start=0.00085,
            beta_end=0.012,
            beta_schedule="scaled_linear",
            clip_sample=False,
            rescale_betas_zero_snr=rescale,
        )

    plain = make(False)
    all_snr = compute_snr(plain, torch.arange(NUM_TRAIN_TIMESTEPS)).float()
    return NoiseSchedule(make(True) if zero_terminal_snr else plain, all_snr)


def make_noise(latents: torch.Tensor, config: TrainConfig, streams: RandomStreams) -> torch.Tensor:
    """ε ~ N(0, I), then offset noise (random strength, adaptive), then pyramid noise (reference §1.1)."""
    b, c, h, w = latents.shape
    noise = torch.randn(latents.shape, generator=streams.noise).to(latents.device, latents.dtype)
    if config.noise_offset:
        offset: torch.Tensor | float = config.noise_offset
        if config.noise_offset_random_strength:
            offset = torch.rand(1, generator=streams.offset).item() * config.noise_offset
        if config.adaptive_noise_scale is not None:
            latent_mean = latents.mean(dim=(2, 3), keepdim=True).abs()
            offset = torch.clamp(offset + config.adaptive_noise_scale * latent_mean, min=0.0)
        z = torch.randn((b, c, 1, 1), generator=streams.offset).to(latents.device, latents.dtype)
        noise = noise + offset * z
    if config.multires_noise_iterations:
        noise = pyramid_noise(noise, config.multires_noise_iterations, config.multires_noise_discount, streams)
    return noise


def pyramid_noise(noise: torch.Tensor, iterations: int, discount: float, streams: RandomStreams) -> torch.Tensor:
    b, c, h, w = noise.shape
    upsample = torch.nn.Upsample(size=(h, w), mode="bilinear")
    noise = noise.clone()
    for i in range(iterations):
        r = streams.pyramid_ratios.random() * 2 + 2
        hi, wi = max(1, int(h / r**i)), max(1, int(w / r**i))
        coarse = torch.randn((b, c, hi, wi), generator=streams.pyramid).to(noise.device, noise.dtype)
        noise += upsample(coarse) * discount**i
        if hi == 1 or wi == 1:
            break
    return noise / noise.std()


def sample_timesteps(batch: int, config: TrainConfig, streams: RandomStreams) -> torch.Tensor:
    """Uniform in [min_timestep, max_timestep), upper bound exclusive; all equal max when min >= max."""
    low = config.min_timestep or 0
    high = NUM_TRAIN_TIMESTEPS if config.max_timestep is None else config.max_timestep
    if low >= high:
        return torch.full((batch,), high, dtype=torch.long)
    return torch.randint(low, high, (batch,), generator=streams.timesteps)


def noisy_latents(
    schedule: NoiseSchedule,
    latents: torch.Tensor,
    noise: torch.Tensor,
    timesteps: torch.Tensor,
    config: TrainConfig,
    streams: RandomStreams,
) -> torch.Tensor:
    """x_t; ip_noise_gamma perturbs the input noise only, the target keeps ε."""
    if config.ip_noise_gamma:
        gamma = config.ip_noise_gamma
        if config.ip_noise_gamma_random_strength:
            gamma = torch.rand(1, generator=streams.ip_noise).item() * gamma
        extra = torch.randn(latents.shape, generator=streams.ip_noise).to(latents.device, latents.dtype)
        return schedule.scheduler.add_noise(latents, noise + gamma * extra, timesteps)
    return schedule.scheduler.add_noise(latents, noise, timesteps)


def prediction_target(
    schedule: NoiseSchedule,
    latents: torch.Tensor,
    noise: torch.Tensor,
    timesteps: torch.Tensor,
    v_parameterization: bool,
) -> torch.Tensor:
    if v_parameterization:
        return schedule.scheduler.get_velocity(latents, noise, timesteps)
    return noise


def huber_c(timesteps: torch.Tensor, schedule: NoiseSchedule, config: TrainConfig) -> torch.Tensor:
    """Per-sample c(t) for huber / smooth_l1 (arXiv 2403.16728 as sd-scripts schedules it)."""
    t = timesteps.float()
    if config.huber_schedule == "constant":
        return torch.full_like(t, config.huber_c * config.huber_scale)
    if config.huber_schedule == "exponential":
        kappa = -math.log(config.huber_c) / NUM_TRAIN_TIMESTEPS
        return config.huber_scale * torch.exp(-kappa * t)
    alphas = schedule.scheduler.alphas_cumprod[timesteps.cpu()].float()
    sigmas = ((1.0 - alphas) / alphas).sqrt()
    return (1.0 - config.huber_c) / (1.0 + sigmas) ** 2 + config.huber_c


def elementwise_loss(
    pred: torch.Tensor, target: torch.Tensor, config: TrainConfig, c: torch.Tensor | None
) -> torch.Tensor:
    if config.loss_type == "l2":
        return F.mse_loss(pred, target, reduction="none")
    if config.loss_type == "l1":
        return F.l1_loss(pred, target, reduction="none")
    c = c.to(pred.device).view(-1, *([1] * (pred.dim() - 1)))
    root = torch.sqrt((pred - target) ** 2 + c**2) - c
    return 2 * c * root if config.loss_type == "huber" else 2 * root


def snr_loss_weights(timesteps: torch.Tensor, all_snr: torch.Tensor, config: TrainConfig) -> torch.Tensor:
    """The per-sample factor of min-SNR, scale-v, v-pred-like and debiased weighting, in sd-scripts' order."""
    snr = all_snr[timesteps.cpu()].double()
    weight = torch.ones_like(snr)
    capped = torch.clamp(snr, max=1000.0)
    if config.min_snr_gamma:
        clipped = torch.clamp(snr, max=config.min_snr_gamma)
        weight = weight * (clipped / (snr + 1) if config.v_parameterization else clipped / snr)
    if config.scale_v_pred_loss_like_noise_pred:
        weight = weight * capped / (capped + 1)
    if config.v_pred_like_loss:
        weight = weight * (1 + config.v_pred_like_loss * (capped + 1) / capped)
    if config.debiased_estimation_loss:
        weight = weight * (1 / (capped + 1) if config.v_parameterization else 1 / capped.sqrt())
    return weight.float()

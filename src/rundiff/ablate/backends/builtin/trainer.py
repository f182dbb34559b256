"""The builtin backend's training loop, in sd-scripts' order of operations (reference §6.2)."""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .config import TrainConfig
from .ema import LoRAEMA
from .metrics import STEP_CSV, VALIDATION_CSV, MetricsWriter, per_module_movement
from .model import encode_captions
from .noise import (
    elementwise_loss,
    huber_c,
    make_noise,
    noisy_latents,
    prediction_target,
    sample_timesteps,
    snr_loss_weights,
    stream_seed,
)
from .optim import applied_lrs
from .saving import save_lora, ss_metadata
from .setup import Setup, build_setup

RESULT_JSON = "train_result.json"


@dataclass(frozen=True)
class StepProgress:
    """Handed to the progress callback after every optimizer update."""

    step: int
    total_steps: int
    loss: float
    lrs: dict[str, float]
    elapsed_s: float
    timesteps: tuple[int, ...]  # the timesteps of this update's micro-batches (common random numbers)
    captions: tuple[str, ...]


@dataclass(frozen=True)
class TrainResult:
    out_dir: Path
    lora_path: Path
    metrics_csv: Path
    validation_csv: Path
    seed: int
    steps: int
    final_loss: float
    final_val_loss: float
    dw: float
    dw_rel: float
    wall_time_s: float
    steps_per_second: float
    proxy: dict[str, Any]
    warnings: tuple[str, ...]
    not_modelled: tuple[str, ...]


@dataclass(frozen=True)
class BatchLoss:
    loss: torch.Tensor  # the scalar that is back-propagated (before the 1/GA division)
    per_sample: torch.Tensor  # per-sample loss before the SNR weighting
    weights: torch.Tensor  # the SNR-based per-sample weights
    timesteps: torch.Tensor


def train(
    config: TrainConfig, out_dir: Path, *, device: str = "cpu", progress: Callable[[StepProgress], None] | None = None
) -> TrainResult:
    """Train one variant into ``out_dir``: LoRA .safetensors, metrics.csv, validation.csv, TensorBoard logs."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    started_at = time.time()
    setup = build_setup(config, device)
    writer = MetricsWriter(out_dir, _lr_keys(setup))
    try:
        return _run(setup, out_dir, writer, progress, started_at)
    finally:
        writer.close()


def _lr_keys(setup: Setup) -> list[str]:
    keys = []
    for info in setup.groups:
        keys.append(info.name)
        if info.adaptive:
            keys.append(f"d*lr/{info.name}")
    return keys


def _run(setup: Setup, out_dir: Path, writer: MetricsWriter, progress, started_at: float) -> TrainResult:
    config = setup.config
    params = setup.trainable
    scaler = torch.amp.GradScaler("cuda") if setup.autocast_dtype == torch.float16 else None
    ema = LoRAEMA(params, config.ema_decay) if config.ema_decay and params else None
    movement = _MovementTracker(setup)
    setup.network.train()
    ga = config.gradient_accumulation_steps
    loss_sum, loss_count, epoch, loss = 0.0, 0, 1, float("nan")
    val_loss = float("nan")
    t0 = time.perf_counter()
    for step in range(1, setup.total_steps + 1):
        timesteps, captions, losses = [], [], []
        for _ in range(ga):
            epoch, indices = next(setup.batches)
            texts = [setup.captions(setup.dataset.train[i].caption, epoch) for i in indices]
            result = batch_loss(setup, setup.train_latents[indices], texts)
            scaled = result.loss / ga
            if params:
                (scaler.scale(scaled) if scaler else scaled).backward()
            losses.append(float(result.loss.detach()))
            timesteps += result.timesteps.tolist()
            captions += texts
        grad_norm = _clip(setup, params, scaler)
        lrs = applied_lrs(setup.optimizer, setup.groups) if setup.optimizer else {}
        if setup.optimizer is not None:
            if scaler:
                scaler.step(setup.optimizer)
                scaler.update()
            else:
                setup.optimizer.step()
            setup.scheduler.step()
            setup.optimizer.zero_grad(set_to_none=True)
        if config.scale_weight_norms:
            setup.network.apply_max_norm(config.scale_weight_norms)
        if ema:
            ema.step()
        loss = sum(losses) / len(losses)
        loss_sum, loss_count = loss_sum + loss, loss_count + 1
        dw, dw_rel = movement()
        elapsed = time.perf_counter() - t0
        row = {
            "step": step,
            "epoch": epoch,
            "loss": loss,
            "loss_avg": loss_sum / loss_count,
            "grad_norm": grad_norm,
            "dw": dw,
            "dw_rel": dw_rel,
            "wall_time_s": elapsed,
            **{f"lr/{k}": v for k, v in lrs.items()},
        }
        writer.step(row, _last_lrs(setup))
        every = config.proxy.validate_every
        if len(setup.val_latents) and (step == setup.total_steps or (every and step % every == 0)):
            val_loss = validation_loss(setup)
            ema_loss = None
            if ema and step == setup.total_steps:
                with ema.swapped_in():
                    ema_loss = validation_loss(setup)
            writer.validation(step, val_loss, ema_loss)
        if progress:
            progress(StepProgress(step, setup.total_steps, loss, lrs, elapsed, tuple(timesteps), tuple(captions)))
    wall = time.perf_counter() - t0
    return _finish(setup, out_dir, ema, started_at, wall, loss, val_loss, epoch)


def batch_loss(setup: Setup, latents: torch.Tensor, captions: list[str]) -> BatchLoss:
    """Steps 1-7 of one micro-batch: encode, noise, sample t, noise the input, predict, weight the loss."""
    config = setup.config
    streams = setup.streams
    autocast = (
        torch.autocast(setup.device.type, dtype=setup.autocast_dtype)
        if setup.autocast_dtype
        else contextlib.nullcontext()
    )
    with autocast:
        grad_context = contextlib.nullcontext() if setup.train_text_encoder else torch.no_grad()
        with grad_context:
            context = encode_captions(setup.text_encoder, setup.tokenizer, captions, setup.conditioning, setup.device)
        noise = make_noise(latents, config, streams)
        timesteps = sample_timesteps(latents.shape[0], config, streams)
        t_device = timesteps.to(setup.device)
        model_input = noisy_latents(setup.schedule, latents, noise, t_device, config, streams)
        pred = setup.unet(model_input, t_device, context).sample
    target = prediction_target(setup.schedule, latents, noise, t_device, config.v_parameterization)
    c = huber_c(timesteps, setup.schedule, config) if config.loss_type in ("huber", "smooth_l1") else None
    per_element = elementwise_loss(pred.float(), target.float(), config, c)
    per_sample = per_element.mean(dim=list(range(1, per_element.dim()))) * config.prior_loss_weight
    weights = snr_loss_weights(timesteps, setup.schedule.all_snr, config).to(per_sample.device)
    return BatchLoss((per_sample * weights).mean(), per_sample.detach(), weights, timesteps)


@torch.no_grad()
def validation_loss(setup: Setup) -> float:
    """Unweighted loss on the held-out latents at fixed timesteps with fixed noise: equal for every variant."""
    config = setup.config
    was_training = setup.network.training
    setup.network.eval()
    generator = torch.Generator().manual_seed(stream_seed(0, "validation"))
    captions = [s.caption for s in setup.dataset.validation]
    context = encode_captions(setup.text_encoder, setup.tokenizer, captions, setup.conditioning, setup.device)
    total, count = 0.0, 0
    for t in config.proxy.validation_timesteps:
        latents = setup.val_latents
        noise = torch.randn(latents.shape, generator=generator).to(setup.device)
        timesteps = torch.full((latents.shape[0],), t, dtype=torch.long)
        t_device = timesteps.to(setup.device)
        model_input = setup.schedule.scheduler.add_noise(latents, noise, t_device)
        pred = setup.unet(model_input, t_device, context).sample
        target = prediction_target(setup.schedule, latents, noise, t_device, config.v_parameterization)
        c = huber_c(timesteps, setup.schedule, config) if config.loss_type in ("huber", "smooth_l1") else None
        total += float(elementwise_loss(pred.float(), target.float(), config, c).mean()) * latents.shape[0]
        count += latents.shape[0]
    setup.network.train(was_training)
    return total / count


def _clip(setup: Setup, params: list[torch.nn.Parameter], scaler) -> float:
    """kohya clips all LoRA parameters jointly; the pre-clip norm is what gets logged."""
    grads = [p for p in params if p.grad is not None]
    if not grads:
        return 0.0
    if scaler:
        scaler.unscale_(setup.optimizer)
    max_norm = setup.config.max_grad_norm
    norm = torch.nn.utils.clip_grad_norm_(grads, max_norm if max_norm > 0 else math.inf)
    return float(norm)


def _last_lrs(setup: Setup) -> dict[str, float]:
    """sd-scripts logs ``get_last_lr()`` after the scheduler step (the lr of the *next* update)."""
    if setup.optimizer is None:
        return {}
    out = {}
    for info, group in zip(setup.groups, setup.optimizer.param_groups, strict=True):
        lr = group["lr"] if group.get("lr") is not None else 0.0
        out[info.name] = float(lr)
        if info.adaptive:
            out[f"d*lr/{info.name}"] = float(group.get("d", 1.0) * lr)
    return out


class _MovementTracker:
    """‖ΔW‖ of the merged deltas via the r x r Gram trick (‖UD‖² = Σ (UᵀU)∘(DDᵀ)), batched per weight shape.

    One bmm per distinct shape instead of a few kernels per module keeps this cheap on a GPU; base norms are
    computed once.
    """

    def __init__(self, setup: Setup) -> None:
        grouped: dict[tuple, list] = {}
        for lora in setup.network.all_loras():
            key = (tuple(lora.lora_up.weight.shape), tuple(lora.lora_down.weight.shape), lora.scale)
            grouped.setdefault(key, []).append(lora)
        # 2-D views made once: the optimizer updates parameters in place, so the views stay current
        self.groups = [
            (
                (loras[0].multiplier * key[2]) ** 2,
                [m.lora_up.weight.detach().flatten(1) for m in loras],
                [m.lora_down.weight.detach().flatten(1) for m in loras],
            )
            for key, loras in grouped.items()
        ]
        with torch.no_grad():
            base = sum(float(lora.org_weight.float().pow(2).sum()) for lora in setup.network.all_loras())
        self.base_norm = math.sqrt(base)

    @torch.no_grad()
    def __call__(self) -> tuple[float, float]:
        if not self.groups:
            return 0.0, 0.0
        terms = []
        for factor, ups, downs in self.groups:
            up = torch.stack(ups).double()  # (G, out, r)
            down = torch.stack(downs).double()  # (G, r, in)
            gram = (up.transpose(1, 2) @ up) * (down @ down.transpose(1, 2))
            terms.append(gram.sum() * factor)
        dw = math.sqrt(max(0.0, float(torch.stack(terms).sum())))
        return dw, dw / self.base_norm if self.base_norm else float("nan")


def _finish(
    setup: Setup,
    out_dir: Path,
    ema: LoRAEMA | None,
    started_at: float,
    wall: float,
    loss: float,
    val_loss: float,
    epoch: int,
) -> TrainResult:
    config = setup.config
    updates_per_epoch = math.ceil(setup.batches_per_epoch / config.gradient_accumulation_steps)
    metadata = ss_metadata(
        config,
        seed=setup.seed,
        steps=setup.total_steps,
        epochs=math.ceil(setup.total_steps / updates_per_epoch),
        epoch=epoch,
        batches_per_epoch=setup.batches_per_epoch,
        num_train_images=setup.dataset.num_train_images,
        num_validation_images=len(setup.dataset.validation),
        dataset_dirs=setup.dataset.dataset_dirs(),
        optimizer=setup.optimizer if setup.optimizer is not None else torch.optim.AdamW([torch.zeros(1)]),
        adafactor_relative_step=setup.adafactor_relative_step,
        started_at=started_at,
        model_name=f"rundiff-proxy-{config.proxy.model}",
    )
    lora_path = out_dir / f"{config.output_name or 'last'}.safetensors"
    dw, dw_rel = _MovementTracker(setup)()
    modules = per_module_movement(setup.network)
    if ema:  # the saved file holds the EMA weights, as trainers with EMA save them
        with ema.swapped_in():
            save_lora(lora_path, setup.network.kohya_state_dict(), metadata)
    else:
        save_lora(lora_path, setup.network.kohya_state_dict(), metadata)
    result = TrainResult(
        out_dir=out_dir,
        lora_path=lora_path,
        metrics_csv=out_dir / STEP_CSV,
        validation_csv=out_dir / VALIDATION_CSV,
        seed=setup.seed,
        steps=setup.total_steps,
        final_loss=loss,
        final_val_loss=val_loss,
        dw=dw,
        dw_rel=dw_rel,
        wall_time_s=wall,
        steps_per_second=setup.total_steps / wall if wall else float("nan"),
        proxy=setup.proxy,
        warnings=tuple(setup.warnings),
        not_modelled=config.not_modelled,
    )
    summary = {
        "backend": "builtin",
        "label": "proxy-model dynamics, not image quality",
        "seed": result.seed,
        "steps": result.steps,
        "final_loss": loss,
        "final_val_loss": val_loss,
        "dw": dw,
        "dw_rel": dw_rel,
        "wall_time_s": wall,
        "steps_per_second": result.steps_per_second,
        "ema_weight_on_start": ema.kept_of_start if ema else None,
        "proxy": setup.proxy,
        "warnings": list(result.warnings),
        "not_modelled": list(result.not_modelled),
        "config": _plain(config.as_params()),
        "modules": modules,
    }
    (out_dir / RESULT_JSON).write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    return result


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    return {k: (dict(v) if k.endswith("_args") else list(v) if isinstance(v, tuple) else v) for k, v in values.items()}

"""Builtin-trainer steps/s against a plain training loop on the same libraries, model and batch.

The plain loop is what one would write by hand with diffusers + transformers: CLIP forward, randn noise,
randint timesteps, DDPM add_noise, U-Net forward, MSE, backward, clip_grad_norm_, AdamW, scheduler,
loss.item(). The builtin trainer adds kohya's caption processing, per-stream RNGs, ‖ΔW‖ tracking, CSV and
TensorBoard logging. Both run alternately in one process, and the ratio of median step times is printed.

    python bench/ablate.py                       # CPU
    python bench/ablate.py --device cuda --bf16  # GPU, with nvidia-smi utilisation
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import torch

from rundiff.ablate.builtin import ProxySettings, TrainConfig, train
from rundiff.ablate.builtin.setup import build_setup


def builtin_step_times(config: TrainConfig, device: str, out: Path) -> list[float]:
    stamps: list[float] = []

    def on_step(_progress) -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        stamps.append(time.perf_counter())

    train(config, out, device=device, progress=on_step)
    return [b - a for a, b in zip(stamps, stamps[1:], strict=False)]


def plain_step_times(config: TrainConfig, device: str, steps: int) -> list[float]:
    """The same model, LoRA and batch, trained by a hand-written loop with no bookkeeping."""
    from diffusers import DDPMScheduler
    from diffusers.optimization import get_scheduler

    setup = build_setup(config, device)  # same U-Net, text encoder, LoRA modules, latents
    dev = torch.device(device)
    unet, text_encoder, tokenizer = setup.unet, setup.text_encoder, setup.tokenizer
    params = [p for p in setup.network.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=0.01)
    scheduler = get_scheduler("constant", optimizer)
    noise_scheduler = DDPMScheduler(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
                                    beta_schedule="scaled_linear", clip_sample=False)
    captions = [s.caption for s in setup.dataset.train]
    n = len(captions)
    batch = config.train_batch_size
    dtype = torch.bfloat16 if config.mixed_precision == "bf16" else None
    setup.network.train()
    stamps = []
    for step in range(steps):
        idx = [(step * batch + i) % n for i in range(batch)]
        latents = setup.train_latents[idx]
        ids = torch.tensor([tokenizer.chunks(captions[i], None)[0] for i in idx], device=dev)
        with torch.autocast(dev.type, dtype=dtype) if dtype else torch.autocast(dev.type, enabled=False):
            context = text_encoder(input_ids=ids).last_hidden_state
            noise = torch.randn_like(latents)
            t = torch.randint(0, 1000, (batch,), device=dev)
            pred = unet(noise_scheduler.add_noise(latents, noise, t), t, context).sample
        loss = torch.nn.functional.mse_loss(pred.float(), noise.float())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        loss.item()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        stamps.append(time.perf_counter())
    return [b - a for a, b in zip(stamps, stamps[1:], strict=False)]


class GpuUtilisation:
    """Samples nvidia-smi every 200 ms while active; None on machines without it."""

    def __init__(self) -> None:
        try:
            self.proc = subprocess.Popen(
                ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits", "-lms", "200"],
                stdout=subprocess.PIPE, text=True)
        except OSError:
            self.proc = None

    def stop(self) -> float | None:
        if self.proc is None:
            return None
        self.proc.terminate()
        out, _ = self.proc.communicate()
        values = [float(v) for v in out.split() if v.strip().replace(".", "", 1).isdigit()]
        return statistics.mean(values) if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--bf16", action="store_true")
    parser.add_argument("--model", default="tiny-fast")
    parser.add_argument("--resolution", type=int, default=128, help="proxy image side in pixels (latents = /8)")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--dim", type=int, default=16)
    parser.add_argument("--steps", type=int, default=30, help="steps per run")
    parser.add_argument("--rounds", type=int, default=3, help="alternating builtin/plain runs")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (CPU)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    config = TrainConfig.from_params(
        {"network_dim": args.dim, "network_alpha": args.dim / 2, "learning_rate": 1e-4, "max_train_steps": args.steps,
         "train_batch_size": args.batch, "resolution": args.resolution, "seed": 0,
         "mixed_precision": "bf16" if args.bf16 else "no"},
        proxy=ProxySettings(model=args.model, resolution_divisor=1, synthetic_images=max(8, args.batch),
                            validation_images=2))
    builtin, plain = [], []
    gpu = GpuUtilisation() if args.device.startswith("cuda") else None
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):  # alternate which goes first, so drifting load hits both alike
            order = ("builtin", "plain") if r % 2 == 0 else ("plain", "builtin")
            for which in order:  # the first two steps of each run are warm-up and not timed
                if which == "builtin":
                    builtin += builtin_step_times(config, args.device, Path(tmp) / f"run{r}")[2:]
                else:
                    plain += plain_step_times(config, args.device, args.steps)[2:]
    utilisation = gpu.stop() if gpu else None
    b, p = statistics.median(builtin), statistics.median(plain)
    print(f"device {args.device}{' bf16' if args.bf16 else ''}, model {args.model}, "
          f"latents {args.resolution // 8}x{args.resolution // 8}, batch {args.batch}, rank {args.dim}, "
          f"threads {torch.get_num_threads()}, {len(builtin)} + {len(plain)} timed steps")
    print(f"builtin trainer: {1 / b:8.2f} steps/s (median {b * 1e3:.1f} ms/step)")
    print(f"plain loop:      {1 / p:8.2f} steps/s (median {p * 1e3:.1f} ms/step)")
    print(f"ratio builtin/plain steps/s: {p / b:.3f} (goal >= 0.9)")
    if utilisation is not None:
        print(f"mean GPU utilisation while both ran: {utilisation:.0f} %")


if __name__ == "__main__":
    main()

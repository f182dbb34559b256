"""Builtin-trainer steps/s against a plain training loop on the same libraries, model and batch.

The plain loop is what one would write by hand with diffusers + transformers: CLIP forward, randn noise,
randint timesteps, DDPM add_noise, U-Net forward, MSE, backward, clip_grad_norm_, AdamW, scheduler,
loss.item(). The builtin trainer adds kohya's caption processing, per-stream RNGs, ‖ΔW‖ tracking, CSV and
TensorBoard logging. Both run step by step alternately in one process (a plain step inside each builtin progress
callback), and the ratio of median step times is printed.

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

from rundiff.ablate.backends.builtin import ProxySettings, TrainConfig, train
from rundiff.ablate.backends.builtin.setup import build_setup


class PlainLoop:
    """The same model, LoRA and batch, trained by a hand-written loop with no bookkeeping."""

    def __init__(self, config: TrainConfig, device: str) -> None:
        from diffusers import DDPMScheduler
        from diffusers.optimization import get_scheduler

        self.setup = build_setup(config, device)  # same U-Net, text encoder, LoRA modules, latents
        self.device = torch.device(device)
        self.params = [p for p in self.setup.network.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.params, lr=config.learning_rate, weight_decay=0.01)
        self.scheduler = get_scheduler("constant", self.optimizer)
        self.noise_scheduler = DDPMScheduler(
            num_train_timesteps=1000,
            beta_start=0.00085,
            beta_end=0.012,
            beta_schedule="scaled_linear",
            clip_sample=False,
        )
        self.captions = [s.caption for s in self.setup.dataset.train]
        self.batch = config.train_batch_size
        self.dtype = torch.bfloat16 if config.mixed_precision == "bf16" else None
        self.setup.network.train()
        self.count = 0

    def step(self) -> None:
        setup, dev, batch = self.setup, self.device, self.batch
        idx = [(self.count * batch + i) % len(self.captions) for i in range(batch)]
        self.count += 1
        latents = setup.train_latents[idx]
        ids = torch.tensor([setup.tokenizer.chunks(self.captions[i], None)[0] for i in idx], device=dev)
        autocast = torch.autocast(dev.type, dtype=self.dtype, enabled=self.dtype is not None)
        with autocast:
            context = setup.text_encoder(input_ids=ids).last_hidden_state
            noise = torch.randn_like(latents)
            t = torch.randint(0, 1000, (batch,), device=dev)
            pred = setup.unet(self.noise_scheduler.add_noise(latents, noise, t), t, context).sample
        loss = torch.nn.functional.mse_loss(pred.float(), noise.float())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        loss.item()


def interleaved_step_times(config: TrainConfig, device: str, out: Path) -> tuple[list[float], list[float]]:
    """One builtin step, then one plain step, alternately: both see the same machine load at the same time."""
    plain = PlainLoop(config, device)
    builtin_times: list[float] = []
    plain_times: list[float] = []
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    last = [0.0]

    def on_step(_progress) -> None:
        sync()
        now = time.perf_counter()
        if last[0]:
            builtin_times.append(now - last[0])
        plain.step()
        sync()
        done = time.perf_counter()
        plain_times.append(done - now)
        last[0] = done

    last[0] = 0.0
    train(config, out, device=device, progress=on_step)
    return builtin_times[2:], plain_times[2:]  # the first steps are warm-up


class GpuUtilisation:
    """Samples nvidia-smi every 200 ms while active; None on machines without it."""

    def __init__(self) -> None:
        try:
            self.proc = subprocess.Popen(
                ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits", "-lms", "200"],
                stdout=subprocess.PIPE,
                text=True,
            )
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
    parser.add_argument("--rounds", type=int, default=3, help="repeated interleaved runs")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (CPU)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    config = TrainConfig.from_params(
        {
            "network_dim": args.dim,
            "network_alpha": args.dim / 2,
            "learning_rate": 1e-4,
            "max_train_steps": args.steps,
            "train_batch_size": args.batch,
            "resolution": args.resolution,
            "seed": 0,
            "mixed_precision": "bf16" if args.bf16 else "no",
        },
        proxy=ProxySettings(
            model=args.model, resolution_divisor=1, synthetic_images=max(8, args.batch), validation_images=2
        ),
    )
    builtin, plain = [], []
    gpu = GpuUtilisation() if args.device.startswith("cuda") else None
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            b_times, p_times = interleaved_step_times(config, args.device, Path(tmp) / f"run{r}")
            builtin += b_times
            plain += p_times
    utilisation = gpu.stop() if gpu else None
    b, p = statistics.median(builtin), statistics.median(plain)
    print(
        f"device {args.device}{' bf16' if args.bf16 else ''}, model {args.model}, "
        f"latents {args.resolution // 8}x{args.resolution // 8}, batch {args.batch}, rank {args.dim}, "
        f"threads {torch.get_num_threads()}, {len(builtin)} + {len(plain)} timed steps"
    )
    print(f"builtin trainer: {1 / b:8.2f} steps/s (median {b * 1e3:.1f} ms/step)")
    print(f"plain loop:      {1 / p:8.2f} steps/s (median {p * 1e3:.1f} ms/step)")
    print(f"ratio builtin/plain steps/s: {p / b:.3f} (goal >= 0.9)")
    if utilisation is not None:
        print(f"mean GPU utilisation while both ran: {utilisation:.0f} %")


if __name__ == "__main__":
    main()

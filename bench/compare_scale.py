"""How `rundiff compare` scales with the number of runs, measured side by side in one process.

Generates N realistic run folders (a kohya launch script, a dataset TOML, a sparse SD1.5 LoRA with
ss_* metadata), then times `rundiff compare` on N = 10, 100, 1000 runs and `rundiff --help`, each in
a fresh process, and prints wall time, time per run and peak memory (the child's max RSS).

    python bench/compare_scale.py [--sizes 10,100,1000] [--keep DIR]

Goals (issue 2): cost per run flat from 100 to 1000 runs, 1000 runs under 10 s on 2 cores,
`--help` under 0.3 s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rundiff.infer.synth import write_lora

SCRIPT = """#!/bin/bash
MODEL="/models/v1-5-pruned.safetensors"
DIM={dim}
accelerate launch --num_cpu_threads_per_process=2 train_network.py \\
  --pretrained_model_name_or_path="$MODEL" \\
  --dataset_config=dataset.toml \\
  --output_dir=out --output_name=sweep_{i:04d} \\
  --network_module=networks.lora --network_dim=$DIM --network_alpha={alpha} \\
  --learning_rate={lr} --unet_lr={lr} --text_encoder_lr=5e-5 \\
  --optimizer_type=AdamW8bit --lr_scheduler=cosine --lr_warmup_steps={warmup} \\
  --max_train_epochs=10 --mixed_precision=fp16 --save_precision=fp16 \\
  --noise_offset=0.05 --min_snr_gamma=5 --seed={seed} --xformers --cache_latents
"""
DATASET = """[general]
caption_extension = ".txt"
shuffle_caption = {shuffle}
keep_tokens = 1

[[datasets]]
resolution = 512
batch_size = {batch}

  [[datasets.subsets]]
  image_dir = "/data/10_style"
  num_repeats = {repeats}
"""


def make_runs(root: Path, n: int) -> list[Path]:
    runs = []
    for i in range(n):
        run = root / f"run{i:04d}"
        run.mkdir(parents=True)
        dim = (4, 8, 16, 32)[i % 4]
        lr = ("1e-4", "2e-4", "5e-5")[i % 3]
        (run / "train.sh").write_text(
            SCRIPT.format(i=i, dim=dim, alpha=dim // 2, lr=lr, warmup=(0, 100)[i % 2], seed=i)
        )
        (run / "dataset.toml").write_text(
            DATASET.format(shuffle=str(i % 2 == 0).lower(), batch=(2, 4)[i % 2], repeats=(5, 10)[i % 2])
        )
        meta = {
            "ss_network_module": "networks.lora",
            "ss_network_dim": str(dim),
            "ss_network_alpha": f"{dim // 2}.0",
            "ss_learning_rate": str(float(lr)),
            "ss_base_model_version": "sd_v1",
            "ss_seed": str(i),
            "ss_mixed_precision": "fp16",
            "ss_lr_scheduler": "cosine",
        }
        write_lora(
            run / "out" / f"sweep_{i:04d}.safetensors" if (run / "out").mkdir() is None else run,
            arch="sd15",
            rank=dim,
            alpha=dim / 2,
            dtype="F16",
            metadata=meta,
        )
        runs.append(run)
    return runs


def measure(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(cmd[:4])} ... ({proc.stderr.read().decode()[-500:]})")
    return wall, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--keep", type=Path, default=None, help="generate the runs here and keep them")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    root = args.keep or Path(tempfile.mkdtemp(prefix="rundiff-bench-"))
    rundiff = [sys.executable, "-m", "rundiff"]
    try:
        t0 = time.perf_counter()
        runs = make_runs(root / "runs", max(sizes))
        print(f"generated {len(runs)} runs in {time.perf_counter() - t0:.1f} s under {root}")
        results = {}
        help_wall, help_rss = min(measure(rundiff + ["--help"]) for _ in range(3))
        print(f"rundiff --help: {help_wall:.3f} s, peak {help_rss:.0f} MiB (best of 3)")
        for n in sizes:
            out = root / f"compare_{n}.json"
            wall, rss = measure(rundiff + ["compare", *map(str, runs[:n]), "--format", "json", "-o", str(out)])
            params = len(json.loads(out.read_text())["parameters"])
            results[n] = wall
            print(
                f"compare N={n:5d}: {wall:6.2f} s, {1000 * wall / n:6.1f} ms/run, peak {rss:6.0f} MiB, "
                f"{params} parameters"
            )
        if 100 in results and 1000 in results:
            ratio = (results[1000] / 1000) / (results[100] / 100)
            print(f"cost per run, N=1000 vs N=100: {ratio:.2f}x (goal: flat, about 1x)")
        print(f"--help vs goal 0.3 s: {help_wall / 0.3:.2f}x of the budget")
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# LoRA on the tiny SD-1.5-shaped model with kohya-ss sd-scripts (train_network.py), CPU, offline.
# Model, tokenizer cache: /work/shared/tools/make_tiny_sd.py <TINY_SD_DIR>
# Trainer: a work tree of github.com/kohya-ss/sd-scripts with its requirements installed.
set -euo pipefail

RUN_DIR="$(cd "$(dirname "$0")" && pwd)"
SD_SCRIPTS_DIR="${SD_SCRIPTS_DIR:-/work/sd-scripts}"
KOHYA_VENV="${KOHYA_VENV:-/work/kohya-venv}"
TINY_SD_DIR="${TINY_SD_DIR:-/work/tiny-sd}"
MODEL_DIR="${TINY_SD_DIR}/model"
TOKENIZER_CACHE_DIR="${TINY_SD_DIR}/tokenizer_cache"

export PATH="$KOHYA_VENV/bin:$PATH"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

accelerate launch --num_processes=1 --num_machines=1 --mixed_precision=no --dynamo_backend=no --num_cpu_threads_per_process=2 "$SD_SCRIPTS_DIR/train_network.py" \
  --pretrained_model_name_or_path="$MODEL_DIR" \
  --tokenizer_cache_dir="$TOKENIZER_CACHE_DIR" \
  --train_data_dir="$RUN_DIR/dataset" \
  --caption_extension=.txt \
  --resolution=64 \
  --output_dir="$RUN_DIR/output" \
  --output_name=tiny_lora \
  --save_model_as=safetensors \
  --save_precision=fp16 \
  --logging_dir="$RUN_DIR/logs" \
  --network_module=networks.lora \
  --network_dim=1 \
  --network_alpha=0.5 \
  --optimizer_type=AdamW \
  --learning_rate=1e-4 \
  --lr_scheduler=cosine \
  --lr_warmup_steps=0 \
  --train_batch_size=1 \
  --max_train_steps=10 \
  --mixed_precision=no \
  --max_data_loader_n_workers=0 \
  --seed=42

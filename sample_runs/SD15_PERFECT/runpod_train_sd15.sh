#!/bin/bash
# bespoke punks LoRA, SD1.5 -- the run that came out right (9/10).
# Launched on RunPod, Nov 9 ~8:22 PM.
set -e

# ---- CONFIG ----
TOKEN="bespoke_punks"
NUM_REPEATS=10
EPOCHS=10
RANK=32
ALPHA=16
LEARNING_RATE="1e-4"
TE_LR="5e-5"
BATCH=4
OUTPUT_NAME="${TOKEN}_SD15_PERFECT"
WORKDIR="${WORKDIR:-/workspace}"

cd "$WORKDIR/kohya_ss/sd-scripts"
source venv/bin/activate

accelerate launch --num_cpu_threads_per_process=2 train_network.py \
  --pretrained_model_name_or_path="runwayml/stable-diffusion-v1-5" \
  --train_data_dir="$WORKDIR/training_data" \
  --output_dir="$WORKDIR/output" \
  --output_name="${OUTPUT_NAME}" \
  --network_module=networks.lora \
  --network_dim=${RANK} \
  --network_alpha=${ALPHA} \
  --resolution="512,512" \
  --train_batch_size=${BATCH} \
  --gradient_accumulation_steps=1 \
  --learning_rate=${LEARNING_RATE} \
  --unet_lr=${LEARNING_RATE} \
  --text_encoder_lr=${TE_LR} \
  --optimizer_type="AdamW8bit" \
  --lr_scheduler="cosine_with_restarts" \
  --lr_scheduler_num_cycles=3 \
  --min_snr_gamma=5 \
  --mixed_precision="fp16" \
  --save_precision="fp16" \
  --gradient_checkpointing \
  --cache_latents \
  --cache_latents_to_disk \
  --xformers \
  --noise_offset=0.1 \
  --multires_noise_iterations=6 \
  --multires_noise_discount=0.3 \
  --adaptive_noise_scale=0.00357 \
  --caption_extension=".txt" \
  --shuffle_caption \
  --keep_tokens=2 \
  --max_token_length=225 \
  --bucket_reso_steps=64 \
  --bucket_no_upscale \
  --max_data_loader_n_workers=1 \
  --max_train_epochs=${EPOCHS} \
  --save_every_n_epochs=1 \
  --seed=42

echo "done: $WORKDIR/output/${OUTPUT_NAME}.safetensors"

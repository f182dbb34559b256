"""Seed inputs for the mutation fuzzer: the repository's sample runs and fixtures, the string
literals the tests write as real files, and a few layouts per format written out here."""

from __future__ import annotations

import ast
import json
import struct
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_MAX_SEED = 64 * 1024


def _files(*patterns: str) -> list[bytes]:
    out = []
    for pattern in patterns:
        for path in sorted(ROOT.glob(pattern)):
            if path.is_file() and "repros" not in path.parts and path.stat().st_size <= _MAX_SEED:
                out.append(path.read_bytes())
    return out


@cache
def test_literals() -> tuple[str, ...]:
    """Every string constant of 20+ characters in tests/test_*.py (the inline files the tests write)."""
    found: list[str] = []
    for path in sorted((ROOT / "tests").glob("test_*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and len(node.value) >= 20:
                found.append(node.value)
            elif isinstance(node, ast.JoinedStr):  # f-strings: keep their literal parts joined
                text = "".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
                if len(text) >= 20:
                    found.append(text)
    return tuple(dict.fromkeys(found))


def _literals(*needles: str, exclude: tuple[str, ...] = ()) -> list[bytes]:
    return [
        t.encode("utf-8", "surrogateescape")
        for t in test_literals()
        if any(n in t for n in needles) and not any(x in t for x in exclude)
    ]


LAUNCH = (
    "accelerate launch --num_cpu_threads_per_process 1 train_network.py "
    "--pretrained_model_name_or_path=/models/sd15.safetensors --network_module=networks.lora "
    "--network_dim=16 --network_alpha=8 --learning_rate=1e-4 --lr_scheduler=cosine_with_restarts "
    "--lr_scheduler_num_cycles=3 --lr_warmup_steps=100 --max_train_epochs=10 --train_batch_size=2 "
    "--optimizer_type=AdamW8bit --train_data_dir=img --resolution=512,512 --network_args conv_dim=4 "
    "--text_encoder_lr 5e-5 --unet_lr=1e-4 --save_every_n_epochs=1 --seed 42 --ema_decay 0.999\n"
)
SH = f"""#!/bin/bash
MODEL=/models/sd15.safetensors
DIM=${{DIM:-16}}
ARGS=(--network_dim "$DIM" --network_alpha $((DIM / 2)))
ARGS+=(--learning_rate 1e-4)
STEPS=$((10 * 100))
NAME="${{MODEL##*/}}"
accelerate launch train_network.py --pretrained_model_name_or_path="$MODEL" "${{ARGS[@]}}" \\
  --max_train_steps $STEPS --output_name "${{NAME%.*}}" --config_file config.toml \\
  --lr_scheduler polynomial --lr_scheduler_power 2
cat > config.toml <<EOF
network_dim = 32
[[datasets]]
EOF
{LAUNCH}"""
PS1 = """$Model = "C:\\models\\sd15.safetensors"
$Dim = 16
$Args = @("--network_dim", $Dim, "--network_alpha", ($Dim / 2))
$env:LR = "1e-4"
accelerate launch train_network.py `
  --pretrained_model_name_or_path=$Model @Args `
  --learning_rate=$env:LR --max_train_steps 1000 --lr_warmup_steps 10 `
  --lr_scheduler "constant_with_warmup"
"""
BAT = """@echo off
set MODEL=C:\\models\\sd15.safetensors
set /a DIM=16
set /a ALPHA=%DIM%/2
setlocal EnableDelayedExpansion
set LR=1e-4
accelerate launch train_network.py ^
  --pretrained_model_name_or_path=%MODEL% --network_dim=%DIM% --network_alpha=!ALPHA! ^
  --learning_rate=%LR% --max_train_steps=1000 --lr_scheduler=linear
"""
MARKDOWN = f"""# Run notes

Trained with:

```bash
{LAUNCH}```

```powershell
{PS1}```

```toml
learning_rate = 1e-4
```
"""
CONFIG_TOML = """[model_arguments]
pretrained_model_name_or_path = "/models/sd15.safetensors"
v2 = false

[additional_network_arguments]
network_module = "networks.lora"
network_dim = 32
network_alpha = 16
network_args = ["conv_dim=8", "conv_alpha=4"]

[optimizer_arguments]
learning_rate = 1e-4
lr_scheduler = "cosine_with_restarts"
lr_scheduler_num_cycles = 2
lr_warmup_steps = 50
optimizer_type = "AdamW8bit"
optimizer_args = ["weight_decay=0.01", "betas=0.9,0.99"]

[training_arguments]
max_train_epochs = 10
train_batch_size = 2
seed = 1234
mixed_precision = "bf16"
ema_decay = 0.9999
dataset_config = "dataset.toml"
"""
DATASET_TOML = """[general]
shuffle_caption = true
caption_extension = ".txt"
keep_tokens = 1

[[datasets]]
resolution = 512
batch_size = 4

  [[datasets.subsets]]
  image_dir = "img/10_sks"
  num_repeats = 10
  class_tokens = "sks woman"

  [[datasets.subsets]]
  image_dir = "reg"
  is_reg = true
  num_repeats = 1
"""
GUI_JSON = json.dumps(
    {
        "LoRA_type": "Standard",
        "pretrained_model_name_or_path": "runwayml/stable-diffusion-v1-5",
        "network_dim": 32,
        "network_alpha": "16",
        "learning_rate": "0.0001",
        "text_encoder_lr": 0,
        "unet_lr": "1e-4",
        "lr_scheduler": "cosine",
        "lr_warmup": 10,
        "lr_warmup_steps": 0,
        "max_train_epochs": "10",
        "train_batch_size": 2,
        "epoch": 10,
        "optimizer": "AdamW8bit",
        "optimizer_args": "weight_decay=0.01",
        "max_resolution": "512,512",
        "noise_offset_type": "Original",
        "noise_offset": 0.05,
        "sdxl": False,
        "xformers": "xformers",
        "conv_dim": 4,
        "train_data_dir": "img",
        "seed": "1234",
        "caption_extension": ".txt",
        "network_args": "",
        "additional_parameters": "--min_snr_gamma 5",
        "save_every_n_epochs": 1,
    },
    indent=2,
)
AI_TOOLKIT_YAML = """job: extension
config:
  name: my_lora
  process:
    - type: sd_trainer
      training_folder: output
      device: cuda:0
      network:
        type: lora
        linear: 16
        linear_alpha: 16
      save:
        dtype: float16
        save_every: 250
      datasets:
        - folder_path: /data/images
          caption_ext: txt
          resolution: [512, 768, 1024]
      train:
        batch_size: 1
        steps: 2000
        gradient_accumulation_steps: 1
        lr: 1e-4
        optimizer: adamw8bit
        ema_config:
          use_ema: true
          ema_decay: 0.99
      model:
        name_or_path: black-forest-labs/FLUX.1-dev
        is_flux: true
meta:
  name: "[name]"
  version: '1.0'
"""
ONETRAINER_JSON = json.dumps(
    {
        "__version": 6,
        "training_method": "LORA",
        "model_type": "STABLE_DIFFUSION_15",
        "learning_rate": 0.0003,
        "learning_rate_scheduler": "COSINE",
        "learning_rate_warmup_steps": 200,
        "epochs": 100,
        "batch_size": 4,
        "lora_rank": 16,
        "lora_alpha": 1.0,
        "optimizer": {"optimizer": "ADAMW", "weight_decay": 0.01},
        "ema": "OFF",
        "ema_decay": 0.999,
        "concepts": [{"path": "data", "repeats": 1.0}],
    },
    indent=2,
)
DIFFUSERS_ENV = """MODEL_NAME=runwayml/stable-diffusion-v1-5
LEARNING_RATE=1e-4
RANK=16
MAX_TRAIN_STEPS=1500
export TRAIN_BATCH_SIZE=1
"""
TEXT_LOG = """steps:  10%|█         | 10/100 [00:05<00:45,  2.00it/s, avr_loss=0.123]
epoch 1/10
steps:  20%|██        | 20/100 [00:10<00:40,  2.00it/s, avr_loss=0.118, lr=1e-4]
running training / 学習開始
  num train images * repeats / 学習画像の数×繰り返し回数: 200
  num epochs / epoch数: 10
  batch size per device / バッチサイズ: 2
  total optimization steps / 学習ステップ数: 1000
step 30: loss 0.1100 lr 0.0001 lr/unet 1e-4 lr/textencoder 5e-5
epoch 2, step 40, loss=0.105, val_loss=0.2
"""
CSV_LOG = "step,loss,lr,epoch,val_loss\n1,0.2,0.0,1,0.3\n2,0.19,1e-5,1,\n3,0.18,2e-5,1,0.28\n100,0.1,1e-4,2,0.25\n"
TB_CSV = "Wall time,Step,Value\n1700000000.5,1,0.2\n1700000001.5,2,0.19\n"
JSONL_LOG = (
    '{"metrics": {"loss": 0.2, "learning_rate": 1e-5}, "step": 1}\n'
    '{"metrics": {"loss": 0.19, "learning_rate": 2e-5, "epoch": 1}, "step": 2}\n'
)
WANDB_SUMMARY = '{"_step": 100, "loss": 0.1, "lr": 1e-4, "epoch": 2, "_runtime": 100.5}'
DIAGNOSE_TOML = """learning_rate = 1e-4
lr_scheduler = "cosine_with_restarts"
lr_scheduler_num_cycles = 3
lr_warmup_steps = 100
max_train_steps = 1000
train_batch_size = 2
gradient_accumulation_steps = 1
ema_decay = 0.999
network_dim = 16
network_alpha = 8
image_count = 20
num_repeats = 10
max_train_epochs = 10
"""
ABLATE = "network_dim\n4\n8\n16\n32\n"


def sqlite_log_bytes(rows: list[tuple] | None = None) -> bytes:
    """ai-toolkit's loss_log.db layout: metrics(step, key, value_real, value_text)."""
    import sqlite3

    connection = sqlite3.connect(":memory:")
    connection.execute("CREATE TABLE metrics (step INTEGER, key TEXT, value_real REAL, value_text TEXT)")
    connection.executemany(
        "INSERT INTO metrics VALUES (?, ?, ?, ?)",
        rows
        or [
            (1, "loss", 0.2, None),
            (1, "lr", 1e-5, None),
            (2, "loss", 0.19, None),
            (2, "lr", 2e-5, None),
            (3, "loss", None, "nan"),
            (3, "learning_rate", 3e-5, None),
        ],
    )
    connection.commit()
    data = connection.serialize()
    connection.close()
    return data


def safetensors_bytes(header: dict, payload: bytes = b"") -> bytes:
    raw = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<Q", len(raw)) + raw + payload


def _safetensors_seeds() -> list[bytes]:
    meta = {
        "ss_network_dim": "16",
        "ss_network_alpha": "8.0",
        "ss_learning_rate": "0.0001",
        "ss_lr_scheduler": "cosine",
        "ss_lr_warmup_steps": "100",
        "ss_max_train_steps": "1000",
        "ss_num_train_images": "200",
        "ss_num_epochs": "10",
        "ss_network_module": "networks.lora",
        "ss_dataset_dirs": json.dumps({"10_sks": {"n_repeats": 10, "img_count": 20}}),
        "ss_datasets": json.dumps(
            [{"subsets": [{"image_dir": "10_sks", "num_repeats": 10, "img_count": 20}], "batch_size_per_device": 2}]
        ),
        "ss_network_args": json.dumps({"conv_dim": "4", "conv_alpha": "1"}),
        "ss_training_comment": "hello",
        "modelspec.architecture": "stable-diffusion-v1/lora",
    }
    tensors, offset = {}, 0
    for name, shape in (
        ("lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight", [16, 320]),
        ("lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight", [320, 16]),
        ("lora_unet_down_blocks_0_attentions_0_proj_in.alpha", []),
        ("lora_te_text_model_encoder_layers_0_mlp_fc1.lora_down.weight", [16, 768]),
    ):
        size = 2
        for d in shape:
            size *= d
        tensors[name] = {"dtype": "F16", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    full = safetensors_bytes({"__metadata__": meta, **tensors}, b"\0" * offset)
    return [
        full,
        safetensors_bytes({"__metadata__": meta}),
        safetensors_bytes(tensors, b"\0" * offset),
        _trained_lora(meta),
    ]


def _trained_lora(meta: dict[str, str]) -> bytes:
    """A small LoRA with real F32/F16/BF16 values (one NaN, one inf), for `--weights` and `--hash`."""
    import numpy as np

    rng = np.random.default_rng(0)
    parts, tensors, offset = [], {}, 0
    for name, shape, dtype in (
        ("lora_unet_mid_block_attentions_0_proj_in.lora_down.weight", (4, 64), "F32"),
        ("lora_unet_mid_block_attentions_0_proj_in.lora_up.weight", (64, 4), "F16"),
        ("lora_unet_mid_block_attentions_0_proj_in.alpha", (), "F32"),
        ("lora_te_text_model_encoder_layers_0_mlp_fc1.lora_down.weight", (4, 32), "BF16"),
        ("lora_te_text_model_encoder_layers_0_mlp_fc1.lora_up.weight", (32, 4), "F32"),
    ):
        values = rng.normal(0, 0.02, shape).astype(np.float32)
        if name.endswith("alpha"):
            values = np.float32(2.0).reshape(())
        if "fc1.lora_up" in name:
            values.flat[0], values.flat[1] = np.nan, np.inf
        if dtype == "F16":
            raw = values.astype(np.float16).tobytes()
        elif dtype == "BF16":
            raw = (values.view(np.uint32) >> 16).astype(np.uint16).tobytes()
        else:
            raw = values.tobytes()
        tensors[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(raw)]}
        parts.append(raw)
        offset += len(raw)
    return safetensors_bytes({"__metadata__": {**meta, "ss_network_dim": "4"}, **tensors}, b"".join(parts))


@cache
def seeds(family: str) -> tuple[bytes, ...]:
    """The seeds of one family (see tests.fuzz.families)."""
    table = {
        "sh": lambda: (
            [SH.encode(), LAUNCH.encode()]
            + _files("sample_runs/**/*.sh")
            + _literals("train_network.py", "accelerate", exclude=("$env:", "set /a", "@echo"))
        ),
        "ps1": lambda: [PS1.encode()] + _literals("$env:", "`\n", "@(", exclude=("```",)),
        "bat": lambda: [BAT.encode()] + _literals("set /a", "%~dp0", "@echo", "setlocal", "^\n"),
        "markdown": lambda: (
            [MARKDOWN.encode()] + _files("sample_runs/**/*.md", "tests/fixtures/**/*.md") + _literals("```")
        ),
        "toml": lambda: (
            [CONFIG_TOML.encode(), DATASET_TOML.encode(), DIAGNOSE_TOML.encode()]
            + _literals("[[datasets", "network_dim =", "learning_rate =", "[general]")
        ),
        "gui_json": lambda: [GUI_JSON.encode()] + _literals('"LoRA_type"'),
        "trainer_yaml": lambda: (
            [AI_TOOLKIT_YAML.encode()]
            + _files("sample_runs/**/*.yaml")
            + _literals("job:", "process:", "train:", "learning_rate:")
        ),
        "trainer_json": lambda: (
            [ONETRAINER_JSON.encode(), json.dumps({"learning_rate": 1e-4, "rank": 16}).encode()]
            + _literals('"training_method"', '"learning_rate":', '"lora_rank"', '"r":')
        ),
        "trainer_env": lambda: [DIFFUSERS_ENV.encode(), LAUNCH.encode()] + _literals("export ", "MODEL_NAME="),
        "notebook": lambda: (
            [
                json.dumps(
                    {
                        "cells": [
                            {
                                "cell_type": "code",
                                "source": [
                                    "!accelerate launch train_network.py --network_dim 8 \\\n",
                                    "  --learning_rate 1e-4 --max_train_steps 100\n",
                                ],
                            },
                            {
                                "cell_type": "code",
                                "source": "%env LR=1e-4\n!python train_network.py --learning_rate $LR",
                            },
                            {"cell_type": "markdown", "source": ["# notes"]},
                        ],
                        "nbformat": 4,
                    }
                ).encode()
            ]
            + _literals('"cells"')
        ),
        "safetensors": lambda: _safetensors_seeds() + _files("tests/fixtures/**/*.safetensors"),
        "dataset_folder": lambda: [
            b"10_sks/a.png\n10_sks/a.txt=a photo of sks\n10_sks/b.jpg\n2_reg/c.webp\n"
            b"5_x y/d.png\n5_x y/d.caption=tag, tag\n@fifo 10_sks/b.txt\n"
            b"@link 10_sks/c.png -> a.png\n"
        ],
        "text_log": lambda: [TEXT_LOG.encode()] + _files("sample_runs/**/*.log", "tests/fixtures/**/*.log"),
        "csv_log": lambda: [CSV_LOG.encode(), TB_CSV.encode()],
        "tensorboard": lambda: _files("tests/fixtures/**/events.out.tfevents.*"),
        "jsonl_log": lambda: [JSONL_LOG.encode()],
        "wandb_summary": lambda: [WANDB_SUMMARY.encode()],
        "sqlite_log": lambda: [sqlite_log_bytes()],
        "diagnose": lambda: [DIAGNOSE_TOML.encode(), CONFIG_TOML.encode()],
        "reports": lambda: [DIAGNOSE_TOML.encode(), CONFIG_TOML.encode()],
        "plots": lambda: [DIAGNOSE_TOML.encode()],
        "run_yaml": lambda: (
            [
                b"name: run B (rank 32)\noutcome: bad\nscore: 0.42\nmetrics:\n  score: 0.42\n  fid: 31.5\n"
                b"notes: plastic skin after epoch 6\n",
                b"outcome: good\n",
            ]
            + _literals("outcome: ", "metrics:")
        ),
        "project_config": lambda: (
            [
                b'format = "md"\n[compare]\nall = true\nmetric = "loss"\n[diagnose]\nignore = ["ema-too-slow"]\n'
                b"[diagnose.rules.warmup-too-long]\nwarning_fraction = 0.3\nerror_fraction = 0.6\n",
                b'[tool.rundiff]\nformat = "json"\n[tool.rundiff.compare]\nbaseline = "base"\n',
            ]
            + _literals("[tool.rundiff", "[diagnose.rules")
        ),
        "ablate_plan": lambda: [
            ABLATE.encode(),
            b"learning_rate\n1e-4\n5e-5\n",
            b"lr_scheduler\ncosine\nlinear\n",
            b"network_args\nconv_dim=4\n",
        ],
    }
    return tuple(dict.fromkeys(s[:_MAX_SEED] for s in table[family]()))

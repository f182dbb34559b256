"""YAML/JSON configs of other trainers: flattened, mapped by alias, unmapped keys kept."""

import json
import textwrap

import pytest

from rundiff import load_run
from rundiff.errors import RundiffError

AI_TOOLKIT = """
job: extension
config:
  name: my_first_flux_lora
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
          caption_dropout_rate: 0.05
          shuffle_tokens: false
          resolution: [512, 768, 1024]
      train:
        batch_size: 1
        steps: 2000
        gradient_accumulation_steps: 1
        train_unet: true
        train_text_encoder: false
        noise_scheduler: flowmatch
        optimizer: adamw8bit
        lr: 1e-4
        ema_config:
          use_ema: true
          ema_decay: 0.99
        dtype: bf16
      model:
        name_or_path: black-forest-labs/FLUX.1-dev
        is_flux: true
        quantize: true
        low_vram: true
meta:
  name: "[name]"
  version: '1.0'
"""


def test_ai_toolkit_yaml_maps_nested_keys(tmp_path):
    path = tmp_path / "run" / "train_lora_flux.yaml"
    path.parent.mkdir()
    path.write_text(AI_TOOLKIT)
    run = load_run(path.parent)
    cells = run.cells
    assert run.trainer == "ai-toolkit"
    assert cells["network_dim"].value == 16
    assert cells["network_dim"].source.endswith("train_lora_flux.yaml:11")
    assert cells["network_alpha"].value == 16.0
    assert cells["learning_rate"].value == 0.0001
    assert cells["optimizer_type"].value == "AdamW8bit"
    assert cells["ema_decay"].value == 0.99
    # keys nobody maps are still shown under their own dotted name (inside config.process[0])
    assert cells["model.low_vram"].value is True
    assert cells["train.noise_scheduler"].value == "flowmatch"
    # ai-toolkit's own defaults, not sd-scripts': alpha 1.0 would be sd-scripts' too, but the
    # scheduler and max_grad_norm below come from the ai-toolkit profile, named as such
    assert cells["lr_scheduler"].provenance.value == "default"
    assert cells["lr_scheduler"].note == "ai-toolkit default"
    assert cells["gradient_checkpointing"].value is True  # ai-toolkit's default (sd-scripts': False)
    assert "ai-toolkit job file" in run.trainer_evidence[0]


def test_seed_style_yaml(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(
        textwrap.dedent("""
        training:
          optimizer: "prodigy"
          learning_rate: 1.0
          min_snr_gamma: 5.0
          noise_offset: 0.1
          use_ema: true
          ema_decay: 0.9999
        lora_rank: 48
        network_alpha: 48
        num_repeats: 20
        steps: 1400
        """)
    )
    cells = load_run(path).cells
    assert cells["optimizer_type"].value == "Prodigy"
    assert cells["network_dim"].value == 48
    assert cells["ema_decay"].value == 0.9999
    assert cells["num_repeats"].value == 20


def test_json_config_of_another_trainer_has_lines(tmp_path):
    path = tmp_path / "onetrainer.json"
    path.write_text(
        json.dumps(
            {
                "__version": 6,
                "training_method": "LORA",
                "model_type": "STABLE_DIFFUSION_XL_10_BASE",
                "learning_rate": 0.0003,
                "lora_rank": 16,
                "lora_alpha": 1.0,
                "batch_size": 4,
                "epochs": 100,
                "ema": "OFF",
            },
            indent=2,
        )
    )
    run = load_run(path)
    assert run.trainer == "OneTrainer"
    assert run.cells["learning_rate"].value == 0.0003
    assert run.cells["network_dim"].value == 16
    assert run.cells["network_dim"].source == f"{path}:6"


def test_unsafe_yaml_tags_are_refused(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("learning_rate: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(RundiffError) as info:
        load_run(path)
    assert "evil.yaml" in str(info.value)
    assert info.value.line == 1

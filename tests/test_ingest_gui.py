"""bmaltais/kohya_ss GUI JSON: string numbers, lr_warmup %, text_encoder_lr 0, LoRA_type."""

import json

from rundiff import load_run

GUI_BASE = {
    "LoRA_type": "Standard",
    "LyCORIS_preset": "full",
    "adaptive_noise_scale": 0,
    "additional_parameters": "",
    "bucket_no_upscale": True,
    "bucket_reso_steps": 64,
    "cache_latents": True,
    "cache_latents_to_disk": False,
    "caption_dropout_every_n_epochs": 0.0,
    "caption_dropout_rate": 0,
    "caption_extension": ".txt",
    "clip_skip": "1",
    "conv_alpha": 1,
    "conv_dim": 1,
    "enable_bucket": True,
    "epoch": 10,
    "gradient_accumulation_steps": 1,
    "gradient_checkpointing": True,
    "keep_tokens": "0",
    "learning_rate": "0.0001",
    "lr_scheduler": "cosine",
    "lr_scheduler_num_cycles": "",
    "lr_warmup": 10,
    "lr_warmup_steps": 0,
    "max_resolution": "1024,1024",
    "max_token_length": "75",
    "max_train_epochs": "",
    "max_train_steps": 0,
    "min_snr_gamma": 5,
    "mixed_precision": "bf16",
    "model_list": "custom",
    "multires_noise_discount": 0.3,
    "multires_noise_iterations": 0,
    "network_alpha": 16,
    "network_dim": 32,
    "noise_offset": 0.0357,
    "noise_offset_type": "Original",
    "num_cpu_threads_per_process": 2,
    "optimizer": "Prodigy",
    "optimizer_args": "weight_decay=0.01 decouple=True d0=0.0001 use_bias_correction=True",
    "output_name": "mychar",
    "pretrained_model_name_or_path": "stabilityai/stable-diffusion-xl-base-1.0",
    "save_precision": "fp16",
    "sdxl": True,
    "seed": "",
    "shuffle_caption": False,
    "text_encoder_lr": 0,
    "train_batch_size": 8,
    "unet_lr": 1.0,
    "xformers": "xformers",
}


def write_gui(path, **changes):
    data = dict(GUI_BASE, **changes)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dict(sorted(data.items())), indent=2))
    return path


def test_gui_conventions_become_what_sd_scripts_receives(tmp_path):
    run = load_run(write_gui(tmp_path / "run" / "mychar_20240501-101010.json"))
    cells = run.cells
    assert run.trainer == "kohya_ss"
    assert cells["network_dim"].value == 32
    assert cells["learning_rate"].value == 0.0001  # string-typed number
    assert cells["lr_warmup_steps"].value == 0.1  # lr_warmup 10 % -> a ratio of the total steps
    assert cells["network_train_unet_only"].value is True  # text_encoder_lr 0 means UNet only
    assert cells["optimizer_type"].value == "Prodigy"
    assert cells["weight_decay"].value == 0.01  # optimizer_args split into their own keys
    assert cells["resolution"].value == [1024, 1024]
    assert cells["model_family"].value == "sdxl"
    assert cells["xformers"].value is True
    assert cells["noise_offset"].value == 0.0357
    # 0 / "" mean "not set" in the GUI: sd-scripts' defaults apply
    assert cells["multires_noise_iterations"].provenance.value == "default"
    assert cells["seed"].provenance.value == "default"
    # Standard LoRA ignores conv_dim even when the JSON holds one
    assert "conv_dim" not in cells or cells["conv_dim"].provenance.value != "explicit"
    assert cells["network_dim"].source.endswith(".json:39") or ".json:" in cells["network_dim"].source


def test_lycoris_type_sets_module_algo_and_conv(tmp_path):
    path = write_gui(tmp_path / "loco.json", LoRA_type="LyCORIS/LoCon", conv_dim=8, conv_alpha=4, lr_warmup_steps=50)
    cells = load_run(path).cells
    assert cells["network_module"].value == "lycoris.kohya"
    assert cells["algo"].value == "locon"
    assert cells["conv_dim"].value == 8
    assert cells["conv_alpha"].value == 4
    assert cells["lr_warmup_steps"].value == 50  # the absolute override wins over the percentage


def test_multires_noise_type_gates_the_noise_keys(tmp_path):
    path = write_gui(tmp_path / "multires.json", noise_offset_type="Multires", multires_noise_iterations=6)
    cells = load_run(path).cells
    assert cells["multires_noise_iterations"].value == 6
    assert cells["noise_offset"].provenance.value == "default"  # "Original"-only key dropped

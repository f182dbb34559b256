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


def test_additional_parameters_are_a_command_line_applied_after_the_gui(tmp_path):
    path = write_gui(
        tmp_path / "extra.json",
        max_train_steps=1600,
        additional_parameters='--max_train_steps=3000 --network_args "rank_dropout=0.1" '
        "module_dropout=0.05 --scale_weight_norms 1.5 --xformers --debiased_estimation_loss",
    )
    run = load_run(path)
    cells = run.cells
    assert cells["max_train_steps"].value == 3000  # the free text comes after the GUI's own TOML: it wins
    assert "additional_parameters" in cells["max_train_steps"].note
    assert cells["scale_weight_norms"].value == 1.5
    assert cells["debiased_estimation_loss"].value is True
    assert cells["rank_dropout"].value == 0.1 and cells["module_dropout"].value == 0.05  # quotes deleted, split
    assert any("overrides the GUI's own max_train_steps 1600" in w for w in run.warnings)


def test_empty_additional_parameters_change_nothing(tmp_path):
    run = load_run(write_gui(tmp_path / "plain.json", max_train_steps=1600, additional_parameters="  "))
    assert run.cells["max_train_steps"].value == 1600
    assert "additional_parameters" not in (run.cells["max_train_steps"].note or "")


def test_noise_offset_type_gates_are_shown_as_not_in_effect(tmp_path):
    run = load_run(
        write_gui(
            tmp_path / "multires.json",
            noise_offset_type="Multires",
            multires_noise_iterations=6,
            noise_offset=0.1,
            adaptive_noise_scale=0.01,
        )
    )
    assert run.cells["noise_offset"].provenance.value == "default"
    [warning] = [w for w in run.warnings if "noise_offset=" in w]
    assert "not in effect" in warning and "adaptive_noise_scale=0.01" in warning and "Original" in warning
    # and the other way: Original passes noise_offset and holds back the multires keys
    run = load_run(write_gui(tmp_path / "orig.json", noise_offset_type="Original", multires_noise_iterations=6))
    assert run.cells["noise_offset"].value == 0.0357
    assert run.cells["multires_noise_iterations"].provenance.value == "default"
    assert any("multires_noise_iterations=6" in w and "Multires" in w for w in run.warnings)


def test_model_checkboxes_gate_family_settings(tmp_path):
    run = load_run(
        write_gui(tmp_path / "sdxl.json", guidance_scale=3.5, weighting_scheme="logit_normal", sdxl_no_half_vae=True)
    )
    assert run.cells["model_family"].value == "sdxl"
    assert run.cells.get("guidance_scale") is None or run.cells["guidance_scale"].provenance.value != "explicit"
    assert any("guidance_scale=3.5" in w and "flux1_checkbox" in w for w in run.warnings)
    assert any("weighting_scheme" in w and "sd3_checkbox" in w for w in run.warnings)
    # with the flux box on (and sdxl off) the same keys are passed and the sdxl one is held back
    run = load_run(
        write_gui(tmp_path / "flux.json", sdxl=False, flux1_checkbox=True, guidance_scale=3.5, sdxl_no_half_vae=True)
    )
    assert run.cells["model_family"].value == "flux"
    assert run.cells["guidance_scale"].value == 3.5
    assert any("sdxl_no_half_vae=True" in w and "sdxl checkbox" in w for w in run.warnings)


def test_sdxl_checkbox_wins_over_flux_as_the_gui_orders_them(tmp_path):
    run = load_run(write_gui(tmp_path / "both.json", sdxl=True, flux1_checkbox=True))
    assert run.cells["model_family"].value == "sdxl"
    assert any("runs sdxl_train_network.py" in w for w in run.warnings)


def test_learning_rates_choose_the_train_mode_as_the_gui_does(tmp_path):
    both_zero = load_run(write_gui(tmp_path / "a.json", text_encoder_lr=0, unet_lr=0, learning_rate=1e-4)).cells
    assert both_zero.get("network_train_unet_only") is None or both_zero["network_train_unet_only"].value is not True
    te_only = load_run(write_gui(tmp_path / "b.json", text_encoder_lr=5e-5, unet_lr=0)).cells
    assert te_only["network_train_text_encoder_only"].value is True
    standard_conv = load_run(write_gui(tmp_path / "c.json", conv_dim=8, conv_alpha=4))
    assert any("conv_dim=8" in w and "no conv layers" in w for w in standard_conv.warnings)

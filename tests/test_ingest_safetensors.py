"""`.safetensors` in a run: ss_* metadata decoded by sd-scripts' encoding rules, weights as proof."""

import json

from rundiff import load_run
from rundiff.infer.synth import write_lora
from rundiff.ingest.safetensors_file import final_checkpoints, split_call

SDXL_METADATA = {
    "ss_network_module": "networks.lora",
    "ss_network_dim": "32",
    "ss_network_alpha": "16.0",
    "ss_learning_rate": "0.0001",
    "ss_unet_lr": "None",
    "ss_text_encoder_lr": "None",
    "ss_optimizer": "torch.optim.adamw.AdamW(weight_decay=0.01,betas=(0.9, 0.999))",
    "ss_lr_scheduler": "constant",
    "ss_lr_warmup_steps": "0",
    "ss_resolution": "(1024, 1024)",
    "ss_base_model_version": "sdxl_base_v1-0",
    "ss_v2": "False",
    "ss_mixed_precision": "bf16",
    "ss_seed": "2718281828",
    "ss_max_token_length": "None",
    "ss_min_snr_gamma": "5.0",
    "ss_noise_offset": "None",
    "ss_multires_noise_discount": "0.3",
    "ss_batch_size_per_device": "2",
    "ss_shuffle_caption": "True",
    "ss_keep_tokens": "1",
    "ss_dataset_dirs": json.dumps({"20_mychar": {"n_repeats": 20, "img_count": 25}}),
    "ss_network_args": json.dumps({"conv_dim": "4", "conv_alpha": "1", "dropout": None}),
    "ss_session_id": "3142592653",
    "ss_training_started_at": "1712563200.123456",
    "modelspec.architecture": "stable-diffusion-xl-v1-base/lora",
    "modelspec.resolution": "1024x1024",
}


def test_metadata_decoded_by_sd_scripts_rules(tmp_path):
    (tmp_path / "run").mkdir()
    path = write_lora(
        tmp_path / "run" / "mychar.safetensors",
        arch="sdxl",
        rank=32,
        alpha=16.0,
        dtype="F16",
        conv_rank=4,
        conv_alpha=1.0,
        metadata=SDXL_METADATA,
    )
    run = load_run(path.parent)
    cells = run.cells
    assert run.trainer == "sd-scripts"
    assert cells["network_dim"].value == 32
    # metadata and weights agree: the first is shown, the other confirms it
    assert cells["network_dim"].provenance.value == "metadata"
    assert [c.split(":")[0] for c in cells["network_dim"].confirmed_by] == ["weights"]
    assert cells["optimizer_type"].value == "AdamW"
    assert cells["weight_decay"].value == 0.01  # unpacked from ss_optimizer's arguments
    assert cells["resolution"].value == [1024, 1024]  # "(1024, 1024)"
    assert cells["shuffle_caption"].value is True  # "True"
    assert cells["max_token_length"].value == 75  # "None" means 75 tokens
    assert cells["model_family"].value == "sdxl"
    assert cells["num_repeats"].value == 20
    assert cells["image_count"].value == 25
    assert cells["conv_dim"].value == 4
    assert cells["save_precision"].value == "fp16"
    assert "ss_session_id" not in cells and "ss_training_started_at" not in cells
    assert run.conflicts == []


def test_metadata_contradicting_weights_is_a_conflict(tmp_path):
    """A resized LoRA whose metadata still says the dim it was trained at."""
    meta = dict(SDXL_METADATA, ss_network_dim="128", ss_network_alpha="64.0")
    meta.pop("ss_network_args")
    path = write_lora(tmp_path / "resized.safetensors", arch="sdxl", rank=32, alpha=16.0, dtype="F16", metadata=meta)
    run = load_run(path)
    conflicts = {c.name: c for c in run.conflicts}
    assert set(conflicts) >= {"network_dim", "network_alpha"}
    values = {(v, prov) for v, prov, _ in conflicts["network_dim"].values}
    assert values == {(32, "weights"), (128, "metadata")}
    assert run.cells["network_dim"].value == 32


def test_weights_only_file_proves_only_what_it_holds(tmp_path):
    path = write_lora(tmp_path / "baby.safetensors", arch="sd15", rank=64, alpha=32.0, dtype="F16", metadata=None)
    run = load_run(path)
    assert run.trainer is None  # key names do not prove which program trained it
    assert {name: c.provenance.value for name, c in run.cells.items() if c.known} == {
        "network_dim": "weights",
        "network_alpha": "weights",
        "lora_type": "weights",
        "model_family": "weights",
        "save_precision": "weights",
        "lora_scale": "derived",
    }
    assert run.cells["lora_scale"].value == 0.5


def test_network_dim_none_in_metadata_means_four(tmp_path):
    meta = {
        "ss_network_module": "networks.lora",
        "ss_network_dim": "None",
        "ss_network_alpha": "1",
        "ss_base_model_version": "sd_v1",
    }
    path = write_lora(tmp_path / "d4.safetensors", arch="sd15", rank=4, alpha=1.0, metadata=meta)
    run = load_run(path)
    assert run.cells["network_dim"].value == 4
    assert run.conflicts == []


def test_only_the_last_checkpoint_of_a_series_is_read(tmp_path):
    names = [
        "m-000001.safetensors",
        "m-000002.safetensors",
        "m.safetensors",
        "other-step00000100.safetensors",
        "other-step00000200.safetensors",
    ]
    paths = [tmp_path / n for n in names]
    finals, skipped = final_checkpoints(paths)
    assert [p.name for p in finals] == ["m.safetensors", "other-step00000200.safetensors"]
    assert len(skipped) == 3


def test_split_call_keeps_tuples_whole():
    head, args = split_call("prodigyopt.prodigy.Prodigy(decouple=True,betas=(0.9, 0.99),d_coef=2)")
    assert head == "prodigyopt.prodigy.Prodigy"
    assert args == {"decouple": "True", "betas": "(0.9, 0.99)", "d_coef": "2"}

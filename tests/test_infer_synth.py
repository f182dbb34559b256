"""The sparse LoRA writer: valid safetensors, real key names, real sizes, no disk space."""

from __future__ import annotations

import os

import numpy as np
import pytest
from safetensors import safe_open

from rundiff.infer.inventory import module_sets, modules
from rundiff.infer.synth import write_lora

MIB = 2**20


def _blocks_bytes(path) -> int:
    return os.stat(path).st_blocks * 512


def test_sd15_dim32_fp16_is_36_mib_and_loads(tmp_path):
    p = write_lora(
        tmp_path / "sd15.safetensors",
        arch="sd15",
        rank=32,
        alpha=16.0,
        dtype="F16",
        metadata={"ss_network_dim": "32", "ss_network_alpha": "16.0"},
    )
    size = p.stat().st_size
    assert 36.0 * MIB < size < 36.3 * MIB  # reference §5.3: 36.0 MiB data + ~110 KB header
    with safe_open(str(p), "np") as f:
        keys = set(f.keys())
        assert f.metadata() == {"ss_network_dim": "32", "ss_network_alpha": "16.0"}
        down = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_down.weight"
        assert f.get_slice(down).get_shape() == [32, 768]
        assert f.get_slice("lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight").get_shape() == [
            32,
            320,
            1,
            1,
        ]
        assert f.get_slice("lora_te_text_model_encoder_layers_11_mlp_fc1.lora_up.weight").get_shape() == [
            3072,
            32,
        ]
        alpha = f.get_tensor("lora_unet_mid_block_attentions_0_proj_out.alpha")
        assert alpha.dtype == np.float16 and alpha.shape == () and float(alpha) == 16.0
        assert not f.get_tensor(down).any()
    assert len(keys) == 264 * 3
    assert _blocks_bytes(p) < 1 * MIB  # sparse: only the header and alphas take space


def test_sdxl_dim128_fp32_is_1_7_gb_sparse(tmp_path):
    p = write_lora(tmp_path / "sdxl.safetensors", arch="sdxl", rank=128, alpha=128.0, dtype="F32")
    size = p.stat().st_size
    assert 1.69e9 < size < 1.83e9 and 1739 * MIB < size < 1741 * MIB
    assert _blocks_bytes(p) < 2 * MIB
    with safe_open(str(p), "np") as f:
        keys = list(f.keys())
        assert f.get_slice(
            "lora_unet_input_blocks_4_1_transformer_blocks_1_attn2_to_k.lora_down.weight"
        ).get_shape() == [128, 2048]
        assert f.get_slice("lora_te2_text_model_encoder_layers_31_mlp_fc2.lora_down.weight").get_shape() == [
            128,
            5120,
        ]
        assert float(f.get_tensor("lora_te1_text_model_encoder_layers_0_self_attn_q_proj.alpha")) == 128.0
    assert sum(k.startswith("lora_te1_") for k in keys) == 72 * 3
    assert sum(k.startswith("lora_te2_") for k in keys) == 192 * 3
    assert sum(k.startswith("lora_unet_") for k in keys) == 722 * 3


def test_flux_kohya_bf16_alpha_bytes(tmp_path):
    p = write_lora(tmp_path / "flux.safetensors", arch="flux", rank=16, alpha=8.0, dtype="BF16", text_encoder=False)
    with safe_open(str(p), "np") as f:
        keys = list(f.keys())
        assert f.get_slice("lora_unet_double_blocks_0_img_attn_qkv.lora_up.weight").get_shape() == [9216, 16]
        assert f.get_slice("lora_unet_single_blocks_37_linear2.lora_down.weight").get_shape() == [16, 15360]
    assert len(keys) == 304 * 3
    # 146.1 MiB of data at r16 bf16 (reference §5.3)
    assert abs(p.stat().st_size - 9572352 * 16) < 200_000


@pytest.mark.parametrize(
    ("fmt", "suffixes"),
    [
        ("peft", {"lora_A.weight", "lora_B.weight"}),
        ("diffusers", {"lora_A.weight", "lora_B.weight"}),
        ("loha", {"hada_w1_a", "hada_w1_b", "hada_w2_a", "hada_w2_b", "alpha"}),
        ("lokr", {"lokr_w1", "lokr_w2_a", "lokr_w2_b", "alpha"}),
        ("dora", {"lora_down.weight", "lora_up.weight", "alpha", "dora_scale"}),
        ("lycoris-locon", {"lora_down.weight", "lora_up.weight", "alpha"}),
    ],
)
def test_other_formats_are_valid_files(tmp_path, fmt, suffixes):
    p = write_lora(tmp_path / f"{fmt}.safetensors", arch="sdxl", rank=8, fmt=fmt)
    with safe_open(str(p), "np") as f:
        keys = list(f.keys())
    found = {
        k.split(".", 1)[1]
        if fmt in ("loha", "lokr", "dora", "lycoris-locon")
        else k.rsplit(".", 2)[-2] + "." + k.rsplit(".", 1)[-1]
        for k in keys
    }
    assert found == suffixes
    if fmt == "peft":
        assert all(k.startswith("base_model.model.") for k in keys)
    if fmt == "diffusers":
        assert any(k.startswith("unet.down_blocks.1.attentions.0.") for k in keys)
        assert any(k.startswith("text_encoder_2.text_model.encoder.layers.31.") for k in keys)


def test_rank_per_module_and_conv_rank(tmp_path):
    def ranks(name: str):
        return (4, 4.0) if "_te_" in name else 16

    p = write_lora(
        tmp_path / "dyn.safetensors",
        arch="sd15",
        rank=32,
        alpha=8.0,
        conv_rank=8,
        conv_alpha=1.0,
        rank_per_module=ranks,
    )
    with safe_open(str(p), "np") as f:
        assert f.get_slice("lora_te_text_model_encoder_layers_0_mlp_fc1.lora_down.weight").get_shape()[0] == 4
        assert float(f.get_tensor("lora_te_text_model_encoder_layers_0_mlp_fc1.alpha")) == 4.0
        assert f.get_slice("lora_unet_down_blocks_0_resnets_0_conv1.lora_down.weight").get_shape() == [
            16,
            320,
            3,
            3,
        ]
        # an int from rank_per_module keeps the module's own alpha (conv_alpha for 3x3 convs)
        assert float(f.get_tensor("lora_unet_down_blocks_0_resnets_0_conv1.alpha")) == 1.0
        assert float(f.get_tensor("lora_unet_mid_block_attentions_0_proj_out.alpha")) == 8.0


def test_conv_rank_gets_its_own_rank(tmp_path):
    p = write_lora(tmp_path / "c.safetensors", arch="sdxl", rank=32, conv_rank=16, conv_alpha=1.0)
    with safe_open(str(p), "np") as f:
        assert f.get_slice("lora_unet_input_blocks_1_0_in_layers_2.lora_down.weight").get_shape() == [
            16,
            320,
            3,
            3,
        ]
        assert f.get_slice("lora_unet_input_blocks_4_0_skip_connection.lora_down.weight").get_shape() == [
            32,
            320,
            1,
            1,
        ]
        assert f.get_slice("lora_unet_output_blocks_2_2_conv.lora_up.weight").get_shape() == [1280, 16, 1, 1]
        assert float(f.get_tensor("lora_unet_input_blocks_3_0_op.alpha")) == 1.0
    # reference §5.3: SDXL d32/c16 fp16 ~ 243 MB
    assert 240e6 < p.stat().st_size < 246e6


def test_inventory_totals_match_reference_tables():
    expected = {
        ("sd1", "unet"): (192, 423936),
        ("sd1", "unet+te"): (264, 589824),
        ("sd2", "unet+te"): (330, 856064),
        ("sdxl", "unet"): (722, 2659840),
        ("sdxl", "unet+te"): (986, 3563008),
        ("sdxl", "unet+te-mlp-only"): (810, 3161600),
        ("flux", "unet"): (304, 4786176),
        ("flux", "unet+te"): (376, 4952064),
        ("flux", "diffusers"): (494, 5369856),
        ("chroma", "unet"): (228, 3502080),
        ("sd3-medium", "unet"): (237, 1671168),
        ("sd3.5-medium", "unet"): (263, 1850880),
        ("sd3.5-large", "unet"): (377, 4212224),
    }
    for (arch, name), (count, per_rank) in expected.items():
        ms = next(s for s in module_sets(arch) if s.name == name)
        assert (len(ms.modules()), ms.linear_params_per_rank()) == (count, per_rank), (arch, name)
    sd1_conv = [m for m in modules("sd1", conv=True, text_encoder=False) if m.conv_extra]
    assert sum(m.params_per_rank for m in sd1_conv if m.uses_conv_rank) == 544000
    assert sum(m.params_per_rank for m in sd1_conv if not m.uses_conv_rank) == 82880
    sdxl_conv = [m for m in modules("sdxl", conv=True, text_encoder=False) if m.conv_extra]
    assert sum(m.params_per_rank for m in sdxl_conv if m.uses_conv_rank) == 355840
    assert sum(m.params_per_rank for m in sdxl_conv if not m.uses_conv_rank) == 58560

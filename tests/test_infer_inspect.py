"""inspect_file on real key layouts (SD1.5, SDXL, Flux; kohya, PEFT, diffusers, LyCORIS), written sparse."""

from __future__ import annotations

import json
import math

import pytest

from rundiff.infer import inspect_file
from rundiff.infer.synth import write_lora, write_safetensors

EXPECTED_FORMAT = {
    "kohya": "kohya",
    "peft": "peft",
    "diffusers": "diffusers",
    "lycoris-locon": "lycoris-locon",
    "loha": "lycoris-loha",
    "lokr": "lycoris-lokr",
    "dora": "lycoris-dora",
    "glora": "lycoris-glora",
    "full": "lycoris-full",
}
ARCH = {"sd15": "sd1", "sdxl": "sdxl", "flux": "flux"}


@pytest.mark.parametrize("arch", ["sd15", "sdxl", "flux"])
@pytest.mark.parametrize("fmt", list(EXPECTED_FORMAT))
def test_format_architecture_rank(tmp_path, arch, fmt):
    p = write_lora(tmp_path / "x.safetensors", arch=arch, rank=8, alpha=4.0, dtype="BF16", fmt=fmt)
    info = inspect_file(p)
    assert info.format == EXPECTED_FORMAT[fmt]
    assert info.architecture == ARCH[arch], info.architecture_evidence
    assert info.dtype == "BF16"
    assert not info.truncated and info.file_size == p.stat().st_size
    if fmt == "full":
        assert info.rank is None and info.ranks == {}
        return
    assert info.rank == 8 and set(info.ranks) == {8}
    if fmt in ("peft", "diffusers"):
        assert info.alpha == 8.0 and info.scale == 1.0 and info.alpha_source == "default (= rank)"
    else:
        assert info.alpha == 4.0 and info.scale == 0.5 and info.alpha_source == "tensor"
    assert not info.conflicts, [c.message for c in info.conflicts]


def test_kohya_sdxl_counts_params_and_json_contract(tmp_path):
    p = write_lora(
        tmp_path / "sdxl.safetensors",
        arch="sdxl",
        rank=32,
        alpha=16.0,
        dtype="F16",
        metadata={
            "ss_network_dim": "32",
            "ss_network_alpha": "16.0",
            "ss_base_model_version": "sdxl_base_v1-0",
            "ss_resolution": "(1024, 1024)",
            "ss_network_args": '{"conv_dim": "8", "dropout": null}',
            "ss_seed": "NaN",
        },
    )
    info = inspect_file(p)
    assert info.modules == {"unet": 722, "te1": 72, "te2": 192}
    assert info.n_params == 32 * 3563008
    assert info.decoded_metadata["ss_resolution"] == [1024, 1024]
    assert info.decoded_metadata["ss_network_args"] == {"conv_dim": "8", "dropout": None}
    assert math.isnan(info.decoded_metadata["ss_seed"])
    data = info.to_json()
    for key in (
        "path",
        "format",
        "architecture",
        "rank",
        "ranks",
        "conv_rank",
        "alpha",
        "scale",
        "dtype",
        "modules",
        "n_params",
        "file_size",
        "truncated",
        "metadata",
        "conflicts",
    ):
        assert key in data
    json.dumps(data, allow_nan=False)  # strict JSON even with NaN metadata
    assert data["ranks"] == {"32": 986} and data["rank"] == 32 and data["alpha"] == 16.0
    # conv_dim 8 in ss_network_args, but no conv modules in the weights: not a conflict we can prove
    assert data["conflicts"] == []


def test_conv_rank_reported_apart(tmp_path):
    p = write_lora(
        tmp_path / "c.safetensors",
        arch="sd15",
        rank=32,
        alpha=16.0,
        conv_rank=8,
        conv_alpha=1.0,
        metadata={
            "ss_network_dim": "32",
            "ss_network_alpha": "16.0",
            "ss_network_args": '{"conv_dim": "16", "conv_alpha": "1"}',
        },
    )
    info = inspect_file(p)
    assert info.rank == 32 and info.conv_rank == 8 and info.conv_alpha == 1.0 and info.alpha == 16.0
    assert info.conv_ranks == {8: 50}
    [c] = info.conflicts
    assert c.field == "ss_network_args.conv_dim" and c.metadata == "16" and c.weights == 8


def test_resized_lora_conflicts_name_both_values(tmp_path):
    p = write_lora(
        tmp_path / "r.safetensors",
        arch="sd15",
        rank=32,
        alpha=32.0,
        metadata={"ss_network_dim": "128", "ss_network_alpha": "128.0"},
    )
    info = inspect_file(p)
    fields = {c.field: c for c in info.conflicts}
    assert fields["ss_network_dim"].metadata == "128" and fields["ss_network_dim"].weights == 32
    assert "128" in fields["ss_network_dim"].message and "32" in fields["ss_network_dim"].message
    assert fields["ss_network_alpha"].weights == 32.0


def test_none_dim_is_kohya_default_4(tmp_path):
    ok = write_lora(
        tmp_path / "a.safetensors",
        arch="sd15",
        rank=4,
        alpha=1.0,
        metadata={"ss_network_dim": "None", "ss_network_alpha": "1", "ss_network_module": "networks.lora"},
    )
    assert inspect_file(ok).conflicts == []
    bad = write_lora(
        tmp_path / "b.safetensors",
        arch="sd15",
        rank=16,
        alpha=1.0,
        metadata={"ss_network_dim": "None", "ss_network_alpha": "1"},
    )
    [c] = inspect_file(bad).conflicts
    assert c.field == "ss_network_dim" and c.metadata == "None" and c.weights == "16" and "None" in c.message


def test_dynamic_resize_distribution_and_conflict(tmp_path):
    def per_module(name: str):
        r = 4 + (sum(map(ord, name)) % 3) * 6  # 4, 10 or 16, alpha = rank as resize_lora writes
        return r, float(r)

    meta = {"ss_network_dim": "Dynamic", "ss_network_alpha": "Dynamic"}
    p = write_lora(
        tmp_path / "d.safetensors",
        arch="flux",
        rank=16,
        fmt="kohya",
        rank_per_module=per_module,
        metadata=meta,
    )
    info = inspect_file(p)
    assert info.rank is None and set(info.ranks) == {4, 10, 16} and sum(info.ranks.values()) == 376
    assert info.scale == 1.0 and info.alpha is None
    assert info.conflicts == []
    uniform = write_lora(tmp_path / "u.safetensors", arch="flux", rank=16, alpha=16.0, metadata=meta)
    fields = {c.field for c in inspect_file(uniform).conflicts}
    assert fields == {"ss_network_dim", "ss_network_alpha"}


def test_architecture_conflict_with_modelspec(tmp_path):
    p = write_lora(
        tmp_path / "m.safetensors",
        arch="sd15",
        rank=8,
        metadata={"modelspec.architecture": "stable-diffusion-xl-v1-base/lora"},
    )
    info = inspect_file(p)
    assert info.architecture == "sd1" and info.architecture_from_metadata == "sdxl"
    [c] = info.conflicts
    assert c.field == "architecture" and c.metadata == "sdxl" and c.weights == "sd1"


def test_peft_adapter_config_alpha(tmp_path):
    p = write_lora(tmp_path / "adapter_model.safetensors", arch="sdxl", rank=16, fmt="peft")
    (tmp_path / "adapter_config.json").write_text(
        json.dumps({"r": 16, "lora_alpha": 32, "alpha_pattern": {"down_blocks.1.attentions.0.proj_in": 8}})
    )
    info = inspect_file(p)
    assert info.alpha_source == "adapter_config.json"
    assert info.alphas == {32.0: 721, 8.0: 1} and info.alpha is None
    assert info.architecture == "sdxl" and info.modules == {"unet": 722}


def test_diffusers_lora_adapter_metadata(tmp_path):
    meta = {
        "lora_adapter_metadata": json.dumps({"transformer.r": 16, "transformer.lora_alpha": 8}),
        "format": "pt",
    }
    p = write_lora(tmp_path / "f.safetensors", arch="flux", rank=16, fmt="diffusers", text_encoder=False, metadata=meta)
    info = inspect_file(p)
    assert info.alpha == 8.0 and info.scale == 0.5 and info.alpha_source == "lora_adapter_metadata"
    assert info.modules == {"transformer": 494}


def test_truncated_file_still_reports(tmp_path):
    p = write_lora(tmp_path / "t.safetensors", arch="sdxl", rank=32, alpha=8.0)
    full = p.stat().st_size
    with open(p, "r+b") as fh:
        fh.truncate(full // 3)
    info = inspect_file(p)
    assert info.truncated and info.rank == 32 and info.alpha == 8.0 and info.architecture == "sdxl"
    assert any("truncated" in w for w in info.warnings)


def test_full_checkpoint_is_not_a_lora(tmp_path):
    entries = [(f"model.diffusion_model.input_blocks.{i}.0.weight", "F16", (4, 4), None) for i in range(12)]
    entries += [
        (f"conditioner.embedders.1.model.transformer.resblocks.{i}.attn.in_proj_weight", "F16", (4, 4), None)
        for i in range(3)
    ]
    info = inspect_file(write_safetensors(tmp_path / "ckpt.safetensors", entries))
    assert info.format == "checkpoint" and not info.is_lora and info.architecture == "sdxl"
    assert info.rank is None and info.conflicts == []


def test_chroma_and_sd3_detection(tmp_path):
    assert inspect_file(write_lora(tmp_path / "c.safetensors", arch="chroma", rank=4)).architecture == "chroma"
    info = inspect_file(write_lora(tmp_path / "s.safetensors", arch="sd3.5-large", rank=4, text_encoder=False))
    assert info.architecture == "sd3.5-large" and info.modules == {"transformer": 377}

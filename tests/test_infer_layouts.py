"""LoRA files of 2026, one per trainer layout and architecture, written sparse from real key names and shapes.

Each file is checked for architecture, rank, alpha, trainer and (where the trainer stores them) hashes,
and each look-alike pair both ways: a layout must not be taken for its neighbour.
Metadata is what each trainer writes (shared/reference/logs-and-metadata.md §2.2-§2.7).
"""

from __future__ import annotations

import hashlib
import json

import pytest

from rundiff.infer import inspect_file
from rundiff.infer.archs import normalise_base_model
from rundiff.infer.synth import write_lora

MUSUBI = {
    "wan-14b": ("wan", "wan2.1/lora", "networks.lora_wan"),
    "wan-1.3b": ("wan", "wan2.1/lora", "networks.lora_wan"),
    "qwen-image": ("qwen_image", "Qwen-Image/lora", "networks.lora_qwen_image"),
    "z-image": ("z_image", "Z-Image/lora", "networks.lora_zimage"),
    "flux2-dev": ("flux_2_dev", "Flux.2-dev/lora", "networks.lora_flux_2"),
    "flux2-klein-4b": ("flux_2_klein_4b", "Flux.2-klein-4b/lora", "networks.lora_flux_2"),
    "flux2-klein-9b": ("flux_2_klein_9b", "Flux.2-klein-9b/lora", "networks.lora_flux_2"),
    "hunyuan-video": ("hunyuan_video", "hunyuan-video/lora", "networks.lora"),
}
AI_TOOLKIT = {
    "qwen-image": "qwen_image",
    "flux2-dev": "flux2",
    "flux2-klein-4b": "flux2_klein_4b",
    "chroma": "chroma",
    "z-image": "zimage",
    "wan-14b": "wan_2.2_14b",
    "flux": "flux.1",
}


def _musubi_meta(arch: str, rank: int, alpha: float) -> dict[str, str]:
    base, spec, module = MUSUBI[arch]
    return {
        "ss_base_model_version": base,
        "modelspec.architecture": spec,
        "modelspec.sai_model_spec": "1.0.0",
        "ss_network_module": module,
        "ss_network_dim": str(rank),
        "ss_network_alpha": str(alpha),
        "ss_num_train_items": "240",
        "ss_learning_rate": "0.0001",
    }


@pytest.mark.parametrize("arch", list(MUSUBI))
def test_musubi_tuner(tmp_path, arch):
    p = write_lora(
        tmp_path / "m.safetensors",
        arch=arch,
        rank=16,
        alpha=8.0,
        dtype="BF16",
        fmt="kohya",
        metadata=_musubi_meta(arch, 16, 8.0),
    )
    info = inspect_file(p, settings=True)
    assert info.architecture == arch, info.architecture_evidence
    assert info.trainer == "musubi-tuner", info.trainer_evidence
    assert (info.rank, info.alpha, info.alpha_source, info.format) == (16, 8.0, "tensor", "kohya")
    assert not info.conflicts, [c.message for c in info.conflicts]
    assert info.training["network_dim"] == 16 and info.training["num_train_images"] == 240
    assert set(info.modules) == {"transformer"}


@pytest.mark.parametrize("arch", list(AI_TOOLKIT))
def test_ai_toolkit(tmp_path, arch):
    meta = {
        "software": json.dumps(
            {"name": "ai-toolkit", "repo": "https://github.com/ostris/ai-toolkit", "version": "0.12.26"}
        ),
        "training_info": json.dumps({"step": 3000, "epoch": 120}),
        "ss_base_model_version": AI_TOOLKIT[arch],
        "ss_output_name": "my_lora_v1",
        "format": "pt",
        "sshs_model_hash": "9f" * 32,
        "sshs_legacy_hash": "1a2b3c4d",
    }
    fmt = "diffusers" if arch == "flux" else "ai-toolkit"  # Flux.1 keeps transformer. (reference §2.3)
    p = write_lora(tmp_path / "a.safetensors", arch=arch, rank=16, alpha=4.0, dtype="BF16", fmt=fmt, metadata=meta)
    info = inspect_file(p, settings=True)
    assert info.architecture == arch, info.architecture_evidence
    assert info.trainer == "ai-toolkit"
    # ai-toolkit drops .alpha in PEFT format: the scale is 1 whatever the YAML said
    assert (info.rank, info.alpha, info.scale, info.alpha_source) == (16, 16.0, 1.0, "default (= rank)")
    assert info.hashes["sshs_model_hash"] == "9f" * 32 and info.hashes["sshs_legacy_hash"] == "1a2b3c4d"
    assert "training_info.step" not in info.training  # the save's step is not a setting


def test_ai_toolkit_wan22_variant_from_metadata(tmp_path):
    meta = {"software": '{"name": "ai-toolkit"}', "ss_base_model_version": "wan_2.2_14b"}
    p = write_lora(tmp_path / "w_high_noise.safetensors", arch="wan-14b", rank=8, fmt="ai-toolkit", metadata=meta)
    info = inspect_file(p)
    assert info.architecture == "wan-14b" and info.base_model["variant"] == "2.2"


def test_simpletuner_peft_and_lycoris(tmp_path):
    adapter = {"transformer.r": 16, "transformer.lora_alpha": 32, "transformer.target_modules": ["to_q"]}
    meta = {
        "format": "pt",
        "lora_adapter_metadata": json.dumps(adapter, indent=2, sort_keys=True),
        "modelspec.sai_model_spec": "1.0.1",
        "modelspec.architecture": "flux-krea/lora",
        "modelspec.implementation": "diffusers",
        "global_step": "2000",
        "trained_words": "sks dog",
    }
    p = write_lora(
        tmp_path / "pytorch_lora_weights.safetensors",
        arch="flux",
        rank=16,
        fmt="diffusers",
        metadata=meta,
        text_encoder=False,
    )
    info = inspect_file(p, settings=True)
    assert info.trainer == "SimpleTuner" and info.architecture == "flux"
    assert info.base_model["variant"] == "Krea"
    # the scale lives only in lora_adapter_metadata (reference §2.7)
    assert (info.alpha, info.scale, info.alpha_source) == (32.0, 2.0, "lora_adapter_metadata")
    assert info.training["network_dim"] == 16 and info.training["network_alpha"] == 32
    lyco = write_lora(
        tmp_path / "lyco.safetensors",
        arch="flux",
        rank=8,
        alpha=4.0,
        fmt="simpletuner-lycoris",
        metadata={"lycoris_config": json.dumps({"algo": "locon", "linear_dim": 8, "linear_alpha": 4})},
    )
    info = inspect_file(lyco, settings=True)
    assert info.trainer == "SimpleTuner" and info.architecture == "flux" and (info.rank, info.alpha) == (8, 4.0)
    assert info.training["lora_type"] == "locon"


def test_diffusers_script_is_not_simpletuner(tmp_path):
    meta = {"format": "pt", "lora_adapter_metadata": json.dumps({"transformer.r": 4, "transformer.lora_alpha": 4})}
    p = write_lora(
        tmp_path / "pytorch_lora_weights.safetensors", arch="qwen-image", rank=4, fmt="diffusers", metadata=meta
    )
    info = inspect_file(p)
    assert info.trainer == "diffusers" and info.architecture == "qwen-image"
    plain = write_lora(tmp_path / "p.safetensors", arch="flux", rank=4, fmt="diffusers", metadata={"format": "pt"})
    assert inspect_file(plain).trainer == "diffusers"


@pytest.mark.parametrize(
    ("fmt", "arch", "layout"),
    [
        ("kohya", "sdxl", "Kohya or Legacy"),
        ("onetrainer-comfy", "flux", "Comfy"),
        ("onetrainer-legacy", "chroma", "Legacy"),
        ("diffusers", "flux", "Diffusers (alpha folded into lora_B)"),
    ],
)
def test_onetrainer_formats(tmp_path, fmt, arch, layout):
    meta = {
        "ot_branch": "master",
        "ot_revision": "23df3832",
        "modelspec.sai_model_spec": "1.0.0",
        "modelspec.architecture": {
            "sdxl": "stable-diffusion-xl-v1-base/lora",
            "flux": "Flux.1-dev/lora",
            "chroma": "Chroma1/lora",
        }[arch],
        "modelspec.hash_sha256": "0x" + "ab" * 32,
    }
    if arch == "sdxl":
        meta["ss_base_model_version"] = "sdxl_"
    p = write_lora(tmp_path / "ot.safetensors", arch=arch, rank=16, alpha=1.0, fmt=fmt, metadata=meta)
    info = inspect_file(p)
    assert info.trainer == "OneTrainer", info.trainer_evidence
    assert any(layout in e for e in info.trainer_evidence)
    assert info.architecture == arch, info.architecture_evidence
    assert info.hashes["modelspec.hash_sha256"] == "ab" * 32
    if fmt != "diffusers":
        assert info.alpha == 1.0 and info.alpha_source == "tensor"


def test_onetrainer_kohya_format_is_not_sd_scripts_and_back(tmp_path):
    meta = {
        "ss_network_module": "networks.lora",
        "ss_base_model_version": "sdxl_base_v1-0",
        "ss_sd_scripts_commit_hash": "48d368fa",
    }
    kohya = inspect_file(write_lora(tmp_path / "k.safetensors", arch="sdxl", rank=8, metadata=meta))
    assert kohya.trainer == "sd-scripts"
    ot = inspect_file(
        write_lora(tmp_path / "o.safetensors", arch="sdxl", rank=8, metadata={**meta, "ot_revision": "x"})
    )
    assert ot.trainer == "OneTrainer"


def test_comfyui_trainer_vs_onetrainer_comfy(tmp_path):
    comfy = inspect_file(
        write_lora(
            tmp_path / "ComfyUI_trained_lora_16_steps_00001_.safetensors",
            arch="flux",
            rank=8,
            alpha=1.0,
            fmt="comfyui",
            metadata=None,
        )
    )
    assert comfy.trainer == "ComfyUI" and comfy.architecture == "flux" and comfy.alpha == 1.0
    assert comfy.metadata == {}
    ot = inspect_file(
        write_lora(tmp_path / "ot.safetensors", arch="flux", rank=8, alpha=1.0, fmt="onetrainer-comfy", metadata=None)
    )
    assert ot.trainer is None  # PEFT suffixes with .alpha and no metadata: nobody's signature


def test_sd_scripts_flux_and_peft(tmp_path):
    meta = {
        "ss_network_module": "networks.lora_flux",
        "ss_base_model_version": "flux1",
        "modelspec.architecture": "flux-1-dev/lora",
        "ss_sd_scripts_commit_hash": "48d368fa",
        "ss_network_dim": "16",
        "ss_network_alpha": "8",
    }
    info = inspect_file(write_lora(tmp_path / "f.safetensors", arch="flux", rank=16, alpha=8.0, metadata=meta))
    assert (info.trainer, info.architecture, info.rank, info.alpha) == ("sd-scripts", "flux", 16, 8.0)
    peft = inspect_file(write_lora(tmp_path / "adapter_model.safetensors", arch="sdxl", rank=4, fmt="peft"))
    assert peft.trainer == "PEFT" and peft.architecture == "sdxl"


# --- look-alikes, both ways --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arch", "fmt", "not_arch"),
    [
        ("qwen-image", "diffusers", "sd3-medium"),  # both have attn.add_q_proj
        ("hunyuan-video", "kohya", "flux"),  # double_blocks_N_img_attn_qkv at 3072 in both
        ("flux2-klein-4b", "kohya", "flux"),  # width 3072 in both; MLP/linear1 widths differ
        ("flux", "kohya", "flux2-klein-4b"),
        ("flux", "kohya", "chroma"),  # Chroma has no modulation layers
        ("chroma", "kohya", "flux"),
        ("z-image", "kohya", "lumina2"),  # layers.N.attention.*
        ("wan-1.3b", "kohya", "wan-14b"),
        ("wan-14b", "diffusers", "sd1"),  # blocks.N.attn1/attn2: not a UNet
        ("sd3.5-large", "kohya", "flux"),
    ],
)
def test_look_alikes(tmp_path, arch, fmt, not_arch):
    info = inspect_file(write_lora(tmp_path / "x.safetensors", arch=arch, rank=4, fmt=fmt))
    assert info.architecture == arch != not_arch, info.architecture_evidence


def test_framepack_vs_flux_diffusers_by_block_count(tmp_path):
    flux = inspect_file(write_lora(tmp_path / "f.safetensors", arch="flux", rank=4, fmt="diffusers"))
    assert flux.architecture == "flux"
    # FramePack: same names and widths, 20 + 40 blocks (one more of each)
    from rundiff.infer.synth import write_safetensors

    entries = []
    for block, n in (("transformer_blocks", 20), ("single_transformer_blocks", 40)):
        for i in range(n):
            base = f"transformer.{block}.{i}.attn.to_q"
            entries += [
                (f"{base}.lora_A.weight", "F16", (4, 3072), None),
                (f"{base}.lora_B.weight", "F16", (3072, 4), None),
            ]
    info = inspect_file(write_safetensors(tmp_path / "fp.safetensors", entries))
    assert info.architecture == "framepack", info.architecture_evidence


def test_flux_without_modulation_is_chroma_unless_metadata_says_kontext(tmp_path):
    from rundiff.infer.inventory import modules
    from rundiff.infer.synth import write_safetensors

    mods = [m for m in modules("flux", text_encoder=False) if "mod" not in m.path]
    entries = []
    for m in mods:
        base = "lora_unet_" + m.path.replace(".", "_")
        entries += [
            (f"{base}.lora_down.weight", "BF16", (8, m.in_features), None),
            (f"{base}.lora_up.weight", "BF16", (m.out_features, 8), None),
            (f"{base}.alpha", "BF16", (), 8.0),
        ]
    bare = inspect_file(write_safetensors(tmp_path / "c.safetensors", entries))
    assert bare.architecture == "chroma" and any("Flux.1" in e for e in bare.architecture_evidence)
    kontext = inspect_file(
        write_safetensors(
            tmp_path / "k.safetensors",
            entries,
            {
                "ss_base_model_version": "flux_kontext",
                "modelspec.architecture": "Flux.1-dev/lora",
                "ss_network_module": "networks.lora_flux",
            },
        )
    )
    assert kontext.architecture == "flux" and kontext.base_model["variant"] == "Kontext"
    assert kontext.trainer == "musubi-tuner" and not kontext.conflicts


def test_metadata_that_contradicts_the_weights_is_a_conflict(tmp_path):
    info = inspect_file(
        write_lora(
            tmp_path / "x.safetensors",
            arch="wan-14b",
            rank=4,
            fmt="kohya",
            metadata={"ss_base_model_version": "qwen_image"},
        )
    )
    assert info.architecture == "wan-14b"
    assert any(c.field == "architecture" for c in info.conflicts)


# --- base-model strings of every trainer (reference §2.9) ---------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sd_v1", ("sd1", None)),
        ("sd_v2_v", ("sd2", "v-prediction")),
        ("stable-diffusion-v1/lora", ("sd1", None)),
        ("sd_1.5", ("sd1", None)),
        ("sdxl_base_v1-0", ("sdxl", None)),
        ("sdxl_1.0", ("sdxl", None)),
        ("sdxl_", ("sdxl", None)),
        ("stable-diffusion-xl-v1-base/lora", ("sdxl", None)),
        ("5-large", ("sd3.5-large", None)),
        ("stable-diffusion-3-5-large/lora", ("sd3.5-large", None)),
        ("stable-diffusion-v3.5/lora", ("sd3", None)),
        ("sd3-medium/lora", ("sd3-medium", None)),
        ("sd_3", ("sd3", None)),
        ("medium", ("sd3-medium", None)),
        ("flux1", ("flux", None)),
        ("flux-1-dev/lora", ("flux", None)),
        ("Flux.1-dev/lora", ("flux", None)),
        ("flux.1", ("flux", None)),
        ("flux-krea/lora", ("flux", "Krea")),
        ("flux_kontext", ("flux", "Kontext")),
        ("flux.1_kontext", ("flux", "Kontext")),
        ("flux-kontext/lora", ("flux", "Kontext")),
        ("flux_2_dev", ("flux2-dev", None)),
        ("Flux.2-dev/lora", ("flux2-dev", None)),
        ("flux2", ("flux2", None)),
        ("Flux.2/lora", ("flux2", None)),
        ("flux2_klein_4b", ("flux2-klein-4b", None)),
        ("Flux.2-klein-9b/lora", ("flux2-klein-9b", None)),
        ("flux2-klein-9b/lora", ("flux2-klein-9b", None)),
        ("chroma", ("chroma", None)),
        ("Chroma1/lora", ("chroma", None)),
        ("chroma-hd/lora", ("chroma", None)),
        ("qwen_image", ("qwen-image", None)),
        ("Qwen-Image-Edit-2511/lora", ("qwen-image", "Edit")),
        ("qwen_image-v2.0/lora", ("qwen-image", None)),
        ("wan", ("wan", None)),
        ("wan2.1/lora", ("wan", "2.1")),
        ("wan_2.2_14b", ("wan-14b", "2.2")),
        ("wan_2.2_5b", ("wan", "2.2 5B")),
        ("wan-i2v-14b-2.2-high/lora", ("wan-14b", "2.2")),
        ("z_image", ("z-image", None)),
        ("zimage", ("z-image", None)),
        ("z_image-turbo-ostris-v2/lora", ("z-image", None)),
        ("hidream_i1", ("hidream-i1", None)),
        ("hidream-full/lora", ("hidream-i1", None)),
        ("HiDream-O1-Image/lora", ("hidream-o1", None)),
        ("hunyuan-video/lora", ("hunyuan-video", None)),
        ("lumina2", ("lumina2", None)),
        ("lumina-2/lora", ("lumina2", None)),
        ("Krea-2/lora", ("krea-2", None)),
    ],
)
def test_base_model_strings(text, expected):
    assert normalise_base_model(text) == expected


@pytest.mark.parametrize("text", ["", "my-custom-model", "x" * 500])
def test_unknown_base_model_strings(text):
    assert normalise_base_model(text) is None


# --- identity -----------------------------------------------------------------------------------------


def test_hashes_are_computed_streaming_and_match_hashlib(tmp_path):
    p = write_lora(tmp_path / "x.safetensors", arch="sd15", rank=4, metadata={"ss_network_dim": "4"})
    raw = p.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    data_hash = hashlib.sha256(raw[8 + n :]).hexdigest()
    # the file stores the hash of its own tensors, as sd-scripts does
    p = write_lora(
        tmp_path / "x.safetensors",
        arch="sd15",
        rank=4,
        metadata={"ss_network_dim": "4", "sshs_model_hash": data_hash, "sshs_legacy_hash": "e3b0c442"},
    )
    raw = p.read_bytes()
    info = inspect_file(p, hashes=True)
    full = hashlib.sha256(raw).hexdigest().upper()
    assert info.hashes["sha256"] == full and info.hashes["autov2"] == full[:10]
    assert info.hashes["autov3"] == data_hash.upper() and info.hashes["sshs_model_hash_matches"] is True
    assert "not an identifier" in info.hashes["sshs_legacy_hash_note"]
    assert info.hashes["autov1"] == hashlib.sha256(raw[0x100000:0x110000]).hexdigest()[:8].upper()
    header_only = inspect_file(p)
    assert "sha256" not in header_only.hashes and header_only.hashes["sshs_model_hash"] == data_hash


def test_sshs_model_hash_mismatch_is_reported(tmp_path):
    p = write_lora(tmp_path / "x.safetensors", arch="sd15", rank=4, metadata={"sshs_model_hash": "00" * 32})
    info = inspect_file(p, hashes=True)
    assert info.hashes["sshs_model_hash_matches"] is False


# --- compare sees the same decoding -------------------------------------------------------------------


def test_compare_reads_other_trainers_metadata_as_canonical_parameters(tmp_path):
    from rundiff import load_run

    ot_config = {
        "lora_rank": 16,
        "lora_alpha": 8.0,
        "learning_rate": 0.0003,
        "batch_size": 2,
        "epochs": 10,
        "optimizer": {"optimizer": "ADAMW"},
    }
    run_dir = tmp_path / "ot_run"
    run_dir.mkdir()
    write_lora(
        run_dir / "ot.safetensors",
        arch="sdxl",
        rank=16,
        alpha=8.0,
        fmt="kohya",
        metadata={
            "ot_branch": "master",
            "ot_revision": "23df3832",
            "ot_config": json.dumps(ot_config),
            "modelspec.architecture": "stable-diffusion-xl-v1-base/lora",
        },
    )
    run = load_run(run_dir)
    assert run.value("network_dim") == 16 and run.value("network_alpha") == 8.0
    assert run.value("learning_rate") == 0.0003 and run.value("train_batch_size") == 2
    assert run.value("max_train_epochs") == 10 and run.value("model_family") == "sdxl"
    assert run.trainer == "OneTrainer"

    wan_dir = tmp_path / "wan_run"
    wan_dir.mkdir()
    write_lora(
        wan_dir / "w.safetensors",
        arch="wan-14b",
        rank=32,
        alpha=16.0,
        fmt="kohya",
        metadata=_musubi_meta("wan-14b", 32, 16.0),
    )
    run = load_run(wan_dir)
    assert run.value("model_family") == "wan" and run.value("num_train_images") == 240
    assert run.value("network_dim") == 32 and run.trainer == "musubi-tuner"


@pytest.mark.parametrize(
    "text", ["\x1b]0;PWNED\x07\x1b[2J\x1b[32mok\x1b[0m\r", "a\u202eb\x00c", "plain", "run\udcff", "\x9b31m"]
)
def test_terminal_text_is_cleaned_like_the_report_layer(text):
    from rundiff.infer.render import clean
    from rundiff.report.safe import plain_text

    assert "\x1b" not in clean(text) and "\r" not in clean(text)
    assert clean(text).replace("?", "") == plain_text(text).replace("?", "")

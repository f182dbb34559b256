"""The seed's case (shared/seeds/004): SD15_PERFECT vs SD15_bespoke_baby vs SDXL_Current."""

import json

import pytest
from typer.testing import CliRunner

from rundiff.cli import app

#: Every change the seed lists between SD15_PERFECT and SDXL_Current, and how it changed.
SEED_CHANGES = {
    "pretrained_model_name_or_path": "changed",
    "network_dim": "changed",
    "network_alpha": "changed",
    "resolution": "changed",
    "mixed_precision": "changed",
    "train_batch_size": "changed",
    "multires_noise_iterations": "removed",
    "adaptive_noise_scale": "removed",
    "shuffle_caption": "removed",
    "keep_tokens": "removed",
}
#: What the seed says stayed the same.
SEED_SAME = {
    "learning_rate": 0.0001,
    "unet_lr": 0.0001,
    "text_encoder_lr": 5e-05,
    "optimizer_type": "AdamW8bit",
    "lr_scheduler": "cosine_with_restarts",
    "lr_scheduler_num_cycles": 3,
    "noise_offset": 0.1,
    "min_snr_gamma": 5.0,
    "max_train_epochs": 10,
    "seed": 42,
    "image_count": 203,
}


@pytest.fixture(scope="module")
def report(sample_runs):
    result = CliRunner().invoke(
        app,
        [
            "compare",
            str(sample_runs / "SD15_PERFECT"),
            str(sample_runs / "SD15_bespoke_baby"),
            str(sample_runs / "SDXL_Current"),
            "--good",
            "SD15_PERFECT",
            "--bad",
            "SD15_bespoke_baby",
            "--bad",
            "SDXL_Current",
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def params(report):
    return {p["name"]: p for p in report["parameters"]}


def test_every_change_the_seed_lists_is_found(report):
    found = params(report)
    for name, change in SEED_CHANGES.items():
        assert found[name]["values"]["SDXL_Current"]["change"] == change, name
        assert found[name]["status"] == "differs", name


def test_a_discount_without_multires_iterations_is_inactive_not_a_removal(report):
    row = params(report)["multires_noise_discount"]
    sdxl = row["values"]["SDXL_Current"]
    assert sdxl["change"] == "inactive" and "multires_noise_iterations" in sdxl["inactive"]
    assert row["values"]["SD15_PERFECT"]["inactive"] is None
    assert row["status"] == "inactive"
    assert "multires_noise_discount" not in [s["name"] for s in report["suspects"]]


def test_a_default_equal_to_the_baseline_value_is_not_a_removal(report):
    row = params(report)["bucket_reso_steps"]  # 64 written in SD15_PERFECT, 64 by default in SDXL_Current
    assert row["values"]["SDXL_Current"]["change"] == "same"
    assert row["status"] == "partial"  # the baby's value is unknown


def test_what_the_seed_says_stayed_the_same_is_the_same(report):
    found = params(report)
    for name, value in SEED_SAME.items():
        base = found[name]["values"]["SD15_PERFECT"]
        sdxl = found[name]["values"]["SDXL_Current"]
        assert base["value"] == value and sdxl["value"] == value, name
        assert sdxl["change"] == "same", name
    assert found["caption_fingerprint"]["values"]["SDXL_Current"]["change"] == "same"


def test_bespoke_baby_is_unknown_except_what_its_file_proves(report):
    proven = {
        name: p["values"]["SD15_bespoke_baby"]
        for name, p in params(report).items()
        if p["values"]["SD15_bespoke_baby"]["provenance"] != "unknown"
    }
    assert {k: (v["value"], v["provenance"]) for k, v in proven.items()} == {
        "network_dim": (64, "weights"),
        "network_alpha": (32.0, "weights"),
        "model_family": ("sd1", "weights"),
        "save_precision": ("fp16", "weights"),
        "lora_type": ("lora", "weights"),
        "lora_scale": (0.5, "derived"),
    }


def test_network_dim_is_the_first_suspect(report):
    suspects = report["suspects"]
    assert suspects[0]["name"] == "network_dim"
    assert "2 of 2 bad runs" in suspects[0]["reason"]
    assert suspects[0]["score"] > suspects[1]["score"]


def test_json_contract(report):
    assert [r["name"] for r in report["runs"]] == ["SD15_PERFECT", "SD15_bespoke_baby", "SDXL_Current"]
    assert report["baseline"] == "SD15_PERFECT"
    assert {"name", "path", "outcome", "trainer", "sources"} <= set(report["runs"][0])
    assert report["runs"][0]["outcome"] == "good" and report["runs"][2]["outcome"] == "bad"
    for p in report["parameters"]:
        assert {"name", "category", "impact", "status", "values"} <= set(p)
        assert p["status"] in ("same", "differs", "partial", "unknown", "inactive")
        assert isinstance(p["replicate"], bool)
        assert p["impact"] in ("high", "medium", "low")
        for cell in p["values"].values():
            assert {"value", "provenance", "source", "change"} <= set(cell)
            assert cell["change"] in ("same", "changed", "added", "removed", "unknown", "inactive")
            assert cell["inactive"] is None or isinstance(cell["inactive"], str)
            assert cell["value"] is None or isinstance(cell["value"], (int, float, str, bool, list))
    explicit = params(report)["network_dim"]["values"]["SD15_PERFECT"]
    assert explicit["provenance"] == "explicit"
    assert explicit["source"].endswith("runpod_train_sd15.sh:27")
    assert {"conflicts", "suspects"} <= set(report)

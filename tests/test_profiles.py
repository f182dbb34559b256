"""Trainer profiles: recognition with evidence, and each semantic rule both ways (fires / must not).

Every case writes a small file in the trainer's own format and reads it as a user would
(`load_run`); expected values come from the trainer's source (other-trainers.md cites the lines).
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import yaml

from rundiff import load_run
from rundiff.model import Provenance
from rundiff.normalise.profile import build_profile, load_profiles, recognise
from rundiff.normalise.registry import load_registry


def run_of(tmp_path: Path, name: str, text: str) -> object:
    path = tmp_path / "run" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return load_run(path.parent)


def value(run: object, name: str) -> object:
    cell = run.cells.get(name)  # type: ignore[attr-defined]
    return None if cell is None or not cell.known else cell.value


# ----------------------------------------------------------------------------- the profile files


def test_every_profile_maps_to_registry_names_and_cites_its_sources() -> None:
    registry = load_registry()
    profiles = load_profiles()
    assert {
        "sd-scripts",
        "kohya_ss",
        "lora-scripts",
        "OneTrainer",
        "ai-toolkit",
        "SimpleTuner",
        "diffusers",
        "musubi-tuner",
        "wandb",
    } <= set(profiles)
    for profile in profiles.values():
        assert profile.evidence or profile.scripts, profile.name
        for spec in profile.fields:
            assert registry.get(spec["name"]) is not None, f"{profile.name}: {spec['name']} is not in the registry"
        for spec in (profile.datasets or {}).get("fields", ()):
            assert registry.get(spec["name"]) is not None, f"{profile.name}: {spec['name']} is not in the registry"
        for name in [*profile.defaults, *profile.no_defaults]:
            assert registry.get(name) is not None, f"{profile.name}: {name}"


def test_a_profile_with_an_unknown_converter_or_op_is_refused() -> None:
    profile = build_profile(
        {
            "trainer": "x",
            "fields": {"seed": {"keys": ["s"], "convert": "nope"}},
            "evidence": [{"says": "x", "keys_all": ["s"]}],
        }
    )
    from rundiff.normalise.profile import Located, evaluate

    with pytest.raises(KeyError):
        evaluate(profile, {"s": 1}, Located("f"))


# ----------------------------------------------------------------------------- recognition


@pytest.mark.parametrize(
    ("data", "name", "trainer"),
    [
        ({"job": "extension", "config": {"process": [{}]}}, "x.yaml", "ai-toolkit"),
        ({"training_method": "LORA", "__version": 11}, "x.json", "OneTrainer"),
        ({"--model_family": "flux", "--lora_rank": 4}, "config.json", "SimpleTuner"),
        ({"model_family": "sdxl", "model_type": "lora"}, "config.json", "SimpleTuner"),
        ([{"id": "a", "instance_data_dir": "/x", "repeats": 1}], "multidatabackend.json", "SimpleTuner"),
        ([{"path": "/x", "balancing": 1.0, "image": {}, "text": {}}], "concepts.json", "OneTrainer"),
        ({"_wandb": {"value": {}}, "rank": {"value": 4}}, "config.yaml", "wandb"),
        ({"LoRA_type": "Standard"}, "x.json", "kohya_ss"),
        ({"noise_offset_type": "Original", "network_dim": 8}, "config_lora-20240101-000000.toml", "kohya_ss"),
        (
            {"pretrained_model_name_or_path": "x", "save_model_as": "safetensors"},
            "config/autosave/1.toml",
            "lora-scripts",
        ),
    ],
)
def test_recognised_with_evidence(data: object, name: str, trainer: str) -> None:
    profile, evidence = recognise(data, f"/runs/r/{name}")
    assert profile is not None and profile.trainer == trainer
    assert evidence and all(isinstance(e, str) and e for e in evidence)


@pytest.mark.parametrize(
    "data",
    [
        {"learning_rate": 1e-4, "epochs": 3},  # a home-made loop's config: no trainer's signature
        {"config": {"name": "x"}},  # config without process
        [1, 2, 3],
    ],
)
def test_not_recognised_without_evidence(data: object) -> None:
    profile, evidence = recognise(data, "/runs/r/config.json")
    assert profile is None and evidence == []


# ----------------------------------------------------------------------------- ai-toolkit

AITK = """
job: extension
config:
  name: t
  {job_seed}
  process:
    - type: sd_trainer
      network: {{type: lora, linear: 8}}
      train:
        optimizer: {optimizer}
        lr: {lr}
        {train_extra}
      sample: {{seed: 42}}
      model: {{name_or_path: x, arch: "wan21:14b"}}
"""


def aitk(
    tmp_path: Path, *, optimizer: str = "adamw", lr: str = "1e-4", job_seed: str = "", train_extra: str = ""
) -> object:
    return run_of(
        tmp_path, "config.yaml", AITK.format(optimizer=optimizer, lr=lr, job_seed=job_seed, train_extra=train_extra)
    )


def test_aitk_prodigy_small_lr_becomes_one(tmp_path: Path) -> None:
    run = aitk(tmp_path, optimizer="prodigy", lr="1e-4")
    assert value(run, "learning_rate") == 1.0
    assert "1.0" in run.cells["learning_rate"].note


def test_aitk_prodigy_large_lr_and_adamw_small_lr_are_kept(tmp_path: Path) -> None:
    assert value(aitk(tmp_path / "a", optimizer="prodigy", lr="0.5"), "learning_rate") == 0.5
    assert value(aitk(tmp_path / "b", optimizer="adamw", lr="1e-4"), "learning_rate") == 1e-4


def test_aitk_sample_seed_is_not_the_training_seed(tmp_path: Path) -> None:
    run = aitk(tmp_path / "a")
    assert value(run, "seed") is None and run.cells["seed"].provenance.value == "default"
    assert value(run, "sample.seed") == 42
    assert value(aitk(tmp_path / "b", job_seed="training_seed: 5"), "seed") == 5


def test_aitk_defaults_alpha_one_and_text_encoder_off(tmp_path: Path) -> None:
    run = aitk(tmp_path)
    assert value(run, "network_alpha") == 1.0 and run.cells["network_alpha"].note == "ai-toolkit default"
    assert value(run, "network_train_unet_only") is True
    assert value(run, "model_family") == "wan21"  # arch "wan21:14b", the :suffix stripped
    trained = aitk(tmp_path / "te", train_extra="train_text_encoder: true")
    assert value(trained, "network_train_unet_only") is False


def test_aitk_warmup_only_with_constant_with_warmup(tmp_path: Path) -> None:
    fires = aitk(tmp_path / "a", train_extra="lr_scheduler: constant_with_warmup")
    assert value(fires, "lr_warmup_steps") == 1000  # ai-toolkit's default num_warmup_steps
    quiet = aitk(
        tmp_path / "b", train_extra="lr_scheduler: cosine\n        lr_scheduler_params: {num_warmup_steps: 50}"
    )
    assert value(quiet, "lr_warmup_steps") == 0


def test_aitk_no_network_block_is_a_full_finetune(tmp_path: Path) -> None:
    run = run_of(
        tmp_path,
        "c.yaml",
        """
        job: extension
        config:
          name: ft
          process:
            - type: sd_trainer
              train: {lr: 1e-5, train_text_encoder: true}
              model: {name_or_path: x, is_xl: true}
        """,
    )
    assert value(run, "training_type") == "full"
    assert "network_dim" not in run.cells and value(run, "train_text_encoder") is True


# ----------------------------------------------------------------------------- OneTrainer


def onetrainer(tmp_path: Path, **keys: object) -> object:
    base = {"__version": 11, "training_method": "LORA", "model_type": "STABLE_DIFFUSION_15"}
    path = tmp_path / "run" / "2026-01-01_00-00-00.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**base, **keys}, indent=2))
    return load_run(path.parent)


@pytest.mark.parametrize(("warmup", "expected"), [(200, 200), (200.0, 200), (0.1, 0.1), (1.0, 1.0), (0, 0)])
def test_onetrainer_warmup_steps_or_fraction(tmp_path: Path, warmup: float, expected: float) -> None:
    run = onetrainer(tmp_path, learning_rate_warmup_steps=warmup)
    got = value(run, "lr_warmup_steps")
    assert got == expected and isinstance(got, type(expected))


@pytest.mark.parametrize(
    ("warmup", "accumulation", "expected"),
    [(200, 4, 50), (202, 4, 50), (200, 1, 200), (0.1, 4, 0.1), (1.0, 4, 1.0), (3, 4, 0)],
)
def test_onetrainer_warmup_counts_micro_steps_divided_by_accumulation(
    tmp_path: Path, warmup: float, accumulation: int, expected: float
) -> None:
    """OneTrainer's create_lr_scheduler: a warmup above 1 is int(warmup / gradient_accumulation_steps)
    optimizer steps; a fraction stays a fraction of the optimizer steps; one micro-step per step is as written."""
    run = onetrainer(tmp_path, learning_rate_warmup_steps=warmup, gradient_accumulation_steps=accumulation)
    assert value(run, "lr_warmup_steps") == expected


def test_onetrainer_constant_with_warmup_only_when_warmup(tmp_path: Path) -> None:
    assert value(onetrainer(tmp_path / "a", learning_rate_warmup_steps=10), "lr_scheduler") == "constant_with_warmup"
    assert value(onetrainer(tmp_path / "b", learning_rate_warmup_steps=0), "lr_scheduler") == "constant"


def test_onetrainer_two_dropout_keys_stay_apart(tmp_path: Path) -> None:
    run = onetrainer(tmp_path, dropout_probability=0.2, text_encoder={"train": False, "dropout_probability": 0.3})
    assert value(run, "network_dropout") == 0.2
    assert value(run, "caption_dropout_rate") == 0.3


def test_onetrainer_text_encoder_trained_by_default(tmp_path: Path) -> None:
    assert value(onetrainer(tmp_path / "a"), "network_train_unet_only") is False
    off = onetrainer(tmp_path / "b", text_encoder={"train": False}, text_encoder_2={"train": False})
    assert value(off, "network_train_unet_only") is True
    one_on = onetrainer(tmp_path / "c", text_encoder={"train": False}, text_encoder_2={"train": True})
    assert value(one_on, "network_train_unet_only") is False


def test_onetrainer_min_snr_only_with_its_loss_weight_fn(tmp_path: Path) -> None:
    assert (
        value(onetrainer(tmp_path / "a", loss_weight_fn="MIN_SNR_GAMMA", loss_weight_strength=3.0), "min_snr_gamma")
        == 3.0
    )
    assert (
        value(onetrainer(tmp_path / "b", loss_weight_fn="CONSTANT", loss_weight_strength=5.0), "min_snr_gamma") is None
    )


def test_onetrainer_optimizer_defaults_are_ignored(tmp_path: Path) -> None:
    run = onetrainer(
        tmp_path,
        optimizer={"optimizer": "ADAMW_8BIT", "weight_decay": 0.05},
        optimizer_defaults={"LION": {"optimizer": "LION", "weight_decay": 0.9}},
    )
    assert value(run, "optimizer_type") == "AdamW8bit" and value(run, "weight_decay") == 0.05


def test_onetrainer_eras_prior_vs_transformer(tmp_path: Path) -> None:
    # version 8: a Flux denoiser under `prior`; migration 8 -> 9 copies it to `transformer`
    old = onetrainer(
        tmp_path / "a", __version=8, model_type="FLUX_DEV_1", learning_rate=1e-4, prior={"learning_rate": 3e-4}
    )
    assert value(old, "unet_lr") == 3e-4
    # version 11 reads `transformer`; a stale `prior` is ignored
    new = onetrainer(
        tmp_path / "b",
        model_type="FLUX_DEV_1",
        learning_rate=1e-4,
        prior={"learning_rate": 3e-4},
        transformer={"learning_rate": 5e-4},
    )
    assert value(new, "unet_lr") == 5e-4


def test_onetrainer_version_0_flat_keys_are_migrated_but_current_files_are_not(tmp_path: Path) -> None:
    old = onetrainer(
        tmp_path / "a",
        __version=0,
        train_text_encoder=False,
        optimizer="LION",
        optimizer_weight_decay=0.1,
        min_snr_gamma=5.0,
        save_after=2,
        save_after_unit="EPOCH",
    )
    assert value(old, "network_train_unet_only") is True
    assert value(old, "optimizer_type") == "Lion" and value(old, "weight_decay") == 0.1
    assert value(old, "min_snr_gamma") == 5.0
    assert value(old, "save_every_n_epochs") == 2
    assert any("migrated" in e for e in old.trainer_evidence)
    # the same flat key in a version-11 file is not a setting OneTrainer reads
    new = onetrainer(tmp_path / "b", train_text_encoder=False)
    assert value(new, "network_train_unet_only") is False
    assert not any("migrated" in e for e in new.trainer_evidence)


# ----------------------------------------------------------------------------- SimpleTuner


def simpletuner(tmp_path: Path, **keys: object) -> object:
    base = {"--model_family": "sdxl", "--model_type": "lora"}
    path = tmp_path / "run" / "config" / "config.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**base, **keys}, indent=2))
    return load_run(path.parent.parent)


def test_simpletuner_zero_epochs_with_steps_is_step_limited(tmp_path: Path) -> None:
    run = simpletuner(tmp_path / "a", **{"--max_train_steps": 500, "--num_train_epochs": 0})
    assert value(run, "max_train_steps") == 500 and value(run, "max_train_epochs") is None
    epochs = simpletuner(tmp_path / "b", **{"--num_train_epochs": 4})
    assert value(epochs, "max_train_epochs") == 4 and value(epochs, "max_train_steps") is None


def test_simpletuner_string_false_drops_the_key_but_json_false_applies(tmp_path: Path) -> None:
    assert value(simpletuner(tmp_path / "a", **{"--gradient_checkpointing": "false"}), "gradient_checkpointing") is True
    assert value(simpletuner(tmp_path / "b", **{"--gradient_checkpointing": False}), "gradient_checkpointing") is False


def test_simpletuner_noise_offset_only_with_offset_noise(tmp_path: Path) -> None:
    assert value(simpletuner(tmp_path / "a", **{"--noise_offset": 0.1}), "noise_offset") is None
    assert value(simpletuner(tmp_path / "b", **{"--noise_offset": 0.1, "--offset_noise": True}), "noise_offset") == 0.1


def test_simpletuner_alpha_defaults_to_rank_and_cosine_warmup_is_a_period(tmp_path: Path) -> None:
    run = simpletuner(tmp_path / "a", **{"--lora_rank": 12, "--lr_scheduler": "cosine", "--lr_warmup_steps": 300})
    assert value(run, "network_alpha") == 12.0
    assert value(run, "lr_warmup_steps") == 0
    linear = simpletuner(tmp_path / "b", **{"--lr_scheduler": "polynomial", "--lr_warmup_steps": 300})
    assert value(linear, "lr_warmup_steps") == 300


def test_simpletuner_validation_seed_is_not_the_seed(tmp_path: Path) -> None:
    run = simpletuner(tmp_path, **{"--validation_seed": 7})
    assert value(run, "seed") is None and value(run, "validation_seed") == 7


def test_simpletuner_env_extra_args_win_and_unmapped_variables_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "run" / "config.env"
    path.parent.mkdir(parents=True)
    path.write_text(
        "MODEL_FAMILY=flux\nMODEL_TYPE=lora\nLEARNING_RATE=1e-4\nLORA_RANK=99\n"
        'TRAINER_EXTRA_ARGS="--learning_rate=3e-4 --lora_rank=8"\n'
    )
    run = load_run(path.parent)
    assert run.trainer == "SimpleTuner"
    assert value(run, "learning_rate") == 3e-4 and value(run, "network_dim") == 8
    assert run.cells["learning_rate"].source.endswith("config.env:5")


def test_an_env_file_of_no_trainer_is_skipped_with_its_reason(tmp_path: Path) -> None:
    path = tmp_path / "run" / ".env"
    path.parent.mkdir(parents=True)
    (path.parent / "app.env").write_text("DATABASE_URL=x\nDEBUG=1\n")
    (path.parent / "train.sh").write_text("accelerate launch train_network.py --network_dim=4\n")
    run = load_run(path.parent)
    assert any(k.path.endswith("app.env") and "no variables" in k.reason for k in run.skipped)


# ----------------------------------------------------------------------------- diffusers scripts


def diffusers(tmp_path: Path, line: str) -> object:
    return run_of(tmp_path, "train.sh", line)


def test_diffusers_constant_schedule_ignores_the_default_warmup(tmp_path: Path) -> None:
    run = diffusers(tmp_path / "a", "accelerate launch train_dreambooth_lora.py --instance_prompt=x\n")
    assert value(run, "lr_warmup_steps") == 0 and value(run, "learning_rate") == 5e-4  # db default 5e-4
    cosine = diffusers(tmp_path / "b", "accelerate launch train_dreambooth_lora.py --lr_scheduler=cosine\n")
    assert value(cosine, "lr_warmup_steps") == 500


def test_diffusers_rank_is_not_an_abbreviation_of_an_sd_scripts_argument(tmp_path: Path) -> None:
    run = diffusers(tmp_path, "accelerate launch train_text_to_image_lora_sdxl.py --rank=16 --train_batch_size 2\n")
    assert value(run, "network_dim") == 16 and value(run, "network_alpha") == 16.0
    assert "rank_dropout" not in run.cells
    assert value(run, "train_batch_size") == 2 and value(run, "model_family") == "sdxl"


def test_diffusers_accelerate_precision_only_when_the_script_has_none(tmp_path: Path) -> None:
    run = diffusers(tmp_path / "a", "accelerate launch --mixed_precision=fp16 train_dreambooth_lora_sdxl.py\n")
    assert value(run, "mixed_precision") == "fp16" and "accelerate" in run.cells["mixed_precision"].note
    own = diffusers(
        tmp_path / "b",
        "accelerate launch --mixed_precision=fp16 train_dreambooth_lora_sdxl.py --mixed_precision=bf16\n",
    )
    assert value(own, "mixed_precision") == "bf16"
    none = diffusers(tmp_path / "c", "python train_dreambooth_lora_sdxl.py\n")
    assert value(none, "mixed_precision") is None  # accelerate's own config decides: not known here


def test_diffusers_use_8bit_adam_is_an_explicit_optimizer_at_its_line(tmp_path: Path) -> None:
    flag = diffusers(
        tmp_path / "a", "accelerate launch train_dreambooth_lora.py \\\n  --rank=4 \\\n  --use_8bit_adam\n"
    )
    cell = flag.cells["optimizer_type"]
    assert cell.value == "AdamW8bit" and cell.provenance is Provenance.EXPLICIT and cell.source.endswith(":3")
    plain = diffusers(tmp_path / "b", "accelerate launch train_dreambooth_lora.py --rank=4\n")
    assert (
        plain.cells["optimizer_type"].value == "AdamW"
        and plain.cells["optimizer_type"].provenance is Provenance.DEFAULT
    )


def test_diffusers_steps_win_over_epochs(tmp_path: Path) -> None:
    run = diffusers(
        tmp_path, "accelerate launch train_dreambooth_lora_sdxl.py --max_train_steps=100 --num_train_epochs=9\n"
    )
    assert value(run, "max_train_steps") == 100 and value(run, "max_train_epochs") is None


# ----------------------------------------------------------------------------- musubi-tuner


def test_musubi_scripts_name_the_family_and_leave_precision_to_accelerate(tmp_path: Path) -> None:
    run = run_of(
        tmp_path / "a",
        "train.sh",
        "accelerate launch --mixed_precision bf16 src/musubi_tuner/qwen_image_train_network.py --network_dim 16\n",
    )
    assert run.trainer == "musubi-tuner" and value(run, "model_family") == "qwen_image"
    assert value(run, "mixed_precision") == "bf16"
    assert "noise_offset" not in run.cells or not run.cells["noise_offset"].known
    plain = run_of(tmp_path / "b", "train.sh", "accelerate launch train_network.py --network_dim 16\n")
    assert plain.trainer == "sd-scripts" and value(plain, "mixed_precision") == "no"  # sd-scripts' default


# ----------------------------------------------------------------------------- W&B


def test_wandb_config_is_unwrapped_and_read_by_the_senders_profile(tmp_path: Path) -> None:
    files = tmp_path / "run" / "files"
    files.mkdir(parents=True)
    (files / "config.yaml").write_text(
        yaml.safe_dump(
            {
                "_wandb": {"value": {"cli_version": "0.19"}},
                "model_family": {"value": "flux"},
                "lora_rank": {"value": 8},
                "model_type": {"value": "lora"},
                "seed": {"value": 3},
            }
        )
    )
    run = load_run(tmp_path / "run")
    assert run.trainer == "SimpleTuner"
    assert value(run, "network_dim") == 8 and value(run, "network_alpha") == 8.0 and value(run, "seed") == 3
    assert any("Weights & Biases" in e for e in run.trainer_evidence)


def test_wandb_config_of_sd_scripts_log_config_keeps_sd_scripts_names(tmp_path: Path) -> None:
    files = tmp_path / "run" / "files"
    files.mkdir(parents=True)
    (files / "config.yaml").write_text(
        yaml.safe_dump(
            {
                "_wandb": {"value": {}},
                "network_dim": {"value": 16},
                "max_train_steps": {"value": 900},
                "network_args": {"value": "['conv_dim=4', 'conv_alpha=1']"},
                "optimizer_type": {"value": "AdamW8bit"},
            }
        )
    )
    run = load_run(tmp_path / "run")
    assert run.trainer == "sd-scripts"
    assert value(run, "network_dim") == 16 and value(run, "conv_dim") == 4


def test_simpletuner_lycoris_config_gives_the_dims(tmp_path: Path) -> None:
    config = tmp_path / "run" / "config"
    config.mkdir(parents=True)
    (config / "config.json").write_text(
        json.dumps(
            {
                "--model_family": "sdxl",
                "--model_type": "lora",
                "--lora_type": "lycoris",
                "--lycoris_config": "config/lycoris_config.json",
            }
        )
    )
    (config / "lycoris_config.json").write_text(
        json.dumps({"algo": "lokr", "multiplier": 1.0, "linear_dim": 10000, "linear_alpha": 1, "factor": 12})
    )
    run = load_run(tmp_path / "run")
    assert value(run, "network_module") == "lycoris.kohya" and value(run, "algo") == "lokr"
    assert value(run, "network_dim") == 10000 and value(run, "factor") == 12
    assert not run.conflicts
    plain = simpletuner(tmp_path / "plain", **{"--lora_rank": 8})
    assert value(plain, "network_dim") == 8 and "algo" not in plain.cells


def test_simpletuner_env_is_not_the_backend_beside_a_config_json(tmp_path: Path) -> None:
    run = simpletuner(tmp_path, **{"--learning_rate": 1e-4})
    env = tmp_path / "run" / "config" / "config.env"
    env.write_text("MODEL_FAMILY=flux\nLEARNING_RATE=9e-4\n")
    run = load_run(tmp_path / "run")
    assert value(run, "learning_rate") == 1e-4 and value(run, "model_family") == "sdxl"
    assert any(k.path.endswith("config.env") and "config.json first" in k.reason for k in run.skipped)
    env_only = tmp_path / "envonly"
    env_only.mkdir()
    (env_only / "config.env").write_text("MODEL_FAMILY=flux\nLEARNING_RATE=9e-4\n")
    assert value(load_run(env_only), "learning_rate") == 9e-4


def test_configs_pasted_in_markdown_notes_are_read_by_their_profile(tmp_path: Path) -> None:
    run = run_of(
        tmp_path,
        "NOTES.md",
        """
        # run notes

        ```yaml
        job: extension
        config:
          name: n
          process:
            - network: {type: lora, linear: 32}
              train: {steps: 3000, lr: 2e-4}
              model: {name_or_path: x, is_flux: true}
        ```

        ```json
        {"broken": 1,
        ```

        ```python
        print("not a config")
        ```
        """,
    )
    assert run.trainer == "ai-toolkit"
    assert value(run, "network_dim") == 32 and run.cells["network_dim"].source.endswith("NOTES.md:8")
    assert any("NOTES.md:14: a json block that does not parse" in w for w in run.warnings)
    plain = run_of(
        tmp_path / "p",
        "NOTES.md",
        "```yaml\nfoo: 1\n```\n\n```bash\naccelerate launch train_network.py --network_dim=4\n```\n",
    )
    assert plain.trainer == "sd-scripts" and "foo" not in plain.cells


def test_sd_scripts_other_scripts_arguments_are_known_for_that_script_only(tmp_path: Path) -> None:
    """flux_train_network.py has --ae/--clip_l/--t5xxl and the --split_mode flag (sd-scripts'
    flux_train_utils); train_network.py has none of them, and its abbreviations stay unique."""
    flux = run_of(
        tmp_path / "a",
        "train.sh",
        "accelerate launch flux_train_network.py --ae ae.sft --clip_l clip_l.sft --t5xxl t5.sft --split_mode "
        "--network_dim 4\n",
    )
    assert not [w for w in flux.warnings if "not a known argument" in w]
    assert value(flux, "network_dim") == 4
    plain = run_of(tmp_path / "b", "train.sh", "accelerate launch train_network.py --clip_l x --max_train_epoch 5\n")
    assert any("--clip_l is not a known argument" in w for w in plain.warnings)
    assert value(plain, "max_train_epochs") == 5


def test_a_simpletuner_config_with_gui_like_keys_is_simpletuner_and_a_gui_config_stays_the_gui(tmp_path: Path) -> None:
    """pretrained_model_name_or_path + optimizer is also the kohya_ss GUI's shape; SimpleTuner's own
    evidence (model_family with lora_rank) comes first, as in the public SimpleTuner examples."""
    simpletuner = {
        "model_family": "sd1x",
        "model_type": "lora",
        "lora_rank": 32,
        "optimizer": "adamw_bf16",
        "pretrained_model_name_or_path": "Lykon/dreamshaper-8",
        "learning_rate": 1e-4,
    }
    st = run_of(tmp_path / "a", "config.json", json.dumps(simpletuner))
    assert st.trainer == "SimpleTuner" and value(st, "network_dim") == 32
    gui = {
        "pretrained_model_name_or_path": "runwayml/stable-diffusion-v1-5",
        "optimizer": "AdamW8bit",
        "network_dim": 8,
    }
    kg = run_of(tmp_path / "b", "config.json", json.dumps(gui))
    assert kg.trainer == "kohya_ss" and value(kg, "optimizer_type") == "AdamW8bit"


def test_diffusers_full_fine_tune_scripts_are_full_runs_with_their_own_defaults(tmp_path: Path) -> None:
    """train_dreambooth.py (diffusers @58eb52c0: learning_rate 5e-6) and train_text_to_image_sdxl.py
    fine-tune the whole model: no LoRA rank or alpha, their own defaults, and no unknown-argument noise."""
    db = diffusers(
        tmp_path / "a",
        "accelerate launch train_dreambooth.py --instance_data_dir=dog --instance_prompt='a sks dog' "
        "--with_prior_preservation --class_data_dir=cls --num_class_images=100 --train_text_encoder\n",
    )
    assert value(db, "training_type") == "full" and value(db, "learning_rate") == 5e-6
    assert value(db, "train_text_encoder") is True and "network_dim" not in db.cells
    assert not [w for w in db.warnings if "not a known argument" in w]
    t2i = diffusers(tmp_path / "b", "accelerate launch train_text_to_image_sdxl.py --dataset_name=x --use_ema\n")
    assert value(t2i, "model_family") == "sdxl" and value(t2i, "resolution") == [1024, 1024]
    assert value(t2i, "training_type") == "full" and value(t2i, "train_batch_size") == 16
    lora = diffusers(tmp_path / "c", "accelerate launch train_dreambooth_lora.py --instance_prompt=x\n")
    assert value(lora, "training_type") == "lora" and value(lora, "network_dim") == 4

"""A folder of epoch checkpoints is one run's progress: steps per epoch and the end, from the headers."""

import numpy as np
from safetensors.numpy import save_file

import rundiff
from rundiff.model import Provenance


def _save(path, epoch, steps, *, max_steps=400, zero_up=False):
    tensors = {
        "lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": np.ones((4, 32), np.float32),
        "lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight": np.zeros((32, 4), np.float32)
        if zero_up
        else np.full((32, 4), 0.01 * steps, np.float32),
        "lora_unet_down_blocks_0_attentions_0_proj_in.alpha": np.array(4.0, np.float32),
    }
    metadata = {
        "ss_network_dim": "4",
        "ss_network_alpha": "4.0",
        "ss_learning_rate": "0.0001",
        "ss_max_train_steps": str(max_steps),
        "ss_steps": str(steps),
        "ss_epoch": str(epoch),
        "ss_network_module": "networks.lora",
    }
    save_file(tensors, str(path), metadata=metadata)


def test_epoch_series_gives_steps_per_epoch_and_the_end(tmp_path):
    for epoch in (1, 2, 3):
        _save(tmp_path / f"mylora-{epoch:06d}.safetensors", epoch, 100 * epoch)
    _save(tmp_path / "mylora.safetensors", 4, 400)
    run = rundiff.load_run(tmp_path)
    spe = run.get("steps_per_epoch")
    assert (spe.value, spe.provenance) == (100, Provenance.INFERRED)
    assert run.value("checkpoints_saved") == 4 and run.value("last_saved_epoch") == 4
    assert run.value("run_finished") is True
    assert [c.epoch for c in run.checkpoints[0]] == [1, 2, 3, 4]


def test_a_series_that_stops_early_is_not_finished(tmp_path):
    for epoch in (1, 2):
        _save(tmp_path / f"mylora-{epoch:06d}.safetensors", epoch, 100 * epoch)
    _save(tmp_path / "mylora.safetensors", 2, 200)
    run = rundiff.load_run(tmp_path)
    assert run.value("run_finished") is False and run.value("last_saved_step") == 200


def test_weights_flag_reads_the_series_tensor_by_tensor(tmp_path):
    import json

    from typer.testing import CliRunner

    from rundiff.cli import app

    for epoch in (1, 2, 3):
        _save(tmp_path / f"mylora-{epoch:06d}.safetensors", epoch, 100 * epoch, max_steps=300, zero_up=True)
    plain = json.loads(CliRunner().invoke(app, ["diagnose", str(tmp_path), "--format", "json"]).stdout)
    assert "lora-never-trained" in {n["rule"] for n in plain["runs"][0]["not_checked"]}
    result = CliRunner().invoke(app, ["diagnose", str(tmp_path), "--format", "json", "--weights"])
    assert result.exit_code == 1
    found = {f["rule"]: f for f in json.loads(result.stdout)["findings"]}
    assert found["lora-never-trained"]["evidence"]["files_never_trained"] == 3

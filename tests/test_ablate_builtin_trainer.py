"""The builtin trainer's knobs are real: each test trains the micro proxy for a few steps and checks numbers."""

from __future__ import annotations

import csv
import json
import math
import sys

import pytest

torch = pytest.importorskip("torch", reason="the builtin trainer needs torch (pip install 'rundiff[ablate]')")
pytest.importorskip("diffusers", reason="the builtin trainer needs diffusers (pip install 'rundiff[ablate]')")
pytest.importorskip("transformers", reason="the builtin trainer needs transformers (pip install 'rundiff[ablate]')")

from safetensors import safe_open  # noqa: E402

from rundiff.ablate.backends.builtin import ProxySettings, TrainConfig, train  # noqa: E402
from rundiff.ablate.backends.builtin.noise import build_schedule  # noqa: E402
from rundiff.ablate.backends.builtin.setup import build_setup  # noqa: E402
from rundiff.ablate.backends.builtin.trainer import batch_loss  # noqa: E402
from rundiff.errors import RundiffError  # noqa: E402

PROXY = ProxySettings(
    model="micro", resolution_divisor=1, synthetic_images=4, validation_images=2, validation_timesteps=(200, 600)
)
BASE = {
    "network_dim": 4,
    "network_alpha": 4,
    "learning_rate": 1e-3,
    "max_train_steps": 4,
    "train_batch_size": 2,
    "resolution": 64,
    "seed": 0,
}


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny matmuls on a shared 2-core machine run far faster single-threaded."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def config(**overrides) -> TrainConfig:
    return TrainConfig.from_params({**BASE, **overrides}, proxy=PROXY)


def run(tmp_path, name: str, **overrides):
    steps = []
    result = train(config(**overrides), tmp_path / name, progress=steps.append)
    with result.metrics_csv.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return result, rows, steps


def lora_tensors(result) -> dict[str, torch.Tensor]:
    with safe_open(str(result.lora_path), "pt") as handle:
        return {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118


def column(rows, name) -> list[float]:
    return [float(r[name]) for r in rows]


def test_same_seed_gives_identical_curves_and_weights(tmp_path):
    a, rows_a, _ = run(tmp_path, "a")
    b, rows_b, _ = run(tmp_path, "b")
    for name in ("loss", "grad_norm", "dw", "dw_rel"):
        assert column(rows_a, name) == column(rows_b, name)
    tensors_a, tensors_b = lora_tensors(a), lora_tensors(b)
    assert all(torch.equal(tensors_a[k], tensors_b[k]) for k in tensors_a)
    assert a.final_val_loss == b.final_val_loss and a.dw > 0


def test_a_different_knob_sees_the_same_noise_timesteps_and_captions(tmp_path):
    _, rows_base, base = run(tmp_path, "base", shuffle_caption=True)
    _, rows_lr, lr = run(tmp_path, "lr", shuffle_caption=True, learning_rate=3e-4)
    _, rows_off, off = run(tmp_path, "offset", shuffle_caption=True, noise_offset=0.1)
    _, _, other_seed = run(tmp_path, "seed1", shuffle_caption=True, seed=1)
    for variant in (lr, off):
        assert [s.timesteps for s in variant] == [s.timesteps for s in base]
        assert [s.captions for s in variant] == [s.captions for s in base]
    # the first update sees identical inputs when only the lr differs, so the first loss is equal ...
    assert column(rows_lr, "loss")[0] == column(rows_base, "loss")[0]
    # ... and later losses differ only through the trained weights; offset noise changes the loss at once
    assert column(rows_lr, "loss")[1:] != column(rows_base, "loss")[1:]
    assert column(rows_off, "loss")[0] != column(rows_base, "loss")[0]
    assert [s.timesteps for s in other_seed] != [s.timesteps for s in base]
    assert any(", " in c for s in base for c in s.captions)


def test_warmup_zero_moves_weights_warmup_over_all_steps_barely(tmp_path):
    free, rows_free, _ = run(tmp_path, "w0", lr_scheduler="constant_with_warmup", lr_warmup_steps=0)
    full, rows_full, _ = run(tmp_path, "wall", lr_scheduler="constant_with_warmup", lr_warmup_steps=4)
    # sd-scripts' TOML float quirk: 100.0 is a ratio, so warmup = 400 steps for a 4-step run
    huge, rows_huge, _ = run(tmp_path, "whuge", lr_scheduler="constant_with_warmup", lr_warmup_steps=100.0)
    assert column(rows_free, "lr/unet") == [1e-3] * 4
    assert column(rows_full, "lr/unet") == pytest.approx([0.0, 2.5e-4, 5e-4, 7.5e-4])
    assert column(rows_huge, "lr/unet") == pytest.approx([0.0, 2.5e-6, 5e-6, 7.5e-6])
    assert column(rows_full, "dw")[0] == 0.0  # the first update runs at lr exactly 0
    assert column(rows_free, "dw")[0] > 0.0
    assert 0.2 < full.dw / free.dw < 0.6  # Adam moves ~lr per step: (0 + .25 + .5 + .75) / 4 = 0.375
    assert huge.dw / free.dw < 0.02


def test_learning_rate_zero_leaves_every_weight_exactly_still(tmp_path):
    still, rows, _ = run(tmp_path, "lr0", learning_rate=0.0)
    assert column(rows, "dw") == [0.0] * 4
    tensors = lora_tensors(still)
    ups = [v for k, v in tensors.items() if k.endswith("lora_up.weight")]
    assert ups and all(torch.count_nonzero(u) == 0 for u in ups)
    assert any("learning rate is 0" in w for w in still.warnings)
    # validation uses fixed held-out noise and timesteps, so an untouched model scores the same under any seed
    other_seed, _, _ = run(tmp_path, "lr0_seed1", learning_rate=0.0, seed=1)
    assert other_seed.final_val_loss == still.final_val_loss


def test_unet_lr_zero_freezes_only_the_unet_loras(tmp_path):
    result, rows, _ = run(tmp_path, "te_only", unet_lr=0.0, text_encoder_lr=1e-3)
    modules = json.loads((result.out_dir / "train_result.json").read_text())["modules"]
    unet = [m["dw"] for name, m in modules.items() if name.startswith("lora_unet_")]
    te = [m["dw"] for name, m in modules.items() if name.startswith("lora_te_")]
    assert unet and all(d == 0.0 for d in unet)
    assert te and all(d > 0.0 for d in te)
    assert "lr/unet" not in rows[0] and float(rows[0]["lr/textencoder"]) == 1e-3


def test_alpha_equal_dim_scales_the_first_update_by_dim_over_alpha(tmp_path):
    one, _, _ = run(tmp_path, "a1", network_dim=4, network_alpha=1, max_train_steps=1)
    dim, _, _ = run(tmp_path, "a4", network_dim=4, network_alpha=4, max_train_steps=1)
    # U starts at 0, so the first update sees identical forward passes; Adam's first step is lr*sign(g),
    # hence the merged delta scale * U * D differs exactly by the scale ratio alpha/dim: 4 / 0.25 = ...
    assert dim.dw / one.dw == pytest.approx(4.0, rel=0.02)
    # ... and lora_down received no gradient: only AdamW's decay (lr * 0.01) touched it
    zero, _, _ = run(tmp_path, "lr0", network_dim=4, network_alpha=1, max_train_steps=1, learning_rate=0.0)
    init, after = lora_tensors(zero), lora_tensors(one)
    for key in (k for k in init if k.endswith("lora_down.weight")):
        torch.testing.assert_close(after[key], init[key] * (1 - 1e-3 * 0.01), rtol=0, atol=1e-9)


def test_min_snr_gamma_reweights_the_trained_loss_by_the_closed_form():
    plain = build_setup(config())
    weighted = build_setup(config(min_snr_gamma=5))
    captions = ["synthetic, red circle", "blue square"]
    a = batch_loss(plain, plain.train_latents[[0, 1]], captions)
    b = batch_loss(weighted, weighted.train_latents[[0, 1]], captions)
    assert torch.equal(a.timesteps, b.timesteps)
    torch.testing.assert_close(a.per_sample, b.per_sample)  # same noise, same t, same model
    snr = build_schedule(False).all_snr[b.timesteps].double()
    torch.testing.assert_close(b.weights.double(), torch.clamp(snr, max=5) / snr, rtol=1e-5, atol=0)
    torch.testing.assert_close(b.loss, (b.per_sample * b.weights).mean())
    assert torch.equal(a.weights, torch.ones(2))


def test_gradient_accumulation_runs_micro_batches_per_update(tmp_path):
    result, rows, steps = run(tmp_path, "ga", gradient_accumulation_steps=2, max_train_steps=2)
    assert len(rows) == 2 and all(len(s.timesteps) == 4 for s in steps)  # 2 micro-batches of 2
    metadata = safe_open(str(result.lora_path), "pt").metadata()
    assert metadata["ss_gradient_accumulation_steps"] == "2" and metadata["ss_total_batch_size"] == "4"


def test_saved_lora_is_kohya_format_with_ss_metadata(tmp_path):
    result, _, _ = run(
        tmp_path,
        "meta",
        network_alpha=2,
        lr_scheduler="cosine",
        lr_warmup_steps=0.25,
        min_snr_gamma=5,
        noise_offset=0.05,
    )
    tensors = lora_tensors(result)
    name = "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_q"
    assert tensors[f"{name}.lora_down.weight"].shape == (4, 32)
    assert tensors[f"{name}.lora_up.weight"].shape == (32, 4)
    assert float(tensors[f"{name}.alpha"]) == 2.0
    assert "lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight" in tensors
    metadata = safe_open(str(result.lora_path), "pt").metadata()
    assert metadata["ss_network_dim"] == "4" and metadata["ss_network_alpha"] == "2.0"
    assert metadata["ss_learning_rate"] == "0.001" and metadata["ss_lr_scheduler"] == "cosine"
    assert metadata["ss_lr_warmup_steps"] == "0.25" and metadata["ss_min_snr_gamma"] == "5.0"
    assert metadata["ss_noise_offset"] == "0.05" and metadata["ss_seed"] == "0"
    assert metadata["ss_optimizer"] == "torch.optim.adamw.AdamW"
    assert metadata["ss_resolution"] == "(64, 64)" and metadata["ss_network_module"] == "networks.lora"
    assert "proxy" in metadata["ss_training_comment"]
    # ||dW|| merged from the file by hand (Linear / 1x1 only here) equals what the trainer logged
    total = 0.0
    for key in (k for k in tensors if k.endswith(".alpha")):
        stem = key[: -len(".alpha")]
        up, down = tensors[f"{stem}.lora_up.weight"].flatten(1), tensors[f"{stem}.lora_down.weight"].flatten(1)
        total += float(((float(tensors[key]) / down.shape[0]) * (up.double() @ down.double())).pow(2).sum())
    assert math.sqrt(total) == pytest.approx(result.dw, rel=1e-6)


def test_tensorboard_events_hold_kohya_tags(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    result, _, _ = run(tmp_path, "tb", lr_scheduler="linear", lr_warmup_steps=2)
    events = EventAccumulator(str(result.out_dir / "logs" / "network_train"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"loss/current", "loss/average", "lr/unet", "lr/textencoder", "loss/validation", "rundiff/dw"} <= tags
    # kohya logs get_last_lr() after the step: with warmup 2 the first logged lr is already lr/2
    assert [e.value for e in events.Scalars("lr/unet")][:2] == pytest.approx([5e-4, 1e-3])
    assert [e.value for e in events.Scalars("rundiff/lr_applied/unet")][:2] == pytest.approx([0.0, 5e-4])


@pytest.mark.parametrize(
    "optimizer, package",
    [
        ("AdamW8bit", "bitsandbytes"),
        ("Lion", "lion_pytorch"),
        ("Prodigy", "prodigyopt"),
        ("AdaFactor", "transformers"),
        ("DAdaptAdam", "dadaptation"),
        ("SGDNesterov", "torch"),
    ],
)
def test_each_optimizer_trains(tmp_path, optimizer, package):
    pytest.importorskip(package, reason=f"{optimizer} needs {package}")
    lr = 1.0 if optimizer in ("Prodigy", "DAdaptAdam") else 1e-3
    result, rows, _ = run(tmp_path, optimizer, optimizer_type=optimizer, learning_rate=lr, max_train_steps=3)
    assert result.dw > 0 and all(math.isfinite(v) for v in column(rows, "loss"))
    # the per-step tracker reads the parameters in place: its last value equals a fresh computation
    assert column(rows, "dw")[-1] == pytest.approx(result.dw, rel=1e-9)
    if optimizer in ("Prodigy", "DAdaptAdam"):
        d_lr = column(rows, "lr/d*lr/unet")
        assert d_lr[0] == pytest.approx(1e-6)  # d0 = 1e-6, lr = 1: the adaptive step size is logged
    if optimizer == "AdaFactor":
        metadata = safe_open(str(result.lora_path), "pt").metadata()
        assert metadata["ss_learning_rate"] == "None" and metadata["ss_lr_scheduler"] == "adafactor:0.001"


def test_missing_optimizer_package_is_named(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "prodigyopt", None)  # import prodigyopt now raises ImportError
    with pytest.raises(RundiffError, match="pip install prodigyopt"):
        train(config(optimizer_type="Prodigy", learning_rate=1.0), tmp_path / "x")


def test_prodigy_refuses_unequal_group_lrs(tmp_path):
    pytest.importorskip("prodigyopt")
    with pytest.raises(RundiffError, match="same lr"):
        train(config(optimizer_type="Prodigy", unet_lr=1.0, text_encoder_lr=0.5), tmp_path / "x")


def test_bf16_runs_and_fp16_on_cpu_falls_back_with_a_warning(tmp_path):
    bf16, rows, _ = run(tmp_path, "bf16", mixed_precision="bf16", max_train_steps=2)
    assert bf16.dw > 0 and not bf16.warnings
    with pytest.warns(UserWarning, match="fp16"):
        fp16, _, _ = run(tmp_path, "fp16", mixed_precision="fp16", max_train_steps=2)
    assert any("fp32" in w for w in fp16.warnings)


def test_ema_is_tracked_and_validated(tmp_path):
    result, _, _ = run(tmp_path, "ema", ema_decay=0.9)
    with result.validation_csv.open(encoding="utf-8") as handle:
        (row,) = list(csv.DictReader(handle))
    assert math.isfinite(float(row["val_loss"])) and math.isfinite(float(row["val_loss_ema"]))
    summary = json.loads((result.out_dir / "train_result.json").read_text())
    # diffusers' ramp: the first update copies (decay 0), so nothing of the start is kept
    assert summary["ema_weight_on_start"] == 0.0


def test_max_train_epochs_counts_steps_like_kohya(tmp_path):
    # 4 synthetic images x 1 repeat, batch 2, GA 1 -> 2 updates per epoch
    result, rows, _ = run(tmp_path, "epochs", max_train_epochs=2)
    assert result.steps == 4 and [int(r["epoch"]) for r in rows] == [1, 1, 2, 2]


def test_conv_dim_trains_the_resnet_convs(tmp_path):
    result, _, _ = run(tmp_path, "conv", network_args=["conv_dim=2", "conv_alpha=1"], max_train_steps=2)
    tensors = lora_tensors(result)
    conv = "lora_unet_down_blocks_0_resnets_0_conv1"
    assert tensors[f"{conv}.lora_down.weight"].shape == (2, 16, 3, 3)
    assert tensors[f"{conv}.lora_up.weight"].shape == (16, 2, 1, 1)
    assert float(tensors[f"{conv}.alpha"]) == 1.0
    metadata = safe_open(str(result.lora_path), "pt").metadata()
    assert json.loads(metadata["ss_network_args"]) == {"conv_dim": "2", "conv_alpha": "1"}


def test_many_knobs_at_once_train_and_are_recorded(tmp_path):
    result, rows, steps = run(
        tmp_path,
        "mix",
        v_parameterization=True,
        zero_terminal_snr=True,
        multires_noise_iterations=4,
        ip_noise_gamma=0.1,
        ip_noise_gamma_random_strength=True,
        noise_offset=0.05,
        adaptive_noise_scale=0.01,
        loss_type="huber",
        debiased_estimation_loss=True,
        scale_v_pred_loss_like_noise_pred=True,
        network_dropout=0.1,
        network_args=["rank_dropout=0.1", "module_dropout=0.1", "dropout=None"],
        loraplus_lr_ratio=4,
        scale_weight_norms=1.0,
        lr_scheduler="cosine_with_restarts",
        lr_warmup_steps=1,
        lr_scheduler_num_cycles=2,
        shuffle_caption=True,
        keep_tokens=1,
        caption_tag_dropout_rate=0.2,
        max_token_length=150,
        clip_skip=2,
        min_timestep=100,
        max_timestep=900,
        flip_aug=True,
    )
    assert all(math.isfinite(v) for v in column(rows, "loss")) and result.dw > 0
    assert {"lr/unet", "lr/unet_plus", "lr/textencoder", "lr/textencoder_plus"} <= set(rows[0])
    assert float(rows[1]["lr/unet_plus"]) == pytest.approx(4 * float(rows[1]["lr/unet"]))
    assert all(100 <= t < 900 for s in steps for t in s.timesteps)
    assert result.not_modelled == ("flip_aug",)
    metadata = safe_open(str(result.lora_path), "pt").metadata()
    assert metadata["ss_base_model_version"] == "sd_v1_v" and metadata["ss_zero_terminal_snr"] == "True"
    assert metadata["ss_max_token_length"] == "150" and metadata["ss_loss_type"] == "huber"


@pytest.mark.parametrize("scheduler", ["linear", "cosine", "polynomial", "inverse_sqrt", "cosine_with_min_lr"])
def test_schedulers_follow_their_formulas(tmp_path, scheduler):
    _, rows, _ = run(
        tmp_path, scheduler, lr_scheduler=scheduler, lr_warmup_steps=1, max_train_steps=5, lr_scheduler_min_lr_ratio=0.1
    )
    lrs = column(rows, "lr/unet")
    assert lrs[0] == 0.0 and lrs[1] == pytest.approx(1e-3)  # warmup 1: update 0 at lr 0, update 1 at full lr
    expected_after = {  # lambda(k) for k = 2..4 with W = 1, N = 5, p = (k - 1) / 4
        "linear": [0.75, 0.5, 0.25],
        "cosine": [0.5 * (1 + math.cos(math.pi * p)) for p in (0.25, 0.5, 0.75)],
        "polynomial": [(1e-3 - 1e-7) * (1 - p) / 1e-3 + 1e-7 / 1e-3 for p in (0.25, 0.5, 0.75)],
        "inverse_sqrt": [1 / math.sqrt(k) for k in (2, 3, 4)],
        "cosine_with_min_lr": [0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p)) for p in (0.25, 0.5, 0.75)],
    }[scheduler]
    assert [v / 1e-3 for v in lrs[2:]] == pytest.approx(expected_after, rel=1e-6)


def test_unknown_scheduler_is_refused(tmp_path):
    with pytest.raises(RundiffError, match="not modelled"):
        train(config(lr_scheduler="warmup_stable_decay"), tmp_path / "x")


def test_trains_on_a_kohya_folder(tmp_path):
    from PIL import Image

    sub = tmp_path / "data" / "3_shape"
    sub.mkdir(parents=True)
    for i in range(5):
        Image.new("RGB", (80, 80), (40 * i, 200 - 30 * i, 90)).save(sub / f"{i}.png")
        (sub / f"{i}.txt").write_text(f"shape, tone {i}, plain", encoding="utf-8")
    result, rows, steps = run(
        tmp_path, "folder", train_data_dir=str(tmp_path / "data"), caption_extension=".txt", max_train_epochs=1
    )
    # 5 images, 1 held out, 4 x 3 repeats = 12 samples / batch 2 = 6 updates in one epoch
    assert result.steps == 6 and result.proxy["validation_images"] == 1
    assert all(c.startswith("shape, tone ") for s in steps for c in s.captions)
    metadata = safe_open(str(result.lora_path), "pt").metadata()
    assert metadata["ss_num_train_images"] == "12" and json.loads(metadata["ss_dataset_dirs"]) == {
        "3_shape": {"n_repeats": 3, "img_count": 4}
    }


def test_rank_mapping_is_proportional_and_reported(tmp_path):
    proxy = ProxySettings(
        model="micro", resolution_divisor=1, synthetic_images=4, validation_images=2, rank_reference_width=320
    )
    result = train(
        TrainConfig.from_params({**BASE, "network_dim": 40, "network_alpha": 20, "max_train_steps": 1}, proxy=proxy),
        tmp_path / "mapped",
    )
    # micro's attention layers are 32 wide: r' = 40 * 32 / 320 = 4, alpha/r kept at 0.5
    assert result.proxy["network_dim"] == 4 and result.proxy["network_alpha"] == 2.0
    assert "40 -> 4" in result.proxy["rank_mapping"]
    tensors = lora_tensors(result)
    assert tensors["lora_unet_mid_block_attentions_0_proj_in.lora_down.weight"].shape[0] == 4

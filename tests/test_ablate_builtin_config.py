"""TrainConfig: sd-scripts names, defaults and value parsing; needs no torch."""

from __future__ import annotations

import subprocess
import sys

import pytest

from rundiff.ablate.backends.builtin.config import ProxySettings, TrainConfig
from rundiff.errors import RundiffError


def test_defaults_are_sd_scripts_defaults():
    c = TrainConfig.from_params({})
    assert c.effective_network_dim == 4 and c.network_alpha == 1.0
    assert c.learning_rate == 2e-6 and c.optimizer_type == "AdamW" and c.lr_scheduler == "constant"
    assert c.max_grad_norm == 1.0 and c.train_batch_size == 1 and c.multires_noise_discount == 0.3
    assert c.caption_extension == ".caption" and c.loss_type == "l2" and c.huber_c == 0.1


def test_metadata_strings_are_parsed():
    c = TrainConfig.from_params(
        {
            "network_dim": "32",
            "network_alpha": "16.0",
            "learning_rate": "0.0001",
            "noise_offset": "None",
            "shuffle_caption": "True",
            "resolution": "(768, 512)",
            "min_snr_gamma": "5.0",
            "mixed_precision": "BF16",
        }
    )
    assert (c.network_dim, c.network_alpha, c.learning_rate) == (32, 16.0, 1e-4)
    assert c.noise_offset is None and c.shuffle_caption is True and c.resolution == (768, 512)
    assert c.min_snr_gamma == 5.0 and c.mixed_precision == "bf16"


@pytest.mark.parametrize("raw, steps", [(0, 0), (100, 100), ("0.1", 100), (0.05, 50), ("5%", 50), (100.0, 100000)])
def test_warmup_is_steps_or_ratio_like_sd_scripts(raw, steps):
    c = TrainConfig.from_params({"lr_warmup_steps": raw, "lr_scheduler": "linear"})
    assert c.warmup_steps(1000) == steps


def test_alpha_zero_means_alpha_equals_dim():
    assert TrainConfig.from_params({"network_dim": 8, "network_alpha": 0}).effective_network_alpha == 8.0


def test_network_args_are_lifted_and_the_rest_recorded():
    c = TrainConfig.from_params({"network_args": ["conv_dim=4", "conv_alpha=1", "rank_dropout=0.1", "algo=locon"]})
    assert c.conv_dim == 4 and c.conv_alpha == 1.0 and c.network_arg("rank_dropout") == 0.1
    assert c.not_modelled == ("network_args.algo",)


def test_unknown_knobs_are_recorded_and_harmless_ones_ignored():
    c = TrainConfig.from_params({"flip_aug": True, "gradient_checkpointing": True, "xformers": True})
    assert c.not_modelled == ("flip_aug",)


@pytest.mark.parametrize(
    "params, key",
    [
        ({"network_dim": "lots"}, "network_dim"),
        ({"learning_rate": "nan"}, "learning_rate"),
        ({"mixed_precision": "fp8"}, "mixed_precision"),
        ({"adaptive_noise_scale": 0.1}, "adaptive_noise_scale"),
        ({"lr_warmup_steps": 10}, "lr_warmup_steps"),  # constant scheduler + warmup: sd-scripts raises
        ({"scale_v_pred_loss_like_noise_pred": True}, "scale_v_pred_loss_like_noise_pred"),
        ({"caption_dropout_rate": 1.5}, "caption_dropout_rate"),
        ({"max_token_length": 100}, "max_token_length"),
    ],
)
def test_bad_values_raise_with_the_key(params, key):
    with pytest.raises(RundiffError) as caught:
        TrainConfig.from_params(params, source="variant.toml")
    assert caught.value.key == key and caught.value.path == "variant.toml"


def test_proxy_settings_travel_with_the_config():
    c = TrainConfig.from_params({}, proxy=ProxySettings(model="tiny-rank", rank_reference_width=320))
    assert c.proxy.model == "tiny-rank" and c.proxy.rank_reference_width == 320


def test_importing_the_backend_does_not_import_torch():
    code = (
        "import sys, rundiff.ablate.backends.builtin as b; b.TrainConfig.from_params({'network_dim': 8}); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

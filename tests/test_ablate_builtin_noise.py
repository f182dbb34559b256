"""Noise, timesteps and loss weights of the builtin trainer against sd-scripts' formulas (reference §1)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the builtin trainer needs torch (pip install 'rundiff[ablate]')")
pytest.importorskip("diffusers", reason="the builtin trainer needs diffusers (pip install 'rundiff[ablate]')")

from rundiff.ablate.backends.builtin.config import TrainConfig  # noqa: E402
from rundiff.ablate.backends.builtin.noise import (  # noqa: E402
    RandomStreams,
    build_schedule,
    huber_c,
    make_noise,
    noisy_latents,
    prediction_target,
    sample_timesteps,
    snr_loss_weights,
)


def sd_alphas_cumprod() -> np.ndarray:
    """SD's scaled_linear schedule written out independently: betas = linspace(sqrt b0, sqrt b1)^2."""
    betas = np.linspace(np.sqrt(0.00085), np.sqrt(0.012), 1000, dtype=np.float64) ** 2
    return np.cumprod(1.0 - betas)


def cfg(**params) -> TrainConfig:
    return TrainConfig.from_params(params)


def test_snr_table_matches_the_sd_schedule():
    schedule = build_schedule(zero_terminal_snr=False)
    abar = sd_alphas_cumprod()
    expected = abar / (1 - abar)
    np.testing.assert_allclose(schedule.all_snr.numpy(), expected, rtol=2e-4)
    assert float(schedule.all_snr[100]) == pytest.approx(8.45, rel=0.01)  # reference §1.0 table
    assert float(schedule.all_snr[500]) == pytest.approx(0.382, rel=0.01)


@pytest.mark.parametrize("gamma", [1.0, 5.0, 20.0])
def test_min_snr_gamma_weights_are_the_closed_form(gamma):
    schedule = build_schedule(False)
    t = torch.arange(0, 1000, 7)
    abar = sd_alphas_cumprod()[t.numpy()]
    snr = abar / (1 - abar)
    eps_w = snr_loss_weights(t, schedule.all_snr, cfg(min_snr_gamma=gamma)).numpy()
    v_w = snr_loss_weights(t, schedule.all_snr, cfg(min_snr_gamma=gamma, v_parameterization=True)).numpy()
    off = snr_loss_weights(t, schedule.all_snr, cfg()).numpy()
    np.testing.assert_allclose(eps_w, np.minimum(snr, gamma) / snr, rtol=1e-3)
    np.testing.assert_allclose(v_w, np.minimum(snr, gamma) / (snr + 1), rtol=1e-3)
    np.testing.assert_array_equal(off, np.ones_like(off))
    assert eps_w.min() < 0.05 and eps_w.max() == pytest.approx(1.0)  # low-t samples really are down-weighted


def test_min_snr_weights_match_the_reference_table_for_gamma_5():
    schedule = build_schedule(False)
    t = torch.tensor([0, 100, 250, 500, 999])
    eps_w = snr_loss_weights(t, schedule.all_snr, cfg(min_snr_gamma=5)).numpy()
    v_w = snr_loss_weights(t, schedule.all_snr, cfg(min_snr_gamma=5, v_parameterization=True)).numpy()
    deb = snr_loss_weights(t, schedule.all_snr, cfg(debiased_estimation_loss=True)).numpy()
    np.testing.assert_allclose(eps_w, [0.0043, 0.59, 1.0, 1.0, 1.0], atol=6e-3)
    np.testing.assert_allclose(v_w, [0.0043, 0.53, 0.67, 0.28, 0.0047], atol=6e-3)
    np.testing.assert_allclose(deb, [0.032, 0.34, 0.70, 1.62, 14.6], rtol=0.02)


def test_zero_terminal_snr_fixes_the_noising_but_not_the_snr_weights():
    fixed = build_schedule(zero_terminal_snr=True)
    plain = build_schedule(zero_terminal_snr=False)
    assert float(fixed.scheduler.alphas_cumprod[999]) == pytest.approx(0.0, abs=1e-9)
    assert float(fixed.scheduler.alphas_cumprod[500]) == pytest.approx(0.241, abs=2e-3)
    torch.testing.assert_close(fixed.all_snr, plain.all_snr)  # kohya caches all_snr before the fix


def test_noise_offset_shifts_each_sample_channel_mean_by_offset_times_z():
    latents = torch.randn(64, 4, 16, 16)
    base = make_noise(latents, cfg(), RandomStreams(3))
    shifted = make_noise(latents, cfg(noise_offset=0.1), RandomStreams(3))
    shift = shifted - base
    # constant over H x W per (sample, channel), the eps part untouched (common random numbers)
    assert torch.allclose(shift, shift[:, :, :1, :1].expand_as(shift), atol=1e-6)
    z = torch.randn((64, 4, 1, 1), generator=RandomStreams(3).offset)
    torch.testing.assert_close(shift[:, :, :1, :1], 0.1 * z, atol=1e-6, rtol=1e-5)
    assert shift[:, :, 0, 0].std().item() == pytest.approx(0.1, rel=0.15)  # 256 draws of 0.1 * N(0, 1)


def test_adaptive_noise_scale_uses_abs_of_the_channel_mean_clamped_at_zero():
    latents = torch.randn(8, 4, 8, 8) + torch.linspace(-2, 2, 4).view(1, 4, 1, 1)
    base = make_noise(latents, cfg(), RandomStreams(5))
    shifted = make_noise(latents, cfg(noise_offset=0.05, adaptive_noise_scale=-0.1), RandomStreams(5))
    z = torch.randn((8, 4, 1, 1), generator=RandomStreams(5).offset)
    strength = torch.clamp(0.05 - 0.1 * latents.mean(dim=(2, 3), keepdim=True).abs(), min=0.0)
    torch.testing.assert_close(shifted - base, (strength * z).expand_as(base), atol=1e-6, rtol=1e-5)
    assert (strength == 0).any() and (strength > 0).any()  # the clamp really acts


def test_random_strength_draws_one_factor_per_batch():
    latents = torch.zeros(16, 4, 8, 8)
    base = make_noise(latents, cfg(), RandomStreams(9))
    shifted = make_noise(latents, cfg(noise_offset=0.2, noise_offset_random_strength=True), RandomStreams(9))
    gen = RandomStreams(9).offset
    u = torch.rand(1, generator=gen).item()
    z = torch.randn((16, 4, 1, 1), generator=gen)
    torch.testing.assert_close(shifted - base, (u * 0.2 * z).expand_as(base), atol=1e-6, rtol=1e-5)


def test_multires_noise_is_unit_std_and_keeps_other_streams():
    latents = torch.zeros(4, 4, 32, 32)
    streams = RandomStreams(1)
    noise = make_noise(latents, cfg(multires_noise_iterations=6, multires_noise_discount=0.3), streams)
    assert noise.std().item() == pytest.approx(1.0, abs=1e-5)
    base = make_noise(latents, cfg(), RandomStreams(1))
    assert not torch.allclose(noise, base)
    # the timesteps drawn afterwards are the same with or without multires noise
    t1 = sample_timesteps(4, cfg(), streams)
    t2 = sample_timesteps(4, cfg(), RandomStreams(1))
    assert torch.equal(t1, t2)


def test_timesteps_respect_min_and_exclusive_max():
    t = sample_timesteps(5000, cfg(min_timestep=100, max_timestep=200), RandomStreams(0))
    assert int(t.min()) == 100 and int(t.max()) == 199
    assert torch.equal(
        sample_timesteps(3, cfg(min_timestep=500, max_timestep=500), RandomStreams(0)), torch.full((3,), 500)
    )


def test_ip_noise_gamma_perturbs_the_input_but_not_the_target():
    schedule = build_schedule(False)
    latents = torch.randn(2, 4, 8, 8)
    noise = torch.randn(2, 4, 8, 8)
    t = torch.tensor([100, 800])
    plain = noisy_latents(schedule, latents, noise, t, cfg(), RandomStreams(0))
    perturbed = noisy_latents(schedule, latents, noise, t, cfg(ip_noise_gamma=0.1), RandomStreams(0))
    xi = torch.randn(latents.shape, generator=RandomStreams(0).ip_noise)
    abar = schedule.scheduler.alphas_cumprod[t].view(-1, 1, 1, 1)
    torch.testing.assert_close(perturbed - plain, (1 - abar).sqrt() * 0.1 * xi, atol=1e-5, rtol=1e-4)
    assert prediction_target(schedule, latents, noise, t, False) is noise


def test_v_prediction_target_is_velocity():
    schedule = build_schedule(False)
    latents, noise = torch.randn(2, 4, 8, 8), torch.randn(2, 4, 8, 8)
    t = torch.tensor([10, 600])
    abar = torch.tensor(sd_alphas_cumprod()[[10, 600]], dtype=torch.float32).view(-1, 1, 1, 1)
    expected = abar.sqrt() * noise - (1 - abar).sqrt() * latents
    torch.testing.assert_close(prediction_target(schedule, latents, noise, t, True), expected, atol=1e-4, rtol=1e-4)


def test_huber_snr_schedule_matches_reference_values():
    schedule = build_schedule(False)
    c = huber_c(torch.tensor([0, 100, 500, 999]), schedule, cfg(loss_type="huber"))
    np.testing.assert_allclose(c.numpy(), [0.950, 0.598, 0.231, 0.104], atol=2e-3)

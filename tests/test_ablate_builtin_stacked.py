"""The shared-base mode: K LoRAs stacked on one frozen proxy model give the same updates as K separate runs.

Each variant has its own rank, alpha, seed, learning rate and inputs; the separate runs use the builtin
trainer's own `LoRANetwork` with AdamW (weight decay 0.01) and kohya's global grad clip. (Correctness only:
the GPU throughput of the stacked mode was not measured, no GPU was available.)
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="the builtin trainer needs torch (pip install 'rundiff[ablate]')")
pytest.importorskip("diffusers", reason="the builtin trainer needs diffusers (pip install 'rundiff[ablate]')")
pytest.importorskip("transformers", reason="the builtin trainer needs transformers (pip install 'rundiff[ablate]')")

from rundiff.ablate.backends.builtin.lora import LoRANetwork, LoRASpec  # noqa: E402
from rundiff.ablate.backends.builtin.model import build_text_encoder, build_unet  # noqa: E402
from rundiff.ablate.backends.builtin.stacked import (  # noqa: E402
    AdapterSpec,
    StackedLoRANetwork,
    check_stackable,
    segment_losses,
)

VARIANTS = [
    AdapterSpec(dim=4, alpha=1.0, seed=0),
    AdapterSpec(dim=8, alpha=8.0, seed=1),
    AdapterSpec(dim=2, alpha=1.0, seed=2),
]
LRS = [1e-3, 5e-4, 2e-3]
STEPS, BATCH, VOCAB = 2, 2, 100  # step 1 moves only U (it starts at 0), step 2 both


def models(state=None):
    unet, te = build_unet("micro", 8), build_text_encoder(VOCAB, 32)
    if state is not None:
        unet.load_state_dict(state[0])
        te.load_state_dict(state[1])
    unet.requires_grad_(False)
    te.requires_grad_(False)
    return unet, te


def inputs(k: int, step: int):
    g = torch.Generator().manual_seed(1000 * k + step)
    latents = torch.randn(BATCH, 4, 8, 8, generator=g)
    noise = torch.randn(BATCH, 4, 8, 8, generator=g)
    timesteps = torch.randint(0, 1000, (BATCH,), generator=g)
    ids = torch.randint(0, VOCAB, (BATCH, 6), generator=g)
    return latents + noise, noise, timesteps, ids


def per_sample_loss(unet, te, noisy, noise, timesteps, ids):
    hidden = te(ids).last_hidden_state
    pred = unet(noisy, timesteps, encoder_hidden_states=hidden).sample
    return ((pred - noise) ** 2).mean(dim=(1, 2, 3))


@pytest.mark.slow
def test_stacked_variants_match_separate_runs():
    torch.manual_seed(0)
    state = tuple(m.state_dict() for m in models())
    separate = []
    for k, (adapter, lr) in enumerate(zip(VARIANTS, LRS, strict=True)):
        unet, te = models(state)
        net = LoRANetwork(unet, te, LoRASpec(dim=adapter.dim, alpha=adapter.alpha), seed=adapter.seed)
        params = [p for m in net.all_loras() for p in (m.lora_down.weight, m.lora_up.weight)]
        optimizer = torch.optim.AdamW(params, lr=lr)
        for step in range(STEPS):
            per_sample_loss(unet, te, *inputs(k, step)).mean().backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            optimizer.zero_grad()
        separate.append(net.kohya_state_dict())

    unet, te = models(state)
    stacked = StackedLoRANetwork(unet, te, VARIANTS)
    optimizers = [torch.optim.AdamW(stacked.variant_parameters(k), lr=lr) for k, lr in enumerate(LRS)]
    for step in range(STEPS):
        batch = [inputs(k, step) for k in range(len(VARIANTS))]
        joined = [torch.cat([b[i] for b in batch]) for i in range(4)]
        segment_losses(per_sample_loss(unet, te, *joined), len(VARIANTS)).sum().backward()
        for k, optimizer in enumerate(optimizers):
            torch.nn.utils.clip_grad_norm_(stacked.variant_parameters(k), 1.0)
            optimizer.step()
            optimizer.zero_grad()

    for k, expected in enumerate(separate):
        got = stacked.kohya_state_dict(k)
        assert set(got) == set(expected) and len(got) == 3 * 60  # 48 U-Net + 12 text-encoder modules
        moved, worst = 0, 0.0
        for key, value in expected.items():
            assert got[key].shape == value.shape, key
            # the same math in another order (one bmm instead of K matmuls): float32 rounding only, which
            # Adam's normalised first steps can lift to ~1e-6 of a weight, never to a different update
            worst = max(worst, float((got[key] - value).abs().max()))
            moved += int(key.endswith("lora_up.weight") and bool(value.abs().max() > 0))
            if key.endswith("lora_up.weight"):  # what training moved: each up weight within 1 % of its motion
                assert float((got[key] - value).abs().max()) <= 0.01 * float(value.abs().max()) + 1e-9, key
        assert worst < 1e-4, worst
        assert moved > 40  # the updates are real, not two zero tensors agreeing
    # padding stays exactly zero: the rank-2 variant's rows 2.. of D and columns 2.. of U
    for lora in stacked.all_loras():
        assert torch.count_nonzero(lora.downs[2][2:]) == 0 and torch.count_nonzero(lora.ups[2][:, 2:]) == 0


def test_what_cannot_share_one_forward_is_named():
    assert check_stackable([LoRASpec(dim=4, alpha=1)]) is None
    assert "dropout" in check_stackable([LoRASpec(dim=4, alpha=1, dropout=0.1)])
    assert "conv_dim" in check_stackable([LoRASpec(dim=4, alpha=1, conv_dim=4)])
    assert "resolution" in check_stackable([LoRASpec(dim=4, alpha=1)], differing=["resolution", "network_dim"])

"""The kohya-faithful LoRA injector and the proxy model's text side (reference §1.4, §5.2)."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch", reason="the builtin trainer needs torch (pip install 'rundiff[ablate]')")
pytest.importorskip("diffusers", reason="the builtin trainer needs diffusers (pip install 'rundiff[ablate]')")
pytest.importorskip("transformers", reason="the builtin trainer needs transformers (pip install 'rundiff[ablate]')")

from torch import nn  # noqa: E402

from rundiff.ablate.backends.builtin.lora import LoRANetwork, LoRASpec  # noqa: E402
from rundiff.ablate.backends.builtin.model import (  # noqa: E402
    ConditioningSpec,
    WordTokenizer,
    build_text_encoder,
    build_unet,
    encode_captions,
)


@pytest.fixture(scope="module")
def models():
    return build_unet("micro", 8), build_text_encoder(100, 32)


def fresh(models_pair, spec):
    unet, te = models_pair
    # a fresh copy per test: the injector patches forwards in place
    unet2, te2 = build_unet("micro", 8), build_text_encoder(100, 32)
    unet2.load_state_dict(unet.state_dict())
    te2.load_state_dict(te.state_dict())
    return unet2, te2, LoRANetwork(unet2, te2, spec, seed=0)


def test_default_targets_and_kohya_names(models):
    _, _, net = fresh(models, LoRASpec(dim=4, alpha=1))
    names = {m.lora_name for m in net.unet_loras}
    # micro U-Net: 4 transformer blocks x 12 targets (proj_in/out, attn1/2 q,k,v,out, ff.net.0.proj, ff.net.2)
    assert len(names) == 48
    assert "lora_unet_up_blocks_0_attentions_1_transformer_blocks_0_ff_net_0_proj" in names
    assert "lora_unet_mid_block_attentions_0_proj_in" in names
    assert not any("resnets" in n for n in names)
    te_names = {m.lora_name for m in net.text_encoder_loras}
    assert len(te_names) == 12  # 2 layers x (q, k, v, out_proj, fc1, fc2)
    assert "lora_te_text_model_encoder_layers_1_mlp_fc2" in te_names


def test_init_is_kaiming_uniform_down_and_zero_up_with_scale_alpha_over_dim(models):
    _, _, net = fresh(models, LoRASpec(dim=8, alpha=2))
    for lora in net.all_loras():
        fan_in = lora.lora_down.weight[0].numel()
        assert lora.lora_down.weight.abs().max() <= 1 / math.sqrt(fan_in) + 1e-7
        assert torch.count_nonzero(lora.lora_up.weight) == 0
        assert lora.scale == 0.25 and float(lora.alpha) == 2.0


def test_forward_adds_scale_times_up_down(models):
    unet, _, net = fresh(models, LoRASpec(dim=4, alpha=2))
    lora = next(m for m in net.unet_loras if m.lora_name.endswith("attn1_to_q"))
    nn.init.normal_(lora.lora_up.weight)
    layer = lora._org[0]
    x = torch.randn(3, 5, layer.in_features)
    lora_part = x @ lora.lora_down.weight.T @ lora.lora_up.weight.T
    expected = nn.functional.linear(x, layer.weight, layer.bias) + 0.5 * lora_part
    torch.testing.assert_close(layer(x), expected)
    torch.testing.assert_close(lora.delta_weight(), 0.5 * lora.lora_up.weight @ lora.lora_down.weight)


def test_conv_dim_adds_3x3_modules_whose_merged_kernel_is_exact(models):
    unet, _, net = fresh(models, LoRASpec(dim=4, alpha=1, conv_dim=3, conv_alpha=1.5))
    convs = [m for m in net.unet_loras if isinstance(m.lora_down, nn.Conv2d) and m.lora_down.kernel_size == (3, 3)]
    assert convs and all(m.dim == 3 and m.scale == 0.5 for m in convs)
    # resnets' time_emb_proj (Linear) get network_dim, as kohya does
    assert any(m.lora_name.endswith("time_emb_proj") and m.dim == 4 for m in net.unet_loras)
    lora = convs[0]
    nn.init.normal_(lora.lora_up.weight)
    layer = lora._org[0]
    x = torch.randn(2, layer.in_channels, 8, 8)
    merged = nn.functional.conv2d(x, layer.weight + lora.delta_weight(), layer.bias, layer.stride, layer.padding)
    torch.testing.assert_close(layer(x), merged, atol=1e-4, rtol=1e-4)


def test_rank_dropout_and_module_dropout_only_in_training(models):
    unet, _, net = fresh(models, LoRASpec(dim=4, alpha=4, rank_dropout=0.5, module_dropout=0.5, dropout=0.3))
    lora = next(m for m in net.unet_loras if m.lora_name.endswith("attn2_to_v"))
    nn.init.normal_(lora.lora_up.weight)
    layer = lora._org[0]
    x = torch.randn(2, 3, layer.in_features)
    net.eval()
    torch.testing.assert_close(layer(x), layer(x))
    net.train()
    torch.manual_seed(0)
    outs = [layer(x) for _ in range(20)]
    assert any(not torch.allclose(outs[0], o) for o in outs[1:])


def test_max_norm_caps_each_delta(models):
    _, _, net = fresh(models, LoRASpec(dim=4, alpha=4))
    for lora in net.all_loras():
        nn.init.normal_(lora.lora_up.weight, std=1.0)
    scaled, _, largest = net.apply_max_norm(1.0)
    assert scaled == len(net.all_loras())
    assert largest == pytest.approx(1.0, rel=1e-4)
    assert all(float(m.delta_weight().norm()) <= 1.0 + 1e-4 for m in net.all_loras())


@pytest.mark.parametrize("max_token_length, tokens", [(None, 77), (150, 152), (225, 227)])
def test_caption_chunking_gives_kohya_context_lengths(max_token_length, tokens):
    tokenizer = WordTokenizer(["red circle, blue background"])
    chunks = tokenizer.chunks("red circle, blue background", max_token_length)
    assert all(len(c) == 77 and c[0] == 0 and c[-1] == 1 for c in chunks)
    te = build_text_encoder(tokenizer.vocab_size, 32)
    spec = ConditioningSpec(max_token_length, clip_skip=2)
    states = encode_captions(te, tokenizer, ["red circle", "blue"], spec, torch.device("cpu"))
    assert states.shape == (2, tokens, 32)
    no_skip = encode_captions(
        te, tokenizer, ["red circle", "blue"], ConditioningSpec(max_token_length, None), torch.device("cpu")
    )
    assert not torch.allclose(states, no_skip)  # clip_skip 2 really uses the penultimate layer

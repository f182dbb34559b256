"""The proxy model: a tiny randomly initialised diffusers U-Net and CLIP text encoder, plus a word tokenizer.

Everything is built from fixed configs and a fixed seed, so every variant of a sweep starts from the same
"pretrained" weights; nothing is ever downloaded.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

#: SD's latent scale factor; the proxy "VAE" uses it too so latent magnitudes match SD's.
LATENT_SCALE = 0.18215
#: Pixels per latent cell, as SD's VAE.
VAE_SCALE = 8

#: U-Net presets (reference §6.3). "tiny-rank" keeps network_dim 16..64 well below the layer widths.
UNET_PRESETS: dict[str, dict] = {
    "tiny-fast": dict(
        block_out_channels=(32, 64, 64),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=64,
        attention_head_dim=4,
        norm_num_groups=8,
    ),
    "tiny-rank": dict(
        block_out_channels=(64, 128, 256),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=128,
        attention_head_dim=4,
        norm_num_groups=32,
    ),
    # only for unit tests: seconds per hundred steps
    "micro": dict(
        block_out_channels=(16, 32),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=2,
        norm_num_groups=8,
    ),
}

BOS, EOS, UNK = 0, 1, 2  # pad == eos, as in SD1's CLIP tokenizer
_WORD = re.compile(r"\w+|[^\w\s]")


class WordTokenizer:
    """A deterministic word-level stand-in for CLIP's BPE with kohya's 75-token chunking (reference §5.2)."""

    def __init__(self, captions: Iterable[str], max_vocab: int = 1000) -> None:
        words = sorted({w for caption in captions for w in _WORD.findall(caption.lower())})
        self.vocab = {word: i + 3 for i, word in enumerate(words[: max_vocab - 3])}
        self.vocab_size = max_vocab

    def chunks(self, caption: str, max_token_length: int | None) -> list[list[int]]:
        """``[BOS] + 75 content tokens + [EOS/PAD]`` per chunk; 1, 2 or 3 chunks as max_token_length says."""
        n_chunks = (max_token_length or 75) // 75
        content = [self.vocab.get(w, UNK) for w in _WORD.findall(caption.lower())][: 75 * n_chunks]
        content += [EOS] * (75 * n_chunks - len(content))  # the first pad is the EOS
        return [[BOS, *content[i * 75 : (i + 1) * 75], EOS] for i in range(n_chunks)]


def build_text_encoder(vocab_size: int = 1000, hidden: int = 64, seed: int = 0):
    from transformers import CLIPTextConfig, CLIPTextModel

    config = CLIPTextConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        intermediate_size=hidden * 4,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=77,
        bos_token_id=BOS,
        eos_token_id=EOS,
        pad_token_id=EOS,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return CLIPTextModel(config).eval()


def build_unet(preset: str, sample_size: int, seed: int = 0):
    from diffusers import UNet2DConditionModel

    if preset not in UNET_PRESETS:
        raise ValueError(f"unknown proxy model {preset!r}; known: {', '.join(UNET_PRESETS)}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return UNet2DConditionModel(sample_size=sample_size, in_channels=4, out_channels=4, **UNET_PRESETS[preset])


class LatentEncoder(nn.Module):
    """A frozen stand-in for the VAE encoder: 8x average pool and a fixed 1x1 projection to 4 channels."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        self.pool = nn.AvgPool2d(VAE_SCALE)
        self.proj = nn.Conv2d(3, 4, 1)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            # raw latents of SD-VAE-like spread (std ~5), so that x 0.18215 gives std ~1 as in SD
            nn.init.normal_(self.proj.weight, std=6.0)
            nn.init.zeros_(self.proj.bias)
        self.requires_grad_(False)

    @torch.no_grad()
    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """pixels in [-1, 1], (B, 3, H, W) -> scaled latents (B, 4, H/8, W/8)."""
        return self.proj(self.pool(pixels)) * LATENT_SCALE


@dataclass(frozen=True)
class ConditioningSpec:
    max_token_length: int | None
    clip_skip: int | None


def encode_captions(
    text_encoder, tokenizer: WordTokenizer, captions: Sequence[str], spec: ConditioningSpec, device: torch.device
) -> torch.Tensor:
    """kohya's SD1 encoding: chunks through CLIP one by one, then BOS + 75 per chunk + final EOS re-joined."""
    per_caption = [tokenizer.chunks(c, spec.max_token_length) for c in captions]
    n_chunks = len(per_caption[0])
    ids = torch.tensor([chunk for chunks in per_caption for chunk in chunks], device=device)
    if spec.clip_skip and spec.clip_skip > 1:
        out = text_encoder(input_ids=ids, output_hidden_states=True)
        final_norm = getattr(text_encoder, "text_model", text_encoder).final_layer_norm
        states = final_norm(out.hidden_states[-spec.clip_skip])
    else:
        states = text_encoder(input_ids=ids).last_hidden_state
    states = states.reshape(len(captions), n_chunks, 77, -1)
    if n_chunks == 1:
        return states[:, 0]
    middle = states[:, :, 1:76].reshape(len(captions), n_chunks * 75, -1)
    return torch.cat([states[:, 0, :1], middle, states[:, -1, 76:]], dim=1)


def attention_width(unet) -> int:
    """The narrowest Linear inside the U-Net's transformer blocks: what a swept rank is compared against."""
    widths = [
        m.in_features for name, m in unet.named_modules() if isinstance(m, nn.Linear) and ".attentions." in f".{name}"
    ]
    return min(widths)

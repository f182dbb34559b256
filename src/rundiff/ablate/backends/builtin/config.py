"""The built-in trainer's settings, keyed by sd-scripts argument names, with sd-scripts' defaults.

This module imports no torch: the planner can build and validate a config before it decides to train.
"""

from __future__ import annotations

import ast
import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from rundiff.errors import RundiffError
from rundiff.normalise.registry import load_registry
from rundiff.normalise.values import (
    INT_LIMIT,
    ValueProblem,
    coerce,
    is_none,
    kv_pairs,
    show,
    to_float,
    to_resolution,
)

#: Knobs that change memory, speed or file handling but not the training math; accepted silently.
NO_EFFECT_ON_MATH = frozenset(
    {
        "gradient_checkpointing",
        "cache_latents",
        "cache_latents_to_disk",
        "cache_text_encoder_outputs",
        "xformers",
        "sdpa",
        "mem_eff_attn",
        "persistent_data_loader_workers",
        "max_data_loader_n_workers",
        "logging_dir",
        "output_dir",
        "log_prefix",
        "log_with",
        "save_every_n_epochs",
        "save_every_n_steps",
        "save_model_as",
        "save_state",
        "lowram",
        "highvram",
        "vae_batch_size",
        "pretrained_model_name_or_path",
        "vae",
        "sample_every_n_steps",
        "sample_every_n_epochs",
        "sample_prompts",
        "sample_sampler",
        "training_comment",
        "network_module",
        "no_metadata",
        "full_fp16",
        "full_bf16",
        "fp8_base",
        "save_last_n_epochs",
        "save_last_n_steps",
        "console_log_simple",
        "console_log_level",
    }
)


def _read(name: str, *, when_none: Any = None, required: bool = False) -> Callable[[Any], Any]:
    """Read a knob through the one value reader with the registry entry of ``name`` (sd-scripts' type)."""

    def convert(value: Any) -> Any:
        param = load_registry().get(name)
        assert param is not None, name
        out = coerce(param, value)
        if out is None:
            if required:
                raise ValueProblem(f"expected a {param.type}, got {show(value)}")
            return when_none
        return out

    return convert


def _schedule_steps(value: Any) -> int | None:
    """``lr_schedule_steps`` (rundiff's own, not a registry parameter): a positive step count or unset."""
    if is_none(value):
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RundiffError(f"lr_schedule_steps must be a positive whole number, got {value!r}", key="lr_schedule_steps")
    return value


def _flag(name: str) -> Callable[[Any], bool]:
    """A store_true flag: absent or None is off (sd-scripts' default)."""
    return _read(name, when_none=False)


def _to_str(value: Any) -> str:
    if not isinstance(value, str | int | float):
        raise ValueError(f"expected text, got {show(value)}")
    return str(value)


def _opt_str(value: Any) -> str | None:
    return None if is_none(value) else _to_str(value)


def _resolution(value: Any) -> tuple[int, int]:
    width, height = to_resolution(value)
    if min(width, height) < 8:
        raise ValueError(f"expected a resolution like 512 or '768,512', got {show(value)}")
    return (width, height)


def _kv_args(value: Any) -> tuple[tuple[str, Any], ...]:
    """``["k=v", ...]`` or ``"k=v k=v"`` or a mapping; values are Python literals as sd-scripts reads them."""
    parsed = []
    for key, raw in kv_pairs(value, strict=True):
        if isinstance(raw, str):
            with contextlib.suppress(ValueError, SyntaxError, MemoryError, RecursionError):
                raw = ast.literal_eval(raw)  # sd-scripts keeps unparseable text as is
        parsed.append((str(key), raw))
    return tuple(parsed)


def _choice(*choices: str) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        text = _to_str(value)
        for choice in choices:
            if text.lower() == choice.lower():
                return choice
        raise ValueError(f"expected one of {', '.join(choices)}, got {show(value)}")

    return convert


def _knob(default: Any, convert: Callable[[Any], Any]) -> Any:
    return field(default=default, metadata={"convert": convert})


@dataclass(frozen=True)
class ProxySettings:
    """How the proxy model stands in for the real one; not sd-scripts knobs, reported with every result."""

    model: str = "tiny-fast"  # see model.UNET_PRESETS
    resolution_divisor: int = 4  # proxy image side = resolution / divisor (512 -> 128 px -> 16x16 latents)
    rank_reference_width: int | None = None  # e.g. 320 maps ranks as r' = r * tiny_width / 320 (alpha/r kept)
    validation_images: int = 4  # held-out images (synthetic, or taken from the folder)
    validation_timesteps: tuple[int, ...] = (100, 300, 500, 700, 900)
    validate_every: int = 0  # 0: only at the end; else every N updates
    synthetic_images: int = 8  # size of the built-in dataset when no train_data_dir is given
    model_seed: int = 0  # the "pretrained" base weights: the same for every variant and seed


@dataclass(frozen=True)
class TrainConfig:
    """One variant's effective settings. Field names are sd-scripts argument names."""

    # network
    network_dim: int | None = _knob(None, _read("network_dim"))
    network_alpha: float = _knob(1.0, _read("network_alpha", required=True))
    network_dropout: float | None = _knob(None, _read("network_dropout"))
    network_args: tuple[tuple[str, Any], ...] = _knob((), _kv_args)
    conv_dim: int | None = _knob(None, _read("conv_dim"))
    conv_alpha: float | None = _knob(None, _read("conv_alpha"))
    network_train_unet_only: bool = _knob(False, _flag("network_train_unet_only"))
    network_train_text_encoder_only: bool = _knob(False, _flag("network_train_text_encoder_only"))
    scale_weight_norms: float | None = _knob(None, _read("scale_weight_norms"))
    loraplus_lr_ratio: float | None = _knob(None, _read("loraplus_lr_ratio"))
    # optimisation
    learning_rate: float = _knob(2e-6, _read("learning_rate", required=True))
    unet_lr: float | None = _knob(None, _read("unet_lr"))
    text_encoder_lr: float | None = _knob(None, _read("text_encoder_lr"))
    optimizer_type: str = _knob("AdamW", lambda v: "AdamW" if is_none(v) else _to_str(v))
    optimizer_args: tuple[tuple[str, Any], ...] = _knob((), _kv_args)
    lr_scheduler: str = _knob("constant", _to_str)
    lr_warmup_steps: int | float = _knob(0, _read("lr_warmup_steps", required=True))
    lr_scheduler_num_cycles: int = _knob(1, _read("lr_scheduler_num_cycles", required=True))
    lr_scheduler_power: float = _knob(1.0, _read("lr_scheduler_power", required=True))
    lr_scheduler_min_lr_ratio: float | None = _knob(None, _read("lr_scheduler_min_lr_ratio"))
    max_train_steps: int = _knob(1600, _read("max_train_steps", required=True))
    max_train_epochs: int | None = _knob(None, _read("max_train_epochs"))
    #: rundiff's own (ablate --horizon prefix): build the scheduler for this many steps, train max_train_steps.
    lr_schedule_steps: int | None = _knob(None, _schedule_steps)
    train_batch_size: int = _knob(1, _read("train_batch_size", required=True))
    gradient_accumulation_steps: int = _knob(1, _read("gradient_accumulation_steps", required=True))
    max_grad_norm: float = _knob(1.0, _read("max_grad_norm", when_none=0.0))
    mixed_precision: str = _knob("no", _choice("no", "fp16", "bf16"))
    seed: int | None = _knob(None, _read("seed"))
    ema_decay: float | None = _knob(None, _read("ema_decay"))  # not a kohya knob (other trainers have it)
    # noise and loss
    noise_offset: float | None = _knob(None, _read("noise_offset"))
    noise_offset_random_strength: bool = _knob(False, _flag("noise_offset_random_strength"))
    adaptive_noise_scale: float | None = _knob(None, _read("adaptive_noise_scale"))
    multires_noise_iterations: int | None = _knob(None, _read("multires_noise_iterations"))
    multires_noise_discount: float = _knob(0.3, _read("multires_noise_discount", required=True))
    ip_noise_gamma: float | None = _knob(None, _read("ip_noise_gamma"))
    ip_noise_gamma_random_strength: bool = _knob(False, _flag("ip_noise_gamma_random_strength"))
    min_snr_gamma: float | None = _knob(None, _read("min_snr_gamma"))
    v_parameterization: bool = _knob(False, _flag("v_parameterization"))
    scale_v_pred_loss_like_noise_pred: bool = _knob(False, _flag("scale_v_pred_loss_like_noise_pred"))
    v_pred_like_loss: float | None = _knob(None, _read("v_pred_like_loss"))
    debiased_estimation_loss: bool = _knob(False, _flag("debiased_estimation_loss"))
    zero_terminal_snr: bool = _knob(False, _flag("zero_terminal_snr"))
    min_timestep: int | None = _knob(None, _read("min_timestep"))
    max_timestep: int | None = _knob(None, _read("max_timestep"))
    loss_type: str = _knob("l2", _choice("l1", "l2", "huber", "smooth_l1"))
    huber_schedule: str = _knob("snr", _choice("constant", "exponential", "snr"))
    huber_c: float = _knob(0.1, _read("huber_c", required=True))
    huber_scale: float = _knob(1.0, _read("huber_scale", required=True))
    prior_loss_weight: float = _knob(1.0, _read("prior_loss_weight", required=True))
    # data and captions
    train_data_dir: str | None = _knob(None, _opt_str)
    resolution: tuple[int, int] = _knob((512, 512), _resolution)
    caption_extension: str = _knob(".caption", _to_str)
    shuffle_caption: bool = _knob(False, _flag("shuffle_caption"))
    keep_tokens: int = _knob(0, _read("keep_tokens", required=True))
    keep_tokens_separator: str = _knob("", lambda v: "" if is_none(v) else _to_str(v))
    caption_separator: str = _knob(",", _to_str)
    secondary_separator: str | None = _knob(None, _opt_str)
    caption_prefix: str | None = _knob(None, _opt_str)
    caption_suffix: str | None = _knob(None, _opt_str)
    caption_dropout_rate: float = _knob(0.0, _read("caption_dropout_rate", required=True))
    caption_dropout_every_n_epochs: int = _knob(0, _read("caption_dropout_every_n_epochs", when_none=0))
    caption_tag_dropout_rate: float = _knob(0.0, _read("caption_tag_dropout_rate", required=True))
    max_token_length: int | None = _knob(None, _read("max_token_length"))
    clip_skip: int | None = _knob(None, _read("clip_skip"))
    output_name: str | None = _knob(None, _opt_str)
    # bookkeeping (not knobs)
    proxy: ProxySettings = field(default_factory=ProxySettings)
    not_modelled: tuple[str, ...] = ()

    @classmethod
    def from_params(
        cls, params: Mapping[str, Any], *, proxy: ProxySettings | None = None, source: str | None = None
    ) -> TrainConfig:
        """Build from canonical name -> value; unknown names are kept in ``not_modelled``, bad values raise."""
        knobs = {f.name: f for f in fields(cls) if "convert" in f.metadata}
        values: dict[str, Any] = {}
        not_modelled: list[str] = []
        for name, raw in params.items():
            if name in knobs:
                try:
                    values[name] = knobs[name].metadata["convert"](raw)
                except (ValueError, TypeError) as exc:
                    raise RundiffError(f"bad value for {name}: {exc}", source, key=name) from None
            elif name not in NO_EFFECT_ON_MATH:
                not_modelled.append(name)
        values = _lift_network_args(values, not_modelled, source)
        config = cls(**values, proxy=proxy or ProxySettings(), not_modelled=tuple(sorted(not_modelled)))
        config.check(source)
        return config

    # ---- effective values, as sd-scripts derives them ----
    @property
    def effective_network_dim(self) -> int:
        return 4 if self.network_dim is None else self.network_dim

    @property
    def effective_network_alpha(self) -> float:
        """sd-scripts: alpha 0 (or None) means alpha = dim, i.e. scale 1."""
        return float(self.effective_network_dim) if not self.network_alpha else self.network_alpha

    @property
    def effective_conv_alpha(self) -> float:
        if self.conv_dim is None:
            return 0.0
        alpha = 1.0 if self.conv_alpha is None else self.conv_alpha
        return alpha if alpha else float(self.conv_dim)

    def network_arg(self, key: str, default: Any = None) -> Any:
        return dict(self.network_args).get(key, default)

    def warmup_steps(self, total_steps: int) -> int:
        """A float is a ratio of all updates (sd-scripts ``get_scheduler_fix``), an int a step count."""
        if isinstance(self.lr_warmup_steps, float):  # capped: a huge ratio must not overflow int()
            return int(min(self.lr_warmup_steps * total_steps, float(INT_LIMIT)))
        return self.lr_warmup_steps

    def check(self, source: str | None = None) -> None:
        """The combinations sd-scripts itself refuses, refused here with the same reasons."""

        def fail(message: str, key: str) -> None:
            raise RundiffError(message, source, key=key)

        if self.effective_network_dim < 1:
            fail("network_dim must be at least 1", "network_dim")
        if self.conv_dim is not None and self.conv_dim < 1:
            fail("conv_dim must be at least 1", "conv_dim")
        if self.train_batch_size < 1:
            fail("train_batch_size must be at least 1", "train_batch_size")
        if self.gradient_accumulation_steps < 1:
            fail("gradient_accumulation_steps must be at least 1", "gradient_accumulation_steps")
        if self.max_train_steps < 1 and self.max_train_epochs is None:
            fail("max_train_steps must be at least 1", "max_train_steps")
        if self.adaptive_noise_scale is not None and not self.noise_offset:
            fail("adaptive_noise_scale requires noise_offset (sd-scripts raises too)", "adaptive_noise_scale")
        if self.scale_v_pred_loss_like_noise_pred and not self.v_parameterization:
            fail("scale_v_pred_loss_like_noise_pred requires v_parameterization", "scale_v_pred_loss_like_noise_pred")
        if self.v_pred_like_loss and self.v_parameterization:
            fail("v_pred_like_loss cannot be used with v_parameterization", "v_pred_like_loss")
        if self.network_train_unet_only and self.network_train_text_encoder_only:
            fail(
                "network_train_unet_only and network_train_text_encoder_only exclude each other",
                "network_train_text_encoder_only",
            )
        if self.max_token_length not in (None, 75, 150, 225):
            fail("max_token_length must be 75, 150 or 225", "max_token_length")
        for name in ("caption_dropout_rate", "caption_tag_dropout_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                fail(f"{name} must lie in [0, 1]", name)
        for name in ("network_dropout", "rank_dropout", "module_dropout"):
            rate = getattr(self, name, None) if name == "network_dropout" else self.network_arg(name)
            if rate is not None and not 0.0 <= _rate(rate, name, source) < 1.0:
                fail(f"{name} must lie in [0, 1)", name)
        if self.lr_scheduler.lower() == "constant" and self.warmup_steps(self.max_train_steps) != 0:
            fail(
                "lr_scheduler constant does not take warmup (sd-scripts raises); use constant_with_warmup",
                "lr_warmup_steps",
            )

    def as_params(self) -> dict[str, Any]:
        """The knob values as plain data (for result files and metadata)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if "convert" in f.metadata}


def _rate(raw: Any, name: str, source: str | None) -> float:
    try:
        return to_float(raw)
    except ValueProblem as exc:
        raise RundiffError(f"bad value for {name}: {exc}", source, key=name) from None


def _lift_network_args(values: dict[str, Any], not_modelled: list[str], source: str | None) -> dict[str, Any]:
    """conv_dim/conv_alpha/loraplus_lr_ratio may arrive inside network_args, as kohya users write them."""
    modelled_inside = {"conv_dim", "conv_alpha", "rank_dropout", "module_dropout", "loraplus_lr_ratio"}
    for key, raw in values.get("network_args", ()):
        if raw is None:  # sd-scripts writes "dropout": null into ss_network_args by itself
            continue
        if key in ("conv_dim", "conv_alpha", "loraplus_lr_ratio") and values.get(key) is None:
            convert = _read(key)
            try:
                values[key] = convert(raw)
            except (ValueError, TypeError) as exc:
                raise RundiffError(f"bad value for network_args {key}: {exc}", source, key=key) from None
        elif key not in modelled_inside:
            not_modelled.append(f"network_args.{key}")
    return values

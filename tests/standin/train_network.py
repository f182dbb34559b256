"""A STAND-IN for kohya-ss sd-scripts' train_network.py: it trains nothing.

It honours sd-scripts' command line (argparse with the real argument names, types, store_true flags,
nargs="*" lists and prefix abbreviations, from `rundiff.ablate.backends.kohya.args`; a `--config_file` TOML
merged under the command line; a `--dataset_config` TOML/JSON; the `<repeats>_<name>` folder method)
and leaves the files the real trainer leaves, as measured on the real one
(tests/fixtures/real_kohya/README.md), so that rundiff's kohya backend can be tested in seconds:

- stdout: the "running training / 学習開始" block, "epoch N/M", "saving checkpoint: <path>";
  stderr: INFO lines and a tqdm-like bar redrawn with \\r, ending in `avr_loss=<3 significant digits>`;
- TensorBoard events at <logging_dir>/<log_prefix><YYYYmmddHHMMSS>/<log_tracker_name or network_train>/
  events.out.tfevents.<time>.<host>.<pid>.0 with loss/current, loss/average, lr/textencoder, lr/unet and
  the duplicate lr/group1 at global steps 1..N, loss/epoch_average at the epoch number; the lr tags are
  logged ONE STEP AHEAD as the real trainer does (the value at step N is the LR after N scheduler steps);
- <output_dir>/<output_name or "last">.safetensors with real kohya key names and shapes (SD 1.5, or SDXL
  for sdxl_train_network.py) at network_dim/network_alpha, and sd-scripts' ss_* / modelspec.* metadata
  encoded as sd-scripts does (str() of the Python value: "None", "(64, 64)", "0.0" for an explicit
  `--lr_warmup_steps=0`, "torch.optim.adamw.AdamW", ...);
- the real failures: `--mixed_precision fp16` without CUDA raises RuntimeError at the first step (exit 1,
  an events file without scalars, no LoRA); a constant/adafactor scheduler with a warmup raises ValueError
  before logging starts (exit 1); no images -> an error line and exit 0 with nothing written (sic).

The "loss" is a made-up deterministic function of seed, step, the LR actually applied and network_dim, so
that changing dim, LR or warmup visibly changes the curve; the weights are made-up values whose size
grows with the applied LR (zero LR -> lora_up exactly zero), written for every 16th module (the others
are sparse zeros). None of it is training. Not mirrored: gradient accumulation's repeated step logs,
sample images, intermediate saves, D-Adaptation/Prodigy d*lr tags, bucketing.
Optional: RUNDIFF_STANDIN_STEP_S=<seconds> sleeps per step (to test progress and Ctrl-C).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import math
import os
import random
import shutil
import sys
import time
import tomllib
from pathlib import Path

import numpy as np

from rundiff.ablate.backends.kohya import args as kohya_args
from rundiff.infer.synth import build_header, lora_entries

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
OPTIMIZER_CLASSES = {
    "": "torch.optim.adamw.AdamW",
    "adamw": "torch.optim.adamw.AdamW",
    "adamw8bit": "bitsandbytes.optim.adamw.AdamW8bit",
    "lion": "lion_pytorch.lion_pytorch.Lion",
    "prodigy": "prodigyopt.prodigy.Prodigy",
    "adafactor": "transformers.optimization.Adafactor",
    "sgdnesterov": "torch.optim.sgd.SGD",
    "dadaptation": "dadaptation.dadapt_adam_preprint.DAdaptAdamPreprint",
}
REAL_VALUES_EVERY = 16  # every 16th LoRA module gets real (made-up) values
#: network modules sd-scripts ships; any other --network_module must be importable (LyCORIS: lycoris.kohya).
SHIPPED_NETWORKS = ("networks.lora", "networks.dylora", "networks.lora_fa", "networks.oft")


def int_or_float(value: str) -> int | float:
    """sd-scripts' reading: "10%" and values below 1 are ratios (float), values >= 1 must be ints."""
    if value.endswith("%"):
        return float(value[:-1]) / 100.0
    number = float(value)
    return int(value) if number >= 1 else number


TYPES = {"int": int, "float": float, "str": str, "int_or_float": int_or_float, "Path": Path, None: None}


def build_parser(script: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=script)  # allow_abbrev=True, as sd-scripts
    for name, spec in kohya_args.arguments(script).items():
        kind, type_name, default = spec[:3]
        if kind == "flag":
            parser.add_argument(f"--{name}", action="store_true")
            continue
        options: dict = {"type": TYPES[type_name], "default": default}
        if kind == "list":
            options["nargs"] = "*"
        if len(spec) > 3:
            options["choices"] = spec[3]
        parser.add_argument(f"--{name}", **options)
    return parser


def parse_args(script: str, argv: list[str]) -> argparse.Namespace:
    """Command line, then (like sd-scripts) the --config_file namespace re-parsed under the command line."""
    parser = build_parser(script)
    args = parser.parse_args(argv)
    if args.config_file:
        path = args.config_file if args.config_file.endswith(".toml") else args.config_file + ".toml"
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
        flat = {}
        for key, value in data.items():  # section names are ignored
            if isinstance(value, dict):
                flat.update(value)
            else:
                flat[key] = value
        args = parser.parse_args(argv, namespace=argparse.Namespace(**flat))
    if args.caption_extention is not None:
        args.caption_extension = args.caption_extention
    return args


def info(message: str) -> None:
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} INFO     {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------------ data


def count_images(folder: Path) -> tuple[int, list[str]]:
    images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []
    captions = []
    for image in images:
        for suffix in (".txt", ".caption"):
            if image.with_suffix(suffix).is_file():
                captions.append(image.with_suffix(suffix).read_text(encoding="utf-8").strip())
                break
    return len(images), captions


def tag_counts(captions: list[str], separator: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for caption in captions:
        for tag in caption.split(separator):
            tag = tag.strip()
            if tag:
                counts[tag] = counts.get(tag, 0) + 1
    return counts


def read_dataset(args: argparse.Namespace) -> dict:
    """Subsets (name, images, repeats, is_reg, captions), batch size and resolution, as sd-scripts resolves them."""
    separator = args.caption_separator or ","
    subsets = []
    if args.dataset_config:
        path = Path(args.dataset_config)
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
        general = data.get("general", {})
        batch, resolution = args.train_batch_size, args.resolution
        for dataset in data["datasets"]:
            batch = dataset.get("batch_size", general.get("batch_size", args.train_batch_size))
            resolution = dataset.get("resolution", general.get("resolution", args.resolution))
            for subset in dataset["subsets"]:
                merged = {**general, **{k: v for k, v in dataset.items() if k != "subsets"}, **subset}
                count, captions = count_images(Path(merged["image_dir"]))
                subsets.append(
                    {
                        "name": Path(merged["image_dir"]).name,
                        "images": count,
                        "repeats": int(merged.get("num_repeats", 1)),
                        "is_reg": bool(merged.get("is_reg")),
                        "tags": tag_counts(captions, separator),
                        "settings": merged,
                    }
                )
        return {"subsets": subsets, "batch": int(batch), "resolution": resolution, "config": True}
    for parent, is_reg in ((args.train_data_dir, False), (args.reg_data_dir, True)):
        if not parent or not Path(parent).is_dir():
            continue
        for child in sorted(Path(parent).iterdir()):
            head, _, _ = child.name.partition("_")
            if not child.is_dir() or not head.isdigit():
                continue
            count, captions = count_images(child)
            subsets.append(
                {
                    "name": child.name,
                    "images": count,
                    "repeats": int(head),
                    "is_reg": is_reg,
                    "tags": tag_counts(captions, separator),
                    "settings": {},
                }
            )
    return {"subsets": subsets, "batch": args.train_batch_size, "resolution": args.resolution, "config": False}


def parse_resolution(value) -> tuple[int, int] | None:
    if value is None:
        return None
    if isinstance(value, int):
        return value, value
    if isinstance(value, list):
        return int(value[0]), int(value[-1])
    parts = [int(p) for p in str(value).split(",")]
    return parts[0], parts[-1]


# ------------------------------------------------------------------------------------------- schedule


def lr_multiplier(name: str, k: int, warmup: int, total: int, cycles: int, power: float, lr: float) -> float:
    """transformers' LambdaLR multipliers (the formulas sd-scripts' schedulers use), after k scheduler steps."""
    if name == "constant":
        return 1.0
    if k < warmup:
        return k / max(1, warmup)
    if name == "constant_with_warmup":
        return 1.0
    progress = (k - warmup) / max(1, total - warmup)
    if name == "linear":
        return max(0.0, (total - k) / max(1, total - warmup))
    if name == "cosine":
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))
    if name == "cosine_with_restarts":
        return 0.0 if progress >= 1.0 else max(0.0, 0.5 * (1.0 + math.cos(math.pi * ((cycles * progress) % 1.0))))
    if name == "polynomial":
        end = 1e-7
        if k > total:
            return end / lr
        return ((lr - end) * (1 - progress) ** power + end) / lr
    raise SystemExit(f"the stand-in does not simulate lr_scheduler {name}")


def build_scheduler(args: argparse.Namespace, total: int):
    warmup = args.lr_warmup_steps
    warmup_steps = int(warmup * total) if isinstance(warmup, float) else int(warmup or 0)
    name = args.lr_scheduler
    if (name == "constant" or name.startswith("adafactor") or args.lr_scheduler_type) and warmup_steps != 0:
        label = "SchedulerType.CONSTANT" if name == "constant" else name
        raise ValueError(f"{label} does not require `num_warmup_steps`. Set None or 0.")
    cycles, power = args.lr_scheduler_num_cycles or 1, float(args.lr_scheduler_power or 1)
    return lambda k, lr: lr * lr_multiplier(name, k, warmup_steps, total, cycles, power, lr) if lr else 0.0


# --------------------------------------------------------------------------------------------- events


class Events:
    """TensorBoard scalars, written with tensorboard's own event writer (the file layout of accelerate's)."""

    def __init__(self, folder: Path) -> None:
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        folder.mkdir(parents=True, exist_ok=True)
        self.writer = EventFileWriter(str(folder))  # events.out.tfevents.<time>.<host>.<pid>.<n>

    def scalars(self, values: dict[str, float], step: int) -> None:
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.compat.proto.summary_pb2 import Summary

        summary = Summary(value=[Summary.Value(tag=k, simple_value=float(v)) for k, v in values.items()])
        self.writer.add_event(Event(wall_time=time.time(), step=step, summary=summary))

    def close(self) -> None:
        self.writer.flush()
        self.writer.close()


def has_cuda() -> bool:
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    return shutil.which("nvidia-smi") is not None


# ---------------------------------------------------------------------------------------------- LoRA


def write_lora(
    path: Path,
    args: argparse.Namespace,
    arch: str,
    dim: int,
    alpha: float,
    applied: dict[str, float],
    metadata: dict[str, str],
) -> None:
    """kohya key names and shapes; every 16th module gets values whose size follows the applied LR sum."""
    dtype = {"fp16": "F16", "bf16": "BF16"}.get(args.save_precision or "", "F32")
    conv = dict(a.split("=", 1) for a in args.network_args or [] if "=" in a)
    conv_dim = int(conv["conv_dim"]) if "conv_dim" in conv else None
    entries = lora_entries(
        arch=arch,
        rank=dim,
        alpha=alpha,
        dtype=dtype,
        text_encoder=not args.network_train_unet_only,
        conv_rank=conv_dim,
        conv_alpha=float(conv.get("conv_alpha", 1)) if conv_dim else None,
    )
    if args.network_train_text_encoder_only:
        entries = [e for e in entries if not e[0].startswith("lora_unet_")]
    modules = sorted({e[0].rsplit(".", 2)[0] if e[0].endswith(".weight") else e[0].rsplit(".", 1)[0] for e in entries})
    chosen = set(modules[::REAL_VALUES_EVERY])
    raw, scalars, size = build_header(entries, metadata)
    header = json.loads(raw)
    np_dtype = {"F16": np.float16, "F32": np.float32, "BF16": np.float32}[dtype]
    with open(path, "wb") as fh:
        fh.write(len(raw).to_bytes(8, "little"))
        fh.write(raw)
        fh.write(scalars)
        for name, dt, shape, _ in entries:
            module = name.rsplit(".", 2)[0]
            if module not in chosen or not name.endswith(".weight"):
                continue
            group = "unet" if module.startswith("lora_unet_") else "textencoder"
            rng = np.random.default_rng([args.seed, modules.index(module), name.endswith("up.weight")])
            if name.endswith("lora_down.weight"):
                values = rng.normal(0.0, 1.0 / math.sqrt(max(1, math.prod(shape[1:]))), shape)
            else:  # lora_up starts at zero and moves with every applied LR
                values = rng.normal(0.0, 1.0, shape) * applied.get(group, 0.0) * 10.0
            data = values.astype(np_dtype).tobytes()
            if dt == "BF16":
                data = (np.frombuffer(data, dtype=np.uint32) >> 16).astype(np.uint16).tobytes()
            fh.seek(8 + len(raw) + header[name]["data_offsets"][0])
            fh.write(data)
        fh.truncate(8 + len(raw) + size)


def payload_hashes(path: Path) -> tuple[str, str]:
    """(sha256 of the tensor payload, legacy: first 8 hex of sha256 of 64 KiB at 1 MiB of the payload)."""
    data = path.read_bytes()
    payload = data[8 + int.from_bytes(data[:8], "little") :]
    return hashlib.sha256(payload).hexdigest(), hashlib.sha256(payload[0x100000:0x110000]).hexdigest()[:8]


# ------------------------------------------------------------------------------------------- metadata


def metadata(args: argparse.Namespace, arch: str, data: dict, steps: dict, started: float) -> dict[str, str]:
    """ss_* keys encoded the sd-scripts way: str() of the Python value each argument parsed to."""
    resolution = parse_resolution(data["resolution"])
    optimizer = args.optimizer_type or ("AdamW8bit" if args.use_8bit_adam else "")
    optimizer_name = OPTIMIZER_CLASSES.get(optimizer.lower(), optimizer)
    if args.optimizer_args:
        optimizer_name += "(" + ",".join(args.optimizer_args) + ")"
    version = {"sdxl": "sdxl_base_v1-0"}.get(arch, "sd_v2" if args.v2 else "sd_v1") + (
        "_v" if args.v_parameterization else ""
    )
    model = Path(args.pretrained_model_name_or_path)
    train = [s for s in data["subsets"] if not s["is_reg"]]
    reg = [s for s in data["subsets"] if s["is_reg"]]
    meta = {
        "ss_session_id": random.randint(0, 2**32),
        "ss_training_started_at": started,
        "ss_output_name": args.output_name,
        "ss_learning_rate": args.learning_rate,
        "ss_text_encoder_lr": args.text_encoder_lr[0] if args.text_encoder_lr else None,
        "ss_unet_lr": args.unet_lr,
        "ss_num_train_images": steps["train_images"],
        "ss_num_validation_images": 0,
        "ss_num_reg_images": steps["reg_images"],
        "ss_num_batches_per_epoch": steps["batches"],
        "ss_num_epochs": steps["epochs"],
        "ss_gradient_checkpointing": args.gradient_checkpointing,
        "ss_gradient_accumulation_steps": args.gradient_accumulation_steps,
        "ss_max_train_steps": steps["total"],
        "ss_lr_warmup_steps": args.lr_warmup_steps,
        "ss_lr_scheduler": args.lr_scheduler,
        "ss_network_module": args.network_module,
        "ss_network_dim": args.network_dim,
        "ss_network_alpha": args.network_alpha,
        "ss_network_dropout": args.network_dropout,
        "ss_mixed_precision": args.mixed_precision,
        "ss_full_fp16": args.full_fp16,
        "ss_v2": args.v2,
        "ss_base_model_version": version,
        "ss_clip_skip": args.clip_skip,
        "ss_max_token_length": args.max_token_length,
        "ss_cache_latents": args.cache_latents,
        "ss_seed": args.seed,
        "ss_lowram": args.lowram,
        "ss_noise_offset": args.noise_offset,
        "ss_multires_noise_iterations": args.multires_noise_iterations,
        "ss_multires_noise_discount": args.multires_noise_discount,
        "ss_adaptive_noise_scale": args.adaptive_noise_scale,
        "ss_zero_terminal_snr": args.zero_terminal_snr,
        "ss_training_comment": args.training_comment,
        "ss_sd_scripts_commit_hash": "(unknown)",
        "ss_optimizer": optimizer_name,
        "ss_max_grad_norm": args.max_grad_norm,
        "ss_caption_dropout_rate": args.caption_dropout_rate,
        "ss_caption_dropout_every_n_epochs": args.caption_dropout_every_n_epochs,
        "ss_caption_tag_dropout_rate": args.caption_tag_dropout_rate,
        "ss_face_crop_aug_range": args.face_crop_aug_range,
        "ss_prior_loss_weight": args.prior_loss_weight,
        "ss_min_snr_gamma": args.min_snr_gamma,
        "ss_scale_weight_norms": args.scale_weight_norms,
        "ss_ip_noise_gamma": args.ip_noise_gamma,
        "ss_debiased_estimation": bool(args.debiased_estimation_loss),
        "ss_noise_offset_random_strength": args.noise_offset_random_strength,
        "ss_ip_noise_gamma_random_strength": args.ip_noise_gamma_random_strength,
        "ss_loss_type": args.loss_type,
        "ss_huber_schedule": args.huber_schedule,
        "ss_huber_c": args.huber_c,
        "ss_huber_scale": args.huber_scale,
        "ss_fp8_base": args.fp8_base,
        "ss_fp8_base_unet": args.fp8_base_unet,
        "ss_validation_seed": args.validation_seed,
        "ss_validation_split": args.validation_split,
        "ss_max_validation_steps": args.max_validation_steps,
        "ss_validate_every_n_epochs": args.validate_every_n_epochs,
        "ss_validate_every_n_steps": args.validate_every_n_steps,
        "ss_resize_interpolation": args.resize_interpolation,
        "ss_epoch": steps["epochs"],
        "ss_steps": steps["total"],
        "ss_training_finished_at": time.time(),
    }
    tags = {s["name"]: s["tags"] for s in train}
    if data["config"]:
        meta["ss_datasets"] = json.dumps(
            [
                {
                    "is_dreambooth": True,
                    "batch_size_per_device": data["batch"],
                    "num_train_images": steps["train_images"],
                    "num_reg_images": steps["reg_images"],
                    "resolution": list(resolution) if resolution else None,
                    "enable_bucket": False,
                    "min_bucket_reso": None,
                    "max_bucket_reso": None,
                    "tag_frequency": tags,
                    "bucket_info": None,
                    "resize_interpolation": None,
                    "subsets": [
                        {
                            "img_count": s["images"],
                            "num_repeats": s["repeats"],
                            "image_dir": s["name"],
                            "class_tokens": s["settings"].get("class_tokens"),
                            "is_reg": s["is_reg"],
                            "shuffle_caption": bool(s["settings"].get("shuffle_caption", args.shuffle_caption)),
                            "keep_tokens": s["settings"].get("keep_tokens", args.keep_tokens),
                        }
                        for s in data["subsets"]
                    ],
                }
            ]
        )
    else:
        meta.update(
            {
                "ss_batch_size_per_device": args.train_batch_size,
                "ss_total_batch_size": args.train_batch_size * args.gradient_accumulation_steps,
                "ss_resolution": resolution,
                "ss_color_aug": args.color_aug,
                "ss_flip_aug": args.flip_aug,
                "ss_random_crop": args.random_crop,
                "ss_shuffle_caption": args.shuffle_caption,
                "ss_enable_bucket": args.enable_bucket,
                "ss_bucket_no_upscale": args.bucket_no_upscale,
                "ss_min_bucket_reso": None,
                "ss_max_bucket_reso": None,
                "ss_keep_tokens": args.keep_tokens,
                "ss_reg_dataset_dirs": json.dumps(
                    {s["name"]: {"n_repeats": s["repeats"], "img_count": s["images"]} for s in reg}
                ),
                "ss_bucket_info": json.dumps(None),
            }
        )
    meta["ss_dataset_dirs"] = json.dumps(
        {s["name"]: {"n_repeats": s["repeats"], "img_count": s["images"]} for s in train}
    )
    meta["ss_tag_frequency"] = json.dumps(tags)
    if args.network_args:
        net = dict(a.split("=", 1) for a in args.network_args if "=" in a)
        meta["ss_network_args"] = json.dumps({**net, "dropout": args.network_dropout})
    if model.exists():
        meta["ss_sd_model_name"] = model.name
        meta["ss_sd_model_hash"] = meta["ss_new_sd_model_hash"] = "IsADirectory" if model.is_dir() else "(stand-in)"
    out = {k: str(v) for k, v in meta.items()}
    arch_name = {"sdxl": "stable-diffusion-xl-v1-base"}.get(
        arch,
        ("stable-diffusion-v2-768-v" if args.v_parameterization else "stable-diffusion-v2-512")
        if args.v2
        else "stable-diffusion-v1",
    )
    out.update(
        {
            "modelspec.sai_model_spec": "1.0.1",
            "modelspec.architecture": f"{arch_name}/lora",
            "modelspec.implementation": "diffusers"
            if arch != "sdxl"
            else "https://github.com/Stability-AI/generative-models",
            "modelspec.implementation_version": "sd-scripts/unknown",
            "modelspec.title": args.output_name or f"LoRA@{started}",
            "modelspec.resolution": f"{resolution[0]}x{resolution[1]}" if resolution else "512x512",
            "modelspec.date": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "modelspec.prediction_type": "v" if args.v_parameterization else "epsilon",
        }
    )
    return out


# ----------------------------------------------------------------------------------------------- main


def made_up_loss(seed: int, step: int, applied_sum: float, dim: int) -> float:
    """Not a loss: falls with the LR actually applied, faster for a larger rank, plus seeded noise."""
    noise = np.random.default_rng([seed, step]).normal()
    rate = 0.05 * (1.0 + 0.25 * math.log2(max(dim, 1)))
    return 0.15 + 0.9 * math.exp(-rate * applied_sum / 1e-4) + 0.03 * noise


def bar(step: int, total: int, elapsed: float, avg: float) -> str:
    done = int(10 * step / max(total, 1))
    rate = step / elapsed if elapsed > 0 else 0.0
    speed = f"{rate:5.2f}it/s" if rate >= 1 or rate == 0 else f"{1 / rate:5.2f}s/it"
    return (
        f"\rsteps: {int(100 * step / max(total, 1)):3d}%|{'█' * done}{' ' * (10 - done)}| {step}/{total} "
        f"[00:{int(elapsed):02d}<00:00, {speed}, avr_loss={avg:.3g}]"
    )


def main(arch: str = "sd1", script: str = "train_network.py") -> int:
    args = parse_args(script, sys.argv[1:])
    started = time.time()
    info("rundiff stand-in for sd-scripts (tests/standin): not a trainer, nothing is learnt")
    if args.seed is None:
        args.seed = random.randint(0, 2**32)
    data = read_dataset(args)
    train_images = sum(s["images"] * s["repeats"] for s in data["subsets"] if not s["is_reg"])
    reg_images = sum(s["images"] * s["repeats"] for s in data["subsets"] if s["is_reg"])
    if train_images == 0:
        info("No data found. Please verify arguments (train_data_dir must be the parent of folders with images)")
        return 0  # the real trainer returns here, exit status 0, nothing written
    if parse_resolution(data["resolution"]) is None:
        raise SystemExit("resolution is required / resolution（解像度）指定は必須です")
    model = args.pretrained_model_name_or_path
    if not model or not Path(model).exists():
        raise OSError(f"{model} does not appear to have a file named model_index.json (stand-in: offline)")
    dim = args.network_dim if args.network_dim is not None else 4
    alpha = float(args.network_alpha)
    batches = math.ceil((train_images * (2 if reg_images else 1)) / data["batch"])
    per_epoch = math.ceil(batches / args.gradient_accumulation_steps)
    print("accelerator device: cpu" if not has_cuda() else "accelerator device: cuda")
    print(f"import network module: {args.network_module}")
    if args.network_module.startswith("networks.") and args.network_module not in SHIPPED_NETWORKS:
        raise ModuleNotFoundError(f"No module named '{args.network_module}'")  # exit 1, as the real trainer
    if not args.network_module.startswith("networks."):
        importlib.import_module(args.network_module)
    total = args.max_train_steps
    if args.max_train_epochs is not None:
        total = args.max_train_epochs * per_epoch
        print(f"override steps. steps for {args.max_train_epochs} epochs is / 指定エポックまでのステップ数: {total}")
    epochs = math.ceil(total / per_epoch)
    schedule = build_scheduler(args, total)  # ValueError here: before logging starts, as the real trainer
    groups = {}
    if not args.network_train_unet_only:
        groups["textencoder"] = (args.text_encoder_lr[0] if args.text_encoder_lr else None) or args.learning_rate
    if not args.network_train_text_encoder_only:
        groups["unet"] = args.unet_lr or args.learning_rate
    print("prepare optimizer, data loader etc.")
    print("running training / 学習開始")
    print(f"  num train images * repeats / 学習画像の数×繰り返し回数: {train_images}")
    print("  num validation images * repeats / 学習画像の数×繰り返し回数: 0")
    print(f"  num reg images / 正則化画像の数: {reg_images}")
    print(f"  num batches per epoch / 1epochのバッチ数: {batches}")
    print(f"  num epochs / epoch数: {epochs}")
    print(f"  batch size per device / バッチサイズ: {data['batch']}")
    print(f"  gradient accumulation steps / 勾配を合計するステップ数 = {args.gradient_accumulation_steps}")
    print(f"  total optimization steps / 学習ステップ数: {total}", flush=True)
    events = None
    if args.logging_dir and args.log_with in (None, "tensorboard", "all"):
        run = (args.log_prefix or "") + time.strftime("%Y%m%d%H%M%S", time.localtime())
        events = Events(Path(args.logging_dir) / run / (args.log_tracker_name or "network_train"))
    applied = dict.fromkeys(groups, 0.0)
    losses: list[float] = []
    sleep = float(os.environ.get("RUNDIFF_STANDIN_STEP_S", "0") or 0)
    step = 0
    print(f"\rsteps:   0%|          | 0/{total} [00:00<?, ?it/s]", end="", file=sys.stderr, flush=True)
    for epoch in range(epochs):
        print(f"\nepoch {epoch + 1}/{epochs}\n", flush=True)
        epoch_losses: list[float] = []
        for _ in range(per_epoch):
            if args.mixed_precision == "fp16" and not has_cuda():
                if events is not None:
                    events.close()
                raise RuntimeError("expected m1 and m2 to have the same dtype, but got: c10::Half != float")
            for group, lr in groups.items():
                applied[group] += schedule(step, lr)  # the LR this step runs with: after `step` scheduler steps
            step += 1
            loss = made_up_loss(args.seed, step, applied.get("unet", applied.get("textencoder", 0.0)), dim)
            if epoch == 0:
                losses.append(loss)
            else:
                losses[(step - 1) % per_epoch] = loss
            epoch_losses.append(loss)
            average = sum(losses) / len(losses)
            logs = {"loss/current": loss, "loss/average": average}
            for index, (group, lr) in enumerate(groups.items()):  # logged after the scheduler step: one ahead
                logs[f"lr/{group}"] = schedule(step, lr)
                if index > 0 or "textencoder" not in groups:
                    logs[f"lr/group{index}"] = logs[f"lr/{group}"]  # sd-scripts' for...else duplicate
            if events is not None:
                events.scalars(logs, step)
                if args.validation_split and args.validate_every_n_steps and step % args.validate_every_n_steps == 0:
                    events.scalars(
                        {"loss/validation/step_average": loss + 0.05, "loss/validation/step_divergence": 0.05}, step
                    )
            print(bar(step, total, time.time() - started, average), end="", file=sys.stderr, flush=True)
            if sleep:
                time.sleep(sleep)
            if step >= total:
                break
        if events is not None:
            events.scalars({"loss/epoch_average": sum(epoch_losses) / len(epoch_losses)}, epoch + 1)
        if step >= total:
            break
    print(file=sys.stderr)
    if events is not None:
        events.close()
    out_dir = Path(args.output_dir or ".")
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{args.output_name or 'last'}.safetensors"
    print(f"\nsaving checkpoint: {path}", flush=True)
    steps = {
        "train_images": train_images,
        "reg_images": reg_images,
        "batches": batches,
        "epochs": epochs,
        "total": total,
    }
    meta = metadata(args, arch, data, steps, started)
    write_lora(path, args, arch, dim, alpha, applied, meta)
    meta["sshs_model_hash"], meta["sshs_legacy_hash"] = payload_hashes(path)  # the payload does not change:
    write_lora(path, args, arch, dim, alpha, applied, meta)  # written again with the hashes in its header
    info("model saved.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

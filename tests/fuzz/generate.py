"""Hypothesis strategies that write whole, well-formed files of each family with hostile values in them.

The mutation fuzzer breaks syntax; these keep the syntax valid so the values reach the code past
the parser: registry names with nan, inf, 1e308, subnormals, 4 400-digit integers, numbers as
strings ('5x', '0.5', '1,2'), empty strings, control characters, and nesting built by st.recursive.
"""

from __future__ import annotations

import json
import math
import shlex
import struct
from functools import cache

import yaml
from hypothesis import strategies as st

SCHEDULE_KEYS = (
    "learning_rate",
    "unet_lr",
    "text_encoder_lr",
    "lr_scheduler",
    "lr_warmup_steps",
    "lr_warmup_ratio",
    "lr_scheduler_num_cycles",
    "lr_scheduler_power",
    "max_train_steps",
    "max_train_epochs",
    "train_batch_size",
    "gradient_accumulation_steps",
    "ema_decay",
    "ema_update_every",
    "network_dim",
    "network_alpha",
    "image_count",
    "num_repeats",
    "num_train_images",
    "sample_every_n_steps",
    "save_every_n_epochs",
    "epoch",
    "seed",
    "resolution",
    "noise_offset",
    "min_snr_gamma",
)
SCHEDULERS = (
    "constant",
    "linear",
    "cosine",
    "cosine_with_restarts",
    "polynomial",
    "constant_with_warmup",
    "adafactor",
    "piecewise_constant",
    "cosine_with_min_lr",
    "warmup_stable_decay",
    "rex",
    "",
    "COSINE",
)


@cache
def registry_names() -> tuple[str, ...]:
    from rundiff.normalise.registry import load_registry

    return tuple(sorted(load_registry().cli_names()))


def hostile_text() -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(max_size=30),
        st.sampled_from(
            [
                "5x",
                "0.5",
                "1,2",
                "1e-320",
                "abc",
                "",
                " ",
                "none",
                "None",
                "True",
                "--flag",
                "-1",
                "$\\alpha$",
                "<b>x</b>",
                "=1+1",
                "\x1b[2J",
                "a\nb",
                "a\x00b",
                "~nosuchuser/x",
                "../../x",
                "1" * 400,
                "dynamic 4-8",
                "1/0",
                "100%",
                "0x10",
                "1_000",
            ]
        ),
    )


def hostile_numbers() -> st.SearchStrategy[object]:
    return st.one_of(
        st.integers(min_value=-(2**70), max_value=2**70),
        st.integers(min_value=-3, max_value=10_000),
        st.floats(allow_nan=True, allow_infinity=True),
        st.floats(min_value=0, max_value=1e-300),
        st.sampled_from(
            [
                0,
                1,
                -1,
                2**63 - 1,
                2**63,
                10**30,
                0.0,
                -0.0,
                1e308,
                5e-324,
                math.inf,
                -math.inf,
                math.nan,
                0.5,
                1.5,
                0.9999999,
                1e-6,
            ]
        ),
    )


def scalars() -> st.SearchStrategy[object]:
    return st.one_of(hostile_numbers(), hostile_text(), st.booleans(), st.none(), st.sampled_from(SCHEDULERS))


def settings(keys: st.SearchStrategy[str] | None = None, nested: bool = False) -> st.SearchStrategy[dict]:
    names = st.one_of(st.sampled_from(SCHEDULE_KEYS), st.sampled_from(registry_names()), st.text(max_size=12))
    key = keys if keys is not None else names
    value = scalars()
    if nested:
        value = st.recursive(
            scalars(),
            lambda inner: st.one_of(
                st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
            ),
            max_leaves=20,
        )
    else:
        value = st.one_of(value, st.lists(st.one_of(hostile_numbers(), hostile_text()), max_size=4))
    return st.dictionaries(key, value, max_size=14)


# -- writers (each tolerant of any value: what they cannot spell they write as a string) ----------


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value) if abs(value) < 10**4000 else '"big"'
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value if v is not None) + "]"
    if isinstance(value, dict):
        return (
            "{" + ", ".join(f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in value.items() if v is not None) + "}"
        )
    return json.dumps("" if value is None else str(value))


def toml_text(data: dict) -> bytes:
    lines = [f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in data.items() if v is not None]
    return ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass")


def _arg(value: object) -> str:
    if isinstance(value, list):
        return " ".join(shlex.quote(str(v)) for v in value)
    return shlex.quote(str(value))


def launch_text(data: dict, style: str) -> bytes:
    joiner = {"sh": " \\\n  ", "ps1": " `\n  ", "bat": " ^\n  "}[style]
    args = [f"--{k} {_arg(v)}" if not isinstance(v, bool) else f"--{k}" for k, v in data.items() if v is not None]
    head = "accelerate launch train_network.py"
    return (joiner.join([head, *args]) + "\n").encode("utf-8", "surrogatepass")


def json_text(data: object) -> bytes:
    return json.dumps(data, allow_nan=True, default=str).encode("utf-8", "surrogatepass")


def yaml_text(data: object) -> bytes:
    try:
        return yaml.safe_dump(data, allow_unicode=True).encode("utf-8", "surrogatepass")
    except (yaml.YAMLError, UnicodeEncodeError):
        return json_text(data)


def _safetensors(metadata: dict, tensors: dict, lie: int | None) -> bytes:
    header = {"__metadata__": {str(k): str(v) for k, v in metadata.items()}, **tensors}
    raw = json.dumps(header, default=str, allow_nan=True).encode("utf-8", "surrogatepass")
    return struct.pack("<Q", len(raw) if lie is None else lie % 2**64) + raw + b"\0" * 64


@st.composite
def _tensor(draw) -> dict:
    start = draw(st.integers(min_value=-5, max_value=2**64))
    return {
        "dtype": draw(st.sampled_from(["F16", "BF16", "F32", "F64", "I8", "U8", "F8_E4M3", "BOOL", "X", ""])),
        "shape": draw(st.lists(st.one_of(st.integers(min_value=-2, max_value=64), hostile_numbers()), max_size=5)),
        "data_offsets": [start, draw(st.one_of(st.just(start + 2), st.integers(min_value=-5, max_value=2**65)))],
    }


_SS_KEYS = (
    "ss_network_dim",
    "ss_network_alpha",
    "ss_learning_rate",
    "ss_lr_warmup_steps",
    "ss_max_train_steps",
    "ss_num_train_images",
    "ss_num_epochs",
    "ss_network_args",
    "ss_dataset_dirs",
    "ss_datasets",
    "ss_training_comment",
    "ss_lr_scheduler",
    "ss_network_module",
    "ss_unet_lr",
    "ss_text_encoder_lr",
    "ss_steps",
    "ss_epoch",
    "ss_batch_size_per_device",
    "modelspec.architecture",
    "ss_base_model_version",
)


@st.composite
def _metadata(draw) -> dict:
    out = {}
    for key in draw(st.lists(st.sampled_from(_SS_KEYS), max_size=8, unique=True)):
        if key == "ss_dataset_dirs":
            out[key] = json.dumps(
                draw(
                    st.dictionaries(
                        hostile_text(),
                        st.fixed_dictionaries({"n_repeats": scalars(), "img_count": scalars()}),
                        max_size=3,
                    )
                ),
                default=str,
            )
        elif key == "ss_datasets":
            out[key] = json.dumps(
                [
                    {
                        "subsets": draw(
                            st.lists(
                                st.fixed_dictionaries(
                                    {"image_dir": hostile_text(), "num_repeats": scalars(), "img_count": scalars()}
                                ),
                                max_size=3,
                            )
                        ),
                        "batch_size_per_device": draw(scalars()),
                    }
                ],
                default=str,
            )
        elif key == "ss_network_args":
            out[key] = json.dumps(
                draw(
                    st.dictionaries(
                        st.sampled_from(["conv_dim", "conv_alpha", "algo", "dropout"]), scalars(), max_size=3
                    )
                ),
                default=str,
            )
        else:
            out[key] = draw(scalars())
    return out


_TENSOR_NAMES = (
    "lora_unet_down_blocks_0_attentions_0_proj_in",
    "lora_te_text_model_encoder_layers_0_mlp_fc1",
    "lora_unet_mid_block_resnets_0_conv1",
    "transformer.single_transformer_blocks.0.attn.to_q",
    "base_model.model.unet.down_blocks.0.attentions.0.proj_in",
)
_TENSOR_SUFFIXES = (
    ".lora_down.weight",
    ".lora_up.weight",
    ".alpha",
    ".lora_A.weight",
    ".lora_B.weight",
    ".hada_w1_a",
    ".hada_w1_b",
    ".lokr_w1",
    ".dora_scale",
    ".oft_blocks",
    "",
)


def safetensors_files() -> st.SearchStrategy[bytes]:
    names = st.builds(lambda a, b: a + b, st.sampled_from(_TENSOR_NAMES), st.sampled_from(_TENSOR_SUFFIXES))
    tensors = st.dictionaries(st.one_of(names, st.text(max_size=10)), _tensor(), max_size=8)
    return st.builds(
        _safetensors, _metadata(), tensors, st.one_of(st.none(), st.integers(min_value=0, max_value=2**64))
    )


def _log_line(numbers: st.SearchStrategy[object]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.builds(
            "steps: {0}%|#| {1}/{2} [00:01<00:02, 1.00it/s, avr_loss={3}]".format, numbers, numbers, numbers, numbers
        ),
        st.builds("epoch {0}/{1}".format, numbers, numbers),
        st.builds("step {0}: loss {1} lr {2}".format, numbers, numbers, numbers),
        st.builds("  total optimization steps / 学習ステップ数: {0}".format, numbers),
        st.builds("  num train images * repeats / 学習画像の数×繰り返し回数: {0}".format, numbers),
        st.builds(
            "epoch {0}, step {1}, loss={2}, val_loss={3}, lr/{4}={5}".format,
            numbers,
            numbers,
            numbers,
            numbers,
            hostile_text(),
            numbers,
        ),
        hostile_text(),
    )


def text_logs() -> st.SearchStrategy[bytes]:
    return st.lists(_log_line(hostile_numbers()), max_size=40).map(
        lambda ls: "\n".join(ls).encode("utf-8", "surrogatepass")
    )


def csv_logs() -> st.SearchStrategy[bytes]:
    header = st.lists(
        st.sampled_from(["step", "loss", "lr", "epoch", "val_loss", "lr/unet", "Wall time", "Step", "Value", "x"]),
        min_size=1,
        max_size=5,
    )
    return st.builds(
        lambda h, rows: (",".join(h) + "\n" + "\n".join(",".join(str(c) for c in r) for r in rows)).encode(
            "utf-8", "surrogatepass"
        ),
        header,
        st.lists(st.lists(st.one_of(hostile_numbers(), hostile_text()), max_size=6), max_size=30),
    )


_LOG_KEYS = ("step", "loss", "lr", "learning_rate", "epoch", "_step", "val_loss", "global_step", "lr/unet", "x")


def jsonl_logs() -> st.SearchStrategy[bytes]:
    row = st.fixed_dictionaries(
        {"metrics": st.dictionaries(st.sampled_from(_LOG_KEYS), scalars(), max_size=5), "step": scalars()}
    )
    return st.lists(row, max_size=30).map(
        lambda rows: "\n".join(json.dumps(r, default=str, allow_nan=True) for r in rows).encode(
            "utf-8", "surrogatepass"
        )
    )


def wandb_summaries() -> st.SearchStrategy[bytes]:
    return st.dictionaries(st.sampled_from(_LOG_KEYS), scalars(), max_size=8).map(json_text)


def sqlite_logs() -> st.SearchStrategy[bytes]:
    from .seeds import sqlite_log_bytes

    row = st.tuples(
        scalars(),
        st.sampled_from(_LOG_KEYS),
        st.one_of(st.none(), hostile_numbers()),
        st.one_of(st.none(), hostile_text()),
    )

    def build(rows: list[tuple]) -> bytes:
        clean = [
            tuple(
                v if isinstance(v, str | float | type(None)) or (isinstance(v, int) and abs(v) < 2**63) else str(v)
                for v in r
            )
            for r in rows
        ]
        return sqlite_log_bytes(clean)

    return st.lists(row, min_size=1, max_size=20).map(build)


def dataset_specs() -> st.SearchStrategy[bytes]:
    folder = st.one_of(st.builds("{0}_{1}".format, hostile_numbers(), hostile_text()), hostile_text())
    entry = st.one_of(
        st.builds("{0}/{1}.png".format, folder, hostile_text()),
        st.builds("{0}/{1}.txt={2}".format, folder, hostile_text(), hostile_text()),
        st.builds("@fifo {0}/{1}.txt".format, folder, hostile_text()),
        st.builds(
            "@link {0}/{1}.png -> {2}".format,
            folder,
            hostile_text(),
            st.sampled_from(["/dev/zero", ".", "..", "x", "loop", "/nonexistent", "a.png"]),
        ),
        st.builds("@chmod0 {0}/{1}.txt".format, folder, hostile_text()),
    )
    return st.lists(entry, max_size=20).map(lambda ls: "\n".join(ls).encode("utf-8", "surrogateescape"))


def schedule_configs() -> st.SearchStrategy[bytes]:
    keys = st.sampled_from(SCHEDULE_KEYS)
    base = st.fixed_dictionaries({"learning_rate": hostile_numbers(), "max_train_steps": hostile_numbers()})
    return st.builds(lambda b, extra: toml_text({**b, **extra}), base, settings(keys))


def ablate_requests() -> st.SearchStrategy[bytes]:
    name = st.one_of(st.sampled_from(registry_names()), st.sampled_from(SCHEDULE_KEYS), hostile_text())
    values = st.lists(st.one_of(hostile_text(), hostile_numbers().map(str)), max_size=6)
    return st.builds(lambda n, vs: "\n".join([n, *vs]).encode("utf-8", "surrogatepass"), name, values)


def strategy(family: str) -> st.SearchStrategy[bytes] | None:
    """Structured inputs for a family, or None where mutation alone drives it."""
    launch = settings()
    table = {
        "sh": lambda: launch.map(lambda d: launch_text(d, "sh")),
        "ps1": lambda: launch.map(lambda d: launch_text(d, "ps1")),
        "bat": lambda: launch.map(lambda d: launch_text(d, "bat")),
        "markdown": lambda: launch.map(lambda d: b"# notes\n\n```bash\n" + launch_text(d, "sh") + b"```\n"),
        "toml": lambda: st.one_of(
            launch.map(toml_text), settings(nested=True).map(lambda d: toml_text({"datasets": [{"subsets": [d]}]}))
        ),
        "gui_json": lambda: settings().map(lambda d: json_text({"LoRA_type": "Standard", **d})),
        "trainer_yaml": lambda: settings(nested=True).map(
            lambda d: yaml_text({"job": "extension", "config": {"process": [d]}})
        ),
        "trainer_json": lambda: settings(nested=True).map(json_text),
        "trainer_env": lambda: launch.map(
            lambda d: "\n".join(f"{k.upper()}={_arg(v)}" for k, v in d.items()).encode("utf-8", "surrogatepass")
        ),
        "notebook": lambda: launch.map(
            lambda d: json_text(
                {
                    "cells": [
                        {"cell_type": "code", "source": ["!" + launch_text(d, "sh").decode("utf-8", "surrogatepass")]}
                    ]
                }
            )
        ),
        "safetensors": safetensors_files,
        "dataset_folder": dataset_specs,
        "text_log": text_logs,
        "csv_log": csv_logs,
        "jsonl_log": jsonl_logs,
        "wandb_summary": wandb_summaries,
        "sqlite_log": sqlite_logs,
        "diagnose": schedule_configs,
        "reports": schedule_configs,
        "plots": lambda: st.builds(lambda c, log: c + b"\n--log--\n" + log, schedule_configs(), text_logs()),
        "ablate_plan": ablate_requests,
    }
    make = table.get(family)
    return make() if make else None

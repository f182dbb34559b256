"""Factories for diagnose tests: runs built from canonical values, kohya-style logs written for real."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml

from rundiff.model import Cell, Provenance, Run

REPO = Path(__file__).resolve().parents[1]
SAMPLE_RUNS = REPO / "sample_runs"


def make_run(name: str, path: str | Path = "", source: str = "config.yaml", **values: Any) -> Run:
    """A Run whose cells hold the given canonical values, as load_run would give them."""
    cells = {
        key: Cell(value, Provenance.EXPLICIT, f"{source}:{i + 1}")
        for i, (key, value) in enumerate(values.items())
        if value is not None
    }
    return Run(name=name, path=str(path), cells=cells)


def run_from_sample(folder: Path) -> Run:
    """Stand-in for rundiff.load_run until it exists: the sample configs use canonical names as leaf keys."""
    config = yaml.safe_load((folder / "config.yaml").read_text())
    leaves: dict[str, Any] = {}

    def walk(node: Any) -> None:
        for key, value in node.items():
            if isinstance(value, dict):
                walk(value)
            else:
                leaves[key] = value

    walk(config)
    return make_run(folder.name, folder, **leaves)


def cosine_with_restarts_lr(base: float, k: int, total: int, cycles: int) -> float:
    """transformers' cosine_with_restarts multiplier without warmup, written out independently."""
    progress = k / total
    if progress >= 1:
        return 0.0
    return base * 0.5 * (1 + math.cos(math.pi * ((cycles * progress) % 1.0)))


def write_event_file(folder: Path, scalars: dict[str, list[tuple[int, float]]]) -> Path:
    """A real TensorBoard event file (tensorboard's own writer) with kohya's tags."""
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    folder.mkdir(parents=True, exist_ok=True)
    writer = EventFileWriter(str(folder))
    for tag, points in scalars.items():
        for step, value in points:
            summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)])
            writer.add_event(event_pb2.Event(wall_time=1_700_000_000.0 + step, step=step, summary=summary))
    writer.close()
    return next(folder.glob("events.out.tfevents.*"))


HEALTHY_LORA = dict(  # SD15_PERFECT of field report 004, as sd-scripts arguments
    training_type="lora",
    model_family="sd15",
    learning_rate=1e-4,
    unet_lr=1e-4,
    text_encoder_lr=5e-5,
    optimizer_type="AdamW8bit",
    lr_scheduler="cosine_with_restarts",
    lr_scheduler_num_cycles=3,
    network_dim=32,
    network_alpha=16.0,
    image_count=203,
    num_repeats=10,
    num_train_images=2030,
    train_batch_size=4,
    gradient_accumulation_steps=1,
    max_train_epochs=10,
)


def write_healthy_kohya_logs(folder: Path) -> int:
    """TensorBoard + console logs of a healthy kohya LoRA run (SD15_PERFECT); returns total steps."""
    spe, epochs = math.ceil(2030 / 4), 10
    total = spe * epochs
    steps = range(1, total + 1, 5)
    loss = [(s, 0.12 - 0.025 * s / total + 0.03 * math.sin(s * 1.7)) for s in steps]
    average = [(s, 0.12 - 0.025 * s / total) for s in steps]
    unet = [(s, cosine_with_restarts_lr(1e-4, s, total, 3)) for s in steps]
    te = [(s, cosine_with_restarts_lr(5e-5, s, total, 3)) for s in steps]
    epoch_avg = [(e, 0.12 - 0.025 * e / epochs) for e in range(1, epochs + 1)]
    write_event_file(
        folder / "logs" / "20251109202200" / "network_train",
        {
            "loss/current": loss,
            "loss/average": average,
            "lr/textencoder": te,
            "lr/unet": unet,
            "lr/group1": unet,
            "loss/epoch_average": epoch_avg,
        },
    )
    console = [
        "running training / 学習開始",
        "  num train images * repeats / 学習画像の数×繰り返し回数: 2030",
        "  num validation images * repeats / 学習画像の数×繰り返し回数: 0",
        "  num reg images / 正則化画像の数: 0",
        f"  num batches per epoch / 1epochのバッチ数: {spe}",
        f"  num epochs / epoch数: {epochs}",
        "  batch size per device / バッチサイズ: 4",
        "  gradient accumulation steps / 勾配を合計するステップ数 = 1",
        f"  total optimization steps / 学習ステップ数: {total}",
    ]
    bar = "".join(
        f"\rsteps: {100 * s // total:3d}%|#         | {s}/{total} [00:10<01:00,  3.00it/s, "
        f"avr_loss={0.12 - 0.025 * s / total:.3g}]"
        for s in [*range(1, total + 1, 97), total]
    )
    console += ["", "epoch 1/10", "", bar, "saving checkpoint: out/bespoke_punks_SD15_PERFECT.safetensors"]
    (folder / "train_console.log").write_text("\n".join(console) + "\n", encoding="utf-8")
    return total

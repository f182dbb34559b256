"""Recall and false alarms of `rundiff diagnose` on planted failures and healthy runs.

Builds run folders in the layouts trainers leave (sd-scripts launch script + `<repeats>_<name>`
image folder + TensorBoard events + console log with tqdm `\\r` states; musubi, ai-toolkit,
OneTrainer, SimpleTuner, diffusers logs; custom loops; runs that kept only their logs), plants one
failure through the trainer's own options (and writes the logs such a run would leave), then runs
the real pipeline (load_run + diagnose) on each. The LR curves are written with transformers'
formulas written out here, not with rundiff's simulator.

    python bench/diagnose_recall.py [--keep DIR]

Recall: planted runs whose expected rule fires (any severity). False alarm: an error-severity
finding on a healthy run.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
from pathlib import Path

PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000")


def lr_at(kind: str, k: int, base: float, warmup: int, total: int) -> float:
    """transformers' schedule multipliers (get_scheduler), written out independently."""
    if kind != "constant" and k < warmup:
        return base * k / max(1, warmup)
    if kind in ("constant", "constant_with_warmup"):
        return base
    progress = (k - warmup) / max(1, total - warmup)
    if kind == "linear":
        return base * max(0.0, (total - k) / max(1, total - warmup))
    return base * max(0.0, 0.5 * (1 + math.cos(math.pi * progress)))  # cosine


def write_events(folder: Path, scalars: dict[str, list[tuple[int, float]]]) -> None:
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    folder.mkdir(parents=True, exist_ok=True)
    writer = EventFileWriter(str(folder))
    for tag, points in scalars.items():
        for step, value in points:
            summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)])
            writer.add_event(event_pb2.Event(wall_time=1.7e9 + step, step=step, summary=summary))
    writer.close()


def kohya_run(
    folder: Path,
    *,
    lr=1e-4,
    optimizer="AdamW8bit",
    scheduler="cosine",
    warmup=0,
    dim=16,
    alpha=8,
    images=20,
    repeats=10,
    batch=2,
    epochs=10,
    loss="falling",
    nan_at=None,
    logs=("script", "tb", "console"),
    finished=True,
    script_name="train_network.py",
    extra="",
) -> None:
    """An sd-scripts LoRA run as the trainer leaves it: script, images, events, console."""
    spe = math.ceil(images * repeats / batch)
    total = spe * epochs
    if "script" in logs:
        (folder / "train.sh").parent.mkdir(parents=True, exist_ok=True)
        (folder / "train.sh").write_text(
            f"accelerate launch --num_cpu_threads_per_process 2 {script_name} \\\n"
            "  --pretrained_model_name_or_path=/models/sd15.safetensors \\\n"
            "  --train_data_dir=./img --output_dir=./out --output_name=mylora --logging_dir=./logs \\\n"
            f"  --network_module=networks.lora --network_dim={dim} --network_alpha={alpha} \\\n"
            f"  --learning_rate={lr} --optimizer_type={optimizer} --lr_scheduler={scheduler} \\\n"
            f"  --lr_warmup_steps={warmup} --train_batch_size={batch} --max_train_epochs={epochs} "
            f"--resolution=512 {extra}\n"
        )
        subset = folder / "img" / f"{repeats}_sks"
        subset.mkdir(parents=True, exist_ok=True)
        for i in range(images):
            (subset / f"{i:03d}.png").write_bytes(PNG)
            (subset / f"{i:03d}.txt").write_text(f"a photo of sks {i}\n")
    last = total if finished else total * 4 // 10
    steps = range(1, last + 1)

    def loss_at(s: int) -> float:
        if nan_at is not None and s >= nan_at:
            return float("nan")
        if loss == "flat":
            return 0.1
        return 0.13 - 0.03 * s / total + 0.01 * math.sin(s * 1.7)

    average = [
        (s, loss_at(s) if loss == "flat" or (nan_at and s >= nan_at) else 0.13 - 0.03 * s / total) for s in steps
    ]
    if "tb" in logs:
        lr_points = [(s, lr_at(scheduler, s, lr, warmup, total)) for s in steps]
        write_events(
            folder / "logs" / "20260101120000" / "network_train",
            {
                "loss/current": [(s, loss_at(s)) for s in steps],
                "loss/average": average,
                "lr/textencoder": lr_points,
                "lr/unet": lr_points,
                "lr/group1": lr_points,
                "loss/epoch_average": [
                    (e, average[min(len(average), e * spe) - 1][1]) for e in range(1, last // spe + 1)
                ],
            },
        )
    if "console" in logs:
        head = [
            "running training / 学習開始",
            f"  num train images * repeats / 学習画像の数×繰り返し回数: {images * repeats}",
            f"  num batches per epoch / 1epochのバッチ数: {spe}",
            f"  num epochs / epoch数: {epochs}",
            f"  batch size per device / バッチサイズ: {batch}",
            "  gradient accumulation steps / 勾配を合計するステップ数 = 1",
            f"  total optimization steps / 学習ステップ数: {total}",
            "",
        ]
        lines = list(head)
        for epoch in range(1, epochs + 1):
            first, end = (epoch - 1) * spe + 1, min(epoch * spe, last)
            if first > last:
                break
            lines.append(f"epoch {epoch}/{epochs}")
            states = [s for s in range(first, end + 1, max(1, spe // 7))] + [end]
            lines.append(
                "".join(
                    f"steps: {100 * s // total:3d}%|#   | {s}/{total} [00:10<01:00,  3.00it/s, "
                    f"avr_loss={average[s - 1][1]:.3g}]\r"
                    for s in states
                )
            )
        lines += (
            ["saving checkpoint: out/mylora.safetensors", "model saved."]
            if finished
            else ["Traceback (most recent call last):", "torch.OutOfMemoryError: CUDA out of memory."]
        )
        (folder / "train_console.log").write_text("\n".join(lines) + "\n", encoding="utf-8")


def lora_series(folder: Path, ups: list[float], *, steps_per_epoch=100) -> None:
    """sd-scripts epoch saves (out/mylora-00000N.safetensors ... out/mylora.safetensors) of a rank-4 LoRA."""
    import numpy as np
    from safetensors.numpy import save_file

    out = folder / "out"
    out.mkdir(parents=True, exist_ok=True)
    total = steps_per_epoch * len(ups)
    for epoch, up in enumerate(ups, start=1):
        tensors = {}
        for module in ("lora_unet_down_blocks_0_attentions_0_proj_in", "lora_te_text_model_encoder_layers_0_mlp_fc1"):
            tensors[f"{module}.lora_down.weight"] = np.full((4, 64), 0.03, np.float32)
            tensors[f"{module}.lora_up.weight"] = np.full((64, 4), up, np.float32)
            tensors[f"{module}.alpha"] = np.array(4.0, np.float32)
        name = "mylora.safetensors" if epoch == len(ups) else f"mylora-{epoch:06d}.safetensors"
        save_file(
            tensors,
            str(out / name),
            metadata={
                "ss_network_module": "networks.lora",
                "ss_network_dim": "4",
                "ss_network_alpha": "4.0",
                "ss_learning_rate": "0.0001",
                "ss_epoch": str(epoch),
                "ss_steps": str(epoch * steps_per_epoch),
                "ss_max_train_steps": str(total),
                "ss_num_epochs": str(len(ups)),
            },
        )


def yaml_run(folder: Path, text: str, log: str | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(text)
    if log:
        (folder / "train.log").write_text(log)


def custom_loop(folder: Path, *, frozen=False, val_constant=False, zero_first_epoch=False) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for epoch in range(1, 11):
        lr = 0.0 if zero_first_epoch and epoch == 1 else 1e-4
        delta = 0.0 if frozen else 1e-3 / epoch
        val = 1.921642 if val_constant else 1.9 - 0.05 * epoch
        lines += [
            f"[LR] epoch={epoch} groups=['backbone', 'head'] lr=[{lr}, {lr * 4}]",
            f"[STEP] Δparam L2: median={delta:.3e} max={2 * delta:.3e}",
            f"Epoch {epoch:03d}/010: train {0.22 - (0 if frozen else 0.01 * epoch):.3f}  val {val}",
        ]
    (folder / "train.log").write_text("\n".join(lines) + "\n")


def ai_toolkit_log(folder: Path, *, nan=False) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    states = [
        f"my_lora:  {s // 30:2d}%|#  | {s}/3000 [01:00<10:00,  1.54s/it, lr: 1.0e-04 loss: "
        f"{'nan' if nan and s > 1500 else f'{0.4 - s / 30000:.3e}'}]"
        for s in range(100, 3001, 100)
    ]
    (folder / "log.txt").write_text("\r".join(states) + "\nSaving at step 3000\n")


def onetrainer_tb(folder: Path, *, lr_zero=False) -> None:
    write_events(
        folder / "workspace" / "run" / "tensorboard" / "2026-08-19_10-00-00",
        {
            "loss/train_step": [(s, 0.3 - s / 20000 + 0.02 * math.sin(s)) for s in range(1, 2001, 4)],
            "smooth_loss/train_step": [(s, 0.3 - s / 20000) for s in range(1, 2001, 4)],
            "lr/transformer_lora": [(s, 0.0 if lr_zero else 1e-4) for s in range(1, 2001, 4)],
        },
    )


def simpletuner(folder: Path, *, ema_decay=None, lr=1e-4) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    ema = f"use_ema: true\nema_decay: {ema_decay}\n" if ema_decay else "use_ema: false\n"
    (folder / "config.yaml").write_text(
        f"model_family: sdxl\ntraining_type: lora\nnetwork_dim: 16\n"
        f"learning_rate: {lr}\noptimizer_type: AdamW\nlr_scheduler: constant\n"
        f"max_train_steps: 600\n{ema}"
    )
    rows = [
        json.dumps({"metrics": {"learning_rate": lr, "train_loss": 0.06 - i * 2e-5}, "schema_version": 1, "step": i})
        for i in range(1, 601, 5)
    ]
    (folder / "training_metrics.jsonl").write_text("\n".join(rows) + "\n")


def diffusers_console(folder: Path, *, nan=False) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    head = (
        "***** Running training *****\n  Num examples = 25\n  Num batches each epoch = 25\n  Num Epochs = 20\n"
        "  Instantaneous batch size per device = 1\n  Gradient Accumulation steps = 1\n"
        "  Total optimization steps = 500\n"
    )
    states = [
        f"Steps: {s // 5:3d}%|#  | {s}/500 [01:40<15:00,  2.00s/it, "
        f"loss={'nan' if nan and s > 300 else round(0.06 - s * 4e-5, 4)}, lr=0.0001]"
        for s in range(10, 501, 10)
    ]
    (folder / "train.log").write_text(head + "\r".join(states) + "\n")


#: (name, builder, expected rule or None for a healthy run)
def cases() -> list[tuple[str, object, str | None]]:
    return [
        # planted through sd-scripts' own options
        ("kohya lr 1e-6", lambda f: kohya_run(f, lr=1e-6), "lr-too-low"),
        ("kohya lr 1e-6 (TensorBoard only)", lambda f: kohya_run(f, lr=1e-6, logs=("tb",)), "lr-too-low"),
        ("kohya lr 1e-2", lambda f: kohya_run(f, lr=1e-2, optimizer="AdamW"), "lr-too-high"),
        ("kohya warmup 2000 > 1000 steps", lambda f: kohya_run(f, warmup=2000), "warmup-too-long"),
        ("kohya warmup 600 of 1000", lambda f: kohya_run(f, warmup=600, scheduler="linear"), "warmup-too-long"),
        (
            "kohya warmup 800, TB only",
            lambda f: kohya_run(f, warmup=800, scheduler="constant_with_warmup", logs=("tb",)),
            "warmup-too-long",
        ),
        ("kohya lr 0", lambda f: kohya_run(f, lr=0), "lr-zero-at-start"),
        ("kohya lr 0, TB only", lambda f: kohya_run(f, lr=0, logs=("tb",)), "lr-zero-at-start"),
        ("kohya NaN loss at step 300", lambda f: kohya_run(f, nan_at=300), "loss-not-finite"),
        ("kohya NaN loss, console only", lambda f: kohya_run(f, nan_at=300, logs=("console",)), "loss-not-finite"),
        ("kohya constant loss (frozen)", lambda f: kohya_run(f, loss="flat"), "loss-flat"),
        ("kohya constant loss, TB only", lambda f: kohya_run(f, loss="flat", logs=("tb",)), "loss-flat"),
        ("kohya dim 128 for 20 images", lambda f: kohya_run(f, dim=128, alpha=64), "rank-too-high-for-dataset"),
        ("kohya 40 repeats for 20 images", lambda f: kohya_run(f, repeats=40, epochs=3), "repeats-too-high"),
        ("kohya crashed at 40 %", lambda f: kohya_run(f, finished=False), "run-not-finished"),
        (
            "kohya constant + warmup",
            lambda f: kohya_run(f, scheduler="constant", warmup=100),
            "warmup-on-constant-scheduler",
        ),
        ("custom loop frozen params", lambda f: custom_loop(f, frozen=True), "params-not-moving"),
        ("custom loop constant val loss", lambda f: custom_loop(f, val_constant=True), "val-loss-constant"),
        ("custom loop LR 0 in epoch 1", lambda f: custom_loop(f, zero_first_epoch=True), "lr-zero-at-start"),
        ("SimpleTuner EMA 0.9999", lambda f: simpletuner(f, ema_decay=0.9999), "ema-too-slow"),
        ("SimpleTuner lr 1e-6", lambda f: simpletuner(f, lr=1e-6), "lr-too-low"),
        ("ai-toolkit NaN in bar", lambda f: ai_toolkit_log(f, nan=True), "loss-not-finite"),
        ("OneTrainer LR 0 (TB only)", lambda f: onetrainer_tb(f, lr_zero=True), "lr-zero-at-start"),
        ("diffusers NaN in bar", lambda f: diffusers_console(f, nan=True), "loss-not-finite"),
        (
            "EMA 0.9999 YAML, 300 steps",
            lambda f: yaml_run(
                f,
                "training_type: lora\nnetwork_dim: 8\n"
                "learning_rate: 1.0e-4\noptimizer_type: AdamW\n"
                "max_train_steps: 300\nuse_ema: true\n"
                "ema_decay: 0.9999\n",
            ),
            "ema-too-slow",
        ),
        (
            "kohya epoch series, up weights 0 (--weights)",
            lambda f: (kohya_run(f, lr=1e-4, logs=("script",)), lora_series(f, [0.0] * 5)),
            "lora-never-trained",
        ),
        (
            "kohya epoch series, norm stalls (--weights)",
            lambda f: lora_series(f, [0.01, 0.02, 0.0201, 0.0201, 0.0201]),
            "weight-norm-stalled",
        ),
        # healthy
        ("healthy kohya cosine", lambda f: kohya_run(f), None),
        ("healthy kohya warmup 50 linear", lambda f: kohya_run(f, warmup=50, scheduler="linear"), None),
        (
            "healthy kohya constant_with_warmup",
            lambda f: kohya_run(f, warmup=100, scheduler="constant_with_warmup"),
            None,
        ),
        ("healthy kohya Prodigy lr 1", lambda f: kohya_run(f, lr=1.0, optimizer="Prodigy", scheduler="constant"), None),
        ("healthy kohya lr 3e-4 dim 32", lambda f: kohya_run(f, lr=3e-4, dim=32, alpha=16), None),
        ("healthy kohya TB only", lambda f: kohya_run(f, logs=("tb",)), None),
        ("healthy kohya console only", lambda f: kohya_run(f, logs=("console",)), None),
        ("healthy kohya script only", lambda f: kohya_run(f, logs=("script",)), None),
        ("healthy kohya batch 4, 5 epochs", lambda f: kohya_run(f, batch=4, epochs=5), None),
        ("healthy kohya sdxl script", lambda f: kohya_run(f, script_name="sdxl_train_network.py"), None),
        ("healthy custom loop", lambda f: custom_loop(f), None),
        (
            "healthy kohya epoch series (--weights)",
            lambda f: (kohya_run(f), lora_series(f, [0.01, 0.014, 0.017, 0.02, 0.022])),
            None,
        ),
        ("healthy SimpleTuner EMA 0.99", lambda f: simpletuner(f, ema_decay=0.99), None),
        ("healthy SimpleTuner no EMA", lambda f: simpletuner(f), None),
        ("healthy ai-toolkit bar", lambda f: ai_toolkit_log(f), None),
        ("healthy OneTrainer TB", lambda f: onetrainer_tb(f), None),
        ("healthy diffusers bar", lambda f: diffusers_console(f), None),
        (
            "broken config: default LR must not fire",
            lambda f: (
                f.mkdir(parents=True, exist_ok=True),
                (f / "train.sh").write_text(
                    "accelerate launch train_network.py --config_file=config.toml "
                    "--network_module=networks.lora --network_dim=16 --max_train_steps=1000\n"
                ),
                (f / "config.toml").write_text("learning_rate = = 1e-4\n"),
            ),
            None,
        ),
    ]


def real_runs(repo: Path) -> list[tuple[str, Path]]:
    """Runs written by the real sd-scripts trainer (kept in the repository)."""
    return [
        ("real sd-scripts tiny LoRA (sample_runs/kohya_tiny_lora)", repo / "sample_runs" / "kohya_tiny_lora"),
        ("real sd-scripts events + console (dim8 warmup5)", None),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keep", type=Path, help="write the runs here and keep them")
    args = parser.parse_args()
    import rundiff
    from rundiff.diagnose.engine import diagnose_runs

    repo = Path(__file__).resolve().parents[1]
    root = args.keep or Path(tempfile.mkdtemp(prefix="rundiff-recall-"))
    rows = []
    built = []
    for index, (name, build, expected) in enumerate(cases()):
        folder = root / f"{index:02d}"
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        build(folder)
        built.append((name, folder, expected))
    real = root / "real_dim8_warmup5"
    real.mkdir(exist_ok=True)
    fixtures = repo / "tests" / "fixtures" / "real_kohya"
    shutil.copy(fixtures / "events.out.tfevents.kohya_tiny_lora_dim8_warmup5", real / "events.out.tfevents.1.vm.1.0")
    shutil.copy(fixtures / "train_console_dim8_warmup5.log", real / "train_console.log")
    # its own option --lr_warmup_steps 5 on a 10-step run: half the run in warmup (a planted warning)
    built.append(("real sd-scripts run, logs only (dim 8, warmup 5 of 10)", real, "warmup-too-long"))
    built.append(("real sd-scripts run (sample_runs/kohya_tiny_lora)", repo / "sample_runs" / "kohya_tiny_lora", None))
    for name, folder, expected in built:
        try:
            run = rundiff.load_run(folder)
        except rundiff.RundiffError as err:
            rows.append((name, expected, None, [f"unreadable: {err}"], []))
            continue
        result = diagnose_runs([run], weights=True).runs[0]
        rules = [f.rule for f in result.findings]
        errors = [f.rule for f in result.findings if str(f.severity) == "error"]
        rows.append((name, expected, rules, errors, [n.rule for n in result.not_checked]))
    planted = [r for r in rows if r[1]]
    healthy = [r for r in rows if not r[1]]
    found = [r for r in planted if r[2] is not None and r[1] in r[2]]
    alarms = [r for r in healthy if r[3]]
    for name, expected, rules, errors, _ in rows:
        status = (
            ("FOUND" if rules and expected in rules else "MISSED")
            if expected
            else ("FALSE ALARM" if errors else "clean")
        )
        print(f"{status:12} {name:45} expected={expected or '-':28} findings={','.join(rules or []) or '-'}")
    print(f"\nrecall: {len(found)}/{len(planted)} = {100 * len(found) / len(planted):.1f} %")
    print(f"false alarms (error findings on healthy runs): {len(alarms)}/{len(healthy)}")
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return 0 if len(found) == len(planted) and not alarms else 1


if __name__ == "__main__":
    sys.exit(main())

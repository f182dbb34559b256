"""Log readers: seeds' free-text lines, kohya console/tqdm, TensorBoard event files, CSV, discovery."""

import math

import pytest
from diagnose_factories import write_event_file

from rundiff.ingest.logs import discover_logs, read_logs, read_run_logs
from rundiff.ingest.logs.text import read_text_log

SEED_LINES = """\
Epoch 1, Step 128: LR = 3.2e-7  (still in warmup, only 64% complete)
Epoch 4, Step 512: LR = 1.0e-6  (warmup complete, start cosine decay)
[LR] epoch=1 groups=['backbone', 'head'] lr=[0.0, 0.0]   NO LEARNING!
[LR] epoch=2 groups=['backbone', 'head'] lr=[8.33e-06, 3.33e-05]   Too late!
[STEP] Δparam L2: median=0.000e+00  max=0.000e+00   ALL 30 EPOCHS!
Epoch 001/030: train 0.217  val 1.921642   STUCK
Epoch 030/030: train 0.218  val 1.921642   STILL STUCK
FID: 453.22
SSIM: 0.3389
val loss: inf
this line means nothing to rundiff
"""


def test_seed_free_text_lines(tmp_path):
    path = tmp_path / "train.log"
    path.write_text(SEED_LINES, encoding="utf-8")
    logs = read_text_log(path)
    lr = logs.get("lr")
    assert [(p.step, p.epoch, p.value) for p in lr] == [(128, 1, 3.2e-7), (512, 4, 1.0e-6)]
    assert [(p.epoch, p.value) for p in logs.get("lr/backbone")] == [(1, 0.0), (2, 8.33e-06)]
    assert [(p.epoch, p.value) for p in logs.get("lr/head")] == [(1, 0.0), (2, 3.33e-05)]
    assert [p.value for p in logs.get("param_delta/median")] == [0.0]
    assert [p.value for p in logs.get("param_delta/max")] == [0.0]
    assert [(p.epoch, p.value) for p in logs.get("loss/epoch")] == [(1, 0.217), (30, 0.218)]
    validation = logs.get("loss/validation")
    assert [p.value for p in validation[:2]] == [1.921642, 1.921642]
    assert math.isinf(validation[2].value) and validation[2].epoch == 30
    assert logs.get("metric/fid")[0].value == 453.22 and logs.get("metric/ssim")[0].value == 0.3389
    assert logs.lines_read == 11 and logs.lines_skipped == 1
    assert validation[0].source == f"{path}:6"


def test_kohya_console_and_tqdm(tmp_path):
    bar = "".join(
        f"\rsteps:  {p}%|#   | {s}/4000 [02:13<20:01,  3.00it/s, avr_loss={v}]"
        for p, s, v in ((10, 400, "0.0912"), (20, 800, "0.0875"), (20, 801, "nan"))
    )
    text = "\n".join(
        [
            "running training / 学習開始",
            "  num train images * repeats / 学習画像の数×繰り返し回数: 2030",
            "  num validation images * repeats / 学習画像の数×繰り返し回数: 0",
            "  num batches per epoch / 1epochのバッチ数: 508",
            "  num epochs / epoch数: 10",
            "  batch size per device / バッチサイズ: 4",
            "  gradient accumulation steps / 勾配を合計するステップ数 = 1",
            "  total optimization steps / 学習ステップ数: 4000",
            "  override steps. steps for 10 epochs is / 指定エポックまでのステップ数: 5080",
            "",
            "epoch 3/10",
            "",
            bar,
            "2025-11-09 20:22:01 INFO     model saved.                 train_network.py:1729",
        ]
    )
    path = tmp_path / "console.log"
    path.write_text(text, encoding="utf-8")
    logs = read_text_log(path)
    facts = {k: v for k, (v, _) in logs.facts.items()}
    assert facts == {
        "num_train_images": 2030,
        "num_batches_per_epoch": 508,
        "num_epochs": 10,
        "train_batch_size": 4,
        "gradient_accumulation_steps": 1,
        "total_steps": 5080,
        "max_train_epochs": 10,
        "bar_total_steps": 4000,
        "bar_last_step": 801,
    }
    assert logs.finish == (True, f"{path}:14") and logs.last_step == 801
    average = logs.get("loss/average")
    assert [(p.step, p.epoch) for p in average] == [(400, 3), (800, 3), (801, 3)]
    assert [p.value for p in average[:2]] == [0.0912, 0.0875] and math.isnan(average[2].value)


def test_tensorboard_event_file_with_kohya_tags(tmp_path):
    write_event_file(
        tmp_path / "logs" / "network_train",
        {
            "loss/current": [(1, 1.00749), (2, 1.45511)],
            "loss/average": [(1, 1.00749), (2, 1.2313)],
            "lr/unet": [(1, 1e-4), (2, 1e-4)],
            "lr/d*lr/unet": [(1, 2e-6)],
            "loss/epoch_average": [(1, 1.15382)],
        },
    )
    logs = read_run_logs(tmp_path)
    assert [(p.step, round(p.value, 5)) for p in logs.get("loss/current")] == [(1, 1.00749), (2, 1.45511)]
    assert [(p.epoch, p.step) for p in logs.get("loss/epoch")] == [(1, None)]  # x axis of this tag is epochs
    assert logs.lr_groups() == ["lr/unet"]  # d*lr is not an LR group
    assert logs.get("lr/unet")[0].value == pytest.approx(1e-4)


def test_damaged_event_file_is_a_warning_not_a_crash(tmp_path):
    (tmp_path / "events.out.tfevents.123.host.1.0").write_bytes(b"\x00\x01garbage" * 10)
    logs = read_run_logs(tmp_path)
    assert logs.series == {}


def test_csv_log(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("step,epoch,loss,lr,val_loss\n1,1,0.2,1e-4,\n2,1,oops,1e-4,\n3,1,0.18,1e-4,0.5\nbad,row\n")
    logs = read_logs([path])
    assert [(p.step, p.value) for p in logs.get("loss/current")] == [(1, 0.2), (3, 0.18)]
    assert [p.value for p in logs.get("lr")] == [1e-4] * 3
    assert [p.value for p in logs.get("loss/validation")] == [0.5]
    assert logs.lines_skipped == 1


def test_discovery_skips_captions_and_unrelated_files(tmp_path):
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "001.txt").write_text("pixel art, 24x24, a punk with a cap\n")
    (tmp_path / "notes.txt").write_text("remember to buy milk\n")
    (tmp_path / "prices.csv").write_text("item,price\napple,1\n")
    (tmp_path / "metrics.csv").write_text("step,train_loss\n1,0.3\n")
    (tmp_path / "nohup.out").write_text("epoch 1/10\nsteps: 1/10 [00:01<00:09, avr_loss=0.3]\n")
    (tmp_path / "train.log").write_text("hello\n")
    write_event_file(tmp_path / "logs", {"loss/current": [(1, 0.1)]})
    found = {(p.relative_to(tmp_path).as_posix().split("/")[0], kind) for p, kind in discover_logs(tmp_path)}
    assert found == {("metrics.csv", "csv"), ("nohup.out", "text"), ("train.log", "text"), ("logs", "tensorboard")}

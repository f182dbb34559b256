"""Logs as an ingest format: other trainers' files, inferred facts with file:line, log-only runs."""

import json
import math
import sqlite3

from diagnose_factories import write_event_file
from typer.testing import CliRunner

import rundiff
from rundiff.cli import app
from rundiff.ingest.logs import read_logs
from rundiff.ingest.logs.facts import fit_schedule
from rundiff.ingest.logs.model import Point
from rundiff.model import Provenance

RUNNER = CliRunner()


def test_log_only_kohya_console_is_a_run_with_inferred_facts(tmp_path):
    console = "\n".join(
        [
            "running training / 学習開始",
            "  num train images * repeats / 学習画像の数×繰り返し回数: 200",
            "  num batches per epoch / 1epochのバッチ数: 100",
            "  num epochs / epoch数: 10",
            "  batch size per device / バッチサイズ: 2",
            "  gradient accumulation steps / 勾配を合計するステップ数 = 1",
            "  total optimization steps / 学習ステップ数: 1000",
            "",
            "epoch 1/10",
            "\rsteps: 100%|##########| 1000/1000 [10:00<00:00,  1.67it/s, avr_loss=0.0912]",
            "model saved.",
        ]
    )
    (tmp_path / "train.log").write_text(console, encoding="utf-8")
    run = rundiff.load_run(tmp_path)
    total = run.get("total_steps")
    assert (total.value, total.provenance, total.source) == (1000, Provenance.INFERRED, f"{tmp_path / 'train.log'}:7")
    assert run.get("num_batches_per_epoch").source == f"{tmp_path / 'train.log'}:3"
    assert run.value("run_finished") is True and run.get("run_finished").source.endswith("train.log:11")


def test_tensorboard_schedule_shape_warmup_and_lr_are_inferred(tmp_path):
    total, warmup = 400, 40

    def cosine(s):
        if s < warmup:
            return 1e-4 * s / warmup
        return 1e-4 * 0.5 * (1 + math.cos(math.pi * (s - warmup) / (total - warmup)))

    write_event_file(
        tmp_path / "logs" / "network_train",
        {
            "lr/unet": [(s, cosine(s)) for s in range(1, total + 1)],
            "lr/textencoder": [(s, cosine(s) / 2) for s in range(1, total + 1)],
            "lr/d*lr/unet": [(s, 3e-5) for s in range(1, total + 1)],
        },
    )
    run = rundiff.load_run(tmp_path)
    assert run.value("lr_scheduler") == "cosine" and run.get("lr_scheduler").provenance is Provenance.INFERRED
    assert run.value("lr_warmup_steps") == warmup
    assert run.value("unet_lr") == 1e-4 and run.value("text_encoder_lr") == 5e-5
    assert run.value("total_steps") == total
    assert run.value("lr_groups") == ["textencoder", "unet"]
    assert run.value("effective_lr") == 3e-5
    assert "lr/unet" in run.get("lr_scheduler").source


def test_schedule_fit_with_a_ramp_it_cannot_measure_is_no_fit_not_a_crash():
    """Found by fuzzing: ramp points all at step 0 (no median to take) and a 1e-320 LR on the ramp
    (step * peak / value is inf) gave StatisticsError and OverflowError; both are simply no fit."""
    flat = [Point(1e-4, step=s) for s in range(10, 20)]
    assert fit_schedule([Point(5e-5, step=0), Point(6e-5, step=0), *flat], 100) is None
    assert fit_schedule([Point(1e-320, step=3), *flat], 100) is None
    ramp = [Point(1e-4 * s / 10, step=s) for s in range(1, 10)]
    fit = fit_schedule([*ramp, *(Point(1e-4, step=s) for s in range(10, 40))], 100)  # a measurable ramp fits
    assert fit is not None and fit.scheduler == "constant_with_warmup" and fit.warmup_steps == 10


def test_schedule_fit_refuses_an_ambiguous_curve():
    noisy = [Point(1e-4 * (1 + 0.2 * math.sin(s)), step=s, exact_step=True) for s in range(1, 100)]
    assert fit_schedule(noisy, 100) is None
    assert fit_schedule(noisy[:3], 100) is None


def test_an_inferred_value_never_disputes_the_config(tmp_path):
    (tmp_path / "config.toml").write_text(
        'learning_rate = 1e-4\nlr_scheduler = "cosine"\nlr_warmup_steps = 10\nmax_train_steps = 100\n', encoding="utf-8"
    )
    write_event_file(tmp_path / "logs", {"lr/unet": [(s, 1e-4 * min(1, s / 50)) for s in range(1, 101)]})
    run = rundiff.load_run(tmp_path)
    assert run.conflicts == [] and run.value("lr_warmup_steps") == 10


def test_ai_toolkit_sqlite_loss_log(tmp_path):
    db = sqlite3.connect(tmp_path / "loss_log.db")
    db.executescript(
        "CREATE TABLE steps (step INTEGER PRIMARY KEY, wall_time REAL NOT NULL);"
        "CREATE TABLE metrics (step INTEGER NOT NULL, key TEXT NOT NULL, value_real REAL, "
        "value_text TEXT, PRIMARY KEY (step, key));"
    )
    for step in range(0, 300, 100):
        db.execute("INSERT INTO steps VALUES (?, ?)", (step, 1.0))
        db.execute("INSERT INTO metrics VALUES (?, 'learning_rate', 1e-4, NULL)", (step,))
        db.execute("INSERT INTO metrics VALUES (?, 'loss/loss', ?, NULL)", (step, None if step == 200 else 0.3))
    db.commit()
    db.close()
    logs = read_logs([tmp_path / "loss_log.db"])
    losses = logs.get("loss/current")
    assert [p.step for p in losses] == [0, 100, 200] and math.isnan(losses[-1].value)  # NULL = ai-toolkit's NaN
    assert [p.value for p in logs.get("lr")] == [1e-4] * 3
    result = RUNNER.invoke(app, ["diagnose", str(tmp_path), "--format", "json"])
    assert result.exit_code == 1 and "loss-not-finite" in {f["rule"] for f in json.loads(result.stdout)["findings"]}


def test_simpletuner_jsonl_and_manifest(tmp_path):
    lines = [
        json.dumps(
            {
                "metrics": {"learning_rate": 1e-4, "train_loss": 0.06 - i * 1e-4},
                "schema_version": 1,
                "step": i,
                "timestamp": "2026-08-22T10:11:12+00:00",
            }
        )
        for i in range(1, 51)
    ]
    (tmp_path / "training_metrics.jsonl").write_text("\n".join(lines) + "\n{broken\n", encoding="utf-8")
    (tmp_path / "training_metrics.json").write_text(
        json.dumps({"status": "completed", "config": {"max_train_steps": 50}}), encoding="utf-8"
    )
    logs = read_logs([tmp_path / "training_metrics.jsonl"])
    assert len(logs.get("loss/current")) == 50 and logs.lines_skipped == 1
    assert logs.finish == (True, f"{tmp_path / 'training_metrics.json'} [status]")
    assert logs.facts["total_steps"][0] == 50


def test_wandb_offline_run_folder(tmp_path):
    files = tmp_path / "wandb" / "offline-run-20260101_101010-abc123" / "files"
    files.mkdir(parents=True)
    (files / "wandb-summary.json").write_text('{"loss/current": NaN, "global_step": 300, "_step": 900}')
    (files / "output.log").write_text("steps:  30%|###  | 300/1000 [03:00<07:00, 1.67it/s, avr_loss=0.12]\n")
    (files.parent / "logs").mkdir()
    (files.parent / "logs" / "debug-internal.log").write_text("step 1 loss=5\n")
    run = rundiff.load_run(tmp_path)
    current = run.logs.get("loss/current")
    assert len(current) == 1 and current[0].step == 300 and math.isnan(current[0].value)
    assert not any("debug-internal" in f for f in run.logs.files)
    assert run.value("run_finished") is False


def test_onetrainer_and_musubi_tags(tmp_path):
    write_event_file(
        tmp_path / "tensorboard" / "2026-08-19_10-00-00",
        {
            "loss/train_step": [(1, 0.3)],
            "smooth_loss/train_step": [(1, 0.29)],
            "lr/transformer_lora": [(1, 1e-4)],
            "loss/validation_step/concept": [(1, 0.4)],
            "loss/epoch": [(2, 0.28)],
        },
    )
    logs = read_logs(list((tmp_path / "tensorboard").rglob("events.out.tfevents.*")))
    assert set(logs.series) == {"loss/current", "loss/average", "lr/transformer_lora", "loss/validation", "loss/epoch"}
    assert logs.get("loss/epoch")[0].epoch == 2


def test_one_unreadable_run_is_an_error_line_and_the_others_are_diagnosed(tmp_path):
    good = tmp_path / "good"
    good.mkdir()
    (good / "train.log").write_text("step 1 loss=0.3 lr=1e-4\nstep 2 loss=0.2 lr=1e-4\n")
    missing, empty = tmp_path / "missing", tmp_path / "empty"
    empty.mkdir()
    result = RUNNER.invoke(app, ["diagnose", str(good), str(missing), str(empty), "--format", "json"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert [r["run"] for r in report["runs"]] == ["good"]
    assert [u["path"] for u in report["unreadable"]] == [str(missing), str(empty)]
    assert "no such file" in report["unreadable"][0]["error"]
    only_bad = RUNNER.invoke(app, ["diagnose", str(missing), str(empty)])
    assert only_bad.exit_code == 2 and "no run could be read" in only_bad.output


def test_not_checked_and_file_warnings_in_every_format(tmp_path):
    (tmp_path / "train.log").write_text("step 1 loss=0.3 lr=1e-4\nepoch " + "9" * 50 + "\n")
    (tmp_path / "broken.toml").write_text("a = = 1\n")
    for fmt, needle in (
        ("text", "not checked [ema-too-slow]"),
        ("md", "### Not checked"),
        ("html", "<h3>Not checked</h3>"),
    ):
        result = RUNNER.invoke(app, ["diagnose", str(tmp_path), "--format", fmt])
        assert needle in result.stdout and "broken.toml" in result.stdout, (fmt, result.stdout[-800:])
    report = json.loads(RUNNER.invoke(app, ["diagnose", str(tmp_path), "--format", "json"]).stdout)["runs"][0]
    ema = next(n["needs"] for n in report["not_checked"] if n["rule"] == "ema-too-slow")
    # broken.toml may hold the EMA settings: the reason names it
    assert ema == (
        "ema_decay unknown: give the EMA settings (or use_ema: false) "
        "(broken.toml failed to parse and may set it: fix that file)"
    )
    assert any("train.log:2" in w for w in report["warnings"])


def test_select_ignore_and_rule_command(tmp_path):
    (tmp_path / "train.log").write_text("step 1 loss=nan lr=0\nstep 2 loss=nan lr=0\n")
    report = json.loads(
        RUNNER.invoke(app, ["diagnose", str(tmp_path), "--format", "json", "--select", "loss-not-finite"]).stdout
    )
    assert {f["rule"] for f in report["findings"]} == {"loss-not-finite"}
    assert {n["rule"] for n in report["runs"][0]["not_checked"]} <= {"loss-not-finite"}
    bad = RUNNER.invoke(app, ["diagnose", str(tmp_path), "--select", "no-such-rule"])
    assert bad.exit_code == 2 and "--select" in bad.output
    shown = RUNNER.invoke(app, ["rule", "warmup-too-long"])
    assert shown.exit_code == 0 and "warning_fraction: 0.2" in shown.stdout and "Fix:" in shown.stdout
    every = RUNNER.invoke(app, ["rule", "--all", "--format", "json"])
    assert every.exit_code == 0 and len(json.loads(every.stdout)) >= 14
    assert RUNNER.invoke(app, ["rule", "nope"]).exit_code == 2


def test_thresholds_from_the_project_config(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text(
        "[tool.rundiff.diagnose.rules.warmup-too-long]\nwarning_fraction = 0.6\n", encoding="utf-8"
    )
    monkeypatch.chdir(tmp_path)
    shown = RUNNER.invoke(app, ["rule", "warmup-too-long"])
    assert "warning_fraction: 0.6  (set in" in shown.stdout
    (tmp_path / "pyproject.toml").write_text("[tool.rundiff.diagnose.rules.warmup-too-long]\nnope = 1\n")
    run = tmp_path / "run"
    run.mkdir()
    (run / "train.log").write_text("step 1 loss=0.3\n")
    result = RUNNER.invoke(app, ["diagnose", str(run)])
    assert result.exit_code == 2 and "no threshold 'nope'" in result.output


def test_wandb_config_yaml_values_are_unwrapped(tmp_path):
    files = tmp_path / "wandb" / "offline-run-20260101_101010-abc123" / "files"
    files.mkdir(parents=True)
    (files / "config.yaml").write_text(
        "_wandb:\n  value:\n    cli_version: 0.31.0\nlearning_rate:\n  value: 0.0001\n"
        "lr_scheduler:\n  value: cosine\nmax_train_steps:\n  value: 500\n"
    )
    run = rundiff.load_run(tmp_path)
    lr = run.get("learning_rate")
    assert lr.value == 1e-4 and lr.source == f"{files / 'config.yaml'}:5"
    assert run.value("lr_scheduler") == "cosine" and run.value("max_train_steps") == 500
    assert not any(k.startswith("_wandb") for k in run.cells)

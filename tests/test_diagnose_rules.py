"""Each rule fires with its numbers on the failure it is for, and stays quiet on healthy runs."""

import math

import pytest
from diagnose_factories import HEALTHY_LORA, make_run, write_event_file, write_healthy_kohya_logs

from rundiff.diagnose import Severity, diagnose_run, diagnose_runs
from rundiff.errors import RundiffError
from rundiff.ingest.logs import RunLogs


def _by_rule(findings):
    return {f.rule: f for f in findings}


def test_healthy_kohya_lora_has_no_findings_at_all(tmp_path):
    total = write_healthy_kohya_logs(tmp_path)
    run = make_run("SD15_PERFECT", tmp_path, **HEALTHY_LORA)
    diagnosis = diagnose_runs([run])
    assert diagnosis.findings == []
    summary = diagnosis.runs[0].summary
    assert (summary["steps_per_epoch"], summary["total_steps"]) == (508, total) == (508, 5080)
    assert summary["lora_scale"] == 0.5 and summary["log_files"] == 2
    assert summary["log_lines_read"] > 5000


def test_normal_warmup_is_not_lr_zero_at_start(tmp_path):
    # kohya logs the LR after each update: step s shows lr * s / W, never the 0 the first update used
    steps = range(1, 1001)
    write_event_file(tmp_path / "logs", {"lr/unet": [(s, 1e-4 * min(1.0, s / 100)) for s in steps]})
    run = make_run(
        "warm",
        tmp_path,
        **{
            **HEALTHY_LORA,
            "lr_scheduler": "constant_with_warmup",
            "lr_warmup_steps": 100,
            "max_train_epochs": None,
            "max_train_steps": 1000,
            "num_train_images": 400,
            "image_count": 40,
        },
    )
    assert diagnose_run(run) == []


def test_learning_rate_zero_is_lr_zero_at_start():
    run = make_run("zero", **{**HEALTHY_LORA, "learning_rate": 0.0, "unet_lr": 0.0})
    finding = _by_rule(diagnose_run(run, RunLogs()))["lr-zero-at-start"]
    assert finding.severity is Severity.ERROR
    assert finding.evidence["zero_lr_updates_simulated"] == 5080
    assert finding.evidence["zero_lr_epochs"] == 10


def test_seed_001_rank_and_repeats_against_image_count():
    run = make_run(
        "plastic",
        training_type="lora",
        network_dim=48,
        network_alpha=48.0,
        image_count=20,
        num_repeats=20,
        learning_rate=8e-5,
        optimizer_type="AdamW",
        max_train_steps=1400,
    )
    found = _by_rule(diagnose_run(run, RunLogs()))
    rank = found["rank-too-high-for-dataset"]
    assert rank.evidence == {
        "network_dim": 48,
        "image_count": 20,
        "recommended_rank": 16,
        "flag_above": 32.0,
        "network_alpha": 48.0,
        "lora_scale": 1.0,
    }
    repeats = found["repeats-too-high"]
    assert repeats.evidence["recommended_max_repeats"] == 10 and repeats.evidence["num_repeats"] == 20
    assert "15-24 images" in repeats.message
    fixed = make_run(
        "fixed",
        training_type="lora",
        network_dim=16,
        network_alpha=16.0,
        image_count=20,
        num_repeats=8,
        learning_rate=1e-4,
        optimizer_type="AdamW",
        max_train_steps=1000,
    )
    assert diagnose_run(fixed, RunLogs()) == []


@pytest.mark.parametrize(
    "values, rule, severity",
    [
        ({"optimizer_type": "Prodigy", "learning_rate": 1e-4, "unet_lr": 1e-4}, "lr-too-low", Severity.ERROR),
        ({"optimizer_type": "AdamW", "learning_rate": 1e-2, "unet_lr": 1e-2}, "lr-too-high", Severity.ERROR),
        ({"optimizer_type": "AdamW8bit", "learning_rate": 2e-3, "unet_lr": 2e-3}, "lr-too-high", Severity.WARNING),
        ({"optimizer_type": "Lion", "learning_rate": 1e-4, "unet_lr": 1e-4}, None, None),
        ({"optimizer_type": "Prodigy", "learning_rate": 1.0, "unet_lr": 1.0}, None, None),
        ({"optimizer_type": "AdaFactor", "learning_rate": 1e-7, "unet_lr": 1e-7}, None, None),
    ],
)
def test_lr_ranges(values, rule, severity):
    found = _by_rule(diagnose_run(make_run("r", **{**HEALTHY_LORA, **values}), RunLogs()))
    lr_rules = {k: v for k, v in found.items() if k.startswith("lr-too")}
    if rule is None:
        assert lr_rules == {}
    else:
        assert list(lr_rules) == [rule] and lr_rules[rule].severity is severity


def test_warmup_on_constant_scheduler():
    run = make_run("c", **{**HEALTHY_LORA, "lr_scheduler": "constant", "lr_warmup_steps": 200})
    found = _by_rule(diagnose_run(run, RunLogs()))
    assert found["warmup-on-constant-scheduler"].evidence == {"warmup_steps": 200}
    assert "warmup-too-long" not in found


def test_toml_float_warmup_outlasts_training():
    run = make_run("f", **{**HEALTHY_LORA, "lr_scheduler": "constant_with_warmup", "lr_warmup_steps": 100.0})
    finding = _by_rule(diagnose_run(run, RunLogs()))["warmup-too-long"]
    assert finding.severity is Severity.ERROR
    assert finding.evidence["warmup_steps"] == 508_000 and finding.evidence["total_steps"] == 5080
    assert finding.evidence["peak_lr_fraction"] == pytest.approx(5079 / 508_000, abs=1e-4)
    assert "TOML" in finding.message


def test_ema_with_enough_steps_is_fine_but_slow_ema_is_not():
    fast = make_run("fast", **{**HEALTHY_LORA, "use_ema": True, "ema_decay": 0.999})  # 5080 steps: 99.4 %
    assert diagnose_run(fast, RunLogs()) == []
    slow = make_run("slow", **{**HEALTHY_LORA, "use_ema": True, "ema_decay": 0.9999})
    finding = _by_rule(diagnose_run(slow, RunLogs()))["ema-too-slow"]
    assert finding.evidence["new_weight_fraction_at_end"] == pytest.approx(1 - 0.9999**5080, abs=1e-4)
    not_used = make_run("raw", **{**HEALTHY_LORA, "ema_decay": 0.9999, "use_ema_weights_for_inference": False})
    assert diagnose_run(not_used, RunLogs()) == []


def test_lr_observed_mismatch_when_the_scheduler_ran_twice_per_step(tmp_path):
    # two processes step the scheduler twice per update: the logged cosine runs at double speed
    total = 1000
    logged = [(s, 1e-4 * 0.5 * (1 + math.cos(math.pi * min(1.0, 2 * s / total)))) for s in range(1, total, 10)]
    write_event_file(tmp_path, {"lr/unet": logged})
    run = make_run(
        "ddp",
        **{**HEALTHY_LORA, "lr_scheduler": "cosine", "max_train_epochs": None, "max_train_steps": total},
        path=tmp_path,
    )
    finding = _by_rule(diagnose_run(run))["lr-observed-mismatch"]
    assert finding.evidence["compared_points"] == 100
    assert finding.evidence["mismatched_points"] > 50


def test_loss_not_finite_and_flat_from_csv(tmp_path):
    rows = ["step,loss"] + [f"{s},{0.1 + 0.001 * (s % 3)}" for s in range(1, 60)] + ["60,nan"]
    (tmp_path / "loss.csv").write_text("\n".join(rows) + "\n")
    found = _by_rule(diagnose_run(make_run("n", tmp_path, **HEALTHY_LORA)))
    assert found["loss-not-finite"].evidence == {"non_finite_points": 1, "step": 60}
    assert abs(found["loss-flat"].evidence["relative_change"]) < 0.03


def test_ignore_and_unknown_rule_ids():
    run = make_run("z", **{**HEALTHY_LORA, "learning_rate": 0.0, "unet_lr": 0.0})
    assert "lr-zero-at-start" not in _by_rule(diagnose_run(run, RunLogs(), ignore=["lr-zero-at-start"]))
    with pytest.raises(RundiffError, match="unknown rule 'no-such-rule'"):
        diagnose_run(run, RunLogs(), ignore=["no-such-rule"])


def test_finding_json_contract_survives_inf():
    run = make_run("z", **{**HEALTHY_LORA, "learning_rate": 0.0, "unet_lr": 0.0})
    diagnosis = diagnose_runs([run], logs={"z": RunLogs()})
    payload = diagnosis.to_json()
    first = payload["findings"][0]
    assert set(first) == {"rule", "severity", "run", "message", "evidence", "fix", "based_on"}
    assert first["severity"] in ("error", "warning", "info")
    import json

    json.loads(json.dumps(payload, allow_nan=False))  # strictly valid JSON

"""Hostile logs and names from the fuzzing reproducers C31-C36 (and the log-size ones): one clean exit each.

Each case writes the reproducer's files into tmp_path and runs the real command line in-process;
the assertion is what the issue asks: exit 0/1/2, no exception escaping, and the numbers refused
where the log line is parsed (a warning on that line, the rest of the run still diagnosed).
"""

import json
import os

import pytest
from typer.testing import CliRunner

from rundiff.cli import app

RUNNER = CliRunner()
CONFIG = 'learning_rate = 1e-4\nlr_scheduler = "cosine"\nmax_train_steps = 100\nlr_warmup_steps = 10\n'


def _diagnose(*args, cwd=None):
    old = os.getcwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        result = RUNNER.invoke(app, ["diagnose", *map(str, args)])
    finally:
        os.chdir(old)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code in (0, 1, 2), result.output
    return result


def _run(tmp_path, files):
    run = tmp_path / "run"
    run.mkdir()
    for name, text in files.items():
        (run / name).write_text(text, encoding="utf-8")
    return run


@pytest.mark.parametrize(
    "case, log",
    [
        ("C31_log_epoch_5000_digits", "epoch " + "9" * 5000 + "\n"),
        ("C32_log_epoch_400_digits_overflow", "epoch " + "9" * 400 + " lr=0.001\n"),
        ("C33_log_fact_num_images_huge", "num train images * repeats: 1" + "0" * 400 + "\nloss=0.1 step 1\n"),
    ],
)
def test_huge_counters_in_a_log_are_refused_on_their_line(tmp_path, case, log):
    run = _run(tmp_path, {"config.toml": CONFIG + "image_count = 10\n", "train.log": log})
    result = _diagnose(run, "--format", "json")
    report = json.loads(result.stdout)
    warnings = " ".join(report["runs"][0]["warnings"])
    assert "train.log:1" in warnings and "not a usable number" in warnings, case


def test_c34_csv_step_inf_row_is_skipped(tmp_path):
    run = _run(tmp_path, {"config.toml": CONFIG, "metrics.csv": "step,loss\ninf,0.1\n1,0.2\n"})
    report = json.loads(_diagnose(run, "--format", "json").stdout)
    assert any("metrics.csv:2: step 'inf' is not a counter" in w for w in report["runs"][0]["warnings"])


def test_c35_group_name_with_mathtext_is_drawn_as_text(tmp_path):
    run = _run(
        tmp_path, {"config.toml": CONFIG, "train.log": "step 1 lr=[0.1] groups=['a$b$c$\\nosuch$']\nstep 2 loss=0.2\n"}
    )
    result = _diagnose(run, "--format", "html", "-o", tmp_path / "report.html")
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert result.exit_code in (0, 1) and "data:image/png;base64," in html


def test_c36_run_name_with_mathtext_plots(tmp_path):
    run = tmp_path / "math$\\nosuch$run"
    run.mkdir()
    (run / "config.toml").write_text(CONFIG, encoding="utf-8")
    (run / "train.log").write_text("step 1 loss=0.3 lr=1e-4\nstep 2 loss=0.2 lr=1e-4\n", encoding="utf-8")
    result = _diagnose(run.name, "--plots", "plots", cwd=tmp_path)
    assert result.exit_code in (0, 1)
    assert list((tmp_path / "plots").glob("*.png"))


def test_quadratic_number_and_overlong_lines_are_bounded(tmp_path):
    run = _run(tmp_path, {"config.toml": CONFIG, "train.log": "loss " + "9" * 16000 + "\nloss 0.5 step 3\n"})
    report = json.loads(_diagnose(run, "--format", "json").stdout)
    assert report["runs"][0]["summary"]["log_lines_skipped"] >= 1


def test_sparse_and_unreadable_logs_are_warnings(tmp_path):
    run = _run(tmp_path, {"config.toml": CONFIG})
    with (run / "train.log").open("wb") as handle:
        handle.truncate(200 * 1024 * 1024)  # sparse: NUL bytes, no newline
    (run / "metrics.csv").write_text("step,loss\n1,0.1\n")
    with (run / "metrics.csv").open("ab") as handle:
        handle.truncate(300 * 1024 * 1024)
    report = json.loads(_diagnose(run, "--format", "json").stdout)
    warnings = " ".join(report["runs"][0]["warnings"])
    assert "train.log: binary data" in warnings

"""`rundiff diagnose` as a user runs it: formats, exit codes, --ignore, --plots, -o, bad input."""

import json
import shutil

from diagnose_factories import SAMPLE_RUNS, write_healthy_kohya_logs
from typer.testing import CliRunner

from rundiff.cli import app

RUNNER = CliRunner()
WARMUP_ZERO = SAMPLE_RUNS / "warmup_lr_zero"

HEALTHY_YAML = """\
network:
  network_dim: 32
  network_alpha: 16
training:
  training_type: lora
  learning_rate: 1.0e-4
  unet_lr: 1.0e-4
  text_encoder_lr: 5.0e-5
  optimizer_type: AdamW8bit
  lr_scheduler: cosine_with_restarts
  lr_scheduler_num_cycles: 3
  train_batch_size: 4
  max_train_epochs: 10
dataset:
  image_count: 203
  num_repeats: 10
"""


def _invoke(*args):
    return RUNNER.invoke(app, ["diagnose", *map(str, args)])


def test_json_findings_and_exit_1_on_errors():
    result = _invoke(WARMUP_ZERO, "--format", "json")
    assert result.exit_code == 1, result.output
    payload = json.loads(result.stdout)
    rules = {f["rule"] for f in payload["findings"]}
    assert {"lr-zero-at-start", "params-not-moving", "val-loss-constant", "loss-not-finite"} <= rules
    keys = {"rule", "severity", "run", "message", "evidence", "fix", "based_on"}
    assert all(set(f) == keys for f in payload["findings"])


def test_exit_zero_and_ignore():
    assert _invoke(WARMUP_ZERO, "--exit-zero").exit_code == 0
    ignored = [
        "lr-zero-at-start",
        "params-not-moving",
        "val-loss-constant",
        "loss-not-finite",
        "warmup-too-long",
        "lr-observed-mismatch",
    ]
    args = [x for rule in ignored for x in ("--ignore", rule)]
    result = _invoke(WARMUP_ZERO, "--format", "json", *args)
    payload = json.loads(result.stdout)
    assert not {f["rule"] for f in payload["findings"]} & set(ignored)
    assert result.exit_code == 0


def test_healthy_run_exits_0_with_no_findings(tmp_path):
    (tmp_path / "config.yaml").write_text(HEALTHY_YAML)
    write_healthy_kohya_logs(tmp_path)
    result = _invoke(tmp_path)
    assert result.exit_code == 0, result.output
    assert "no findings" in result.stdout and "0 error(s), 0 warning(s)" in result.stdout


def test_markdown_html_and_plots(tmp_path):
    run = tmp_path / "run_<b>bold&"
    shutil.copytree(WARMUP_ZERO, run)
    plots = tmp_path / "plots"
    report = tmp_path / "report.html"
    result = _invoke(run, "--format", "html", "-o", report, "--plots", plots, "--exit-zero")
    assert result.exit_code == 0, result.output
    html = report.read_text()
    assert "run_&lt;b&gt;bold&amp;" in html and "<b>bold" not in html
    assert html.count("data:image/png;base64,") == 2  # LR and loss (no EMA in this run)
    assert "<link" not in html and "<script" not in html
    assert sorted(p.name for p in plots.iterdir()) == ["run_b_bold_loss.png", "run_b_bold_lr.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in plots.iterdir())
    md = _invoke(WARMUP_ZERO, "--format", "md", "--exit-zero").stdout
    assert "| error | `lr-zero-at-start` |" in md and "### Simulated numbers" in md


def test_values_near_the_float_limit_are_left_off_the_plots_not_a_crash(tmp_path):
    """An LR of 1e308 and a log step of 1e308 (found by the fuzzer) made matplotlib's tick arithmetic
    overflow; such points are not drawn, and the ordinary ones still are."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.toml").write_text("learning_rate = 1e+308\nmax_train_steps = 100\n")
    (run / "train.log").write_text(
        "steps: 10/100 avr_loss=0.12\nsteps: 20/100 avr_loss=0.11\nepoch 1, step 1e+308, loss=101\n"
    )
    plots = tmp_path / "plots"
    result = _invoke(run, "--plots", plots, "--exit-zero")
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert (plots / "run_loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    for args in ([tmp_path / "missing"], [WARMUP_ZERO, "--format", "pdf"], [WARMUP_ZERO, "--ignore", "nope"]):
        result = _invoke(*args)
        assert result.exit_code == 2, (args, result.output)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("rundiff: error: ")
        assert "Traceback" not in result.output

"""One output contract for every command: --format, -o (the extension picks the format), --open,
impossible combinations refused with exit 2 before anything is written; --version, -h, exit codes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rundiff.cli import app
from rundiff.errors import RundiffError
from rundiff.report.output import choose_output

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]
WARMUP_ZERO = ROOT / "sample_runs" / "warmup_lr_zero"
ALL = ("text", "md", "html", "json", "csv")


@pytest.fixture
def run(tmp_path):
    folder = tmp_path / "A"
    folder.mkdir()
    (folder / "train.sh").write_text("accelerate launch train_network.py --network_dim=8 --learning_rate=1e-4\n")
    return folder


@pytest.mark.parametrize(
    "output, fmt, expected",
    [
        (None, None, "text"),
        (None, "md", "md"),
        ("r.html", None, "html"),
        ("r.HTM", None, "html"),
        ("r.txt", None, "text"),
        ("r.txt", "text", "text"),
        ("r.out", "json", "json"),
        ("r.markdown", "md", "md"),
    ],
)
def test_format_from_options_and_extension(tmp_path, output, fmt, expected):
    assert choose_output(tmp_path / output if output else None, fmt, ALL).format == expected


@pytest.mark.parametrize(
    "output, fmt, message",
    [
        ("r.html", "md", "does not match the extension"),
        ("r.xyz", None, "cannot tell the format"),
        (None, "pdf", "unknown format"),
        ("r.csv", None, "cannot write csv"),
    ],
)
def test_impossible_combinations_are_user_errors(tmp_path, output, fmt, message):
    with pytest.raises(RundiffError, match=message):
        choose_output(tmp_path / output if output else None, fmt, ("text", "md", "html", "json"))


def test_open_needs_a_file(tmp_path):
    with pytest.raises(RundiffError, match="--open needs -o"):
        choose_output(None, "html", ALL, open_after=True)


def test_compare_text_to_a_txt_file_writes_it(tmp_path, run):
    out = tmp_path / "x.txt"
    result = runner.invoke(app, ["compare", str(run), "--format", "text", "-o", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "Training runs compared" in text and "\x1b[" not in text


@pytest.mark.parametrize("command", ["compare", "diagnose"])
def test_mismatched_format_and_extension_is_exit_2_and_writes_nothing(tmp_path, run, command):
    out = tmp_path / "x.html"
    result = runner.invoke(app, [command, str(run), "--format", "md", "-o", str(out)])
    assert result.exit_code == 2 and "does not match" in result.stderr
    assert not out.exists()


def test_diagnose_html_extension_writes_html(tmp_path):
    out = tmp_path / "x.html"
    result = runner.invoke(app, ["diagnose", str(WARMUP_ZERO), "-o", str(out), "--exit-zero"])
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith("<!DOCTYPE html>")
    out = tmp_path / "x.json"
    runner.invoke(app, ["diagnose", str(WARMUP_ZERO), "-o", str(out), "--exit-zero"])
    assert "findings" in json.loads(out.read_text())


def test_infer_rank_follows_the_same_contract(tmp_path):
    lora = ROOT / "tests" / "fixtures" / "real_kohya" / "tiny_lora_dim1_fp16.safetensors"
    out = tmp_path / "info.json"
    assert runner.invoke(app, ["infer-rank", str(lora), "-o", str(out)]).exit_code == 0
    assert json.loads(out.read_text())["rank"] is not None
    html = tmp_path / "info.html"
    assert runner.invoke(app, ["infer-rank", str(lora), "-o", str(html)]).exit_code == 0
    assert html.read_text().startswith("<!DOCTYPE html>") and "<th>rank</th><td>1</td>" in html.read_text()
    md = runner.invoke(app, ["infer-rank", str(lora), "--format", "md"])
    assert md.exit_code == 0 and "| rank | 1 |" in md.stdout and "`ss_network_dim` = 1" in md.stdout
    bad = runner.invoke(app, ["infer-rank", str(lora), "-o", str(tmp_path / "info.csv")])
    assert bad.exit_code == 2 and "cannot write csv" in bad.stderr
    size = runner.invoke(app, ["infer-rank", "--size", "72MB", "--format", "html"])
    assert size.exit_code == 2 and "--size writes text or json" in size.stderr


def test_infer_rank_md_and_html_show_a_save_series_as_one_table(tmp_path):
    import shutil

    lora = ROOT / "tests" / "fixtures" / "real_kohya" / "tiny_lora_dim1_fp16.safetensors"
    for name in ("lo-000001", "lo-000002", "lo"):
        shutil.copy(lora, tmp_path / f"{name}.safetensors")
    md = runner.invoke(app, ["infer-rank", str(tmp_path), "--format", "md"])
    assert md.exit_code == 0, md.output
    assert "3 saves" in md.stdout and "| epoch | step | rank | alpha | dtype | size |" in md.stdout
    assert "| final |" in md.stdout and md.stdout.count("| 0.5 |") == 3
    html = runner.invoke(app, ["infer-rank", str(tmp_path), "--format", "html"])
    assert html.stdout.count("<td>final</td>") == 1 and "<th>epoch</th>" in html.stdout


def test_open_starts_the_browser_on_the_written_file(tmp_path, run, monkeypatch):
    marker = tmp_path / "opened"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\necho "$1" > {marker}\n')
    browser.chmod(0o755)
    monkeypatch.setenv("BROWSER", str(browser))
    out = tmp_path / "r.html"
    result = runner.invoke(app, ["compare", str(run), "-o", str(out), "--open"])
    assert result.exit_code == 0, result.output
    for _ in range(50):
        if marker.exists() and marker.read_text().strip():
            break
        import time

        time.sleep(0.1)
    assert marker.read_text().strip() == out.resolve().as_uri()


def test_version_short_help_and_exit_codes_in_help():
    assert runner.invoke(app, ["--version"]).stdout.startswith("rundiff ")
    helped = runner.invoke(app, ["-h"])
    assert helped.exit_code == 0 and "Exit codes" in helped.stdout
    assert "Exit codes" in runner.invoke(app, ["diagnose", "-h"]).stdout
    assert "--install-completion" in helped.stdout
    from rundiff.cli import overview

    assert "--install-completion" in overview() and "Exit codes" in overview()  # what `rundiff -h` prints


def test_piped_output_takes_its_width_from_columns_not_a_fixed_200(run):
    env = {**os.environ, "COLUMNS": "70", "PYTHONPATH": str(ROOT / "src")}
    result = subprocess.run(
        [sys.executable, "-m", "rundiff", "compare", str(run), "--all"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert max(len(line) for line in result.stdout.splitlines()) <= 70

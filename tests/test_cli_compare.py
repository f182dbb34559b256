"""`rundiff compare` as a user runs it: formats, determinism, escaping, bad input, start-up."""

import json
import subprocess
import sys
import textwrap

import pytest
from typer.testing import CliRunner

from rundiff.cli import app

runner = CliRunner()


def write_run(root, name, dim, alpha, extra=""):
    run = root / name
    run.mkdir(parents=True)
    (run / "train.sh").write_text(
        textwrap.dedent(f"""
        accelerate launch train_network.py \\
          --pretrained_model_name_or_path=/models/sd15.safetensors \\
          --network_module=networks.lora --network_dim={dim} --network_alpha={alpha} \\
          --learning_rate=1e-4 --optimizer_type=AdamW8bit --resolution=512 {extra}
        """).lstrip()
    )
    return run


@pytest.fixture
def two_runs(tmp_path):
    return write_run(tmp_path, "A", 16, 8), write_run(tmp_path, "B", 32, 16, "--shuffle_caption")


@pytest.mark.parametrize("suffix", [".md", ".html", ".json", ".csv"])
def test_every_format_is_written_and_deterministic(tmp_path, two_runs, suffix):
    out1, out2 = tmp_path / f"r1{suffix}", tmp_path / f"r2{suffix}"
    for out in (out1, out2):
        result = runner.invoke(app, ["compare", *map(str, two_runs), "-o", str(out)])
        assert result.exit_code == 0, result.output
    assert out1.read_bytes() == out2.read_bytes()
    text = out1.read_text()
    assert "network_dim" in text
    if suffix == ".json":
        data = json.loads(text)
        row = next(p for p in data["parameters"] if p["name"] == "network_dim")
        assert row["values"]["B"] == {
            "value": 32,
            "provenance": "explicit",
            "source": row["values"]["B"]["source"],
            "note": None,
            "confirmed_by": [],
            "change": "changed",
            "inactive": None,
        }
    if suffix == ".csv":
        header = text.splitlines()[0]
        assert header.startswith("parameter,category,impact,status,A,B")


def test_terminal_shows_differences_and_hides_same_rows_behind_a_count(two_runs):
    result = runner.invoke(app, ["compare", *map(str, two_runs)])
    assert result.exit_code == 0, result.output
    assert "network_dim" in result.stdout and "shuffle_caption" in result.stdout
    assert "same in every run" in result.stdout
    tables, same = result.stdout.split("What stayed the same")
    assert "learning_rate" not in tables and "learning_rate 0.0001" in same  # same in both: listed, not tabled
    shown_all = runner.invoke(app, ["compare", *map(str, two_runs), "--all"])
    assert "learning_rate" in shown_all.stdout


def test_markdown_has_the_seed_report_sections(tmp_path, two_runs):
    out = tmp_path / "r.md"
    runner.invoke(app, ["compare", *map(str, two_runs), "--good", "A", "--bad", "B", "-o", str(out)])
    text = out.read_text()
    for heading in (
        "## Runs",
        "## Changes per category",
        "## Suspects",
        "## Parameters by category",
        "### Network (LoRA)",
        "## What changed (against A)",
        "## What stayed the same",
    ):
        assert heading in text, heading
    assert "network_dim** (Network (LoRA), high): 16 → 32 (changed)" in text


def test_html_is_self_contained_and_escapes_file_content(tmp_path):
    evil = "<script>alert(1)</script>"
    a = write_run(tmp_path, "A", 16, 8, f'--output_name="{evil}"')
    b = write_run(tmp_path, "B", 32, 16, '--output_name="ok"')
    out = tmp_path / "r.html"
    result = runner.invoke(app, ["compare", str(a), str(b), "-o", str(out)])
    assert result.exit_code == 0, result.output
    html = out.read_text()
    assert evil not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<style>" in html and "http://" not in html and "https://" not in html


def test_many_runs_turn_tables_to_one_row_per_run(tmp_path):
    runs = [write_run(tmp_path, f"r{i:02d}", 4 * (i + 1), 4) for i in range(8)]
    out = tmp_path / "sweep.md"
    result = runner.invoke(app, ["compare", *map(str, runs), "-o", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "## Differing parameters, one row per run" in text
    assert "| r07 | 0.125 *(derived)* **changed** | 32 **changed** |" in text
    assert "### r07" not in text  # no per-run change lists in a sweep: the table says it


def _bad_input(tmp_path, case):
    if case == "missing":
        return tmp_path / "nope"
    if case == "malformed":
        bad = tmp_path / "bad.toml"
        bad.write_text("network_dim = = 3\n")
    elif case == "unknown":
        bad = tmp_path / "notes.xyz"
        bad.write_text("hello")
    else:
        bad = tmp_path / "empty_run"
        bad.mkdir()
    return bad


@pytest.mark.parametrize("case", ["missing", "malformed", "unknown", "empty"])
def test_bad_input_alone_is_one_line_exit_2_and_writes_nothing(tmp_path, two_runs, case):
    bad = _bad_input(tmp_path, case)
    out = tmp_path / "report.html"
    runs = [str(two_runs[0]), str(bad)] if case == "missing" else [str(bad)]
    result = runner.invoke(app, ["compare", *runs, "-o", str(out)])
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("rundiff: error: ") and str(bad.name) in lines[0]
    assert "Traceback" not in result.output
    assert not out.exists()
    if case == "malformed":
        assert "bad.toml:1" in lines[0]


@pytest.mark.parametrize("case", ["malformed", "unknown", "empty"])
def test_one_unreadable_run_is_left_out_with_a_warning_and_the_others_compared(tmp_path, two_runs, case):
    bad = _bad_input(tmp_path, case)
    out = tmp_path / "report.json"
    result = runner.invoke(app, ["compare", *map(str, two_runs), str(bad), "-o", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert [r["name"] for r in data["runs"]] == ["A", "B"]
    assert len(data["left_out"]) == 1 and bad.name in data["left_out"][0]
    text = runner.invoke(app, ["compare", *map(str, two_runs), str(bad)]).stdout
    assert "left out" in text and bad.name in text


def test_one_bad_file_in_a_run_folder_is_a_warning(tmp_path):
    run = write_run(tmp_path, "A", 16, 8)
    (run / "broken.toml").write_text("x = [\n")
    other = write_run(tmp_path, "B", 16, 8)
    result = runner.invoke(app, ["compare", str(run), str(other), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert any("broken.toml" in w for w in data["runs"][0]["warnings"])


def test_unknown_baseline_or_label_is_a_user_error(two_runs):
    result = runner.invoke(app, ["compare", *map(str, two_runs), "--baseline", "C"])
    assert result.exit_code == 2 and "C" in result.stderr


def test_help_and_compare_never_import_the_heavy_stack(two_runs):
    code = textwrap.dedent(f"""
        import sys
        from rundiff.cli import app
        try:
            app(["--help"])
        except SystemExit:
            pass
        heavy = [m for m in ("torch", "matplotlib", "pandas", "tensorboard", "diffusers") if m in sys.modules]
        print("help:", heavy)
        try:
            app(["compare", {str(two_runs[0])!r}, {str(two_runs[1])!r}, "--format", "json"])
        except SystemExit:
            pass
        heavy = [m for m in ("torch", "matplotlib", "diffusers") if m in sys.modules]
        print("compare:", heavy)
        """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "help: []" in result.stdout
    assert "compare: []" in result.stdout

"""rundiff.api: one function per command, and one render layer for every result and format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rundiff import api
from rundiff.cli import app
from rundiff.errors import RundiffError

ROOT = Path(__file__).resolve().parents[1]
LORA = ROOT / "tests" / "fixtures" / "real_kohya" / "tiny_lora_dim1_fp16.safetensors"


def write_run(root: Path, name: str, dim: int) -> Path:
    run = root / name
    run.mkdir()
    (run / "train.sh").write_text(
        f"accelerate launch train_network.py --network_dim={dim} --learning_rate=1e-4 --max_train_steps=100\n"
    )
    return run


def test_compare_renders_in_every_format_through_one_function(tmp_path):
    comparison = api.compare([write_run(tmp_path, "A", 8), write_run(tmp_path, "B", 16)], good=["A"], bad=["B"])
    assert comparison.suspects[0].name == "network_dim"
    for fmt, marker in (
        ("md", "## Summary"),
        ("html", 'id="summary"'),
        ("text", "Summary"),
        ("csv", "parameter,category"),
        ("json", '"suspects"'),
    ):
        assert marker in api.render(comparison, fmt), fmt
    assert json.loads(api.render(comparison, "json"))["counts"]["differs"] >= 1


def test_diagnose_inspect_and_plan(tmp_path):
    diagnosis = api.diagnose([ROOT / "sample_runs" / "warmup_lr_zero"])
    assert any(f.rule == "lr-zero-at-start" for f in diagnosis.findings)
    assert "lr-zero-at-start" in api.render(diagnosis, "md")
    info = api.inspect_lora(LORA)
    assert info.rank == 1 and '"rank": 1' in api.render(info, "json")
    plan = api.plan_ablation(write_run(tmp_path, "base", 8), ["network_dim"], values=["4", "16"], steps=10)
    assert {v.overrides["network_dim"] for v in plan.variants} >= {4, 16}


def test_render_refuses_a_format_a_result_has_not(tmp_path):
    comparison = api.compare([write_run(tmp_path, "A", 8)])
    with pytest.raises(RundiffError):
        api.render(api.inspect_lora(LORA), "csv")
    assert api.render(comparison, "csv").startswith("parameter,")


def test_ablate_refuses_a_report_file_name_as_its_sweep_folder(tmp_path):
    base = write_run(tmp_path, "base", 8)
    out = tmp_path / "report.html"
    result = CliRunner().invoke(
        app, ["ablate", "--base", str(base), "--vary", "network_dim", "--values", "4", "-o", str(out), "--dry-run"]
    )
    assert result.exit_code == 2 and "sweep folder" in result.stderr and not out.exists()


def test_every_diagnose_output_lists_the_files_not_read(tmp_path):
    run = write_run(tmp_path, "run", 8)
    (run / "notes.xyz").write_text("not a training file")
    diagnosis = api.diagnose([run])
    data = json.loads(api.render(diagnosis, "json"))
    assert any(k["path"].endswith("notes.xyz") for k in data["runs"][0]["skipped"])
    assert "notes.xyz" in api.render(diagnosis, "md") and "notes.xyz" in api.render(diagnosis, "html")
    assert "1 file(s) not read" in api.render(diagnosis, "text")

"""Curves, sample images and `--metric` effects in the comparison reports."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rundiff.cli import app

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "sample_runs" / "kohya_tiny_lora"


def write_run(root: Path, name: str, dim: int, score: float | None = None, outcome: str | None = None) -> Path:
    run = root / name
    run.mkdir(parents=True)
    (run / "train.sh").write_text(
        f"accelerate launch train_network.py --network_dim={dim} --learning_rate=1e-4 "
        f"--seed={sum(map(ord, name))} --output_name={name}\n"
    )
    lines = [f"outcome: {outcome}"] if outcome else []
    if score is not None:
        lines.append(f"metrics: {{fid: {score}}}")
    if lines:
        (run / "rundiff.yaml").write_text("\n".join(lines) + "\n")
    return run


def test_metric_effect_ranks_the_parameter_that_moves_the_outcome(tmp_path):
    runs = [
        write_run(tmp_path, f"r{i}", dim, score)
        for i, (dim, score) in enumerate([(8, 10.0), (8, 10.4), (32, 20.0), (32, 20.6), (8, 9.8)])
    ]
    result = runner.invoke(app, ["compare", *map(str, runs), "--format", "json", "--metric", "fid"])
    assert result.exit_code == 0, result.output
    metric = json.loads(result.stdout)["metric"]
    assert metric["name"] == "fid" and len(metric["runs"]) == 5
    top = metric["effects"][0]
    assert top["name"] == "network_dim" and top["effect"] == pytest.approx(20.3 - 10.066666, rel=1e-4)
    assert top["ratio"] > 10
    assert all(e["name"] not in ("seed", "output_name") for e in metric["effects"])  # identifiers never


def test_metric_missing_everywhere_says_so(tmp_path):
    runs = [write_run(tmp_path, "a", 8), write_run(tmp_path, "b", 16)]
    result = runner.invoke(app, ["compare", *map(str, runs), "--metric", "fid", "-o", str(tmp_path / "r.md")])
    assert result.exit_code == 0, result.output
    assert "No run has a value for fid" in (tmp_path / "r.md").read_text()


def test_seed_and_output_names_are_replicates_never_suspects(tmp_path):
    runs = [write_run(tmp_path, f"run{i}", 8, outcome="good" if i % 2 else "bad") for i in range(8)]
    result = runner.invoke(app, ["compare", *map(str, runs), "--format", "json"])
    data = json.loads(result.stdout)
    seed = next(p for p in data["parameters"] if p["name"] == "seed")
    assert seed["replicate"] is True and seed["status"] == "differs"
    assert data["suspects"] == [] and data["counts"]["differs"] == 0 and data["counts"]["replicates_differ"] == 2


def test_suspect_reasons_stay_short_in_a_large_sweep(tmp_path):
    runs = [
        write_run(tmp_path, f"run{i:03d}", 8 if i == 0 else 16, outcome="good" if i == 0 else "bad") for i in range(40)
    ]
    data = json.loads(runner.invoke(app, ["compare", *map(str, runs), "--format", "json", "--no-diagnose"]).stdout)
    reason = next(s for s in data["suspects"] if s["name"] == "network_dim")["reason"]
    assert "and 36 more" in reason and len(reason) < 200


@pytest.fixture
def two_logged_runs(tmp_path):
    from PIL import Image

    runs = []
    for name, colour in (("A", (200, 30, 30)), ("B", (30, 30, 200))):
        run = tmp_path / name
        shutil.copytree(TINY, run)
        sample = run / "output" / "sample"
        sample.mkdir(parents=True)
        (sample / "prompt.txt").write_text("a photo of sks dog --n blurry\npixel art cat\n")
        for step in ("000010", "000020"):
            Image.new("RGB", (64, 64), colour).save(sample / f"tiny_lora_{step}_00_20261121120000.png")
        runs.append(run)
    return runs


def test_curves_and_samples_in_html_and_beside_markdown(two_logged_runs, tmp_path):
    html = tmp_path / "r.html"
    assert runner.invoke(app, ["compare", *map(str, two_logged_runs), "-o", str(html)]).exit_code == 0
    text = html.read_text()
    assert text.count("data:image/png;base64,") == 2  # loss and LR overlays
    assert "a photo of sks dog" in text and text.count("data:image/jpeg;base64,") == 4  # 2 steps x 2 runs
    md = tmp_path / "r.md"
    assert runner.invoke(app, ["compare", *map(str, two_logged_runs), "-o", str(md)]).exit_code == 0
    body = md.read_text()
    assert "](r_files/loss.png)" in body and (tmp_path / "r_files" / "lr.png").read_bytes()[:4] == b"\x89PNG"
    assert "](A/output/sample/tiny_lora_000020_00_20261121120000.png)" in body
    plain = runner.invoke(
        app, ["compare", *map(str, two_logged_runs), "--no-curves", "--no-samples", "-o", str(tmp_path / "n.html")]
    )
    assert plain.exit_code == 0 and "data:image" not in (tmp_path / "n.html").read_text()


def test_plot_axes_never_use_an_offset(two_logged_runs):
    import matplotlib

    from rundiff.api import load_run
    from rundiff.report.curves import overlay_curves

    overlay_curves([load_run(p) for p in two_logged_runs])
    assert matplotlib.rcParams["axes.formatter.useoffset"] is False

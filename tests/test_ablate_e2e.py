"""`rundiff ablate` end to end on the builtin trainer: two variants, their folders, the report."""

import json
import textwrap

import pytest
from typer.testing import CliRunner

from rundiff import compare_runs, load_run
from rundiff.cli import app

pytest.importorskip("torch", reason="the builtin trainer needs the ablate extra (torch, diffusers)")
pytest.importorskip("diffusers", reason="the builtin trainer needs the ablate extra (torch, diffusers)")


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    root = tmp_path_factory.mktemp("ablate")
    base = root / "base"
    base.mkdir()
    (base / "train.sh").write_text(
        textwrap.dedent("""
        accelerate launch train_network.py --network_module=networks.lora --network_dim=4 --network_alpha=2 \\
          --learning_rate=1e-3 --optimizer_type=AdamW --lr_scheduler=constant --resolution=64 \\
          --train_batch_size=1 --max_train_steps=100 --seed=7
        """)
    )
    out = root / "sweep"
    args = [
        "ablate",
        "--base",
        str(base),
        "--vary",
        "network_dim",
        "--values",
        "2,4",
        "--steps",
        "2",
        "--backend",
        "builtin",
        "--jobs",
        "2",
        "-o",
        str(out),
    ]
    first = CliRunner().invoke(app, args)
    second = CliRunner().invoke(app, args)  # everything finished: nothing is trained again
    return out, first, second


def test_the_sweep_trains_each_variant_into_its_own_folder(sweep):
    out, first, _ = sweep
    assert first.exit_code == 0, first.output
    assert json.loads((out / "plan.json").read_text())["factors"] == ["network_dim"]
    for name in ("network_dim=2", "network_dim=4"):
        folder = out / name
        record = json.loads((folder / "variant.json").read_text())
        assert record["status"] == "done", record["stderr_tail"]
        header = (folder / "metrics.csv").read_text().splitlines()[0].split(",")
        assert {"step", "loss", "grad_norm", "dw", "dw_rel"} <= set(header)
        assert any(c.startswith("lr/") for c in header)
        assert len((folder / "metrics.csv").read_text().splitlines()) == 3  # header + 2 steps
        assert (folder / "lora.safetensors").is_file() and (folder / "config.toml").is_file()


def test_report_is_written_with_a_verdict(sweep):
    out, first, _ = sweep
    report = json.loads((out / "report.json").read_text())
    assert report["proxy"] is True
    [factor] = report["factors"]
    assert factor["name"] == "network_dim" and factor["verdict"] == "spread_unknown"
    assert "network_dim" in first.stdout and "spread unknown with one seed" in first.stdout
    assert (out / "report.html").read_text().count("data:image/png;base64,") >= 2
    # the short run's horizon and the engine are stated in the plan, the report and on the terminal
    assert report["horizon"] == "compressed" and report["executor"]["name"] == "local"
    assert (
        "compressed: the constant schedule squeezed into 2 steps (base schedule 100 steps, warmup 0)"
        in report["schedules"][0]
    )
    markdown = (out / "report.md").read_text()
    assert "executor local" in markdown and "LR horizon compressed" in markdown
    assert "LR horizon compressed" in first.output


def test_a_rerun_skips_finished_variants(sweep):
    _, _, second = sweep
    assert second.exit_code == 0, second.output
    assert "(skipped)" in second.output


def test_variant_folders_are_runs_that_differ_only_in_the_varied_parameter(sweep):
    out, _, _ = sweep
    runs = [load_run(out / "network_dim=2"), load_run(out / "network_dim=4")]
    differing = {row.name for row in compare_runs(runs).rows if row.status != "same"}
    assert differing == {"network_dim", "lora_scale"}  # lora_scale is alpha/dim, derived from it
    # the script value, the ss_* metadata and the weights agree
    cell = runs[1].cells["network_dim"]
    assert cell.value == 4 and {c.split(":")[0] for c in cell.confirmed_by} == {"metadata", "weights"}

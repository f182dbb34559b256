"""Opt-in: rundiff ablate -> compare -> infer-rank -> diagnose against the REAL kohya-ss sd-scripts trainer.

Runs only with `pytest -m sd_scripts tests/test_real_sd_scripts.py -s` and, in the environment:
  SD_SCRIPTS_DIR  a work tree of github.com/kohya-ss/sd-scripts (train_network.py in it)
  KOHYA_VENV      a virtual environment with its requirements (else SD_SCRIPTS_DIR/venv)
  TINY_SD_DIR     the tiny model from shared/tools/make_tiny_sd.py (model/, tokenizer_cache/)
Recipe: shared/reference/kohya-offline-tiny.md. Five real 10-step trainings on the tiny model, about
25-30 s each on 2 CPU cores (7 GB peak memory each): about 2.5 minutes. The wall times are printed.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BASE_RUN = ROOT / "sample_runs" / "kohya_tiny_lora"
REQUIREMENTS = ("torch", "accelerate", "diffusers", "transformers", "safetensors", "library")

pytestmark = pytest.mark.sd_scripts


def _environment() -> tuple[Path, Path, Path] | str:
    """(sd-scripts dir, its python, tiny model dir), or why the test cannot run."""
    raw = os.environ.get("SD_SCRIPTS_DIR")
    if not raw:
        return "SD_SCRIPTS_DIR is not set (a kohya-ss/sd-scripts work tree with its requirements installed)"
    sd_scripts = Path(raw)
    if not (sd_scripts / "train_network.py").is_file():
        return f"SD_SCRIPTS_DIR={raw} holds no train_network.py"
    venvs = [Path(os.environ["KOHYA_VENV"])] if os.environ.get("KOHYA_VENV") else []
    venvs.append(sd_scripts / "venv")
    python = next((v / "bin" / "python" for v in venvs if (v / "bin" / "python").is_file()), None)
    if python is None:
        return f"no python with sd-scripts' requirements: set KOHYA_VENV (looked in {', '.join(map(str, venvs))})"
    probe = f"import importlib.util as u; print(' '.join(m for m in {REQUIREMENTS!r} if u.find_spec(m) is None))"
    missing = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, cwd=sd_scripts)
    if missing.returncode != 0 or missing.stdout.strip():
        return f"{python} lacks sd-scripts' requirements: {missing.stdout.strip() or missing.stderr.strip()}"
    tiny = Path(os.environ.get("TINY_SD_DIR", ""))
    if (
        not os.environ.get("TINY_SD_DIR")
        or not (tiny / "model" / "model_index.json").is_file()
        or not (tiny / "tokenizer_cache" / "openai_clip-vit-large-patch14").is_dir()
    ):
        return "TINY_SD_DIR does not hold the tiny model (make_tiny_sd.py TINY_SD_DIR: model/, tokenizer_cache/)"
    return sd_scripts, python, tiny


ENV = _environment()
if isinstance(ENV, str):
    pytestmark = [pytest.mark.sd_scripts, pytest.mark.skip(reason=ENV)]


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """The sample kohya run (dim 4 here, cosine, 0 warmup) and both real sweeps, trained once."""
    sd_scripts, python, tiny = ENV
    root = tmp_path_factory.mktemp("real_kohya")
    base = root / "base"
    base.mkdir()
    shutil.copytree(BASE_RUN / "dataset", base / "dataset")
    script = (BASE_RUN / "train.sh").read_text()
    for old, new in (
        ("${SD_SCRIPTS_DIR:-/work/sd-scripts}", str(sd_scripts)),
        ("${KOHYA_VENV:-/work/kohya-venv}", str(python.parent.parent)),
        ("${TINY_SD_DIR:-/work/tiny-sd}", str(tiny)),
        ("--network_dim=1 ", "--network_dim=4 "),
    ):
        assert old in script
        script = script.replace(old, new)
    (base / "train.sh").write_text(script)
    sweeps, times = {}, {}
    for factor, values in (("network_dim", "4,8"), ("lr_warmup_steps", "0,5")):
        out = root / factor
        started = time.perf_counter()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "rundiff",
                "ablate",
                "--backend",
                "kohya",
                "--kohya-dir",
                str(sd_scripts),
                "--kohya-python",
                str(python),
                "--base",
                str(base),
                "--vary",
                factor,
                "--values",
                values,
                "--steps",
                "10",
                "-o",
                str(out),
            ],
            capture_output=True,
            text=True,
            timeout=900,
        )
        times[factor] = time.perf_counter() - started
        assert done.returncode == 0, done.stderr[-3000:]
        sweeps[factor] = out
    records = {p.parent.name: json.loads(p.read_text()) for s in sweeps.values() for p in s.glob("*/variant.json")}
    print(
        "\nreal sd-scripts wall times: "
        + ", ".join(f"{k} sweep {v:.1f} s" for k, v in times.items())
        + "; "
        + ", ".join(f"{n} {r['wall_time_s']:.1f} s" for n, r in sorted(records.items()))
    )
    return sweeps, records, python


def _rows(folder: Path) -> list[dict[str, str]]:
    with (folder / "metrics.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


def _rundiff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rundiff", *args], capture_output=True, text=True, timeout=300)


def test_real_sweeps_finish_and_read_back_their_tensorboard_logs(real):
    from rundiff.diagnose.schedule import LRSchedule
    from rundiff.normalise.steps import StepPlan

    sweeps, records, _ = real
    assert {n: r["status"] for n, r in records.items()} == dict.fromkeys(
        ["network_dim=4", "network_dim=8", "lr_warmup_steps=0", "lr_warmup_steps=5"], "done"
    )
    for out in sweeps.values():
        assert {"report.md", "report.html", "report.json"} <= {p.name for p in out.iterdir()}
    folder = sweeps["lr_warmup_steps"] / "lr_warmup_steps=5"
    rows = _rows(folder)
    assert [int(r["step"]) for r in rows] == list(range(1, 11)) and "lr/group1" not in rows[0]
    schedule = LRSchedule("cosine", 1e-4, StepPlan(total_steps=10, warmup_steps=5))
    for n, row in enumerate(rows, start=1):  # the real trainer logs the LR one step ahead
        assert float(row["lr/unet"]) == pytest.approx(schedule.lr(n), rel=1e-5, abs=1e-12)
        assert float(row["lr_applied/unet"]) == pytest.approx(schedule.lr(n - 1), rel=1e-5, abs=1e-12)
    assert float(rows[-1]["dw"]) > 0
    # the console's last tqdm avr_loss (3 significant digits) is TensorBoard's last loss/average
    console = (folder / "stderr.log").read_text(errors="replace").split("avr_loss=")[-1]
    assert float(console.split("]")[0]) == pytest.approx(float(rows[-1]["loss_avg"]), rel=5e-3)


def test_compare_shows_only_the_varied_parameter_with_script_metadata_and_weights_agreeing(real):
    import rundiff
    from rundiff.comparison.table import compare_runs
    from rundiff.model import Provenance

    sweeps, _, _ = real
    for factor, names in (
        ("network_dim", ("network_dim=4", "network_dim=8")),
        ("lr_warmup_steps", ("lr_warmup_steps=0", "lr_warmup_steps=5")),
    ):
        runs = [rundiff.load_run(sweeps[factor] / n) for n in names]
        comparison = compare_runs(runs)
        inputs = [
            row.name
            for row in comparison.differing()
            if any(e.cell.provenance is not Provenance.DERIVED for e in row.entries.values())
        ]
        assert inputs == [factor] and comparison.conflicts == []
        for run in runs:
            cell = run.get(factor)
            assert cell.provenance is Provenance.EXPLICIT
            assert any(c.startswith("metadata:") and f"ss_{factor}" in c for c in cell.confirmed_by)
            if factor == "network_dim":
                assert any(c.startswith("weights:") for c in cell.confirmed_by)


def test_infer_rank_reads_every_ss_key_the_trainer_wrote(real):
    from safetensors import safe_open

    sweeps, _, _ = real
    lora = sweeps["network_dim"] / "network_dim=8" / "output" / "tiny_lora.safetensors"
    with safe_open(str(lora), "np") as fh:
        written = fh.metadata()
    done = _rundiff("infer-rank", "--json", str(lora))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    ss_keys = [k for k in written if k.startswith("ss_")]
    assert len(ss_keys) >= 80
    assert {k: report["metadata"].get(k) for k in ss_keys} == {k: written[k] for k in ss_keys}
    assert report["rank"] == 8 and report["alpha"] == 0.5


def test_diagnose_finds_the_logged_lr_matching_and_catches_a_wrong_warmup(real, tmp_path):
    sweeps, _, _ = real
    folder = sweeps["lr_warmup_steps"] / "lr_warmup_steps=5"
    done = _rundiff("diagnose", str(folder), "--format", "json", "--exit-zero")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["runs"][0]["summary"]["warmup_steps"] == 5
    assert "lr-observed-mismatch" not in {f["rule"] for f in report["findings"]}
    wrong = tmp_path / "warmup_says_2"  # the same real logs, with a launch that claims 2 warmup steps
    wrong.mkdir()
    shutil.copytree(folder / "logs", wrong / "logs")
    (wrong / "train.sh").write_text(
        (folder / "train.sh").read_text().replace("--lr_warmup_steps=5", "--lr_warmup_steps=2")
    )
    done = _rundiff("diagnose", str(wrong), "--format", "json", "--exit-zero")
    findings = {f["rule"]: f for f in json.loads(done.stdout)["findings"]}
    assert "lr-observed-mismatch" in findings, done.stdout

"""Ctrl-C during a sweep keeps what finished; the same command again trains only the rest.

Runs the real `rundiff ablate` command line in a subprocess against the sd-scripts stand-in
(tests/standin), slowed down per step so there is time to interrupt it.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

STANDIN = Path(__file__).parent / "standin"


def make_base(root: Path) -> Path:
    base = root / "base"
    (base / "dataset" / "10_sks").mkdir(parents=True)
    (base / "model").mkdir()  # the stand-in never opens it; the backend checks it exists
    for i in range(2):
        (base / "dataset" / "10_sks" / f"img{i}.png").write_bytes(b"\x89PNG fake")
        (base / "dataset" / "10_sks" / f"img{i}.txt").write_text("sks, a photo")
    (base / "train.sh").write_text(
        textwrap.dedent("""\
        python train_network.py --pretrained_model_name_or_path=model \\
          --network_module=networks.lora --network_dim=4 --network_alpha=2 \\
          --learning_rate=1e-4 --lr_scheduler=cosine --train_data_dir=dataset --resolution=64 \\
          --caption_extension=.txt --output_dir=out --output_name=lora --max_train_steps=100
        """)
    )
    return base


def status(out: Path, name: str) -> str | None:
    try:
        return json.loads((out / name / "variant.json").read_text())["status"]
    except (OSError, ValueError, KeyError):
        return None


def test_ctrl_c_keeps_finished_variants_and_a_rerun_completes_the_sweep(tmp_path):
    base, out = make_base(tmp_path), tmp_path / "sweep"
    command = [
        sys.executable,
        "-m",
        "rundiff",
        "ablate",
        "--base",
        str(base),
        "--vary",
        "network_dim",
        "--values",
        "4,8,16",
        "--steps",
        "6",
        "--backend",
        "kohya",
        "--kohya-dir",
        str(STANDIN),
        "--kohya-python",
        sys.executable,
        "-o",
        str(out),
        # the trainer gets an allow-listed environment: hand it the stand-in's slow-down on purpose
        "--pass-env",
        "RUNDIFF_STANDIN_STEP_S",
    ]
    slow = {**os.environ, "RUNDIFF_STANDIN_STEP_S": "0.5"}
    process = subprocess.Popen(command, env=slow, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while status(out, "network_dim=4") != "done" or status(out, "network_dim=8") != "running":
        assert time.monotonic() < deadline, "the first variant never finished"
        assert process.poll() is None, process.communicate()
        time.sleep(0.1)
    time.sleep(1.0)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr
    assert status(out, "network_dim=4") == "done"
    assert status(out, "network_dim=8") == "interrupted"
    assert status(out, "network_dim=16") == "pending"
    assert (out / "report.json").is_file()  # what finished is reported

    again = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert "network_dim=4 (skipped)" in again.stdout + again.stderr
    assert [status(out, n) for n in ("network_dim=4", "network_dim=8", "network_dim=16")] == ["done"] * 3

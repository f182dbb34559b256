"""Diagnose against TensorBoard events the real sd-scripts trainer wrote (tests/fixtures/real_kohya).

The real trainer logs `lr/*` one step ahead: the value at step N is the LR after N scheduler steps.
Read exactly that way, the logged warmup of 5 matches a config saying 5 and is caught for 4 or 6.
"""

import shutil
from pathlib import Path

import pytest

from rundiff import load_run
from rundiff.diagnose import diagnose_run

EVENTS = Path(__file__).parent / "fixtures" / "real_kohya" / "events.out.tfevents.kohya_tiny_lora_dim8_warmup5"
LAUNCH = (
    "accelerate launch train_network.py --network_module=networks.lora --network_dim=8 --network_alpha=0.5 "
    "--optimizer_type=AdamW --learning_rate=1e-4 --lr_scheduler=cosine --lr_warmup_steps={warmup} "
    "--train_batch_size=1 --max_train_steps=10 --seed=42\n"
)


def run_with_warmup(tmp_path: Path, warmup: int):
    folder = tmp_path / f"warmup{warmup}"
    (folder / "logs" / "20261121120000" / "network_train").mkdir(parents=True)
    shutil.copy(EVENTS, folder / "logs" / "20261121120000" / "network_train" / EVENTS.name)
    (folder / "train.sh").write_text(LAUNCH.format(warmup=warmup))
    return load_run(folder)


def test_the_real_warmup_matches_its_own_config(tmp_path):
    rules = {f.rule for f in diagnose_run(run_with_warmup(tmp_path, 5))}
    assert "lr-observed-mismatch" not in rules


@pytest.mark.parametrize("wrong", [2, 4, 6])
def test_a_wrong_simulated_warmup_is_caught(tmp_path, wrong):
    findings = [f for f in diagnose_run(run_with_warmup(tmp_path, wrong)) if f.rule == "lr-observed-mismatch"]
    assert findings, f"warmup {wrong} vs the logged 5 was not caught"
    assert findings[0].evidence["mismatched_points"] >= 2

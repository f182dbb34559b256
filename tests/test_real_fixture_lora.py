"""A LoRA file the real sd-scripts trainer wrote (tests/fixtures/real_kohya): every key is read."""

import json
import struct
from pathlib import Path

from typer.testing import CliRunner

from rundiff import load_run
from rundiff.cli import app

LORA = Path(__file__).parent / "fixtures" / "real_kohya" / "tiny_lora_dim1_fp16.safetensors"


def raw_metadata() -> dict[str, str]:
    with LORA.open("rb") as fh:
        (n,) = struct.unpack("<Q", fh.read(8))
        return json.loads(fh.read(n))["__metadata__"]


def test_infer_rank_reads_every_key_the_trainer_wrote():
    result = CliRunner().invoke(app, ["infer-rank", str(LORA), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    written = raw_metadata()
    assert len([k for k in written if k.startswith("ss_")]) == 83
    assert info["metadata"] == written
    assert (info["format"], info["architecture"], info["rank"], info["alpha"], info["dtype"]) == (
        "kohya",
        "sd1",
        1,
        0.5,
        "F16",
    )
    assert info["conflicts"] == []


def test_compare_sees_metadata_and_weights_agree(tmp_path):
    run = load_run(LORA)
    assert run.trainer == "sd-scripts" and run.conflicts == []
    dim = run.cells["network_dim"]
    assert dim.value == 1 and dim.provenance.value == "metadata"
    assert [c.split(":")[0] for c in dim.confirmed_by] == ["weights"]
    assert run.cells["learning_rate"].value == 0.0001
    assert run.cells["lr_scheduler"].value == "cosine"
    assert run.cells["max_train_steps"].value == 10
    assert run.cells["network_alpha"].value == 0.5
    assert run.cells["resolution"].value == [64, 64]

"""Hostile numbers through the real command line: each reproducer of ../shared/fuzz-repros (C01-C18, C42-C44,
C49, C50, C57, C58), rebuilt here by a small factory, must finish with no traceback, and the bad value
must cost only that value: its cell is unknown with the reason, or the simulation says why it stops.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rundiff.cli import app

runner = CliRunner()
LAUNCH = "accelerate launch train_network.py --network_dim 8 "


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def compare_json(tmp_path: Path, *targets: str) -> dict:
    result = runner.invoke(app, ["compare", *[str(tmp_path / t) for t in targets], "--format", "json", "--no-diagnose"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def cell(report: dict, name: str, run: int = 0) -> dict:
    row = next(p for p in report["parameters"] if p["name"] == name)
    return list(row["values"].values())[run]


# (case, files, target, parameter whose cell must be unknown with a reason)
UNKNOWN_CASES = [
    ("C01", {"launch.sh": LAUNCH + "--learning_rate nan\n"}, "launch.sh", "learning_rate"),
    ("C02", {"launch.sh": LAUNCH + "--learning_rate 5x%\n"}, "launch.sh", "learning_rate"),
    (
        "C06",
        {"config.yaml": "learning_rate: 1.0e-4\nmax_train_steps: 100\nimage_count: 10\nlr_warmup_epochs: one\n"},
        "config.yaml",
        "lr_warmup_epochs",
    ),
    (
        "C08",
        {"config.toml": "learning_rate = 1e-4\ntrain_batch_size = 1e308\ngradient_accumulation_steps = 10\n"},
        "config.toml",
        "train_batch_size",
    ),
    (
        "C09",
        {"config.toml": "learning_rate = 1e-4\nimage_count = 10\nnum_repeats = inf\n"},
        "config.toml",
        "num_repeats",
    ),
    (
        "C10",
        {"config.toml": "learning_rate = 1e-4\nmax_train_steps = 1e308\nlr_warmup_steps = 1e308\n"},
        "config.toml",
        "max_train_steps",
    ),
    ("C12", {"launch.sh": LAUNCH + "--lr_warmup_steps " + "9" * 4400 + "\n"}, "launch.sh", "lr_warmup_steps"),
    (
        "C50",
        {"gui.json": '{"LoRA_type": "Standard", "learning_rate": 0.0001, "lr_warmup": 1' + "0" * 400 + "}"},
        "gui.json",
        "lr_warmup_steps",
    ),
]


@pytest.mark.parametrize(("case", "files", "target", "name"), UNKNOWN_CASES, ids=[c[0] for c in UNKNOWN_CASES])
def test_an_unusable_number_becomes_an_unknown_cell_with_its_reason(tmp_path, case, files, target, name):
    write(tmp_path, files)
    report = compare_json(tmp_path, target)
    found = cell(report, name)
    assert found["value"] is None and found["provenance"] == "unknown"
    assert "not used" in found["note"]
    assert any(f"[{name}" in w or name in w for w in report["runs"][0]["warnings"])
    assert cell(report, "learning_rate")["provenance"] != "unknown" or name == "learning_rate"


def test_c11_a_huge_warmup_in_epochs_is_not_planned(tmp_path):
    write(
        tmp_path,
        {"config.yaml": "learning_rate: 1.0e-4\nmax_train_steps: 100\nimage_count: 10\nlr_warmup_epochs: 1.0e+308\n"},
    )
    report = compare_json(tmp_path, "config.yaml")
    assert cell(report, "lr_warmup_epochs")["value"] == 1e308  # what the file says, shown as written
    assert cell(report, "total_steps")["value"] == 100
    assert "warmup_steps" not in {p["name"] for p in report["parameters"]}  # more epochs than are ever planned


def test_c13_a_huge_integer_and_a_ratio_do_not_crash_the_comparison(tmp_path):
    write(
        tmp_path,
        {
            "a/launch.sh": LAUNCH + "--learning_rate 1e-4 --lr_warmup_steps 1" + "0" * 300 + "\n",
            "b/launch.sh": LAUNCH + "--learning_rate 1e-4 --lr_warmup_steps 0.1\n",
        },
    )
    report = compare_json(tmp_path, "a", "b")
    assert cell(report, "lr_warmup_steps", 0)["provenance"] == "unknown"
    assert cell(report, "lr_warmup_steps", 1)["value"] == 0.1


def test_c07_half_a_step_per_epoch_is_ignored_not_divided_by(tmp_path):
    write(tmp_path, {"config.toml": "learning_rate = 1e-4\nsteps_per_epoch = 0.5\nmax_train_steps = 100\n"})
    report = compare_json(tmp_path, "config.toml")
    assert cell(report, "learning_rate")["value"] == 1e-4


def diagnose(tmp_path: Path, target: str) -> tuple[int, str]:
    result = runner.invoke(app, ["diagnose", str(tmp_path / target), "--format", "json"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, result.stdout


DIAGNOSE_CASES = [
    ("C03", {"launch.sh": LAUNCH + "--network_alpha abc --learning_rate 1e-4\n"}, "launch.sh"),
    (
        "C04",
        {
            "launch.sh": LAUNCH + "--learning_rate 1e-4 --lr_scheduler cosine_with_restarts "
            "--lr_scheduler_num_cycles 0.5 --max_train_steps 100\n"
        },
        "launch.sh",
    ),
    (
        "C05",
        {
            "launch.sh": LAUNCH + "--learning_rate 1e-4 --lr_scheduler polynomial --lr_scheduler_power bf16 "
            "--max_train_steps 100\n"
        },
        "launch.sh",
    ),
    (
        "C14",
        {"config.toml": 'learning_rate = 1e-4\nlr_scheduler = "cosine"\nmax_train_epochs = 1e308\nimage_count = 10\n'},
        "config.toml",
    ),
    (
        "C15",
        {"config.toml": "learning_rate = 1e-4\nnetwork_dim = inf\nimage_count = 10\nmax_train_steps = 100\n"},
        "config.toml",
    ),
    (
        "C16",
        {
            "config.toml": 'learning_rate = 1e-4\nlr_scheduler = "cosine_with_restarts"\n'
            "lr_scheduler_num_cycles = inf\nmax_train_steps = 100\n"
        },
        "config.toml",
    ),
    (
        "C17",
        {"config.yaml": "learning_rate: 1.0e-4\nnetwork_dim: 64\nmax_train_steps: 100\nimage_count: '1.5'\n"},
        "config.yaml",
    ),
    (
        "C17b",
        {"config.yaml": "learning_rate: 1.0e-4\nnetwork_dim: abc\nmax_train_steps: 100\nimage_count: 10\n"},
        "config.yaml",
    ),
    (
        "C18",
        {"config.yaml": "learning_rate: 1.0e-4\nmax_train_steps: 100\nuse_ema: true\nema_decay: '1,2'\n"},
        "config.yaml",
    ),
    (
        "C42",
        {
            "launch.sh": "accelerate launch train_network.py --network_dim 96 --learning_rate 5e-5 "
            "--unet_lr 5e-324 --lr_scheduler linear --lr_warmup_steps 200\n"
        },
        "launch.sh",
    ),
    (
        "C43",
        {
            "config.yaml": "learning_rate: 1.0e-4\nmax_train_steps: 100\nuse_ema: true\nema_decay: 0.9999\n"
            "sample_every_n_steps: '1e-320'\n"
        },
        "config.yaml",
    ),
    (
        "C44",
        {
            "config.yaml": "learning_rate: 1.0e-4\nnetwork_dim: 8\nmax_train_steps: 100\nimage_count: 10\n"
            "num_repeats: '1.5'\n"
        },
        "config.yaml",
    ),
    (
        "C49",
        {
            "config.toml": 'learning_rate = 1e-4\nlr_scheduler = "cosine_with_restarts"\n'
            "lr_scheduler_num_cycles = 07:32:00\nmax_train_steps = 100\n"
        },
        "config.toml",
    ),
]


@pytest.mark.parametrize(("case", "files", "target"), DIAGNOSE_CASES, ids=[c[0] for c in DIAGNOSE_CASES])
def test_diagnose_goes_on_past_an_unusable_number(tmp_path, case, files, target):
    write(tmp_path, files)
    diagnose(tmp_path, target)


def test_c42_a_subnormal_unet_lr_is_refused_and_learning_rate_used(tmp_path):
    write(tmp_path, dict(DIAGNOSE_CASES[9][1]))
    _, out = diagnose(tmp_path, "launch.sh")
    run = json.loads(out)["runs"][0]
    assert run["summary"]["base_lr"] == 5e-5


def test_c57_polynomial_with_lr_zero_is_not_simulated_and_says_why(tmp_path):
    write(
        tmp_path,
        {
            "run/config.toml": 'learning_rate = 0.0\nlr_scheduler = "polynomial"\nmax_train_steps = 100\n',
            "run/train.log": "step 5 lr=0.001 loss=0.1\nstep 6 lr=0.001 loss=0.1\n",
        },
    )
    _, out = diagnose(tmp_path, "run")
    assert any("transformers refuses a base LR" in n for n in json.loads(out)["runs"][0]["notes"])


def test_c58_polynomial_with_a_negative_power_is_not_simulated_and_says_why(tmp_path):
    write(
        tmp_path,
        {
            "run/config.toml": 'learning_rate = 1e-4\nlr_scheduler = "polynomial"\n'
            "lr_scheduler_power = -1\nmax_train_steps = 100\n",
            "run/train.log": "step 100 lr=0.001 loss=0.1\nstep 99 lr=0.001 loss=0.1\n",
        },
    )
    _, out = diagnose(tmp_path, "run")
    assert any("negative lr_scheduler_power" in n for n in json.loads(out)["runs"][0]["notes"])


def test_repeats_that_differ_per_subset_do_not_break_the_dataset_rules(tmp_path):
    """num_repeats [2, 10] (two subsets) stays a list in the cell; the rules judge the highest."""
    for folder in ("img/10_a", "img/2_b"):
        for i in range(3):
            write(tmp_path, {f"run/{folder}/{i}.png": ""})
    write(
        tmp_path,
        {
            "run/train.sh": "accelerate launch train_network.py --train_data_dir=img --network_dim 64 "
            "--learning_rate 1e-4 --max_train_steps 100\n"
        },
    )
    _, out = diagnose(tmp_path, "run")
    rules = {f["rule"] for f in json.loads(out)["findings"]}
    assert "rank-too-high-for-dataset" in rules  # dim 64 for 6 images


def test_hostile_numbers_in_another_trainers_config_cost_only_those_values(tmp_path):
    """Trainer profiles read numbers through the same reader: a SimpleTuner config with inf, a 401-digit
    rank and an area of 1e308 megapixels compares, with those cells unknown and the rest read."""
    import shutil

    fixture = Path(__file__).parent / "fixtures" / "trainers" / "simpletuner" / "flux_example"
    run = tmp_path / "run"
    shutil.copytree(fixture, run)
    config = run / "config" / "config.json"
    data = json.loads(config.read_text(encoding="utf-8"))
    data.update(learning_rate="inf", lora_rank=10**400, resolution=1e308, resolution_type="area")
    config.write_text(json.dumps(data), encoding="utf-8")
    report = compare_json(tmp_path, "run")
    assert cell(report, "learning_rate")["provenance"] == "unknown"
    assert cell(report, "network_dim")["provenance"] == "unknown" and "digits" in cell(report, "network_dim")["note"]
    assert cell(report, "lr_scheduler")["provenance"] == "explicit"


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("config.toml", "network_dim = {n}\nlearning_rate = 1e-4\nlr_scheduler = 'cosine'\n"),
        ("config.yaml", "network_dim: {n}\nlearning_rate: 1.0e-4\nlr_scheduler: cosine\n"),
        ("config.json", '{{"network_dim": {n}, "learning_rate": 1e-4, "lr_scheduler": "cosine"}}'),
    ],
)
def test_a_huge_integer_costs_only_its_value_in_toml_yaml_and_json(tmp_path, name, text):
    """The three settings formats agree: a 4 400-digit integer is that value unknown with its reason,
    and the file's other values are read (not a whole file refused for one number)."""
    run = tmp_path / "run"
    run.mkdir()
    (run / name).write_text(text.format(n="9" * 4400), encoding="utf-8")
    report = compare_json(tmp_path, "run")
    assert (
        cell(report, "network_dim")["provenance"] == "unknown" and "4400 digits" in cell(report, "network_dim")["note"]
    )
    assert cell(report, "learning_rate")["value"] == 1e-4
    assert cell(report, "lr_scheduler")["value"] == "cosine"


def test_digit_like_characters_that_int_refuses_are_not_counts(tmp_path):
    """`"²".isdigit()` is true and `int("²")` raises: a repeat count, a block index or a `path:line`
    tail spelled with such a character is not a number (it was a ValueError traceback in compare)."""
    import struct

    from rundiff.infer.weights import _block_order
    from rundiff.ingest.logs.facts import split_where
    from rundiff.ingest.safetensors_file import _count

    meta = {"ss_network_dim": "8", "ss_dataset_dirs": json.dumps({"10_x": {"n_repeats": "²", "img_count": "③"}})}
    raw = json.dumps({"__metadata__": meta}).encode()
    run = tmp_path / "run"
    run.mkdir()
    (run / "lora.safetensors").write_bytes(struct.pack("<Q", len(raw)) + raw)
    report = compare_json(tmp_path, "run")
    assert cell(report, "network_dim")["value"] == 8
    assert _count("²") is None and _count("③") is None and _count("12") == 12
    assert _block_order("unet:down.²") == ("unet", "down", -1) and _block_order("unet:down.3") == ("unet", "down", 3)
    assert split_where("a.log:²") == ("a.log:²", None) and split_where("a.log:12") == ("a.log", 12)


def test_a_config_that_fails_to_parse_leaves_the_trainer_defaults_unknown(tmp_path):
    """--config_file cfg.toml does not parse: learning_rate may be set there, so it is unknown (the
    default named in the note), not sd-scripts' 2e-6 shown as known; the file is warned about once.
    With the file fixed, the same values are the trainer's defaults again."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "train.sh").write_text("accelerate launch train_network.py --network_dim 16 --config_file cfg.toml\n")
    (run / "cfg.toml").write_text("learning_rate = [1e-4\nnetwork_alpha = 4\n")
    report = compare_json(tmp_path, "run")
    lr = cell(report, "learning_rate")
    assert lr["provenance"] == "unknown" and lr["value"] is None
    assert "cfg.toml failed to parse and may set it" in lr["note"] and "2e-06" in lr["note"]
    assert cell(report, "network_dim")["value"] == 16  # what was read still counts
    assert sum("invalid TOML" in w for w in report["runs"][0]["warnings"]) == 1
    (run / "cfg.toml").write_text("network_alpha = 4\n")
    (run / "model.safetensors").write_bytes(b"")  # an unreadable weights file sets no training value
    fixed = compare_json(tmp_path, "run")
    assert cell(fixed, "learning_rate")["provenance"] == "default" and cell(fixed, "network_alpha")["value"] == 4

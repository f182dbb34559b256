"""The library API: a pandas frame, outcomes from rundiff.yaml, conflicts across sources of one run."""

import json

from rundiff import compare, load_run


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_frame_has_parameters_as_rows_and_runs_as_columns(tmp_path):
    a = write(tmp_path / "A" / "train.sh", "accelerate launch train_network.py --network_dim 8 --learning_rate 1e-4\n")
    b = write(tmp_path / "B" / "train.sh", "accelerate launch train_network.py --network_dim 16 --learning_rate 1e-4\n")
    frame = compare([a.parent, b.parent]).frame()
    assert list(frame.columns[-2:]) == ["A", "B"]
    assert frame.loc["network_dim", "A"] == 8 and frame.loc["network_dim", "B"] == 16
    assert frame.loc["network_dim", "status"] == "differs"
    assert frame.loc["learning_rate", "status"] == "same"


def test_outcome_comes_from_rundiff_yaml(tmp_path):
    write(tmp_path / "A" / "train.sh", "accelerate launch train_network.py --network_dim 8\n")
    write(tmp_path / "A" / "rundiff.yaml", "outcome: good\n")
    write(tmp_path / "B" / "train.sh", "accelerate launch train_network.py --network_dim 64\n")
    write(tmp_path / "B" / "rundiff.yaml", "outcome: bad\nname: B-rank64\n")
    comparison = compare([tmp_path / "A", tmp_path / "B"])
    assert [(r.name, r.outcome) for r in comparison.runs] == [("A", "good"), ("B-rank64", "bad")]
    assert comparison.suspects[0].name == "network_dim"


def test_two_independent_sources_that_disagree_are_a_conflict(tmp_path):
    """A launch script and a GUI JSON in one run folder say different ranks: reported, not resolved."""
    write(tmp_path / "run" / "train.sh", "accelerate launch sdxl_train_network.py --network_dim 32 --seed 1\n")
    write(
        tmp_path / "run" / "gui.json",
        json.dumps(
            {
                "LoRA_type": "Standard",
                "network_dim": 16,
                "seed": "1",
                "pretrained_model_name_or_path": "x",
                "sdxl": True,
            }
        ),
    )
    run = load_run(tmp_path / "run")
    [conflict] = [c for c in run.conflicts if c.name == "network_dim"]
    assert sorted(v for v, _, _ in conflict.values) == [16, 32]
    assert not [c for c in run.conflicts if c.name == "seed"]  # agreeing sources confirm each other
    assert run.cells["seed"].confirmed_by

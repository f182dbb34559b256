"""sd-scripts --config_file and --dataset_config TOMLs, alone and referenced by a launch script."""

import textwrap

import pytest

from rundiff import load_run
from rundiff.errors import RundiffError
from rundiff.ingest.toml_config import ingest_toml


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def facts(source):
    return {f.key: (f.value, f.line) for f in source.facts}


def test_config_sections_are_ignored_and_lines_kept(tmp_path):
    path = write(
        tmp_path / "config.toml",
        """
        [model_arguments]
        pretrained_model_name_or_path = "/models/sd15.safetensors"

        [additional_network_arguments]
        network_dim = 32
        network_alpha = 16
        network_args = ["conv_dim=8", "conv_alpha=4"]

        [optimizer_arguments]
        optimizer_type = "AdamW8bit"
        learning_rate = 1e-4

        [training_arguments]
        network_dim = 48
        """,
    )
    [source] = ingest_toml(path)
    found = facts(source)
    assert source.format == "kohya-config-toml"
    assert found["network_dim"] == (48, 14)  # the later section wins, as in sd-scripts
    assert found["learning_rate"] == (1e-4, 11)
    assert found["network_args"][0] == ["conv_dim=8", "conv_alpha=4"]


def test_dataset_config_resolves_subset_over_dataset_over_general(tmp_path):
    path = write(
        tmp_path / "dataset.toml",
        """
        [general]
        caption_extension = ".txt"
        shuffle_caption = true
        keep_tokens = 1

        [[datasets]]
        resolution = [1024, 1024]
        batch_size = 2
        keep_tokens = 2

          [[datasets.subsets]]
          image_dir = "train/10_mychar"
          num_repeats = 8
          keep_tokens = 3

          [[datasets.subsets]]
          image_dir = "reg/1_woman"
          is_reg = true
          num_repeats = 1
        """,
    )
    [source] = ingest_toml(path)
    found = facts(source)
    assert source.format == "kohya-dataset-toml"
    assert found["keep_tokens"][0] == 3
    assert found["num_repeats"][0] == 8  # the regularisation subset is not a train subset
    assert found["batch_size"][0] == 2
    assert found["shuffle_caption"][0] is True
    assert found["resolution"][0] == [1024, 1024]


def test_invalid_toml_names_file_and_line(tmp_path):
    path = write(
        tmp_path / "bad.toml",
        """
        network_dim = 32
        learning_rate = = 1e-4
        """,
    )
    with pytest.raises(RundiffError) as info:
        ingest_toml(path)
    assert info.value.line == 2
    assert "bad.toml:2" in str(info.value)


def test_gui_defaults_file_is_not_a_training_config(tmp_path):
    path = write(
        tmp_path / "config.toml",
        """
        [settings]
        use_shell = false
        [server]
        port = 7860
        [folders]
        output_dir = "./outputs"
        """,
    )
    assert ingest_toml(path) == []


def test_script_follows_its_configs_with_sd_scripts_precedence(tmp_path):
    """CLI beats --config_file; the dataset TOML beats the CLI for the keys it sets."""
    run = tmp_path / "run"
    write(
        run / "config.toml",
        """
        network_dim = 16
        network_alpha = 8
        learning_rate = 2e-4
        train_batch_size = 1
        """,
    )
    write(
        run / "dataset.toml",
        """
        [general]
        shuffle_caption = true
        [[datasets]]
        batch_size = 3
          [[datasets.subsets]]
          image_dir = "img"
          num_repeats = 5
        """,
    )
    write(
        run / "train.sh",
        """
        accelerate launch --num_cpu_threads_per_process 1 train_network.py \\
          --config_file=config.toml \\
          --dataset_config=dataset.toml \\
          --network_dim=32 \\
          --train_batch_size=6
        """,
    )
    loaded = load_run(run)
    assert loaded.cells["network_dim"].value == 32  # CLI over --config_file
    assert loaded.cells["network_dim"].source.endswith("train.sh:4")
    assert loaded.cells["network_alpha"].value == 8.0  # only in the TOML
    assert loaded.cells["network_alpha"].source.endswith("config.toml:2")
    assert loaded.cells["train_batch_size"].value == 3  # dataset TOML over CLI
    assert loaded.cells["num_repeats"].value == 5
    assert loaded.conflicts == []  # precedence inside one launch is resolution, not disagreement


def test_heredoc_config_in_a_script_is_read(tmp_path):
    run = tmp_path / "run"
    write(
        run / "train.sh",
        """
        DIM=24
        cat > generated.toml <<EOF
        network_dim = $DIM
        optimizer_type = "Prodigy"
        learning_rate = 1.0
        EOF
        accelerate launch sdxl_train_network.py --config_file generated.toml --max_train_steps 500
        """,
    )
    loaded = load_run(run)
    assert loaded.cells["network_dim"].value == 24
    assert loaded.cells["optimizer_type"].value == "Prodigy"
    assert loaded.cells["max_train_steps"].value == 500


def test_a_dataset_toml_beside_the_only_config_joins_its_launch(tmp_path):
    """No script references them, but a folder with config.toml and dataset.toml was trained with both."""
    run = tmp_path / "run"
    write(
        run / "config.toml",
        """
        network_dim = 16
        train_batch_size = 1
        """,
    )
    write(
        run / "dataset.toml",
        """
        [[datasets]]
        batch_size = 4
          [[datasets.subsets]]
          image_dir = "img"
          num_repeats = 3
        """,
    )
    loaded = load_run(run)
    assert loaded.cells["train_batch_size"].value == 4
    assert loaded.conflicts == []

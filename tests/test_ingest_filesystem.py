"""Run folders with file-system surprises: each is a warning where the folder is walked, the rest of the
run still reads, and nothing blocks (FIFOs), loops (symlinks) or reads gigabytes (sparse, /dev/zero)."""

import os
import textwrap
from pathlib import Path

import pytest

from rundiff import load_run
from rundiff.errors import RundiffError
from rundiff.ingest.filesystem import expand_user, is_regular_file, read_bytes, read_head, resolved, walk
from rundiff.ingest.run_folder import ingest_run

LAUNCH = "accelerate launch train_network.py --network_dim 8 --learning_rate 1e-4 --max_train_steps 100\n"


def make_run(tmp_path: Path, **files: str) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    (run / "launch.sh").write_text(LAUNCH)
    for name, text in files.items():
        (run / name).write_text(textwrap.dedent(text))
    return run


def value(run, key):
    return run.cells[key].value


def test_symlink_loop_is_skipped_with_a_warning(tmp_path):
    run = make_run(tmp_path)
    os.symlink("b.sh", run / "a.sh")
    os.symlink("a.sh", run / "b.sh")
    loaded = load_run(run)
    assert value(loaded, "network_dim") == 8
    assert any(s.path.endswith("a.sh") and "symlink loop" in s.reason for s in loaded.skipped)


def test_fifo_and_device_link_are_never_opened(tmp_path):
    run = make_run(tmp_path)
    os.mkfifo(run / "config.toml")
    os.mkfifo(run / "lora.safetensors")
    os.symlink("/dev/zero", run / "evil.sh")
    loaded = load_run(run)  # would block forever on the FIFO, or read /dev/zero until memory ran out
    assert value(loaded, "network_dim") == 8
    reasons = {Path(s.path).name: s.reason for s in loaded.skipped}
    assert "named pipe" in reasons["config.toml"] and "device" in reasons["evil.sh"]


def test_fifo_caption_counts_its_image_but_not_its_text(tmp_path):
    run = make_run(tmp_path)
    (run / "launch.sh").write_text(LAUNCH.strip() + " --train_data_dir img\n")
    subset = run / "img" / "10_x"
    subset.mkdir(parents=True)
    (subset / "a.png").write_bytes(b"")
    os.mkfifo(subset / "a.txt")
    loaded = load_run(run)
    assert value(loaded, "image_count") == 1


def test_unreadable_subset_folder_is_a_warning(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root reads folders whatever their mode")
    run = make_run(tmp_path)
    subset = run / "10_x"
    subset.mkdir()
    (subset / "a.png").write_bytes(b"")
    subset.chmod(0)
    try:
        loaded = load_run(run)
    finally:
        subset.chmod(0o755)
    assert any("image folder" in w for w in loaded.warnings)


def test_self_referencing_config_is_read_once(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('learning_rate = 1e-4\ndataset_config = "config.toml"\n')
    loaded = load_run(config)
    assert value(loaded, "learning_rate") == 1e-4
    assert any("cycle" in w for w in loaded.warnings)


def test_two_configs_referencing_each_other(tmp_path):
    (tmp_path / "a.toml").write_text('learning_rate = 1e-4\ndataset_config = "b.toml"\n')
    (tmp_path / "b.toml").write_text('[[datasets]]\n[[datasets.subsets]]\nimage_dir = "img"\nnum_repeats = 3\n')
    loaded = load_run(tmp_path / "a.toml")
    assert value(loaded, "learning_rate") == 1e-4 and value(loaded, "num_repeats") == 3


@pytest.mark.parametrize("data_dir", ["~nosuchuser_xyz/data", "'img\x00x'", "A" * 5000, "/proc/self/fd/0"])
def test_hostile_train_data_dir_is_not_a_dataset(tmp_path, data_dir):
    (tmp_path / "launch.sh").write_text(LAUNCH.strip() + f" --train_data_dir {data_dir}\n")
    loaded = load_run(tmp_path / "launch.sh")
    assert value(loaded, "network_dim") == 8
    assert "image_count" not in loaded.cells or not loaded.cells["image_count"].known


def test_config_file_name_too_long_is_a_warning(tmp_path):
    (tmp_path / "launch.sh").write_text(LAUNCH.strip() + " --config_file " + "A" * 400 + ".toml\n")
    loaded = load_run(tmp_path / "launch.sh")
    assert any("not here" in w for w in loaded.warnings)


def test_bad_rundiff_yaml_is_a_warning_and_the_run_still_counts(tmp_path):
    run = make_run(tmp_path, **{"rundiff.yaml": "outcome: good\nname: !!float abc\n"})
    loaded = load_run(run)
    assert value(loaded, "network_dim") == 8
    assert any("rundiff.yaml:2" in w for w in loaded.warnings)


def test_deep_config_in_a_folder_is_a_warning(tmp_path):
    run = make_run(tmp_path, **{"config.json": '{"LoRA_type": "Standard", "x": ' + "[" * 5000 + "]" * 5000 + "}"})
    loaded = load_run(run)
    assert value(loaded, "network_dim") == 8
    assert any("config.json" in w and "nested" in w for w in loaded.warnings)


def test_walk_is_iterative_and_bounded(tmp_path):
    here = tmp_path / "/".join(["d"] * 200)  # the replayed repro F08 goes 1100 deep
    os.makedirs(here)
    (here / "deep.txt").write_text("x")
    skipped = []
    seen = [folder for folder, _, _ in walk(tmp_path, max_depth=2000, on_skip=lambda p, why: skipped.append(why))]
    assert len(seen) <= 65 and any("deeper than" in why for why in skipped)


def test_walk_lists_a_symlinked_folder_without_entering_it(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "x.sh").write_text(LAUNCH)
    os.symlink("real", tmp_path / "link")
    os.symlink(".", tmp_path / "real" / "self")  # a loop, were links followed
    listed = {str(folder.relative_to(tmp_path)): (dirs, files) for folder, dirs, files in walk(tmp_path)}
    assert listed["."][0] == ["link", "real"]
    assert "link" not in listed and listed["real"] == (["self"], ["x.sh"])


def test_read_bytes_refuses_sparse_giant_before_reading(tmp_path):
    big = tmp_path / "train.toml"
    with big.open("wb") as handle:
        handle.truncate(10 * 1024**3)
    with pytest.raises(RundiffError, match="over the"):
        read_bytes(big, 1024)
    assert read_head(big, 16) == b"\0" * 16


def test_path_questions_never_raise():
    for weird in ("a\x00b", "A" * 5000, "/proc/self/fd/9999"):
        assert not is_regular_file(weird)
        assert isinstance(resolved(Path(weird)), Path)
    assert expand_user("~nosuchuser_xyz/data") == Path("~nosuchuser_xyz/data")
    with pytest.raises(RundiffError, match="NUL"):
        read_bytes(Path("a\x00b"), 10)


def test_single_file_that_is_not_a_file(tmp_path):
    os.mkfifo(tmp_path / "x.sh")
    with pytest.raises(RundiffError, match="named pipe"):
        ingest_run(tmp_path / "x.sh")
    with pytest.raises(RundiffError, match="no such"):
        ingest_run(tmp_path / ("A" * 5000))

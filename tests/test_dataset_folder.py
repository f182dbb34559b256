"""`<repeats>_<name>` folders: repeats, image counts, and caption fingerprints."""

from rundiff import load_run
from rundiff.ingest.dataset_folder import ingest_dataset_folders, scan_subset


def make_subset(root, name, captions, caption_ext=".txt"):
    folder = root / name
    folder.mkdir(parents=True)
    for i, text in enumerate(captions):
        (folder / f"img_{i:03d}.png").write_bytes(b"\x89PNG fake")
        (folder / f"img_{i:03d}{caption_ext}").write_text(text)
    return folder


def test_repeats_images_and_fingerprint(tmp_path):
    folder = make_subset(tmp_path / "a", "10_pixel art", ["pixel art, cat", "pixel art, dog"])
    subset = scan_subset(folder)
    assert (subset.repeats, subset.class_tokens, subset.images, subset.captions) == (10, "pixel art", 2, 2)


def test_identical_captions_give_identical_fingerprints_and_an_edit_changes_it(tmp_path):
    a = make_subset(tmp_path / "a", "5_x", ["one", "two", "three"])
    b = make_subset(tmp_path / "b", "5_x", ["one", "two", "three"])
    c = make_subset(tmp_path / "c", "5_x", ["one", "two", "three!"])
    prints = [
        next(f.value for f in ingest_dataset_folders([p]).facts if f.key == "caption_fingerprint") for p in (a, b, c)
    ]
    assert prints[0] == prints[1] != prints[2]


def test_run_folder_with_two_subsets_counts_images_times_repeats(tmp_path):
    run = tmp_path / "run"
    make_subset(run / "img", "10_char", ["a"] * 4)
    make_subset(run / "img", "2_style", ["b"] * 3)
    (run / "train.sh").write_text("accelerate launch train_network.py --train_data_dir=img --network_dim 8\n")
    cells = load_run(run).cells
    assert cells["image_count"].value == 7
    assert cells["num_repeats"].value == [2, 10]
    assert cells["num_train_images"].value == 46
    assert cells["dataset_subsets"].value == ["10_char", "2_style"]

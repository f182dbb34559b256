"""kohya folder datasets and caption processing for the builtin trainer (reference §5.1, kohya notes §3)."""

from __future__ import annotations

import random
from collections import Counter

import pytest

pytest.importorskip("PIL", reason="reading image folders needs Pillow (comes with the ablate extra)")

from PIL import Image  # noqa: E402

from rundiff.ablate.backends.builtin.config import TrainConfig  # noqa: E402
from rundiff.ablate.backends.builtin.data import CaptionProcessor, EpochSampler, load_kohya_folder, synthetic_dataset  # noqa: E402
from rundiff.errors import RundiffError  # noqa: E402

CAPTION = "mychar, 1girl, smile, red hair, outdoors, looking at viewer"


def process(params: dict, caption: str = CAPTION, *, seed: int = 0, epoch: int = 1, times: int = 1) -> list[str]:
    processor = CaptionProcessor(TrainConfig.from_params(params), seed)
    return [processor(caption, epoch) for _ in range(times)]


def test_keep_tokens_alone_does_nothing():
    assert process({"keep_tokens": 2}) == [CAPTION]


def test_shuffle_caption_moves_only_the_flexible_tags():
    out = process({"shuffle_caption": True, "keep_tokens": 2}, times=30)
    assert all(o.startswith("mychar, 1girl, ") for o in out)
    assert all(sorted(o.split(", ")) == sorted(CAPTION.split(", ")) for o in out)
    assert len(set(out)) > 10


def test_keep_tokens_separator_fixes_prefix_and_suffix():
    caption = "mychar, 1girl ||| smile, red hair, outdoors ||| masterpiece"
    out = process({"shuffle_caption": True, "keep_tokens_separator": "|||"}, caption, times=20)
    assert all(o.startswith("mychar, 1girl, ") and o.endswith(", masterpiece") for o in out)
    assert len(set(out)) > 1


def test_tag_dropout_keeps_each_flexible_tag_with_one_minus_rate():
    out = process({"caption_tag_dropout_rate": 0.5, "keep_tokens": 1}, times=2000)
    counts = Counter(tag for o in out for tag in o.split(", "))
    assert counts["mychar"] == 2000
    for tag in ("1girl", "smile", "red hair", "outdoors", "looking at viewer"):
        assert counts[tag] / 2000 == pytest.approx(0.5, abs=0.05)


def test_caption_dropout_rate_and_every_n_epochs():
    out = process({"caption_dropout_rate": 0.25}, times=4000)
    assert out.count("") / 4000 == pytest.approx(0.25, abs=0.03)
    assert process({"caption_dropout_every_n_epochs": 2}, epoch=2) == [""]
    assert process({"caption_dropout_every_n_epochs": 2}, epoch=3) == [CAPTION]


def test_same_seed_same_shuffles():
    params = {"shuffle_caption": True, "caption_tag_dropout_rate": 0.2}
    assert process(params, seed=7, times=10) == process(params, seed=7, times=10)
    assert process(params, seed=7, times=10) != process(params, seed=8, times=10)


def test_prefix_suffix_are_joined_with_a_space():
    out = process({"caption_prefix": "masterpiece,", "caption_suffix": ", best"}, "a, b")
    assert out == ["masterpiece, a, b , best"]


def write_png(path, colour):
    Image.new("RGB", (40, 24), colour).save(path)


def test_kohya_folder_with_repeats_captions_and_class_tokens(tmp_path):
    sub = tmp_path / "10_darius kawasaki person"
    sub.mkdir()
    for i in range(5):
        write_png(sub / f"img{i}.png", (i * 40, 0, 0))
    (sub / "img0.caption").write_text("darius, smiling\nsecond line ignored\n", encoding="utf-8")
    (sub / "img1.txt").write_text("not read: wrong extension", encoding="utf-8")
    (tmp_path / "notes").mkdir()  # no N_ prefix: skipped as sd-scripts does
    reg = tmp_path / "0_zero"
    reg.mkdir()
    write_png(reg / "x.png", (0, 0, 0))
    data = load_kohya_folder(tmp_path, ".caption", (32, 32), validation_images=1)
    assert len(data.train) == 4 and len(data.validation) == 1  # one of five held out
    everything = {s.source.rsplit("/", 1)[-1]: s for s in (*data.train, *data.validation)}
    assert everything["img0.png"].caption == "darius, smiling"
    assert everything["img1.png"].caption == "darius kawasaki person"
    assert all(s.repeats == 10 for s in data.train)
    assert data.num_train_images == 40
    assert data.dataset_dirs() == {"10_darius kawasaki person": {"n_repeats": 10, "img_count": 4}}
    pixels = everything["img4.png"].pixels
    assert pixels.shape == (3, 32, 32) and pixels.min() >= -1.0 and pixels.max() <= 1.0


def test_unreadable_image_and_empty_caption_name_the_file(tmp_path):
    sub = tmp_path / "1_x"
    sub.mkdir()
    (sub / "broken.png").write_bytes(b"not a png")
    with pytest.raises(RundiffError) as caught:
        load_kohya_folder(tmp_path, ".caption", (32, 32), 0)
    assert caught.value.path.endswith("broken.png")
    (sub / "broken.png").unlink()
    write_png(sub / "ok.png", (1, 2, 3))
    (sub / "ok.caption").write_text("\n", encoding="utf-8")
    with pytest.raises(RundiffError, match="empty caption"):
        load_kohya_folder(tmp_path, ".caption", (32, 32), 0)
    with pytest.raises(RundiffError, match="no <repeats>_<name>"):
        load_kohya_folder(_empty(tmp_path), ".caption", (32, 32), 0)


def _empty(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    return empty


def test_synthetic_dataset_is_fixed_and_tagged():
    a = synthetic_dataset(6, 2, (32, 32))
    b = synthetic_dataset(6, 2, (32, 32))
    assert [s.caption for s in a.train] == [s.caption for s in b.train]
    assert all((x.pixels == y.pixels).all() for x, y in zip(a.train, b.train, strict=True))
    assert len(a.validation) == 2 and all(len(s.caption.split(", ")) == 5 for s in a.train)


def test_epoch_sampler_visits_every_repeat_once_per_epoch():
    data = synthetic_dataset(3, 0, (16, 16))
    sampler = iter(EpochSampler(data, batch_size=2, seed=0))
    first_epoch = [next(sampler) for _ in range(2)]  # ceil(3 / 2) batches
    assert [e for e, _ in first_epoch] == [1, 1]
    assert sorted(i for _, batch in first_epoch for i in batch) == [0, 1, 2]
    assert next(sampler)[0] == 2
    random.seed(0)  # the sampler must not depend on the global random state
    again = iter(EpochSampler(data, batch_size=2, seed=0))
    assert [next(again) for _ in range(2)] == first_epoch

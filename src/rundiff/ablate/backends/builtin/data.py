"""Training images and captions: a kohya ``<repeats>_<name>`` folder, or a small synthetic set made at run time.

Caption processing follows sd-scripts' ``process_caption`` (reference §5.1) and draws from its own seeded
``random.Random``, so every variant of a sweep sees the same shuffles unless it changes a caption knob.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rundiff.errors import RundiffError

from .config import TrainConfig

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp"}
MAX_IMAGES = 2000  # a proxy run needs a handful; cap what a folder may make us decode
MAX_CAPTION_BYTES = 64 * 1024


@dataclass(frozen=True)
class Sample:
    """One image (pixels in [-1, 1], C x H x W) and its raw caption; ``repeats`` from the folder name."""

    pixels: np.ndarray
    caption: str
    repeats: int
    source: str


@dataclass(frozen=True)
class Dataset:
    train: tuple[Sample, ...]
    validation: tuple[Sample, ...]
    origin: str  # the folder, or "synthetic"

    @property
    def num_train_images(self) -> int:
        """Images times repeats, as ``ss_num_train_images``."""
        return sum(s.repeats for s in self.train)

    def dataset_dirs(self) -> dict[str, dict[str, int]]:
        dirs: dict[str, dict[str, int]] = {}
        for sample in self.train:
            entry = dirs.setdefault(
                Path(sample.source).parent.name or "synthetic", {"n_repeats": sample.repeats, "img_count": 0}
            )
            entry["img_count"] += 1
        return dirs


def load_dataset(config: TrainConfig, image_size: tuple[int, int]) -> Dataset:
    if config.train_data_dir:
        return load_kohya_folder(
            Path(config.train_data_dir), config.caption_extension, image_size, config.proxy.validation_images
        )
    return synthetic_dataset(config.proxy.synthetic_images, config.proxy.validation_images, image_size)


def load_kohya_folder(
    root: Path, caption_extension: str, image_size: tuple[int, int], validation_images: int
) -> Dataset:
    """kohya's DreamBooth folder method: each ``N_class tokens`` subfolder is a subset with N repeats."""
    from PIL import Image, UnidentifiedImageError

    if not root.is_dir():
        raise RundiffError("train_data_dir is not a folder", root, key="train_data_dir")
    samples: list[Sample] = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        head, _, class_tokens = sub.name.partition("_")
        if not (head.isascii() and head.isdigit()) or not class_tokens or int(head) < 1:
            continue  # sd-scripts skips such folders with a warning
        for image_path in sorted(p for p in sub.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
            if len(samples) >= MAX_IMAGES:
                raise RundiffError(f"more than {MAX_IMAGES} images; the proxy trainer needs a handful", root)
            caption = _read_caption(image_path.with_suffix(caption_extension), class_tokens)
            try:
                with Image.open(image_path) as image:
                    pixels = _to_pixels(image, image_size)
            except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
                raise RundiffError(f"cannot read image: {exc}", image_path) from None
            samples.append(Sample(pixels, caption, int(head), str(image_path)))
    if not samples:
        raise RundiffError("no <repeats>_<name> subfolder with images found", root, key="train_data_dir")
    held = _held_out_indices(len(samples), validation_images)
    train = tuple(s for i, s in enumerate(samples) if i not in held)
    validation = tuple(s for i, s in enumerate(samples) if i in held)
    return Dataset(train, validation, str(root))


def _held_out_indices(n: int, wanted: int) -> set[int]:
    """A fixed few images for validation, never more than a fifth of the set; none from a tiny set."""
    count = min(wanted, n // 5)
    return set(random.Random(0).sample(range(n), count)) if count else set()


def _read_caption(path: Path, class_tokens: str) -> str:
    if not path.is_file():
        return class_tokens
    if path.stat().st_size > MAX_CAPTION_BYTES:
        raise RundiffError(f"caption file larger than {MAX_CAPTION_BYTES} bytes", path)
    text = path.read_text(encoding="utf-8", errors="replace")
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise RundiffError("empty caption file (sd-scripts refuses it too)", path)
    return lines[0].strip()


def _to_pixels(image, size: tuple[int, int]) -> np.ndarray:
    """Resize to cover, centre-crop to (w, h), scale to [-1, 1]; no buckets in the proxy."""
    image = image.convert("RGB")
    w, h = size
    factor = max(w / image.width, h / image.height)
    resized = image.resize((max(w, round(image.width * factor)), max(h, round(image.height * factor))))
    left, top = (resized.width - w) // 2, (resized.height - h) // 2
    array = np.asarray(resized.crop((left, top, left + w, top + h)), dtype=np.float32)
    return array.transpose(2, 0, 1) / 127.5 - 1.0


_COLOURS = {
    "red": (220, 40, 40),
    "green": (40, 180, 60),
    "blue": (40, 70, 220),
    "yellow": (230, 210, 40),
    "white": (240, 240, 240),
    "black": (20, 20, 20),
    "purple": (140, 50, 170),
    "orange": (240, 140, 30),
}
_SHAPES = ("circle", "square", "stripe")


def synthetic_dataset(n_train: int, n_validation: int, size: tuple[int, int]) -> Dataset:
    """Coloured shapes on coloured backgrounds with tag captions; fixed seed, the same for every variant."""
    rng = random.Random(1234)
    samples = [_synthetic_sample(rng, size, i) for i in range(n_train + n_validation)]
    return Dataset(tuple(samples[:n_train]), tuple(samples[n_train:]), "synthetic")


def _synthetic_sample(rng: random.Random, size: tuple[int, int], index: int) -> Sample:
    w, h = size
    names = list(_COLOURS)
    fg, bg = rng.sample(names, 2)
    shape = rng.choice(_SHAPES)
    big = rng.random() < 0.5
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy = rng.uniform(0.3, 0.7) * w, rng.uniform(0.3, 0.7) * h
    radius = (0.35 if big else 0.2) * min(w, h)
    if shape == "circle":
        mask = (xx - cx) ** 2 + (yy - cy) ** 2 <= radius**2
    elif shape == "square":
        mask = (abs(xx - cx) <= radius) & (abs(yy - cy) <= radius)
    else:
        mask = (np.floor(xx / max(1.0, radius / 2)) % 2) == 0
    image = np.empty((3, h, w), dtype=np.float32)
    for c in range(3):
        image[c] = np.where(mask, _COLOURS[fg][c], _COLOURS[bg][c])
    caption = f"synthetic, {fg} {shape}, {bg} background, {'large' if big else 'small'}, simple"
    return Sample(image / 127.5 - 1.0, caption, 1, f"synthetic/{index:03d}.png")


class CaptionProcessor:
    """sd-scripts' ``process_caption`` for one sample and epoch, drawing from one seeded stream."""

    def __init__(self, config: TrainConfig, seed: int) -> None:
        self.config = config
        self.rng = random.Random(seed)

    def __call__(self, caption: str, epoch: int) -> str:
        c = self.config
        if c.caption_prefix:
            caption = f"{c.caption_prefix} {caption}"
        if c.caption_suffix:
            caption = f"{caption} {c.caption_suffix}"
        dropped = c.caption_dropout_rate > 0 and self.rng.random() < c.caption_dropout_rate
        every = c.caption_dropout_every_n_epochs
        if dropped or (every > 0 and epoch % every == 0):
            return ""
        if c.shuffle_caption or c.caption_tag_dropout_rate > 0:
            caption = self._tags(caption)
        if c.secondary_separator:
            caption = caption.replace(c.secondary_separator, c.caption_separator)
        return caption

    def _tags(self, caption: str) -> str:
        c = self.config
        sep = c.caption_separator
        if c.keep_tokens_separator and c.keep_tokens_separator in caption:
            fixed_part, _, flex_part = caption.partition(c.keep_tokens_separator)
            flex_part, _, suffix_part = flex_part.partition(c.keep_tokens_separator)
            fixed = [t.strip() for t in fixed_part.split(sep) if t.strip()]
            flexible = [t.strip() for t in flex_part.split(sep) if t.strip()]
            suffix = [t.strip() for t in suffix_part.split(sep) if t.strip()]
        else:
            tags = [t.strip() for t in caption.split(sep)]
            fixed, flexible, suffix = tags[: c.keep_tokens], tags[c.keep_tokens :], []
        if c.shuffle_caption:
            self.rng.shuffle(flexible)
        if c.caption_tag_dropout_rate > 0:
            flexible = [t for t in flexible if self.rng.random() >= c.caption_tag_dropout_rate]
        return ", ".join(fixed + flexible + suffix)


def batches_per_epoch(num_train_images: int, batch_size: int) -> int:
    """One bucket in the proxy, so ceil(images x repeats / batch)."""
    return math.ceil(num_train_images / batch_size)


class EpochSampler:
    """Yields (epoch, batch of sample indices) forever; the per-epoch order comes from its own stream."""

    def __init__(self, dataset: Dataset, batch_size: int, seed: int) -> None:
        self.items = [i for i, s in enumerate(dataset.train) for _ in range(s.repeats)]
        self.batch_size = batch_size
        self.rng = random.Random(seed)

    def __iter__(self):
        epoch = 0
        while True:
            epoch += 1
            order = self.items[:]
            self.rng.shuffle(order)
            for start in range(0, len(order), self.batch_size):
                yield epoch, order[start : start + self.batch_size]

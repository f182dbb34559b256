"""kohya's DreamBooth folder convention: `<repeats>_<class tokens>/` folders of images + captions.

Besides repeats and image counts, a fingerprint of the caption files makes identical captions across
runs show as the same value (and a single edited caption as a change).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from rundiff.errors import RundiffError
from rundiff.ingest.filesystem import is_directory, is_regular_file, read_head
from rundiff.model import Fact, Provenance, SourceFile, SourceKind

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".avif", ".jxl"})
CAPTION_SUFFIXES = (".txt", ".caption")
SUBSET_NAME = re.compile(r"^(\d+)_(.+)$")
MAX_FILES_PER_FOLDER = 200_000
MAX_CAPTION_BYTES = 64 * 1024
UNREADABLE_CAPTION = "\0(caption file not readable)"


@dataclass(frozen=True)
class Subset:
    path: Path
    repeats: int
    class_tokens: str
    images: int
    captions: int
    fingerprint: str  # sha256 over (image stem, caption text) pairs


def is_subset_folder(path: Path) -> bool:
    match = SUBSET_NAME.match(path.name)
    return bool(match) and int(match.group(1)) >= 1 and is_directory(path)


def scan_subset(path: Path, caption_extension: str | None = None, repeats: int | None = None) -> Subset:
    """One image folder; repeats from ``repeats`` (dataset TOML) or else from the folder name."""
    match = SUBSET_NAME.match(path.name)
    if repeats is None:
        repeats = int(match.group(1)) if match else 1
    tokens = match.group(2) if match else path.name
    digest = hashlib.sha256()
    images = captions = 0
    try:
        entries = sorted(p for _, p in zip(range(MAX_FILES_PER_FOLDER), path.iterdir(), strict=False))
    except (OSError, ValueError) as err:
        raise RundiffError(f"cannot list the image folder: {getattr(err, 'strerror', None) or err}", path) from None
    names = {p.name for p in entries}
    suffixes = (caption_extension,) if caption_extension else CAPTION_SUFFIXES
    for entry in entries:
        if entry.suffix.lower() not in IMAGE_SUFFIXES or not is_regular_file(entry):
            continue
        images += 1
        caption_text = ""
        for suffix in suffixes:
            if entry.stem + suffix in names:
                caption_text = _read_caption(path / (entry.stem + suffix))
                captions += 1
                break
        digest.update(entry.stem.encode("utf-8", "replace") + b"\0" + caption_text.encode("utf-8") + b"\0")
    return Subset(path, repeats, tokens, images, captions, digest.hexdigest()[:16])


def _read_caption(path: Path) -> str:
    try:
        raw = read_head(path, MAX_CAPTION_BYTES)
    except RundiffError:  # a FIFO, unreadable or a loop: its text is unknown, so it matches no other caption
        return UNREADABLE_CAPTION
    return raw.decode("utf-8", "replace").strip()


def find_subsets(parent: Path) -> list[Path]:
    try:
        return sorted(p for p in parent.iterdir() if is_subset_folder(p))
    except (OSError, ValueError):  # not there, unreadable, a NUL byte or an over-long name
        return []


def ingest_dataset_folders(
    subset_paths: list[Path],
    *,
    shown_root: Path | None = None,
    caption_extension: str | None = None,
    is_reg: bool = False,
    repeats: list[int | None] | None = None,
) -> SourceFile | None:
    """Facts for a set of image folders (the train set of one run).

    ``repeats`` gives each folder's repeats when a dataset TOML sets them (its folder names are then
    not parsed, as in sd-scripts); otherwise they come from the `<repeats>_<name>` names.
    """
    repeats = repeats or [None] * len(subset_paths)
    subsets = [scan_subset(p, caption_extension, r) for p, r in zip(subset_paths, repeats, strict=True)]
    subsets = [s for s in subsets if s.images or s.captions]
    if not subsets:
        return None
    where = str(shown_root or subsets[0].path.parent)
    digest = hashlib.sha256("|".join(s.fingerprint for s in subsets).encode()).hexdigest()[:16]
    counts = sorted({s.repeats for s in subsets})
    prefix = "reg_" if is_reg else ""
    facts = [
        Fact(f"{prefix}dataset_subsets", [s.path.name for s in subsets], SourceKind.DATASET_FOLDER, where),
        Fact(f"{prefix}image_count", sum(s.images for s in subsets), SourceKind.DATASET_FOLDER, where),
    ]
    if not is_reg:
        facts += [
            Fact(
                "num_repeats",
                counts[0] if len(counts) == 1 else counts,
                SourceKind.DATASET_FOLDER,
                where,
                provenance=Provenance.EXPLICIT,
                note="from the folder name <repeats>_<name>",
            ),
            Fact(
                "num_train_images",
                sum(s.images * s.repeats for s in subsets),
                SourceKind.DATASET_FOLDER,
                where,
                provenance=Provenance.DERIVED,
                note="images x repeats over the subset folders",
            ),
            Fact("caption_count", sum(s.captions for s in subsets), SourceKind.DATASET_FOLDER, where),
            Fact(
                "caption_fingerprint",
                digest,
                SourceKind.DATASET_FOLDER,
                where,
                note="sha256 of image names and caption texts",
            ),
        ]
    return SourceFile(where, "dataset-folder", facts=facts, chain=f"{where}#dataset-folder", precedence=5)

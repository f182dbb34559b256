"""Rules on LoRA capacity and repeats against the size of the dataset."""

from __future__ import annotations

from collections.abc import Iterator

from rundiff.diagnose.findings import Severity
from rundiff.diagnose.rules.base import Hit, NotChecked, RuleView, fmt, rule

#: Field report 001's scale: (images below, recommended rank, recommended repeats (low, high)).
RANK_REPEATS_SCALE: tuple[tuple[float, int, tuple[int, int]], ...] = (
    (10, 8, (5, 8)),
    (15, 12, (6, 9)),
    (25, 16, (5, 10)),
    (float("inf"), 24, (10, 10)),
)
RANK_FLAG_FACTOR = 2.0
REPEATS_FLAG_FACTOR = 1.5


def _count(value: object) -> int | None:
    """A positive count from a cell; per-subset values (a list) count by their largest."""
    if isinstance(value, list):
        value = max((v for v in value if isinstance(v, int | float) and not isinstance(v, bool)), default=None)
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return int(value)
    return None


def image_count(ctx: RuleView) -> int | None:
    images = _count(ctx.value("image_count"))
    if images:
        return images
    samples, repeats = _count(ctx.value("num_train_images")), _count(ctx.value("num_repeats"))
    if samples and repeats:
        return max(1, round(samples / repeats))
    return None


def scale_row(images: int) -> tuple[float, int, tuple[int, int]]:
    return next(row for row in RANK_REPEATS_SCALE if images < row[0])


def _bucket(images: int) -> str:
    bounds = [0] + [int(r[0]) for r in RANK_REPEATS_SCALE[:-1]]
    for low, row in zip(bounds, RANK_REPEATS_SCALE, strict=True):
        if images < row[0]:
            return f"{low}-{int(row[0]) - 1} images" if row[0] != float("inf") else f"{low}+ images"
    return ""


@rule(
    "rank-too-high-for-dataset",
    severity=Severity.WARNING,
    summary="The LoRA rank is far above what the dataset size calls for.",
    fix="Lower network_dim towards the recommended rank (and network_alpha with it, keeping alpha/dim).",
    thresholds={"flag_factor": RANK_FLAG_FACTOR, "scale": {f"<{r[0]:g} images": r[1] for r in RANK_REPEATS_SCALE}},
)
def rank_too_high_for_dataset(ctx: RuleView) -> Iterator[Hit]:
    """Flags a LoRA rank more than twice the rank field report 001 recommends for the image count.

    A high rank gives a small dataset room to be memorised; the base model's bias and a plastic,
    overfit look follow (field report 001: rank 48 for ~20 images). The report's scale: under 10
    images rank 8, 10-14 rank 12, 15-24 rank 16, 25 and more rank 24. Because it is one published
    rule of thumb, rundiff flags only at more than 2x the scale's rank (48 for 25+ images), which a
    healthy kohya run (203 images, dim 32) passes.
    """
    kind = ctx.training_kind
    if kind is None:
        raise NotChecked("training type unknown (LoRA or full fine-tune): give training_type or network_dim")
    if kind != "network":
        return
    dim, images = _count(ctx.value("network_dim")), image_count(ctx)
    if not dim:
        raise NotChecked("network_dim unknown: give it, or keep the LoRA file")
    if not images:
        raise NotChecked("image count unknown: keep the dataset folder or give image_count")
    _, rank, _ = scale_row(images)
    limit = rank * float(ctx.t["flag_factor"])
    if dim <= limit:
        return
    evidence: dict[str, float] = {
        "network_dim": int(dim),
        "image_count": images,
        "recommended_rank": rank,
        "flag_above": limit,
    }
    alpha = ctx.value("network_alpha")
    if alpha is not None:
        evidence["network_alpha"] = float(alpha)
        evidence["lora_scale"] = round(float(alpha) / float(dim), 4)
    yield Hit(
        f"network_dim {int(dim)} for {images} images is {fmt(dim / rank)}x the rank of {rank} "
        f"recommended for {_bucket(images)} (field report 001).",
        evidence,
    )


@rule(
    "repeats-too-high",
    severity=Severity.WARNING,
    summary="Each image is repeated far more often per epoch than the dataset size calls for.",
    fix="Lower num_repeats (the <N>_ folder prefix) towards the recommended value; train more epochs instead.",
    thresholds={
        "flag_factor": REPEATS_FLAG_FACTOR,
        "scale": {f"<{r[0]:g} images": list(r[2]) for r in RANK_REPEATS_SCALE},
    },
)
def repeats_too_high(ctx: RuleView) -> Iterator[Hit]:
    """Flags repeats more than 1.5x the top of the range field report 001 recommends.

    Many repeats of few images make the model memorise them (field report 001: 20 repeats for about
    20 images; "5-10 repeats for 15-25 images"). The report's scale: under 10 images 5-8 repeats,
    10-14 6-9, 15-24 5-10, 25 and more 10. rundiff flags above 1.5x the upper end (12, 13, 15, 15),
    so a healthy kohya run (203 images x 10 repeats) passes.
    """
    kind = ctx.training_kind
    if kind is None:
        raise NotChecked("training type unknown (LoRA or full fine-tune): give training_type or network_dim")
    if kind != "network":
        return
    repeats, images = _count(ctx.value("num_repeats")), image_count(ctx)  # several subsets: the highest
    if not repeats:
        raise NotChecked("num_repeats unknown: keep the dataset folder (<N>_name) or give num_repeats")
    if not images:
        raise NotChecked("image count unknown: keep the dataset folder or give image_count")
    _, _, (low, high) = scale_row(images)
    limit = high * float(ctx.t["flag_factor"])
    if repeats <= limit:
        return
    yield Hit(
        f"num_repeats {int(repeats)} for {images} images is above the {low}-{high} recommended for "
        f"{_bucket(images)} (field report 001).",
        {"num_repeats": int(repeats), "image_count": images, "recommended_max_repeats": high, "flag_above": limit},
    )

"""One table (keys.yaml) from the names trainers log under to rundiff's series names."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml


@dataclass(frozen=True)
class SeriesKey:
    series: str
    per_epoch: bool = False


@cache
def _table() -> tuple[dict[str, SeriesKey], list[tuple[str, SeriesKey]]]:
    data = yaml.safe_load(resources.files("rundiff.ingest.logs").joinpath("keys.yaml").read_text("utf-8"))
    exact = {k: SeriesKey(v["series"], bool(v.get("epoch"))) for k, v in data["exact"].items()}
    prefix = sorted(
        ((k, SeriesKey(v["series"], bool(v.get("epoch")))) for k, v in data["prefix"].items()),
        key=lambda item: -len(item[0]),
    )
    return exact, prefix


def series_for(key: str) -> SeriesKey | None:
    """The series a logged key feeds, None for keys rundiff does not read."""
    lowered = key.strip().lower()
    exact, prefixes = _table()
    if lowered in exact:
        return exact[lowered]
    for prefix, target in prefixes:
        if lowered.startswith(prefix) and len(lowered) > len(prefix):
            suffix = key.strip()[len(prefix) :]
            if target.series.endswith("/"):
                return SeriesKey(target.series + suffix, target.per_epoch)
            return target
    return None

"""Base architectures rundiff knows: canonical ids, labels, and the widths detection relies on.

Kept apart from :mod:`rundiff.infer.inventory` (the per-module tables behind ``--size`` and the
synthetic files) so that a plain ``infer-rank`` imports only this small table.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ArchSpec:
    """Facts about a base architecture that detection and size estimation need."""

    name: str  # canonical id used everywhere in rundiff ("sd1", "sdxl", "flux", ...)
    label: str
    text_encoders: tuple[tuple[int, int, int], ...]  # (hidden, mlp, layers) of each TE kohya trains
    context_dim: int | None = None  # cross-attention input width (UNet models)
    hidden: int | None = None  # transformer width (DiT models)


ARCHITECTURES: dict[str, ArchSpec] = {
    spec.name: spec
    for spec in (
        ArchSpec("sd1", "SD 1.x", ((768, 3072, 12),), context_dim=768),
        ArchSpec("sd2", "SD 2.x", ((1024, 4096, 23),), context_dim=1024),
        ArchSpec("sdxl", "SDXL", ((768, 3072, 12), (1280, 5120, 32)), context_dim=2048),
        ArchSpec("sd3-medium", "SD3 medium", ((768, 3072, 12), (1280, 5120, 32)), hidden=1536),
        ArchSpec("sd3.5-medium", "SD3.5 medium", ((768, 3072, 12), (1280, 5120, 32)), hidden=1536),
        ArchSpec("sd3.5-large", "SD3.5 large", ((768, 3072, 12), (1280, 5120, 32)), hidden=2432),
        ArchSpec("flux", "Flux.1", ((768, 3072, 12),), hidden=3072),
        ArchSpec("chroma", "Chroma", (), hidden=3072),
    )
}

ALIASES = {
    "sd15": "sd1",
    "sd1.5": "sd1",
    "sd1.x": "sd1",
    "sd14": "sd1",
    "sd_v1": "sd1",
    "sd21": "sd2",
    "sd2.1": "sd2",
    "sd2.x": "sd2",
    "sd_v2": "sd2",
    "sd3": "sd3-medium",
    "sd35-medium": "sd3.5-medium",
    "sd35-large": "sd3.5-large",
    "sd35": "sd3.5-large",
    "flux1": "flux",
    "flux.1": "flux",
}


def canonical_arch(name: str) -> str:
    """Map a user-typed architecture name to its canonical id; raises KeyError when unknown."""
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in ARCHITECTURES:
        raise KeyError(name)
    return key

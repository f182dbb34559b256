"""A LoRA's training settings as canonical parameters: its metadata read the way ``compare`` reads it.

One decoder, not two: the metadata goes through ingest's :func:`metadata_facts` (which unpacks
``ss_optimizer``, ``ss_datasets``, ``ot_config``, ``lora_adapter_metadata``, ...) and the registry's
``metadata`` aliases, exactly as for a run folder. Loading the registry costs ~0.1 s, so
``infer-rank`` does it only for ``--json`` and ``--settings``, never for a plain header read.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time: infer-rank's start-up budget
if TYPE_CHECKING:
    from typing import Any


def canonical_settings(metadata: dict[str, str], shown: str) -> tuple[dict[str, Any], list[str]]:
    """({canonical parameter: value}, warnings) for the registry parameters the metadata sets.

    Keys no alias maps are left out (they stay visible in ``metadata``); a value that cannot be
    read as its parameter's type is kept as written, with a warning.
    """
    from rundiff.ingest.safetensors_file import metadata_facts
    from rundiff.normalise.merge import map_fact
    from rundiff.normalise.registry import load_registry

    registry = load_registry()
    warnings: list[str] = []
    out: dict[str, Any] = {}
    for fact in metadata_facts(metadata, shown):
        for name, value, _note in map_fact(fact, registry, warnings):
            if registry.get(name) is not None and name not in out:
                out[name] = value
    return dict(sorted(out.items())), warnings

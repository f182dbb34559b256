"""Build a run folder from a rule case (tests/rule_cases/<RULE>/<case>.yaml): real files, real layouts.

A case holds:
- ``files``: path -> text, written as they are (launch scripts, configs, console logs, CSV);
- ``images``: folder -> image count (kohya ``<repeats>_<name>`` folders; tiny PNG + caption each);
- ``tensorboard``: folder -> {tag: points}, written with TensorBoard's own writer; points are
  ``[[step, value], ...]`` or a generator ``{from, to, every, value}`` where value is a number,
  ``{linear: [start, end]}``, ``{ramp: [peak, warmup_steps]}`` (value after k scheduler steps of a
  linear warmup) or ``{noisy: [start, end, amplitude]}`` (a falling loss with deterministic noise);
- ``text_series``: file -> {from, to, every, line, value}: a log written line by line, the
  ``line`` formatted with ``{i}`` (the step) and ``{v}`` (the value);
- ``safetensors``: path -> {epoch, steps, up}: a tiny kohya LoRA (two modules) whose up weights
  are ``up`` (0 = never trained), with sd-scripts' ``ss_epoch``/``ss_steps`` metadata;
- ``read_weights``: diagnose as ``--weights`` does;
- ``config``: threshold overrides as the project config file gives them ({rule id: {name: value}});
- ``expect``: ``fires`` (bool), optionally ``severity``, ``evidence`` (a subset), ``message``
  (a substring), ``not_checked`` (the rule must list itself as not checked), ``based_on`` (names).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000")


def _value(spec: Any, i: int, start: int, end: int) -> float:
    if isinstance(spec, int | float):
        return float(spec)
    x = (i - start) / max(1, end - start)
    if "linear" in spec:
        a, b = spec["linear"]
        return a + (b - a) * x
    if "ramp" in spec:
        peak, warmup = spec["ramp"]
        return peak * min(1.0, i / warmup) if warmup else peak
    if "noisy" in spec:
        a, b, amplitude = spec["noisy"]
        return a + (b - a) * x + amplitude * math.sin(i * 1.7)
    raise ValueError(f"unknown value generator {spec!r}")


def points(spec: Any) -> list[tuple[int, float]]:
    if isinstance(spec, list):
        return [(int(s), float(v)) for s, v in spec]
    start, end, every = spec["from"], spec["to"], spec.get("every", 1)
    return [(i, _value(spec["value"], i, start, end)) for i in range(start, end + 1, every)]


def write_case(case: dict[str, Any], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in (case.get("files") or {}).items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for name, count in (case.get("images") or {}).items():
        subset = folder / name
        subset.mkdir(parents=True, exist_ok=True)
        for index in range(count):
            (subset / f"{index:04d}.png").write_bytes(PNG)
            (subset / f"{index:04d}.txt").write_text(f"a photo of sks, image {index}\n", encoding="utf-8")
    for name, spec in (case.get("text_series") or {}).items():
        lines = [spec["line"].format(i=i, v=v) for i, v in points(spec)]
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(spec.get("head", "") + "\n".join(lines) + "\n" + spec.get("tail", ""), encoding="utf-8")
    for name, spec in (case.get("safetensors") or {}).items():
        write_lora(folder / name, **spec)
    for name, tags in (case.get("tensorboard") or {}).items():
        from diagnose_factories import write_event_file

        write_event_file(folder / name, {tag: points(spec) for tag, spec in tags.items()})
    return folder


def write_lora(path: Path, *, epoch: int, steps: int, up: float, max_steps: int | None = None) -> None:
    """A kohya LoRA of two U-Net modules, as sd-scripts saves it (down, up, alpha + ss_* metadata)."""
    import numpy as np
    from safetensors.numpy import save_file

    tensors = {}
    for module in ("lora_unet_down_blocks_0_attentions_0_proj_in", "lora_unet_up_blocks_1_attentions_0_proj_out"):
        tensors[f"{module}.lora_down.weight"] = np.full((4, 32), 0.05, np.float32)
        tensors[f"{module}.lora_up.weight"] = np.full((32, 4), up, np.float32)
        tensors[f"{module}.alpha"] = np.array(4.0, np.float32)
    metadata = {
        "ss_network_module": "networks.lora",
        "ss_network_dim": "4",
        "ss_network_alpha": "4.0",
        "ss_epoch": str(epoch),
        "ss_steps": str(steps),
        "ss_max_train_steps": str(max_steps or steps),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata=metadata)

"""Sample images the runs left behind, matched across runs by prompt and step.

The trainers' file-name layouts are data (sample_layouts.yaml). Images are embedded as small
JPEG thumbnails in HTML (Pillow, which matplotlib brings) and linked by relative path from
Markdown, so a report of many runs stays light.
"""

from __future__ import annotations

import base64
import io
import os
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from rundiff.model import Run

MAX_DEPTH = 4
#: Prompt/step groups shown, and the newest steps per prompt.
MAX_GROUPS = 8
STEPS_PER_PROMPT = 2
#: Runs shown side by side in one group; images larger than this are not opened.
MAX_RUNS = 12
MAX_IMAGE_BYTES = 20 * 1024 * 1024
THUMBNAIL_PX = 256
PROMPT_CHARS = 160


@dataclass(frozen=True)
class SampleImage:
    run: str
    path: Path
    prompt: str  # the prompt text when known, else "prompt #NN"
    prompt_index: int
    step: str  # "000500" / "epoch 3" / OneTrainer progress
    order: int  # for "newest": the step or epoch number


@cache
def layouts() -> list[dict[str, Any]]:
    text = resources.files("rundiff.report").joinpath("sample_layouts.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)["layouts"]
    for layout in data:
        layout["regex"] = re.compile(layout["pattern"])
    return data


def _prompt_lines(folder: Path, names: list[str]) -> list[str]:
    for name in names:
        path = folder / name
        try:
            if path.is_file() and path.stat().st_size < 1_000_000:
                lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
                prompts = [ln.split(" --", 1)[0].strip() for ln in lines if ln.strip() and not ln.startswith("#")]
                return prompts
        except OSError:
            continue
    return []


def find_samples(run: Run) -> list[SampleImage]:
    """Every sample image under the run folder whose name a known layout explains."""
    root = Path(run.path)
    if not root.is_dir():
        return []
    found: list[SampleImage] = []
    folder_names = {name for layout in layouts() for name in layout["folders"]}
    for current, dirs, files in os.walk(root):
        here = Path(current)
        depth = len(here.relative_to(root).parts)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")) if depth < MAX_DEPTH else []
        parts = here.relative_to(root).parts
        in_samples = next((p for p in reversed(parts) if p in folder_names), None)
        if in_samples is None:
            continue
        for layout in layouts():
            if in_samples not in layout["folders"]:
                continue
            prompts = _prompt_lines(here, layout.get("prompt_file") or [])
            for name in sorted(files):
                match = layout["regex"].match(name)
                if not match:
                    continue
                found.append(_image(run, here / name, match, layout, prompts))
            if any(s.path.parent == here for s in found):
                break
    return found


def _image(run: Run, path: Path, match: re.Match, layout: dict[str, Any], prompts: list[str]) -> SampleImage:
    groups = match.groupdict()
    if layout.get("prompt_from_folder"):
        index_text, _, prompt = path.parent.name.partition(" - ")
        index = int(index_text) if index_text.strip().isascii() and index_text.strip().isdigit() else 0
        prompt = prompt or f"prompt #{index}"
    else:
        index = int(groups.get("prompt") or 0)
        prompt = prompts[index] if index < len(prompts) else f"prompt #{index:02d}"
    if groups.get("epoch"):
        step, order = f"epoch {int(groups['epoch'])}", int(groups["epoch"])
    else:
        raw = groups.get("step") or "0"
        digits = re.sub(r"\D", "", raw)[-12:] or "0"
        step, order = raw.lstrip("0") or "0", int(digits)
    return SampleImage(run.name, path, prompt[:PROMPT_CHARS], index, step, order)


def matched_groups(runs: list[Run]) -> tuple[list[dict[str, Any]], str]:
    """[(prompt, step, one image per run)] for the prompt/step pairs two or more runs share (or the
    newest per prompt when none is shared), plus a note on what was left out."""
    images = [img for run in runs for img in find_samples(run)]
    if not images:
        return [], ""
    by_key: dict[tuple[int, str], dict[str, SampleImage]] = {}
    for img in images:
        by_key.setdefault((img.prompt_index, img.step), {}).setdefault(img.run, img)
    shared = {k: v for k, v in by_key.items() if len(v) >= 2} or by_key
    per_prompt: dict[int, list[tuple[int, str]]] = {}
    for (index, step), members in shared.items():
        order = max(m.order for m in members.values())
        per_prompt.setdefault(index, []).append((order, step))
    keys = [
        (index, step)
        for index in sorted(per_prompt)
        for _, step in sorted(per_prompt[index], reverse=True)[:STEPS_PER_PROMPT]
    ]
    groups = []
    for index, step in keys[:MAX_GROUPS]:
        members = shared[(index, step)]
        first = next(iter(members.values()))
        groups.append(
            {
                "prompt": first.prompt,
                "step": step,
                "runs": [{"run": run.name, "image": members.get(run.name)} for run in runs if run.name in members][
                    :MAX_RUNS
                ],
            }
        )
    left = len(keys) - len(groups)
    note = f"{len(images)} sample images found; {left} more prompt/step groups not shown." if left > 0 else ""
    return groups, note


def thumbnail(path: Path) -> tuple[str, str] | None:
    """(mime, base64) of a small JPEG of the image; None when it cannot be read."""
    try:
        if path.stat().st_size > MAX_IMAGE_BYTES:
            return None
        from PIL import Image

        with Image.open(path) as img:
            img.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
            buffer = io.BytesIO()
            img.convert("RGB").save(buffer, format="JPEG", quality=82)
        return "image/jpeg", base64.b64encode(buffer.getvalue()).decode("ascii")
    except Exception:  # noqa: BLE001 - a broken image is a missing picture, never a failed report
        return None

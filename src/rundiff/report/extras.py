"""What a comparison report can show besides the parameters: the runs' loss and LR curves, their
sample images side by side, and the effect of each parameter on a metric (`--metric`).

HTML embeds everything (the file stays self-contained); Markdown links PNG files written beside it
(`<report>_files/`) and the sample images where they lie; text and JSON carry the numbers only.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rundiff.comparison.table import Comparison


@dataclass
class Extras:
    """Which extras to add, and where a Markdown report's pictures go."""

    metric: str | None = None
    curves: bool = True
    samples: bool = True
    #: The file the report is written to (Markdown links are relative to its folder).
    report_path: Path | None = None
    #: Files to write beside the report: path -> bytes (filled while rendering).
    files: dict[Path, bytes] = field(default_factory=dict)


def asset_dir(report_path: Path) -> Path:
    return report_path.with_name(f"{report_path.stem}_files")


def add_extras(context: dict[str, Any], comparison: Comparison, fmt: str, extras: Extras) -> None:
    """Fill context["extras"] for ``fmt``; Markdown picture files are queued in ``extras.files``."""
    block = context["extras"]
    if extras.metric:
        from rundiff.report.metric import metric_effects

        block["metric"] = metric_effects(comparison, extras.metric)
    if extras.curves and fmt in ("html", "md", "text"):
        from rundiff.report.curves import overlay_curves

        curves = overlay_curves(comparison.runs) if fmt != "text" else []
        for curve in curves:
            entry = {
                "kind": curve.kind,
                "title": curve.title,
                "width": curve.width,
                "height": curve.height,
                "data": None,
                "link": None,
            }
            if fmt == "html":
                entry["data"] = base64.b64encode(curve.png).decode("ascii")
            elif extras.report_path is not None:
                target = asset_dir(extras.report_path) / f"{curve.kind}.png"
                extras.files[target] = curve.png
                entry["link"] = os.path.relpath(target, extras.report_path.parent)
            block["curves"].append(entry)
        if curves and fmt == "md" and extras.report_path is None:
            block["curves_note"] = "The runs have logs: write the report with -o report.md to get the curve images."
    if extras.samples and fmt in ("html", "md"):
        from rundiff.report.samples import matched_groups, thumbnail

        groups, note = matched_groups(comparison.runs)
        for group in groups:
            for member in group["runs"]:
                image = member.pop("image")
                member.update(file=image.path.name if image else "", data=None, mime=None, link=None)
                if image is None:
                    continue
                if fmt == "html":
                    thumb = thumbnail(image.path)
                    if thumb:
                        member["mime"], member["data"] = thumb
                elif extras.report_path is not None:
                    member["link"] = os.path.relpath(image.path.resolve(), extras.report_path.resolve().parent)
        block["samples"] = groups
        block["samples_note"] = note


def write_files(files: dict[Path, bytes]) -> None:
    """The pictures a Markdown report links, written before the report itself."""
    from rundiff.report.output import write_atomic

    for path, data in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, data)

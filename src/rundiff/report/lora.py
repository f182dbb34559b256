"""infer-rank's Markdown and HTML reports: the text report's rows as tables (JSON is LoraInfo.to_json).

The rows come from `rundiff.infer.render` (summary_rows, shown_metadata, series_rows), so the three
human formats say the same things in the same order; only the layout differs.
"""

from __future__ import annotations

from typing import Any

from rundiff.infer.render import largest_blocks, series_rows, series_title, shown_metadata, summary_rows


def lora_context(result: Any) -> dict[str, Any]:
    """The template context of an InspectResult: lone files, save series, and the files not read."""
    files, series = [], []
    for group in result.series:
        if group.is_series:
            columns, rows, _table = series_rows(group)
            truncated = [info.truncated for _, info in group.members]
            if any(truncated):
                columns = [*columns, "note"]
                rows = [[*row, "TRUNCATED" if cut else ""] for row, cut in zip(rows, truncated, strict=True)]
            series.append({"title": series_title(group), "columns": columns, "rows": rows})
        else:
            files.append(_file(group.members[0][1]))
    return {"files": files, "series": series, "warnings": list(result.warnings)}


def _file(info: Any) -> dict[str, Any]:
    hashes = [(k, str(v)) for k, v in info.hashes.items() if not isinstance(v, bool | dict | list)]
    weights = None
    if info.weights is not None:
        report = info.weights
        blocks = largest_blocks(report)
        weights = {
            "total_norm": report.total_norm,
            "bytes_read": report.bytes_read,
            "findings": list(report.findings),
            "blocks": [
                {
                    "name": b.block,
                    "norm": b.norm,
                    "modules": b.modules,
                    "untrained": b.untrained,
                    "nonfinite": b.nonfinite,
                }
                for b in blocks
            ],
        }
    return {
        "path": info.path,
        "rows": summary_rows(info),
        "metadata_count": len(info.metadata),
        "metadata": shown_metadata(info),
        "settings": [(k, str(v)) for k, v in info.training.items()],
        "hashes": hashes,
        "weights": weights,
        "conflicts": [c.message for c in info.conflicts],
        "warnings": list(info.warnings),
    }

"""Sweep -> Markdown, self-contained HTML or JSON. The templates are the reports; this builds their context.

After a sweep the driver calls ``write_report(load_sweep(out_dir))``: report.md, report.html, report.json
and plots/*.png land in the sweep folder, each written only once everything has rendered.
"""

from __future__ import annotations

import base64
import json
import math
import os
from pathlib import Path
from typing import Any

from rundiff.ablate.sweep import PROXY_LABEL, TAIL_FRACTION, Sweep, VariantOutcome
from rundiff.ablate.verdict import FactorVerdict, judge_sweep, number, ratio_text, value_label
from rundiff.report.templates import render

FORMATS = ("md", "html", "json")
_TEMPLATES = {"md": "ablate.md.j2", "html": "ablate.html.j2"}
REPORT_STEM = "report"
PLOTS_DIR = "plots"
#: Lines of a failed variant's stderr shown in the report (the record holds the last 4000 bytes).
STDERR_LINES = 25

_PLOT_TITLES = {
    "loss": "Training loss",
    "lr": "Learning rate",
    "dw": "Weight movement ‖ΔW‖",
    "val_loss": "Validation loss",
}


def render_sweep(sweep: Sweep, fmt: str, plots_dir: Path | None = None) -> str:
    """The report in ``fmt`` (md, html or json).

    HTML always embeds its plots. With ``plots_dir`` the PNGs are also written there and Markdown links
    them by a path relative to the sweep folder (where ``write_report`` puts report.md); without it
    Markdown has no pictures.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown report format {fmt!r}; one of {', '.join(FORMATS)}")
    verdicts = judge_sweep(sweep)
    images = _images(sweep, verdicts) if fmt == "html" or (fmt == "md" and plots_dir is not None) else {}
    files = _plot_paths(images, Path(plots_dir)) if plots_dir is not None else {}
    text = _render(sweep, fmt, verdicts, images, files, sweep.path)
    _write_images(images, files)
    return text


def write_report(sweep: Sweep, out_dir: Path | None = None, formats: tuple[str, ...] = FORMATS) -> list[Path]:
    """report.<fmt> for each format and plots/*.png into ``out_dir`` (the sweep folder by default).

    Everything is rendered before the first file is written; each file is replaced atomically.
    """
    out_dir = Path(out_dir) if out_dir is not None else sweep.path
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ValueError(f"unknown report format {unknown[0]!r}; one of {', '.join(FORMATS)}")
    verdicts = judge_sweep(sweep)
    images = _images(sweep, verdicts) if {"md", "html"} & set(formats) else {}
    files = _plot_paths(images, out_dir / PLOTS_DIR)
    texts = {fmt: _render(sweep, fmt, verdicts, images, files, out_dir) for fmt in formats}
    _write_images(images, files)
    written = [path for by_kind in files.values() for path in by_kind.values()]
    for fmt, text in texts.items():
        path = out_dir / f"{REPORT_STEM}.{fmt}"
        tmp = out_dir / f".{REPORT_STEM}.{fmt}.tmp"
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
        written.append(path)
    return written


def _images(sweep: Sweep, verdicts: list[FactorVerdict]) -> dict[str, dict[str, bytes]]:
    from rundiff.ablate.plots import sweep_plots

    return sweep_plots(sweep, [v.name for v in verdicts])


def _plot_paths(images: dict[str, dict[str, bytes]], folder: Path) -> dict[str, dict[str, Path]]:
    from rundiff.ablate.plots import plot_file_name

    return {
        factor: {kind: folder / plot_file_name(factor, kind) for kind in by_kind} for factor, by_kind in images.items()
    }


def _write_images(images: dict[str, dict[str, bytes]], files: dict[str, dict[str, Path]]) -> None:
    for factor, by_kind in files.items():
        for kind, path in by_kind.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(images[factor][kind])


def _render(
    sweep: Sweep,
    fmt: str,
    verdicts: list[FactorVerdict],
    images: dict[str, dict[str, bytes]],
    files: dict[str, dict[str, Path]],
    link_base: Path,
) -> str:
    if fmt == "json":
        return json.dumps(sweep_json(sweep, verdicts), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    embedded = images if fmt == "html" else {}
    linked = files if fmt == "md" else {}
    return render(_TEMPLATES[fmt], report_context(sweep, verdicts, embedded, linked, link_base))


def sweep_json(sweep: Sweep, verdicts: list[FactorVerdict] | None = None) -> dict[str, Any]:
    verdicts = judge_sweep(sweep) if verdicts is None else verdicts
    return _finite(
        {
            "base": {"name": sweep.base_name, "path": sweep.base_path},
            "backend": sweep.backend,
            "steps": sweep.steps,
            "seeds": list(sweep.seeds),
            "grid": sweep.grid,
            "proxy": sweep.proxy,
            "label": PROXY_LABEL if sweep.proxy else None,
            "tail_fraction": TAIL_FRACTION,
            "horizon": sweep.horizon,
            "schedules": list(sweep.schedules),
            "executor": sweep.executor or {},
            "base_env_not_applied": sweep.base_env or {},
            "factors": [v.to_json() for v in verdicts],
            "variants": [_variant_json(v) for v in sweep.variants],
            "notes": list(sweep.notes),
        }
    )


def _variant_json(v: VariantOutcome) -> dict[str, Any]:
    return {
        "name": v.name,
        "factor": v.factor,
        "overrides": v.overrides,
        "seed": v.seed,
        "status": v.status,
        "backend": v.backend,
        "is_base_value": v.is_base_value,
        "final_loss": v.final_loss,
        "final_val_loss": v.final_val_loss,
        "dw": v.dw,
        "dw_rel": v.dw_rel,
        "steps": v.last_step,
        "wall_time_s": v.wall_time_s,
        "steps_per_second": v.steps_per_second,
        "stderr_tail": v.stderr_tail if not v.finished else "",
        "warnings": list(v.warnings),
    }


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: they become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def report_context(
    sweep: Sweep,
    verdicts: list[FactorVerdict],
    images: dict[str, dict[str, bytes]],
    files: dict[str, dict[str, Path]],
    link_base: Path | None = None,
) -> dict[str, Any]:
    """The plain dict both ablate templates are rendered from; numbers are already text."""
    factors = []
    for verdict in verdicts:
        plots = []
        for kind in ("loss", "lr", "dw", "val_loss"):
            data = images.get(verdict.name, {}).get(kind)
            path = files.get(verdict.name, {}).get(kind)
            if data is None and path is None:
                continue
            link = Path(os.path.relpath(path, link_base or sweep.path)).as_posix() if path is not None else None
            plots.append(
                {
                    "kind": kind,
                    "title": _PLOT_TITLES[kind],
                    "link": link,
                    "data": base64.b64encode(data).decode("ascii") if data is not None else None,
                }
            )
        loss = verdict.loss
        factors.append(
            {
                "name": verdict.name,
                "sentence": verdict.sentence,
                "verdict": loss.verdict,
                "movement": verdict.movement.detail if verdict.movement else None,
                "metric_label": loss.metric_label,
                "left_out": list(verdict.left_out),
                "effect": number(loss.effect, 3),
                "seed_spread": number(loss.seed_spread),
                "ratio": ratio_text(loss.ratio),
                "noise_threshold": ratio_text(loss.noise_threshold),
                "rows": [
                    {
                        "label": v.label,
                        "n": v.n,
                        "mean": number(v.mean, 4),
                        "sd": number(v.sd),
                        "min": number(min(v.scores), 4),
                        "max": number(max(v.scores), 4),
                    }
                    for v in loss.values
                ],
                "plots": plots,
            }
        )
    variants = [_variant_row(v) for v in sweep.variants]
    problems = [row for row in variants if row["status"] not in ("done",)]
    return {
        "title": f"rundiff ablate: {sweep.base_name or sweep.path.name}",
        "base_name": sweep.base_name,
        "base_path": sweep.base_path,
        "backend": sweep.backend,
        "proxy": sweep.proxy,
        "proxy_label": PROXY_LABEL,
        "steps": sweep.steps,
        "seeds": ", ".join(str(s) for s in sweep.seeds),
        "grid": sweep.grid,
        "notes": list(sweep.notes),
        "tail_percent": f"{TAIL_FRACTION:.0%}",
        "factors": factors,
        "variants": variants,
        "problems": problems,
        "finished": sum(v.finished for v in sweep.variants),
        "total": len(sweep.variants),
        "horizon": sweep.horizon,
        "schedules": list(sweep.schedules),
        "executor": (sweep.executor or {}).get("name", "unknown"),
        "base_env": [f"{k}={v}" for k, v in (sweep.base_env or {}).items()],
    }


def _variant_row(v: VariantOutcome) -> dict[str, Any]:
    tail = "\n".join(v.stderr_tail.rstrip().splitlines()[-STDERR_LINES:]) if not v.finished else ""
    longest_ticks = max((len(run) for run in _backtick_runs(tail)), default=0)
    return {
        "name": v.name,
        "value": value_label(v.overrides) if v.overrides else "—",
        "seed": v.seed,
        "status": v.status,
        "final_loss": number(v.final_loss, 4),
        "final_val_loss": number(v.final_val_loss, 4),
        "dw": number(v.dw, 3),
        "wall_time": f"{v.wall_time_s:.1f} s" if v.wall_time_s is not None else "—",
        "steps_per_second": f"{v.steps_per_second:.2f}" if v.steps_per_second is not None else "—",
        "stderr_tail": tail,
        "fence": "`" * max(3, longest_ticks + 1),
        "warnings": list(v.warnings),
    }


def _backtick_runs(text: str) -> list[str]:
    runs, current = [], ""
    for ch in text:
        if ch == "`":
            current += ch
        elif current:
            runs.append(current)
            current = ""
    return runs + ([current] if current else [])

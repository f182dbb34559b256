"""Plain-text summaries for ``rundiff infer-rank`` (the JSON form is ``LoraInfo.to_json``)."""

from __future__ import annotations

from typing import Any

from rundiff.infer.architecture import label
from rundiff.infer.inspect import LoraInfo

_SHOWN_METADATA = (
    "ss_network_module",
    "ss_network_dim",
    "ss_network_alpha",
    "ss_network_args",
    "ss_base_model_version",
    "modelspec.architecture",
    "ss_sd_model_name",
    "ss_learning_rate",
    "ss_unet_lr",
    "ss_text_encoder_lr",
    "ss_optimizer",
    "ss_lr_scheduler",
    "ss_steps",
    "ss_epoch",
    "ss_mixed_precision",
    "ss_training_comment",
)


def human_size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def _dist(counts: dict[Any, int]) -> str:
    return ", ".join(f"{k:g}x{v}" if isinstance(k, float) else f"{k}x{v}" for k, v in sorted(counts.items()))


def _g(x: float | None) -> str:
    return "-" if x is None else f"{x:g}"


def render_info(info: LoraInfo) -> str:
    lines = [info.path]
    fmt = "not a LoRA: full checkpoint" if info.format == "checkpoint" else info.format
    lines.append(f"  format        {fmt}{' (DoRA)' if info.dora and 'dora' not in fmt else ''}")
    lines.append(f"  architecture  {label(info.architecture)}  [{'; '.join(info.architecture_evidence)}]")
    if info.is_lora:
        rank = str(info.rank) if info.rank is not None else f"varies: {_dist(info.ranks) or '-'}"
        lines.append(f"  rank          {rank}")
        if info.conv_ranks:
            conv = str(info.conv_rank) if info.conv_rank is not None else f"varies: {_dist(info.conv_ranks)}"
            lines.append(f"  conv rank     {conv}  (conv alpha {_g(info.conv_alpha)})")
        alpha = (
            _g(info.alpha) if info.alpha is not None or not info.alphas else f"varies: {_dist(info.alphas)}"
        )
        lines.append(f"  alpha         {alpha}  ({info.alpha_source})   scale alpha/rank {_g(info.scale)}")
        if info.rank is None and len(info.ranks_by_component) > 1:
            for comp, ranks in info.ranks_by_component.items():
                lines.append(f"    {comp:<12}{_dist(ranks)}")
    lines.append(
        f"  dtype         {info.dtype or '-'}"
        + (f"  (mixed: {_dist(info.dtypes)})" if len(info.dtypes) > 1 else "")
    )
    lines.append("  modules       " + (", ".join(f"{k} {v}" for k, v in info.modules.items()) or "-"))
    lines.append(
        f"  parameters    {info.n_params:,}   file {human_size(info.file_size)} ({info.file_size:,} bytes)"
        + ("   TRUNCATED" if info.truncated else "")
    )
    shown = [(k, info.metadata[k]) for k in _SHOWN_METADATA if k in info.metadata]
    if info.metadata:
        lines.append(f"  metadata      {len(info.metadata)} keys")
        for k, v in shown:
            lines.append(f"    {k} = {v if len(v) <= 100 else v[:97] + '...'}")
    else:
        lines.append("  metadata      none")
    for c in info.conflicts:
        lines.append(f"  CONFLICT      {c.message}")
    for w in info.warnings:
        lines.append(f"  warning       {w}")
    return "\n".join(lines)


def render_size(report: dict[str, Any]) -> str:
    lo, hi = report["size_bytes"]
    lines = [f"size {report['size']} (= {human_size(lo)} .. {human_size(hi)})"]
    if report["candidates"]:
        lines.append(
            f"  {'architecture':<14}{'module set':<18}{'dtype':<10}{'rank':>5}  {'expected':>12}  error"
        )
        for c in report["candidates"]:
            lines.append(
                f"  {c['architecture']:<14}{c['module_set']:<18}{c['dtype']:<10}{c['rank']:>5}  "
                f"{human_size(c['expected_size']):>12}  {c['error'] * 100:+.2f}%"
            )
    if report.get("note"):
        lines.append(f"  {report['note']}")
    return "\n".join(lines)

"""Plain-text summaries for ``rundiff infer-rank`` (the JSON form is ``LoraInfo.to_json``)."""

from __future__ import annotations

from rundiff.infer.architecture import label
from rundiff.infer.inspect import LoraInfo
from rundiff.plaintext import plain_text

TYPE_CHECKING = False  # typing is not imported at run time: infer-rank's start-up budget
if TYPE_CHECKING:
    from typing import Any

    from rundiff.infer.folders import InspectResult
    from rundiff.infer.series import Series
    from rundiff.infer.weights import WeightReport


def clean(text: str) -> str:
    """Text from a file, made safe to print (the rule of :mod:`rundiff.plaintext`)."""
    return plain_text(text)


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


def summary_rows(info: LoraInfo) -> list[tuple[str, str]]:
    """(label, value) of what one file proves, in the order every format shows it; a label that starts
    with two spaces belongs to the row above (a component's ranks under `rank`)."""
    rows: list[tuple[str, str]] = []
    fmt = "not a LoRA: full checkpoint" if info.format == "checkpoint" else info.format
    rows.append(("format", f"{fmt}{' (DoRA)' if info.dora and 'dora' not in fmt else ''}"))
    rows.append(("architecture", f"{label(info.architecture)}  [{clean('; '.join(info.architecture_evidence))}]"))
    variant = info.base_model.get("variant")
    if variant:
        rows.append(("variant", f"{clean(variant)}  (from {clean(info.base_model.get('from_metadata') or '-')})"))
    if info.trainer:
        rows.append(("trainer", f"{info.trainer}  [{clean('; '.join(info.trainer_evidence))}]"))
    else:
        rows.append(("trainer", "unknown"))
    if info.is_lora:
        rows.append(("rank", str(info.rank) if info.rank is not None else f"varies: {_dist(info.ranks) or '-'}"))
        if info.conv_ranks:
            conv = str(info.conv_rank) if info.conv_rank is not None else f"varies: {_dist(info.conv_ranks)}"
            rows.append(("conv rank", f"{conv}  (conv alpha {_g(info.conv_alpha)})"))
        alpha = _g(info.alpha) if info.alpha is not None or not info.alphas else f"varies: {_dist(info.alphas)}"
        rows.append(("alpha", f"{alpha}  ({info.alpha_source})   scale alpha/rank {_g(info.scale)}"))
        if info.rank is None and len(info.ranks_by_component) > 1:
            for comp, ranks in info.ranks_by_component.items():
                rows.append((f"  {comp}", _dist(ranks)))
    mixed = f"  (mixed: {_dist(info.dtypes)})" if len(info.dtypes) > 1 else ""
    rows.append(("dtype", f"{info.dtype or '-'}{mixed}"))
    rows.append(("modules", ", ".join(f"{k} {v}" for k, v in info.modules.items()) or "-"))
    rows.append(
        (
            "parameters",
            f"{info.n_params:,}   file {human_size(info.file_size)} ({info.file_size:,} bytes)"
            + ("   TRUNCATED" if info.truncated else ""),
        )
    )
    return rows


def shown_metadata(info: LoraInfo) -> list[tuple[str, str]]:
    """The metadata keys a reader looks at first, values cut to 100 characters (all are in --json)."""
    meta = info.metadata
    return [(k, clean(meta[k] if len(meta[k]) <= 100 else meta[k][:97] + "...")) for k in _SHOWN_METADATA if k in meta]


def render_info(info: LoraInfo) -> str:
    lines = [clean(info.path)]
    lines.extend(f"  {name:<14}{value}" for name, value in summary_rows(info))
    if info.metadata:
        lines.append(f"  metadata      {len(info.metadata)} keys")
        lines.extend(f"    {k} = {v}" for k, v in shown_metadata(info))
    else:
        lines.append("  metadata      none")
    if info.training:
        lines.append(f"  settings      {len(info.training)} canonical parameters from the metadata")
        for k, v in info.training.items():
            text = clean(str(v))
            lines.append(f"    {k} = {text if len(text) <= 100 else text[:97] + '...'}")
    lines.extend(_hash_lines(info.hashes))
    if info.weights is not None:
        lines.extend(_weight_lines(info.weights))
    for c in info.conflicts:
        lines.append(f"  CONFLICT      {clean(c.message)}")
    for w in info.warnings:
        lines.append(f"  warning       {clean(w)}")
    return "\n".join(lines)


def _hash_lines(hashes: dict[str, Any]) -> list[str]:
    lines = []
    if "sha256" in hashes:
        lines.append(f"  SHA-256       {hashes['sha256']}")
        lines.append(
            f"  AutoV2        {hashes['autov2']}   AutoV3 {hashes['autov3'][:12]}...   "
            f"AutoV1 {hashes.get('autov1') or '- (file under 2 MiB)'}"
        )
    for key in ("sshs_model_hash", "sshs_legacy_hash", "modelspec.hash_sha256"):
        if key in hashes:
            extra = ""
            if key == "sshs_model_hash" and "sshs_model_hash_matches" in hashes:
                extra = (
                    "  (= AutoV3: tensors as the trainer saved them)"
                    if hashes["sshs_model_hash_matches"]
                    else "  (differs from AutoV3: tensors changed after saving)"
                )
            elif key == "sshs_legacy_hash" and "sshs_legacy_hash_note" in hashes:
                extra = f"  ({hashes['sshs_legacy_hash_note']})"
            lines.append(f"  {key:<13} {clean(str(hashes[key]))}{extra}")
    return lines


def largest_blocks(report: WeightReport, count: int = 12) -> list[Any]:
    """The blocks with the largest update norm (NaN last), as every format lists them."""
    return sorted(report.blocks, key=lambda b: -(b.norm if b.norm == b.norm else -1))[:count]


def _weight_lines(report: WeightReport) -> list[str]:
    total = report.total_norm
    lines = [f"  update norm   {_g(total)} (Frobenius, all modules; {report.bytes_read:,} bytes read)"]
    for finding in report.findings:
        lines.append(f"  WEIGHTS       {clean(finding)}")
    shown = largest_blocks(report)
    if shown:
        lines.append("  largest blocks (norm of the update)")
        for b in shown:
            flags = "".join(
                [f"  untrained {b.untrained}" if b.untrained else "", f"  NaN/inf {b.nonfinite}" if b.nonfinite else ""]
            )
            lines.append(f"    {clean(b.block):<36}{_g(b.norm):>12}  ({b.modules} modules){flags}")
    for m in report.top_modules():
        sv = ", ".join(f"{v:.3g}" for v in (m.singular_values or [])[:4])
        lines.append(f"  effective rank {m.effective_rank:.2f} of {m.rank}  {clean(m.name)}  (σ: {sv} ...)")
    return lines


def series_title(series: Series) -> str:
    first = series.members[0][1]
    return (
        f"{clean(series.folder)}/{clean(series.stem)}: {len(series.members)} saves, "
        f"{first.format}, {label(first.architecture)}" + (f", {clean(first.trainer)}" if first.trainer else "")
    )


def series_rows(series: Series) -> tuple[list[str], list[list[str]], dict[str, Any] | None]:
    """(columns, one row of cells per save, the per-block table of --weights or None) of a save series."""
    weights = any(info.weights is not None for _, info in series.members)
    table = None
    by_path: dict[str, Any] = {}
    if weights:
        from rundiff.infer.weights import series_table

        table = series_table([info.weights for _, info in series.members if info.weights is not None])
        by_path = {row["path"]: row for row in table["rows"]}
    columns = ["epoch", "step", "rank", "alpha", "dtype", "size"] + (["norm", "change", "flags"] if weights else [])
    rows = []
    for name, info in series.members:
        epoch = "final" if name.final else ("-" if name.epoch is None else str(name.epoch))
        row = [
            epoch,
            "-" if name.step is None else str(name.step),
            str(info.rank) if info.rank is not None else "varies",
            _g(info.alpha),
            info.dtype or "-",
            human_size(info.file_size),
        ]
        if weights:
            norm = change_s = flags = ""
            if info.weights is not None:
                r = by_path[info.weights.path]
                change = r["change"]
                change_s = (
                    "-" if change is None else f"{change * 100:+.1f}%" if isinstance(change, float) else str(change)
                )
                flags = ", ".join(
                    f
                    for f in (
                        "NEVER TRAINED" if r["never_trained"] else "",
                        f"NaN/inf in {r['nonfinite_tensors']}" if r["nonfinite_tensors"] else "",
                    )
                    if f
                )
                norm = _g(info.weights.total_norm)
            row += [norm, change_s, flags]
        rows.append(row)
    return columns, rows, table


def _series_table(series: Series) -> str:
    columns, rows, table = series_rows(series)
    weights = table is not None
    lines = [series_title(series)]
    head = f"  {'epoch':>5} {'step':>8}  {'rank':>6} {'alpha':>7}  {'dtype':<5} {'size':>10}"
    if weights:
        head += f"  {'norm':>9} {'change':>8}  flags"
    lines.append(head)
    for (_name, info), cells in zip(series.members, rows, strict=True):
        epoch, step, rank, alpha, dtype, size = cells[:6]
        row = f"  {epoch:>5} {step:>8}  {rank:>6} {alpha:>7}  {dtype:<5} {size:>10}"
        if weights and info.weights is not None:
            norm, change, flags = cells[6:]
            row += f"  {norm:>9} {change:>8}  {flags}"
        if info.truncated:
            row += "  TRUNCATED"
        lines.append(row)
    blocks = table["blocks"] if table else []
    if weights and blocks:
        by_path = {row["path"]: row for row in table["rows"]}
        lines.append(f"  per-block update norms ({len(blocks)} blocks; --json has all):")
        rows_w = [by_path[info.weights.path] for _, info in series.members if info.weights is not None]
        order = sorted(
            range(len(blocks)),
            key=lambda i: -(rows_w[-1]["norms"][i] or 0) if isinstance(rows_w[-1]["norms"][i], float) else 0,
        )[:8]
        labels = [
            "final" if n.final else f"e{n.epoch}" if n.epoch is not None else f"s{n.step}"
            for n, info in series.members
            if info.weights is not None
        ]
        lines.append("    " + f"{'block':<34}" + "".join(f"{label:>9}" for label in labels))
        for i in order:
            cells = "".join(f"{_g(r['norms'][i]) if isinstance(r['norms'][i], float) else '-':>9}" for r in rows_w)
            lines.append(f"    {clean(blocks[i]):<34}{cells}")
    return "\n".join(lines)


def render_result(result: InspectResult) -> str:
    """Each lone file as a summary; each save series as one table, one row per epoch or step."""
    parts = []
    for series in result.series:
        if series.is_series:
            parts.append(_series_table(series))
        else:
            parts.append(render_info(series.members[0][1]))
    return "\n\n".join(parts)


def render_size(report: dict[str, Any]) -> str:
    lo, hi = report["size_bytes"]
    lines = [f"size {report['size']} (= {human_size(lo)} .. {human_size(hi)})"]
    if report["candidates"]:
        lines.append(f"  {'architecture':<14}{'module set':<18}{'dtype':<10}{'rank':>5}  {'expected':>12}  error")
        for c in report["candidates"]:
            lines.append(
                f"  {c['architecture']:<14}{c['module_set']:<18}{c['dtype']:<10}{c['rank']:>5}  "
                f"{human_size(c['expected_size']):>12}  {c['error'] * 100:+.2f}%"
            )
    if report.get("note"):
        lines.append(f"  {report['note']}")
    return "\n".join(lines)

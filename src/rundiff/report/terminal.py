"""The comparison on the terminal (or in a .txt file): rich tables built from Text, never from markup,
so `[warning]` in a message stays on screen and escape codes from files never reach the terminal."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from rundiff.report.safe import plain_text

_CHANGE_STYLE = {
    "changed": "yellow",
    "added": "green",
    "removed": "red",
    "unknown": "dim",
    "same": "",
    "inactive": "dim strike",
}
_PROV_STYLE = {
    "default": "dim",
    "unknown": "dim",
    "inferred": "italic",
    "metadata": "cyan",
    "weights": "cyan",
    "derived": "",
    "explicit": "",
}
_OUTCOME = {"good": (" ✔", "green"), "bad": (" ✘", "red")}
_SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def t(value: Any, style: str = "") -> Text:
    """Text from a file, made safe: no markup is parsed and control characters are gone."""
    return Text(plain_text(value), style=style)


def _run_label(name: str, outcome: str) -> Text:
    label = t(name)
    if outcome in _OUTCOME:
        mark, style = _OUTCOME[outcome]
        label.append(mark, style=style)
    return label


def _cell(c: dict[str, Any]) -> Text:
    style = _CHANGE_STYLE.get(c["change"]) or _PROV_STYLE.get(c["provenance"], "")
    text = t(c["text"], style)
    if c["mark"] and c["provenance"] != "explicit":
        text.append(f" {c['mark']}", style="dim")
    return text


def _groups(g: dict[str, Any]) -> Text:
    text = Text()
    for i, v in enumerate(g["shown"]):
        if i:
            text.append(" · ")
        text.append_text(t(v["text"], "bold"))
        extra = f" ×{v['runs']}" + (f" ({v['good']} good)" if v["good"] else "")
        extra += f" ({v['bad']} bad)" if v["bad"] else ""
        text.append(extra, style="dim")
    if g["more"]:
        text.append(f" · {g['more']} more values", style="dim")
    return text


def _value_table(title: str, entries: list[dict[str, Any]], runs: list[dict[str, Any]], numbered: bool) -> Table:
    table = Table(title=t(title), title_justify="left", title_style="bold", show_lines=False, pad_edge=False)
    if numbered:
        table.add_column("#", justify="right")
    table.add_column("parameter", style="bold")
    for r in runs:
        table.add_column(_run_label(r["name"], r["outcome"]))
    for i, e in enumerate(entries, start=1):
        head = [t(str(i))] if numbered else []
        table.add_row(*head, t(e["name"]), *[_cell(c) for c in e["cells"]])
    return table


def print_summary(console: Console, context: dict[str, Any]) -> None:
    """The answer first: counts, top suspects with each run's value, high-impact changes, how much of
    each run is known, the diagnosis headline."""
    o = context["overview"]
    runs = context["runs"]
    wide = context["wide_layout"]
    counts = o["counts"]
    line = Text.assemble((f"{counts['differs']} parameters differ in known values", "bold"))
    for key, words in (
        ("partial", "partly known"),
        ("unknown", "known in one run only"),
        ("inactive", "without effect in some runs"),
        ("replicates", "per-run identifiers differ"),
    ):
        if counts.get(key):
            line.append(f" · {counts[key]} {words}")
    console.print(line)
    if o["has_outcomes"]:
        if not o["suspects"]:
            console.print(t("No parameter separates the bad runs from the good ones with the evidence at hand."))
        elif wide:
            console.print(Text("Top suspects", style="bold"))
            for i, s in enumerate(o["suspects"], start=1):
                console.print(
                    Text.assemble(
                        f"  {i}. ", t(s["name"], "bold"), t(f" ({s['impact']}): ", "dim"), _groups(s["groups"])
                    )
                )
        else:
            console.print(_value_table("Top suspects", o["suspects"], runs, numbered=True))
        if o["more_suspects"]:
            console.print(t(f"  {o['more_suspects']} more suspects below", "dim"))
    if o["high_impact"]:
        title = "High-impact changes" + (" besides the suspects" if o["has_outcomes"] else "")
        if wide:
            console.print(Text(title, style="bold"))
            for h in o["high_impact"]:
                console.print(Text.assemble("  ", t(h["name"], "bold"), ": ", _groups(h["groups"])))
        else:
            console.print(_value_table(title, o["high_impact"], runs, numbered=False))
        if o["more_high_impact"]:
            console.print(t(f"  {o['more_high_impact']} more in the tables below", "dim"))
    console.print(Text("How much of each run is known", style="bold"))
    if wide and o["knowledge_range"]:
        k = o["knowledge_range"]
        console.print(
            t(
                f"  median {k['median']} % known; least {k['least']['run']} ({k['least']['percent']} %), "
                f"best {k['most']['run']} ({k['most']['percent']} %)"
            )
        )
    else:
        for k in o["knowledge"]:
            console.print(
                Text.assemble(
                    "  ",
                    _run_label(k["run"], k["outcome"]),
                    t(
                        f": {k['known']} of {k['total']} known ({k['percent']} %), "
                        f"{k['stated']} stated in its own files; {k['trainer']}, "
                        f"{k['sources']} sources"
                    ),
                )
            )
    diagnosis = o["diagnosis"]
    if diagnosis is not None:
        c = diagnosis["counts"]
        console.print(
            Text.assemble(
                ("Diagnosis: ", "bold"),
                (f"{c['error']} error(s)", _SEVERITY_STYLE["error"]),
                ", ",
                (f"{c['warning']} warning(s)", _SEVERITY_STYLE["warning"]),
                f", {c['info']} info",
            )
        )
        for f in diagnosis["top"]:
            console.print(
                Text.assemble(
                    "  ",
                    t(f"[{f['severity']}]", _SEVERITY_STYLE.get(f["severity"], "")),
                    " ",
                    t(f["run"], "bold"),
                    ": ",
                    t(f["message"]),
                    t(f" ({f['rule']})", "dim"),
                )
            )


def print_metric(console: Console, metric: dict[str, Any]) -> None:
    table = Table(title=t(f"Effect on {metric['name']}"), title_justify="left", title_style="bold")
    for head in ("parameter", f"values (mean {metric['name']}, runs)", "effect", "spread", "ratio"):
        table.add_column(t(head), justify="right" if head in ("effect", "spread", "ratio") else "left")
    for e in metric["effects"]:
        values = "; ".join(f"{g['text']}: {g['mean']} (n={g['n']})" for g in e["groups"])
        table.add_row(t(e["name"]), t(values), t(e["effect"]), t(e["spread"]), t(e["ratio"]))
    console.print(t(metric["sentence"], "dim"))
    if metric["effects"]:
        console.print(table)


def comparison_console(console: Console, context: dict[str, Any]) -> None:
    """Everything the terminal report shows, printed on ``console``: summary, tables, the rest."""
    runs = context["runs"]
    console.print(
        Text.assemble(
            t(context["title"], "bold"), " — baseline ", t(context["baseline"], "bold"), f", {len(runs)} runs"
        )
    )
    console.rule(Text("Summary", style="bold"), align="left")
    print_summary(console, context)
    metric = context["extras"]["metric"]
    if metric:
        print_metric(console, metric)
    console.rule(Text("Parameters", style="bold"), align="left")
    if context["wide_layout"]:
        table = Table(title="Differing parameters, one row per run († per-run identifier)", show_lines=False)
        table.add_column("run")
        for col in context["wide"]["columns"]:
            table.add_column(t(col["name"] + (" †" if col["replicate"] else "")))
        for row in context["wide"]["rows"]:
            table.add_row(_run_label(row["run"], row["outcome"]), *[_cell(c) for c in row["cells"]])
        console.print(table)
    else:
        for cat in context["categories"]:
            if not cat["rows"]:
                continue
            table = Table(title=t(cat["title"]), title_justify="left", show_lines=False)
            table.add_column("parameter", style="bold")
            table.add_column("impact")
            for r in runs:
                table.add_column(_run_label(r["name"], r["outcome"]))
            for row in cat["rows"]:
                impact = row["impact"] + ("" if row["status"] == "differs" else f" ({row['status']})")
                table.add_row(
                    t(row["name"] + (" †" if row["replicate"] else "")), t(impact), *[_cell(c) for c in row["cells"]]
                )
            console.print(table)
            if cat["hidden_same"]:
                console.print(
                    t(f"  {cat['hidden_same']} the same in every run or set by none (--all shows them)", "dim")
                )
    hidden = sum(cat["hidden_same"] for cat in context["categories"])
    if hidden and context["wide_layout"]:
        console.print(t(f"{hidden} parameters the same in every run not shown", "dim"))
    if context["suspects"]:
        console.print(Text.assemble("\n", ("Suspects", "bold"), " (bad vs good, weighted by impact)"))
        for i, s in enumerate(context["suspects"][:15], start=1):
            console.print(
                Text.assemble(
                    f"  {i}. ", t(s["name"], "bold"), t(f" ({s['impact']}, score {s['score']}) ", "dim"), t(s["reason"])
                )
            )
    if context["same"]:
        console.print(Text("\nWhat stayed the same", style="bold"))
        console.print(t("  " + "; ".join(f"{s['name']} {s['text']}" for s in context["same"])))
    if context["conflicts"]:
        console.print(Text("\nConflicts inside a run", style="bold"))
        for c in context["conflicts"]:
            values = " vs ".join(f"{v['text']} ({v['provenance']}, {v['source'] or ''})" for v in c["claims"])
            console.print(Text.assemble("  ", t(c["run"]), " / ", t(c["name"]), ": ", t(values)))
    if context["diagnosis"]:
        console.print(Text("\nDiagnosis", style="bold"))
        for f in context["diagnosis"]:
            console.print(
                Text.assemble(
                    "  ",
                    t(f["run"]),
                    ": ",
                    t(f["rule"]),
                    " ",
                    t(f"[{f['severity']}]", _SEVERITY_STYLE.get(f["severity"], "")),
                    " ",
                    t(f["message"]),
                )
            )
    for r in runs:
        for w in r["warnings"]:
            console.print(Text.assemble(("warning", "yellow"), " ", t(r["name"]), ": ", t(w)))
    for r in runs:
        for k in r.get("skipped", []):
            console.print(t(f"skipped {r['name']}: {k['path']} ({k['reason']})", "dim"))
    for line in context.get("left_out", []):
        console.print(Text.assemble(("warning", "yellow"), " left out: ", t(line)))


def print_comparison(context: dict[str, Any], console: Console | None = None) -> None:
    """On stdout: colours on a terminal, plain text when piped; the width is the terminal's or COLUMNS."""
    from rundiff.report.output import terminal_width

    comparison_console(console or Console(width=terminal_width(), highlight=False, emoji=False), context)


def comparison_text(context: dict[str, Any], width: int | None = None) -> str:
    """The terminal report as plain text (for -o report.txt or --format text into a pipe)."""
    from rundiff.report.output import terminal_width

    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=width or terminal_width(default=120),
        color_system=None,
        force_terminal=False,
        highlight=False,
        emoji=False,
        no_color=True,
    )
    comparison_console(console, context)
    return buffer.getvalue()

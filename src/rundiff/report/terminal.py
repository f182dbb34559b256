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


def comparison_console(console: Console, context: dict[str, Any]) -> None:
    """Everything the terminal report shows, printed on ``console``."""
    runs = context["runs"]
    console.print(
        Text.assemble(
            t(context["title"], "bold"),
            " — baseline ",
            t(context["baseline"], "bold"),
            f", {len(runs)} runs, {context['total_changes']} differing parameters",
        )
    )
    for r in runs:
        console.print(
            Text.assemble(
                "  ", _run_label(r["name"], r["outcome"]), t(f" ({r['trainer']}; {len(r['sources'])} sources)", "dim")
            )
        )
    if context["wide_layout"]:
        table = Table(title="Differing parameters, one row per run", show_lines=False)
        table.add_column("run")
        for col in context["wide"]["columns"]:
            table.add_column(t(col["name"]))
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
                table.add_row(t(row["name"]), t(row["impact"]), *[_cell(c) for c in row["cells"]])
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

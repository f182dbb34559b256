"""The comparison on the terminal: one rich table per category, differing rows only."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

_CHANGE_STYLE = {"changed": "yellow", "added": "green", "removed": "red", "unknown": "dim", "same": ""}
_PROV_STYLE = {"default": "dim", "unknown": "dim", "inferred": "italic", "metadata": "cyan", "weights": "cyan",
               "derived": "", "explicit": ""}
_OUTCOME = {"good": " [green]✔[/]", "bad": " [red]✘[/]"}


def _cell(c: dict[str, Any]) -> str:
    text = escape(c["text"])
    style = _CHANGE_STYLE.get(c["change"]) or _PROV_STYLE.get(c["provenance"], "")
    mark = f" [dim]{c['mark']}[/]" if c["mark"] and c["provenance"] != "explicit" else ""
    return f"[{style}]{text}[/]{mark}" if style else f"{text}{mark}"


def print_comparison(context: dict[str, Any], console: Console | None = None) -> None:
    if console is None:
        console = Console()
        if not console.is_terminal:  # piped or captured: do not squeeze tables into 80 columns
            console = Console(width=200)
    runs = context["runs"]
    console.print(f"[bold]{escape(context['title'])}[/] — baseline [bold]{escape(context['baseline'])}[/], "
                  f"{len(runs)} runs, {context['total_changes']} differing parameters")
    for r in runs:
        console.print(f"  {escape(r['name'])}{_OUTCOME.get(r['outcome'], '')} [dim]({escape(r['trainer'])}; "
                      f"{len(r['sources'])} sources)[/]")
    if context["wide_layout"]:
        table = Table(title="Differing parameters, one row per run", show_lines=False)
        table.add_column("run")
        for col in context["wide"]["columns"]:
            table.add_column(escape(col["name"]))
        for row in context["wide"]["rows"]:
            table.add_row(escape(row["run"]) + _OUTCOME.get(row["outcome"], ""), *[_cell(c) for c in row["cells"]])
        console.print(table)
    else:
        for cat in context["categories"]:
            if not cat["rows"]:
                continue
            table = Table(title=f"{cat['title']}", title_justify="left", show_lines=False)
            table.add_column("parameter", style="bold")
            table.add_column("impact")
            for r in runs:
                table.add_column(escape(r["name"]) + _OUTCOME.get(r["outcome"], ""))
            for row in cat["rows"]:
                table.add_row(escape(row["name"]), row["impact"], *[_cell(c) for c in row["cells"]])
            console.print(table)
            if cat["hidden_same"]:
                console.print(f"  [dim]{cat['hidden_same']} the same in every run or set by none (--all shows them)[/]")
    hidden = sum(cat["hidden_same"] for cat in context["categories"])
    if hidden and context["wide_layout"]:
        console.print(f"[dim]{hidden} parameters the same in every run not shown[/]")
    if context["suspects"]:
        console.print("\n[bold]Suspects[/] (bad vs good, weighted by impact)")
        for i, s in enumerate(context["suspects"][:15], start=1):
            console.print(f"  {i}. [bold]{escape(s['name'])}[/] [dim]({s['impact']}, score {s['score']})[/] "
                          f"{escape(s['reason'])}")
    if context["conflicts"]:
        console.print("\n[bold]Conflicts inside a run[/]")
        for c in context["conflicts"]:
            values = " vs ".join(f"{escape(v['text'])} ({v['provenance']}, {escape(v['source'] or '')})"
                                 for v in c["values"])
            console.print(f"  {escape(c['run'])} / {escape(c['name'])}: {values}")
    if context["diagnosis"]:
        console.print("\n[bold]Diagnosis[/]")
        for f in context["diagnosis"]:
            console.print(f"  {escape(f['run'])}: {f['rule']} [{f['severity']}] {escape(f['message'])}")
    for r in runs:
        for w in r["warnings"]:
            console.print(f"[yellow]warning[/] {escape(r['name'])}: {escape(w)}")
    for r in runs:
        for k in r.get("skipped", []):
            console.print(f"[dim]skipped {escape(r['name'])}: {escape(k['path'])} ({escape(k['reason'])})[/]")

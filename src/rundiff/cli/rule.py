"""``rundiff rule ID`` / ``rundiff rule --all``: a diagnose rule's documentation, thresholds and fix."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from rundiff.cli import app
from rundiff.cli.common import user_errors
from rundiff.errors import RundiffError


def rule(
    ctx: typer.Context,
    rule_id: Annotated[str | None, typer.Argument(help="The rule id, e.g. warmup-too-long.")] = None,
    all_rules: Annotated[bool, typer.Option("--all", help="Every rule.")] = False,
    fmt: Annotated[str, typer.Option("--format", "-f", help="text or json.")] = "text",
) -> None:
    """Explain a diagnose rule: what it flags and why, its thresholds (as the config file sets them) and its fix."""
    with user_errors():
        from rundiff.config import load_config
        from rundiff.diagnose.rules import RULES, RULES_BY_ID, rule_json, rule_text

        if fmt not in ("text", "json"):
            raise RundiffError(f"unknown format {fmt!r} (choose from text, json)", key="--format")
        if all_rules == (rule_id is not None):
            raise RundiffError("give one rule id, or --all")
        if rule_id is not None and rule_id not in RULES_BY_ID:
            raise RundiffError(f"unknown rule {rule_id!r} (known: {', '.join(RULES_BY_ID)})")
        config = load_config(ctx.parent.params.get("config") if ctx.parent is not None else None)
        overrides = config.section("diagnose", "rules")
        source = str(config.path) if config.path else None
        chosen = RULES if all_rules else (RULES_BY_ID[rule_id],)
        if fmt == "json":
            import json

            sys.stdout.write(json.dumps([rule_json(r, overrides.get(r.id), source) for r in chosen], indent=2) + "\n")
        else:
            sys.stdout.write("\n\n".join(rule_text(r, overrides.get(r.id), source) for r in chosen) + "\n")


app.command("rule")(rule)

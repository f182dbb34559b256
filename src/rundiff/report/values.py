"""How a value reads in a report: short, stable and the same in every format."""

from __future__ import annotations

from typing import Any

from rundiff.model import Cell, Provenance


def format_value(value: Any) -> str:
    if value is None:
        return "None"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return format(value, ".6g") if value == value else "nan"
    if isinstance(value, (list, tuple)):
        return ",".join(format_value(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={format_value(v)}" for k, v in value.items())
    return str(value)


def cell_text(cell: Cell) -> str:
    """Value text for a table cell; unknown is a dash."""
    if not cell.known:
        return "?"
    return format_value(cell.value)


PROVENANCE_MARKS = {
    Provenance.EXPLICIT: "",
    Provenance.METADATA: "meta",
    Provenance.WEIGHTS: "weights",
    Provenance.INFERRED: "inferred",
    Provenance.DERIVED: "derived",
    Provenance.DEFAULT: "default",
    Provenance.UNKNOWN: "unknown",
}

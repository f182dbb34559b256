"""Compare runs: one table of parameters, classified differences, ranked suspects."""

from rundiff.comparison.table import Comparison, Entry, Row, Suspect, compare_runs

__all__ = ["Comparison", "Entry", "Row", "Suspect", "compare_runs"]

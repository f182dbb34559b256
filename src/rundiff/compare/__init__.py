"""Compare runs: one table of parameters, classified differences, ranked suspects."""

from rundiff.compare.table import Comparison, Entry, Row, Suspect, compare_runs

__all__ = ["Comparison", "Entry", "Row", "Suspect", "compare_runs"]

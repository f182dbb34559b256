"""rundiff: compare, diagnose and ablate Stable Diffusion training runs from the files they leave.

    >>> from rundiff import load_run, compare
    >>> comparison = compare(["runs/A", "runs/B"], good=["A"], bad=["B"])
    >>> comparison.frame()          # pandas: rows parameters, columns runs

The names below are imported on first use, so `rundiff infer-rank` does not pay for the whole
compare pipeline at start-up.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time: infer-rank's start-up budget
if TYPE_CHECKING:
    from typing import Any

__version__ = "0.1.0"
__all__ = ["RundiffError", "compare", "compare_runs", "load_run", "__version__"]


def __getattr__(name: str) -> Any:
    if name in ("compare", "load_run"):
        from rundiff import api

        return getattr(api, name)
    if name == "compare_runs":
        from rundiff.comparison.table import compare_runs

        return compare_runs
    if name == "RundiffError":
        from rundiff.errors import RundiffError

        return RundiffError
    raise AttributeError(f"module 'rundiff' has no attribute {name!r}")

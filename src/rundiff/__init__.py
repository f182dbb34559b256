"""rundiff: compare, diagnose and ablate Stable Diffusion training runs from the files they leave.

    >>> from rundiff import load_run, compare
    >>> comparison = compare(["runs/A", "runs/B"], good=["A"], bad=["B"])
    >>> comparison.frame()          # pandas: rows parameters, columns runs
"""

from rundiff.api import compare, load_run
from rundiff.errors import RundiffError

__version__ = "0.1.0"
__all__ = ["RundiffError", "compare", "load_run", "__version__"]

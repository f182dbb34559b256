"""What every command shares: the one place user errors become a line on stderr and exit code 2."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import typer

from rundiff.errors import RundiffError


@contextmanager
def user_errors() -> Iterator[None]:
    try:
        yield
    except RundiffError as err:
        print(f"rundiff: error: {err}", file=sys.stderr)
        raise typer.Exit(2) from None


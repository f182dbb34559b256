"""The one error class a user can cause, caught once at the CLI edge."""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time: infer-rank's start-up budget
if TYPE_CHECKING:
    from pathlib import Path


class RundiffError(Exception):
    """Bad input: names the file and, where known, the line or key.

    Rendered as one line (``path:line: message`` or ``path [key]: message``) and exit code 2.
    """

    def __init__(
        self, message: str, path: str | Path | None = None, *, line: int | None = None, key: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = str(path) if path is not None else None
        self.line = line
        self.key = key

    def __reduce__(self):  # keep file, line and key when raised in a worker process
        return (_rebuild, (self.message, self.path, self.line, self.key))

    def __str__(self) -> str:
        where = self.path or ""
        if self.path and self.line is not None:
            where = f"{self.path}:{self.line}"
        if self.key is not None:
            where = f"{where} [{self.key}]" if where else f"[{self.key}]"
        return f"{where}: {self.message}" if where else self.message


def _rebuild(message: str, path: str | None, line: int | None, key: str | None) -> RundiffError:
    return RundiffError(message, path, line=line, key=key)

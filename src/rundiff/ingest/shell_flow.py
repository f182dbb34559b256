"""`if`/`elif`/`else`/`fi` for the shell reader: pick a branch only when the test is decidable.

Launch scripts switch arguments on their own variables (`if [[ $enable_locon_train == 1 ]]`), and
reading both branches would claim arguments the run never had (`--v2` *and* `--clip_skip 2`). So a
test made only of string or integer comparisons, `-n`/`-z`, on variables the script set picks its
branch; anything else (file tests, commands, unset variables) is undecidable, and then every
branch is read in file order, the simple approach. Loops are not interpreted: their bodies are
read once.
"""

from __future__ import annotations

from dataclasses import dataclass

from rundiff.ingest.shell_glob import matches

_INT_OPS = {
    "-eq": int.__eq__,
    "-ne": int.__ne__,
    "-gt": int.__gt__,
    "-ge": int.__ge__,
    "-lt": int.__lt__,
    "-le": int.__le__,
}


@dataclass
class _Frame:
    parent_active: bool
    pending: bool | None  # the test of the latest if/elif, applied at `then`
    current: bool | None = False  # the branch being read: True, False, or None (undecided: read it)
    taken: bool | None = False  # whether an earlier branch ran (None: maybe)


class Flow:
    def __init__(self) -> None:
        self.frames: list[_Frame] = []

    @property
    def active(self) -> bool:
        return all(f.current is not False for f in self.frames)

    def open_if(self, test: bool | None) -> None:
        active = self.active
        self.frames.append(_Frame(active, test if active else False))

    def elif_(self, test: bool | None) -> None:
        if not self.frames:
            return
        f = self.frames[-1]
        f.current = False
        if f.taken is True or test is False:
            f.pending = False
        else:
            f.pending = test if f.taken is False else None

    def then(self) -> None:
        if not self.frames:
            return
        f = self.frames[-1]
        f.current = f.pending if f.parent_active else False
        self._note_taken(f)

    def else_(self) -> None:
        if not self.frames:
            return
        f = self.frames[-1]
        f.current = {True: False, False: True, None: None}[f.taken] if f.parent_active else False
        self._note_taken(f)

    def close(self) -> None:
        if self.frames:
            self.frames.pop()

    @staticmethod
    def _note_taken(f: _Frame) -> None:
        if f.current is True:
            f.taken = True
        elif f.current is None and f.taken is False:
            f.taken = None


def evaluate(words: list[str]) -> bool | None:
    """The value of a `[ ]` / `[[ ]]` / `test` condition; None when it cannot be decided safely."""
    negate = False
    if words[:1] == ["!"]:
        negate, words = True, words[1:]
    if words[:1] == ["["] and words[-1:] == ["]"]:
        inner, double = words[1:-1], False
    elif words[:1] == ["[["] and words[-1:] == ["]]"]:
        inner, double = words[1:-1], True
    elif words[:1] == ["test"]:
        inner, double = words[1:], False
    else:
        return None
    if inner[:1] == ["!"]:
        negate, inner = not negate, inner[1:]
    result = _test(inner, double)
    return None if result is None else result != negate


def _test(args: list[str], double: bool) -> bool | None:
    if len(args) == 1:
        return args[0] != ""
    if len(args) == 2 and args[0] in ("-n", "-z"):
        return (args[1] != "") == (args[0] == "-n")
    if len(args) != 3:
        return None
    left, op, right = args
    if op in ("=", "=="):
        return matches(left, right) if double else left == right
    if op == "!=":
        hit = matches(left, right) if double else left == right
        return None if hit is None else not hit
    if op in _INT_OPS:
        if max(len(left), len(right)) > 24:  # not a 64-bit integer: bash refuses it too
            return None
        try:
            return _INT_OPS[op](int(left), int(right))
        except ValueError:
            return None
    return None

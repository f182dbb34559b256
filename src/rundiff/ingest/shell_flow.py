"""`if`/`elif`/`else`/`fi` for the shell reader: pick a branch only when the test is decidable.

Launch scripts switch arguments on their own variables (`if [[ $enable_locon_train == 1 ]]`), and
reading both branches would claim arguments the run never had (`--v2` *and* `--clip_skip 2`). So a
test made only of string or integer comparisons, `-n`/`-z`, on variables the script set picks its
branch; anything else (file tests, commands, unset variables) is undecidable, and then every
branch is read in file order, the simple approach. Loops are not interpreted: their bodies are
read once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
    line: int = 0  # the `if` line, for warnings
    text: str = ""  # the test as written, for warnings
    branch: int = 0  # 0 for the `if` branch, then one more per elif/else
    has_else: bool = False
    #: Scalars assigned in undecided branches: name -> {branch: value}, and their value before the if.
    values: dict[str, dict[int, str]] = field(default_factory=dict)
    before: dict[str, str | None] = field(default_factory=dict)


class Flow:
    def __init__(self) -> None:
        self.frames: list[_Frame] = []

    @property
    def active(self) -> bool:
        return all(f.current is not False for f in self.frames)

    def condition(self) -> str | None:
        """Why what is read now may not have happened: the innermost undecidable `if`, or None."""
        for f in reversed(self.frames):
            if f.current is None:
                which = "the first branch" if f.branch == 0 else ("the else branch" if f.has_else else "an elif branch")
                return f"given only in {which} of the if at line {f.line} ({f.text}), which cannot be decided"
        return None

    def undecided_frame(self) -> _Frame | None:
        return next((f for f in reversed(self.frames) if f.current is None), None)

    def open_if(self, test: bool | None, line: int = 0, text: str = "") -> None:
        active = self.active
        self.frames.append(_Frame(active, test if active else False, line=line, text=_short(text)))

    def elif_(self, test: bool | None) -> None:
        if not self.frames:
            return
        f = self.frames[-1]
        f.current = False
        f.branch += 1
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
        f.branch += 1
        f.has_else = True
        f.current = {True: False, False: True, None: None}[f.taken] if f.parent_active else False
        self._note_taken(f)

    def close(self) -> _Frame | None:
        return self.frames.pop() if self.frames else None

    @staticmethod
    def _note_taken(f: _Frame) -> None:
        if f.current is True:
            f.taken = True
        elif f.current is None and f.taken is False:
            f.taken = None


def alternatives(frame: _Frame) -> dict[str, list[str | None]]:
    """For each scalar an undecided `if` assigned: every value it may hold after the `fi`."""
    out: dict[str, list[str | None]] = {}
    for key, by_branch in frame.values.items():
        options: list[str | None] = list(dict.fromkeys(by_branch.values()))
        if not (frame.has_else and len(by_branch) == frame.branch + 1):
            before = frame.before.get(key)
            if before not in options:
                options.append(before)
        if len(options) > 1:
            out[key] = options
    return out


def _short(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


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
    if not args:
        return False  # `[ ]`, or `[ $x ]` with an empty $x
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

"""Shell glob patterns for `${x#pat}`, `${x%%pat}` and `[[ $x == pat ]]`, in linear time.

Trying every prefix with `fnmatch` is quadratic (a 500 kB value takes minutes), and a regex with
several `*` can backtrack exponentially. This module runs the pattern as a small NFA over the value
once: O(len(value) x len(pattern)), and it refuses (returns None) past `MAX_WORK` steps, so the
caller can mark that one value as unresolved instead of hanging.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Most value characters x pattern tokens one match may cost.
MAX_WORK = 4_000_000


@dataclass(frozen=True)
class _Tok:
    kind: str  # "lit", "any", "star", "set"
    chars: str = ""
    negate: bool = False
    ranges: tuple[tuple[str, str], ...] = ()

    def accepts(self, c: str) -> bool:
        if self.kind == "any":
            return True
        if self.kind == "lit":
            return c == self.chars
        hit = c in self.chars or any(lo <= c <= hi for lo, hi in self.ranges)
        return hit != self.negate


def _compile(pattern: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            if not toks or toks[-1].kind != "star":
                toks.append(_Tok("star"))
        elif c == "?":
            toks.append(_Tok("any"))
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            toks.append(_Tok("lit", pattern[i]))
        elif c == "[" and (end := _class_end(pattern, i)) > 0:
            body = pattern[i + 1 : end]
            negate = body[:1] in ("!", "^")
            body = body[1:] if negate else body
            chars, ranges, j = [], [], 0
            while j < len(body):
                if j + 2 < len(body) and body[j + 1] == "-":
                    ranges.append((body[j], body[j + 2]))
                    j += 3
                else:
                    chars.append(body[j])
                    j += 1
            toks.append(_Tok("set", "".join(chars), negate, tuple(ranges)))
            i = end
        else:
            toks.append(_Tok("lit", c))
        i += 1
    return toks


def _class_end(pattern: str, start: int) -> int:
    j = start + 1
    if j < len(pattern) and pattern[j] in "!^":
        j += 1
    if j < len(pattern) and pattern[j] == "]":
        j += 1
    end = pattern.find("]", j)
    return end


def _closure(states: set[int], toks: list[_Tok]) -> set[int]:
    out = set(states)
    for s in states:
        k = s
        while k < len(toks) and toks[k].kind == "star":
            k += 1
            out.add(k)
    return out


def _prefix_ends(value: str, toks: list[_Tok], shortest: bool) -> int | None:
    """The end of the shortest (or longest) prefix of `value` the whole pattern matches."""
    if len(value) * max(1, len(toks)) > MAX_WORK:
        raise _TooBig
    states = _closure({0}, toks)
    best = 0 if len(toks) in states else None
    if best is not None and shortest:
        return 0
    for pos, c in enumerate(value, start=1):
        nxt = set()
        for s in states:
            if s < len(toks):
                tok = toks[s]
                if tok.kind == "star":
                    nxt.add(s)
                elif tok.accepts(c):
                    nxt.add(s + 1)
        if not nxt:
            break
        states = _closure(nxt, toks)
        if len(toks) in states:
            best = pos
            if shortest:
                return best
            if toks and toks[-1].kind == "star":
                return len(value)  # a trailing `*` matches everything that follows
    return best


class _TooBig(Exception):
    pass


def _reverse(toks: list[_Tok]) -> list[_Tok]:
    return list(reversed(toks))


def trim(value: str, op: str, pattern: str) -> str | None:
    """`${value#pattern}` (op `#`, `##`, `%`, `%%`); None when the match would cost too much."""
    toks = _compile(pattern)
    try:
        if op in ("#", "##"):
            end = _prefix_ends(value, toks, shortest=op == "#")
            return value if end is None else value[end:]
        end = _prefix_ends(value[::-1], _reverse(toks), shortest=op == "%")
        return value if end is None else value[: len(value) - end]
    except _TooBig:
        return None


def matches(value: str, pattern: str) -> bool | None:
    """Whether the whole of `value` matches `pattern`; None when it would cost too much."""
    toks = _compile(pattern)
    try:
        return _prefix_ends(value, toks, shortest=False) == len(value)
    except _TooBig:
        return None

"""Shell integer arithmetic (`$((...))`, cmd `set /a`) by recursive descent: never `eval`.

Values are fixed-width integers as in the shells themselves (bash: signed 64-bit, cmd: signed
32-bit), wrapping on overflow, so no expression can build an integer Python would need thousands of
digits for: `$(( ((2**64)**64)**64 ))` is 0 in bash and here. Work is bounded too: a variable whose
value is itself an expression (`a1=a0+a0+a0`) is evaluated once per expression and memoised, and
one expression may take at most `MAX_STEPS` steps.
"""

from __future__ import annotations

import re
from collections.abc import Callable


class ArithError(ValueError):
    pass


_TOKEN = re.compile(r"\s*(?:(0[xX][0-9a-fA-F]+|\d+)|([A-Za-z_]\w*)|(\*\*|[-+*/%()]))")
#: Operations one expression may take (tokens read plus variables expanded), all nested values included.
MAX_STEPS = 20_000
#: A number literal longer than this cannot be a 64-bit value (bash: "value too great for base").
_MAX_LITERAL = 24


class ArithParser:
    """Recursive descent over + - * / % ** and parentheses; names resolve through a callback.

    ``bits`` is the shell's integer width (64 for bash, 32 for cmd); ``power`` whether `**` exists
    (cmd's `set /a` has none). ``budget`` is a one-element list shared by nested evaluations so
    the step limit covers a whole expression.
    """

    def __init__(
        self,
        text: str,
        resolve: Callable[[str], int],
        *,
        bits: int = 64,
        power: bool = True,
        budget: list[int] | None = None,
    ) -> None:
        self.budget = budget if budget is not None else [MAX_STEPS]
        self.bits = bits
        self.power = power
        self.tokens = self._tokenise(text)
        self.pos = 0
        self.resolve = resolve

    def _spend(self, n: int = 1) -> None:
        self.budget[0] -= n
        if self.budget[0] < 0:
            raise ArithError("expression takes too many steps")

    def _wrap(self, value: int) -> int:
        mask = (1 << self.bits) - 1
        value &= mask
        return value - (1 << self.bits) if value >> (self.bits - 1) else value

    def _tokenise(self, text: str) -> list[str]:
        tokens, i = [], 0
        text = text.strip()
        while i < len(text):
            m = _TOKEN.match(text, i)
            if not m or m.end() == i:
                raise ArithError(text[:80])
            tokens.append(m.group(0).strip())
            self._spend()
            i = m.end()
            while i < len(text) and text[i].isspace():
                i += 1
        return tokens

    def parse(self) -> int:
        if not self.tokens:
            return 0
        value = self._sum()
        if self.pos != len(self.tokens):
            raise ArithError("trailing tokens")
        return value

    def _peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _take(self) -> str:
        tok = self._peek()
        if tok is None:
            raise ArithError("unexpected end")
        self.pos += 1
        return tok

    def _sum(self) -> int:
        value = self._product()
        while self._peek() in ("+", "-"):
            op = self._take()
            rhs = self._product()
            value = self._wrap(value + rhs if op == "+" else value - rhs)
        return value

    def _product(self) -> int:
        value = self._power()
        while self._peek() in ("*", "/", "%"):
            op = self._take()
            rhs = self._power()
            if op == "*":
                value = self._wrap(value * rhs)
            elif rhs == 0:
                raise ArithError("division by zero")
            else:  # bash truncates toward zero
                q = abs(value) // abs(rhs) * (1 if (value >= 0) == (rhs >= 0) else -1)
                value = self._wrap(q if op == "/" else value - q * rhs)
        return value

    def _power(self) -> int:
        base = self._unary()
        if self._peek() == "**":
            if not self.power:
                raise ArithError("no ** operator in this shell")
            self._take()
            exp = self._power()
            if exp < 0:
                raise ArithError("exponent less than 0")
            return self._wrap(pow(base, exp, 1 << self.bits))  # as repeated wrapping multiplication
        return base

    def _unary(self) -> int:
        tok = self._peek()
        if tok in ("+", "-"):
            self._take()
            value = self._unary()
            return self._wrap(-value) if tok == "-" else value
        return self._atom()

    def _atom(self) -> int:
        tok = self._take()
        if tok == "(":
            value = self._sum()
            if self._take() != ")":
                raise ArithError("missing )")
            return value
        if tok[0].isascii() and tok[0].isdigit():
            if len(tok) > _MAX_LITERAL:
                raise ArithError("value too great for base")
            value = int(tok, 16) if tok[:2].lower() == "0x" else int(tok, 8 if tok.startswith("0") else 10)
            return self._wrap(value)
        if tok[0].isalpha() or tok[0] == "_":
            self._spend()
            return self._wrap(self.resolve(tok))
        raise ArithError(tok)

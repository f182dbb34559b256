"""Shell integer arithmetic (`$((...))`, cmd `set /a`) by recursive descent: never `eval`."""

from __future__ import annotations

import re
from collections.abc import Callable


class ArithError(ValueError):
    pass


_TOKEN = re.compile(r"\s*(?:(0[xX][0-9a-fA-F]+|\d+)|([A-Za-z_]\w*)|(\*\*|[-+*/%()]))")


class ArithParser:
    """Recursive descent over + - * / % ** and parentheses; names resolve through a callback."""

    def __init__(self, text: str, resolve: Callable[[str], int]) -> None:
        self.tokens = self._tokenise(text)
        self.pos = 0
        self.resolve = resolve

    @staticmethod
    def _tokenise(text: str) -> list[str]:
        tokens, i = [], 0
        text = text.strip()
        while i < len(text):
            m = _TOKEN.match(text, i)
            if not m or m.end() == i:
                raise ArithError(text)
            tokens.append(m.group(0).strip())
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
            value = value + rhs if op == "+" else value - rhs
        return value

    def _product(self) -> int:
        value = self._power()
        while self._peek() in ("*", "/", "%"):
            op = self._take()
            rhs = self._power()
            if op == "*":
                value *= rhs
            elif rhs == 0:
                raise ArithError("division by zero")
            else:  # bash truncates toward zero
                q = abs(value) // abs(rhs) * (1 if (value >= 0) == (rhs >= 0) else -1)
                value = q if op == "/" else value - q * rhs
        return value

    def _power(self) -> int:
        base = self._unary()
        if self._peek() == "**":
            self._take()
            exp = self._power()
            if exp < 0 or exp > 64:
                raise ArithError("exponent out of range")
            return base**exp
        return base

    def _unary(self) -> int:
        tok = self._peek()
        if tok in ("+", "-"):
            self._take()
            value = self._unary()
            return -value if tok == "-" else value
        return self._atom()

    def _atom(self) -> int:
        tok = self._take()
        if tok == "(":
            value = self._sum()
            if self._take() != ")":
                raise ArithError("missing )")
            return value
        if tok[0].isdigit():
            return int(tok, 16) if tok[:2].lower() == "0x" else int(tok, 8 if tok.startswith("0") else 10)
        if tok[0].isalpha() or tok[0] == "_":
            return self.resolve(tok)
        raise ArithError(tok)

"""PowerShell `if (...)` conditions on the script's own variables, evaluated without running anything.

Real launch scripts (Akegarasu lora-scripts' train.ps1) switch arguments with `if ($model_type -eq
"sd1.5")`, `if ($lowram)`, `if ($noise_offset -ne 0)`, `-and` / `-or` / `-not`. PowerShell values are
typed, and truthiness depends on the type: `$x = 0` is false but `$x = "0"` is true. A condition made
only of variables the script set, literals and these operators is decided; anything else (a
command, a method call, `-match`, an unset variable) gives None: undecidable.
"""

from __future__ import annotations

import re
from typing import Any

from rundiff.ingest.shell_glob import matches
from rundiff.ingest.shell_words import Expander, cond_of

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<isnull>\[string\]::IsNullOr(?:Empty|WhiteSpace)\(\s*\$(?:env:)?[A-Za-z_]\w*\s*\))
    | (?P<var>\$(?:\{[^}]+\}|(?:env:)?[A-Za-z_]\w*))
    | (?P<dq>"(?:[^"`]|`.|"")*")
    | (?P<sq>'(?:[^']|'')*')
    | (?P<num>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)\b
    | (?P<op>-(?:c|i)?(?:eq|ne|gt|ge|lt|le|like|notlike)\b|-and\b|-or\b|-not\b|!|\(|\))
    )""",
    re.VERBOSE | re.IGNORECASE,
)


class _Undecidable(Exception):
    pass


def ps_condition(text: str, x: Expander) -> bool | None:
    """The truth of a PowerShell condition (the text inside `if (...)`); None when undecidable."""
    try:
        tokens = _tokenise(text)
        parser = _Parser(tokens, x)
        value = parser.expr()
        if parser.pos != len(tokens):
            return None
        return truthy(value)
    except _Undecidable:
        return None


def _tokenise(text: str) -> list[tuple[str, str]]:
    out, i = [], 0
    text = text.strip()
    while i < len(text):
        m = _TOKEN.match(text, i)
        if not m or m.end() == i:
            raise _Undecidable
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        i = m.end()
        while i < len(text) and text[i].isspace():
            i += 1
    return out


def truthy(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    if isinstance(value, list):
        return bool(value)
    return value != ""


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]], x: Expander) -> None:
        self.tokens, self.pos, self.x = tokens, 0, x

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _is_op(self, *names: str) -> bool:
        tok = self._peek()
        return tok is not None and tok[0] == "op" and tok[1].lower() in names

    def expr(self) -> Any:
        value = self._and()
        while self._is_op("-or"):
            self.pos += 1
            rhs = self._and()
            value = truthy(value) or truthy(rhs)
        return value

    def _and(self) -> Any:
        value = self._not()
        while self._is_op("-and"):
            self.pos += 1
            rhs = self._not()
            value = truthy(value) and truthy(rhs)
        return value

    def _not(self) -> Any:
        if self._is_op("-not", "!"):
            self.pos += 1
            return not truthy(self._not())
        return self._compare()

    def _compare(self) -> Any:
        left = self._operand()
        tok = self._peek()
        if tok is None or tok[0] != "op" or tok[1].lower() in ("-and", "-or", "-not", "!", "(", ")"):
            return left
        self.pos += 1
        right = self._operand()
        return _compare(left, tok[1].lower(), right)

    def _operand(self) -> Any:
        tok = self._peek()
        if tok is None:
            raise _Undecidable
        self.pos += 1
        kind, text = tok
        if kind == "op" and text == "(":
            value = self.expr()
            if not self._is_op(")"):
                raise _Undecidable
            self.pos += 1
            return value
        if kind == "num":
            return float(text) if any(c in text for c in ".eE") else int(text)
        if kind == "sq":
            return text[1:-1].replace("''", "'")
        if kind == "dq":
            return self._expand(text[1:-1])
        if kind == "var":
            return self._variable(text[1:].strip("{}"))
        if kind == "isnull":  # [string]::IsNullOrEmpty($x)
            value = self._variable(text[text.index("$") + 1 :].rstrip(") \t"))
            return value is None or (isinstance(value, str) and not value.strip())
        raise _Undecidable

    def _variable(self, name: str) -> Any:
        lowered = name.lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        if lowered == "null":
            return None
        key = f"env:{name[4:]}" if lowered.startswith("env:") else name
        raw = self.x.lookup(key)
        if raw is None or cond_of(raw):
            raise _Undecidable  # set by the environment, or only under another undecidable if
        kind = self.x.types.get(self.x.key(key), "list" if isinstance(raw, list) else "str")
        if isinstance(raw, list):
            if any(cond_of(v) for v in raw):
                raise _Undecidable
            return list(raw)
        if kind == "bool":
            return raw == "True"
        if kind == "int":
            try:
                return float(raw) if any(c in raw for c in ".eE") else int(raw)
            except ValueError:
                raise _Undecidable from None
        return raw

    def _expand(self, body: str) -> str:
        if "$(" in body:
            raise _Undecidable

        def sub(m: re.Match[str]) -> str:
            value = self._variable(m.group(1) or m.group(2))
            if isinstance(value, list):
                return " ".join(str(v) for v in value)
            return "" if value is None else ("True" if value is True else "False" if value is False else str(value))

        return re.sub(r"\$\{([^}]+)\}|\$((?:env:)?[A-Za-z_]\w*)", sub, body.replace('""', '"'))


def _compare(left: Any, op: str, right: Any) -> bool:
    if isinstance(left, list):
        raise _Undecidable  # a collection filters rather than compares
    case = op.startswith("-c")
    op = op.lstrip("-").removeprefix("c").removeprefix("i") if op[1:2] in ("c", "i") else op.lstrip("-")
    if op in ("like", "notlike"):
        l_text, r_text = _text(left), _text(right)
        hit = matches(l_text if case else l_text.lower(), r_text if case else r_text.lower())
        if hit is None:
            raise _Undecidable
        return hit if op == "like" else not hit
    if isinstance(left, bool):
        return _equality(left, op, truthy(right))
    if isinstance(left, (int, float)):
        try:
            r_num = float(right)
        except (TypeError, ValueError):
            return op == "ne"
        return _order(left, op, r_num)
    if left is None:
        return _equality(True, op, right is None)
    l_text, r_text = _text(left), _text(right)
    if not case:
        l_text, r_text = l_text.lower(), r_text.lower()
    return _order(l_text, op, r_text)


def _order(left: Any, op: str, right: Any) -> bool:
    table = {
        "eq": left == right,
        "ne": left != right,
        "gt": left > right,
        "ge": left >= right,
        "lt": left < right,
        "le": left <= right,
    }
    if op not in table:
        raise _Undecidable
    return table[op]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if value is True or value is False:
        return str(value)
    return str(value)


def _equality(left: Any, op: str, right: Any) -> bool:
    if op not in ("eq", "ne"):
        raise _Undecidable
    return (left == right) == (op == "eq")
